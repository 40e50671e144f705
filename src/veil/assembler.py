"""Ring records -> observer calls, in order: each ENTER is paired with its
EXIT into one :class:`veil.decoders.Call`; process events pass through."""
from __future__ import annotations

from . import records as R
from .observers import Observer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from .decoders import Call


class Assembler:
    """Turns ring records into observer calls, pairing each ENTER with its EXIT."""

    def __init__(self, observers: Sequence[Observer],
                 foreign_names: set[str] | None = None):
        self.observers = list(observers)
        self.pending: dict[int, Call] = {}
        # i386/x32 calls all reach us (C has one row for them); show those whose
        # name the trace set selects.  None: show every one.
        self.foreign_names = foreign_names
        self._call: type | None = None   # veil.decoders.Call, once a call is seen
        self._fast = None   # the text writer's C formatter (veil.output.textfast), if any
        for o in self.observers:
            make = getattr(o, "fast_path", None)
            if make is not None:
                self._fast = make(self.observers, self.pending)
                break

    def feed(self, buf) -> None:
        fast = self._fast
        if fast is None:
            self._feed(buf, 0, len(buf))
            return
        cbuf = fast.ffi.from_buffer("uint8_t[]", buf)
        end = len(buf)
        pos = 0
        while pos < end:
            pos = fast.run(buf, cbuf, pos, end)
            if pos < end:   # one record for Python
                size = R.HEADER.unpack_from(buf, pos)[0]
                if size < R.HEADER_SIZE or pos + size > end:
                    raise R.CorruptRecord(pos, f"bad size {size}")
                self._feed(buf, pos, pos + size)
                pos += size

    def _feed(self, buf, pos: int, end: int) -> None:
        # the hot path: ENTER/EXIT records are parsed inline into Call objects;
        # other records go through records.parse's Record.
        Call = self._call   # the decoders load with the first call, not at start
        obs = self.observers
        pending = self.pending
        header = R.HEADER.unpack_from
        args6 = R.ARGS.unpack_from
        caphdr = R.CAPHDR.unpack_from
        head_size, args_size, cap_size = R.HEADER_SIZE, R.ARGS.size, R.CAPHDR.size
        Capture = R.Capture
        while pos < end:
            size, rtype, arch, ncap, pid, tid, ts, nr, value, aux = header(buf, pos)
            if size < R.HEADER_SIZE or pos + size > end:
                raise R.CorruptRecord(pos, f"bad size {size}")
            if rtype == R.R_ENTER or rtype == R.R_EXIT:
                body = pos + head_size
                if rtype == R.R_ENTER:
                    args = args6(buf, body)
                    body += args_size
                caps = None
                if ncap:
                    caps = {}
                    for _ in range(ncap):
                        arg, kind, trunc, fault, ln, count = caphdr(buf, body)
                        caps[arg] = Capture(kind, bytes(buf[body + cap_size:body + cap_size + ln]),
                                            bool(trunc), bool(fault), count)
                        body += (cap_size + ln + 7) & ~7
                if rtype == R.R_ENTER:
                    if Call is None:
                        from .decoders import Call
                        self._call = Call
                    call = Call(pid, tid, arch, nr, args, caps, ts)
                    if arch and self.foreign_names is not None and \
                            call.name.partition("[")[0] not in self.foreign_names:
                        pos += size
                        continue
                    pending[tid] = call
                    for o in obs:
                        o.enter(call)
                else:
                    call = pending.pop(tid, None)
                    if call is not None and call.nr == nr:
                        if caps:
                            call.caps.update(caps)
                        call.ret = value
                        call.ts_exit = ts
                        call.finished = True
                        for o in obs:
                            o.exit(call)
            else:
                for rec in R.parse(buf, pos, pos + size):
                    self._event(rec)
            pos += size

    def _event(self, rec: R.Record) -> None:
        obs = self.observers
        pending = self.pending
        t = rec.type
        if t == R.R_SIGNAL:
            for o in obs:
                o.signal(rec.pid, rec.tid, rec.value, rec.payload, rec.ts_ns)
        elif t == R.R_EXITED:
            pending.pop(rec.tid, None)
            for o in obs:
                o.exited(rec.pid, rec.tid, rec.value, rec.ts_ns)
        elif t == R.R_KILLED:
            pending.pop(rec.tid, None)
            for o in obs:
                o.killed(rec.pid, rec.tid, rec.value & 0x7F, bool(rec.value & 0x80), rec.ts_ns)
        elif t == R.R_NEWTASK:
            task = R.new_task_of(rec)
            for o in obs:
                o.new_task(*task)
        elif t == R.R_EXEC:
            former = rec.value
            for o in obs:
                o.exec(rec.pid, rec.tid, former, rec.ts_ns)
            if former != rec.tid:
                pending.pop(rec.tid, None)  # the leader's call never returns
                if former in pending:
                    call = pending[rec.tid] = pending.pop(former)
                    call.tid = rec.tid
        elif t == R.R_STOPPED:
            for o in obs:
                o.stopped(rec.pid, rec.tid, rec.value, rec.ts_ns)
        elif t == R.R_ATTACHED:
            for o in obs:
                o.attached(rec.pid, rec.tid, rec.ts_ns)
        elif t == R.R_DETACHED:
            for o in obs:
                o.detached(rec.pid, rec.tid, rec.ts_ns)
