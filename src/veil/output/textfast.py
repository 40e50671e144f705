"""The text trace's fast path: common calls formatted in C (csrc/textfmt.c).

Each syscall whose arguments are all of the fixed-shape kinds (numbers, fds,
paths and strings, buffers, flag sets and enums, argv/envp, a stat result)
gets a plan built from the syscall table; the C side formats a call from its
ENTER and EXIT records when they come together and its thread has nothing
pending here.  Everything that depends on one value only (a flag set, an
enum, an errno result, an st_mode) is printed by the Python decoders, once
per value, and remembered by C.  Every other record goes through the Python
decoders as before, which stay the reference (tests/test_textfast.py checks
that both give the same lines).
"""
from __future__ import annotations

from .. import records as R
from ..decoders import Call, Ctx, format_ret, load_for, registry
from ..decoders.common import NETLINK_SOCKETS, flags, signal_name
from ..decoders.kinds import NETLINK_CALLS, formatter
from ..decoders.registry import RESUME_WITH_COMMA, RESUMED, split_of
from ..syscalls.lookup import BY_NAME, BY_NR, call_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

_OUT_BYTES = 1 << 18

# argument kind -> op (csrc/textfmt.h); anything else leaves the call to Python
_OPS = {"int": 1, "uid": 1, "gid": 1, "pid": 1, "uint": 2, "long": 3, "off": 3, "ulong": 4,
        "size": 4, "hex": 5, "ptr": 6, "fd": 7, "dirfd": 7, "mode": 8, "umask": 8, "path": 9,
        "str": 10, "inbuf": 11, "outbuf": 12, "flags": 13, "enum": 13, "signal": 13,
        "argv": 14, "envp": 15}
OP_INT, OP_MEMO, OP_STAT, OP_MODE_IF_CREAT = 1, 13, 16, 17
OP_RLIMIT, OP_OUT_RLIMIT, OP_WSTATUS, OP_NULL, OP_ARCH_ADDR, OP_CLONE = 18, 19, 20, 21, 22, 23
OP_STATX = 24
_STRUCT_OPS = {"outstruct:stat": OP_STAT, "outstruct:statx": OP_STATX, "struct:rlimit": OP_RLIMIT,
               "outstruct:rlimit": OP_OUT_RLIMIT}
_RETS = {"int": 1, "size": 1, "pid": 1, "uid": 1, "gid": 1, "hex": 2, "fd": 3, "none": 4}
# specials whose only difference from the plain kinds is a mode shown with O_CREAT:
# name -> (flags index, mode index)
_WITH_MODE = {"open": (1, 2), "openat": (2, 3)}
# specials that print the table's kinds but for these arguments: name -> {index: kind}
_KINDS_BUT = {"mmap": {5: "hex"}}
# specials C prints with ops of their own: name -> {argument index: op}; clone's one op
# prints its whole argument list
_SPECIAL_OPS = {"wait4": {0: OP_INT, 1: OP_WSTATUS, 2: OP_MEMO, 3: OP_NULL},
                "arch_prctl": {0: OP_MEMO, 1: OP_ARCH_ADDR},
                "clone": {2: OP_CLONE}}
SLOT_STX_MASK, SLOT_STX_ATTRS, SLOT_ERRNO, SLOT_FMODE = 252, 253, 254, 255
NR_SIGNAL, SLOT_SIGNAME, SLOT_CLD_CODE = 1023, 0, 1   # the memo's texts of signal lines
_SIGNAL_TEXTS: dict[int, Callable[[int], str]] = {
    SLOT_SIGNAME: signal_name, SLOT_CLD_CODE: lambda code: _cld_code(code)}


def _cld_code(code: int) -> str:
    from ..decoders.signals import CLD_CODES
    return CLD_CODES.get(code, str(code))
END, PYTHON, MISS, FULL, NOPLAN, EVENT, ADOPT = 0, 1, 2, 3, 4, 5, 6
NO_SPLIT = 255
# the ops C can print in the entry half of a call it cuts (what they show is known at
# entry); a call with an op whose printing may be left out is cut by Python
_HEAD_OPS = (set(_OPS.values()) - {_OPS["outbuf"]}) | {OP_NULL}
_SOMETIMES_SHOWN = {OP_MODE_IF_CREAT, OP_ARCH_ADDR, OP_CLONE}
# records C may write the line of; another thread's cuts the line Python holds open
_C_LINES = (R.R_ENTER, R.R_SIGNAL, R.R_EXITED)
# records of a thread that leave its call in progress alone (its own exec too)
_LEAVE_CALL_ALONE = (R.R_SIGNAL, R.R_NEWTASK)
PREFIX_NONE, PREFIX_TID, PREFIX_PID = 0, 1, 2


def plan_of(sc, ctx: Ctx) -> tuple[list[int], list[int], list[int], int] | None:
    """(ops, argument indexes, params, result kind) of a syscall, or None if C
    cannot print it the way the Python decoders do."""
    load_for(sc.name)
    if sc.nr in ctx.raw or sc.name in registry.SPECIAL_RET or sc.name in NETLINK_CALLS:
        return None
    ret = _RETS.get(sc.ret)
    if sc.name in _SPECIAL_OPS and ret is not None:
        ops_of = _SPECIAL_OPS[sc.name]
        idx = sorted(ops_of)
        return [ops_of[i] for i in idx], idx, [0] * len(idx), ret   # param: arch_prctl's code
    special = sc.name in registry.SPECIAL
    if special and sc.name not in _WITH_MODE and sc.name not in _KINDS_BUT:
        return None
    but = _KINDS_BUT.get(sc.name, {})
    if ret is None:
        return None
    ops, idx, params = [], [], []
    for i, (name, kind) in enumerate(sc.args):
        if name[0] == "_" and not special:
            continue
        kind = but.get(i, kind)
        base, _, param = kind.partition(":")
        if kind in _STRUCT_OPS:
            op = _STRUCT_OPS[kind]
        elif sc.name in _WITH_MODE and i == _WITH_MODE[sc.name][1]:
            op = OP_MODE_IF_CREAT
        else:
            op = _OPS.get(base)
        if op is None:
            return None
        ops.append(op)
        idx.append(i)
        params.append(_WITH_MODE[sc.name][0] if op == OP_MODE_IF_CREAT else 0)
    return ops, idx, params, ret


def _special_texts() -> dict[str, dict[int, Callable[[int], str]]]:
    """What the specials' decoders print for one value: name -> {memo slot: text of}."""
    from ..decoders import proc
    return {"wait4": {1: proc.wait_status, 2: proc.wait4_options},
            "arch_prctl": {0: proc.arch_prctl_code},
            "clone": {0: proc.clone_flags}}


def _split_at(sc, ops: Sequence[int]) -> int:
    """Where C splits a call another thread cuts (TextWriter._cut and _finish), or
    NO_SPLIT if Python must."""
    split = split_of(sc)
    if list(ops) == [OP_CLONE]:   # its op prints the entry's named arguments, then the rest
        return split
    if sc.name in RESUMED or sc.name in RESUME_WITH_COMMA or split >= NO_SPLIT \
            or _SOMETIMES_SHOWN.intersection(ops) or not _HEAD_OPS.issuperset(ops[:split]):
        return NO_SPLIT
    return split


def eligible(writer, ctx: Ctx) -> bool:
    """The options under which C prints what TextWriter would."""
    return (not writer.per_process and not writer.timestamps and not writer.durations
            and not writer.relative and not writer.numbers and writer.comms is None
            and writer.ips is None and writer.stacks is None and writer.dump_read is None
            and writer.dump_write is None and writer.status is None
            and not ctx.hex_all and not ctx.decorate_fds and ctx.xlat == "abbrev"
            and ctx.verbose is None and ctx.abbrev is None and ctx.pid_comm is None
            and 8 <= ctx.strsize <= 65536 and 0 <= writer.column <= 4096)


class FastText:
    """Formats runs of records in C for one TextWriter."""

    def __init__(self, writer, observers: Sequence, pending: dict[int, Call]):
        from .._veil_c import ffi, lib
        self.ffi, self.lib = ffi, lib
        self.writer = writer
        self.observers = observers
        self.ctx: Ctx = writer.ctx
        self.pending = pending
        self.tf = ffi.gc(lib.veil_tf_new(self.ctx.strsize, writer.column, writer.quiet),
                         lib.veil_tf_free)
        if self.tf == ffi.NULL:
            raise MemoryError("veil_tf_new")
        self._texts: dict[tuple[int, int], Callable[[int], str]] = {}
        # not cleared: a page of it is touched (and faulted in) only once C writes there
        self._outp = ffi.new_allocator(should_clear_after_alloc=False)("char[]", _OUT_BYTES)
        self._out = ffi.buffer(self._outp)
        self._pos = ffi.new("size_t *")
        self._len = ffi.new("size_t *")
        self._miss = ffi.new("int[2]")
        self._miss_value = ffi.new("uint64_t *")
        self.lines = 0   # lines C wrote
        self._planned: set[int] = set()

    def plan_ahead(self, names: Sequence[str]) -> None:
        """Give C the plans of these syscalls before any is seen."""
        for name in names:
            sc = BY_NAME.get(name)
            if sc is not None and sc.nr not in self._planned:
                self._plan(sc.nr)

    def _plan(self, nr: int) -> None:
        """Give C the plan of one syscall, the first time one is seen."""
        self._planned.add(nr)
        sc = BY_NR.get(nr)
        plan = plan_of(sc, self.ctx) if sc is not None else None
        lib = self.lib
        if plan is None:
            lib.veil_tf_plan(self.tf, nr, b"", lib.VEIL_TF_NONE, b"", b"", b"", 0, NO_SPLIT)
            return
        ops, idx, params, ret = plan
        split = _split_at(sc, ops)
        texts = _special_texts()[sc.name] if sc.name in _SPECIAL_OPS else {}
        for op, i in zip(ops, idx):
            slot = 0 if op == OP_CLONE else i   # clone's flags
            if slot in texts:
                self._texts[(nr, slot)] = texts[slot]
            elif op == OP_MEMO:
                base, _, param = sc.args[i][1].partition(":")
                self._texts[(nr, i)] = (lambda v, fn=formatter(base), i=i, param=param:
                                        fn(None, i, v, param, self.ctx))
        if lib.veil_tf_plan(self.tf, nr, call_name(0, nr).encode(), len(ops), bytes(ops),
                            bytes(idx), bytes(params), ret, split) != 0:
            raise ValueError(f"veil_tf_plan {sc.name}")

    def _text(self, nr: int, slot: int, value: int) -> str:
        """What the Python decoders print for one value."""
        if nr == NR_SIGNAL:
            return _SIGNAL_TEXTS[slot](value)
        if slot in (SLOT_FMODE, SLOT_STX_MASK, SLOT_STX_ATTRS):
            from ..decoders.fs import STATX_ATTRS, file_mode, statx_mask
            if slot == SLOT_FMODE:
                return file_mode(value)
            if slot == SLOT_STX_MASK:
                return statx_mask(value)
            return flags(value, STATX_ATTRS, dflt="STATX_ATTR_???")
        if slot == SLOT_ERRNO:
            call = Call(0, 0, 0, nr, (0,) * 6, None, 0)
            call.ret = value - (1 << 64) if value >= 1 << 63 else value
            return format_ret(call, self.ctx)
        return self._texts[(nr, slot)](value)

    def _booked(self, buf, offset: int) -> None:
        """Python's bookkeeping of a task event whose lines C wrote (a thread's end, or
        a new task met inside its parent's fork)."""
        rec = next(R.parse(buf, offset, offset + R.HEADER.unpack_from(buf, offset)[0]))
        if rec.type == R.R_EXITED:
            self.pending.pop(rec.tid, None)
            self.writer._ended(rec.tid)
            self.writer._gone(rec.tid)
        else:
            task = R.new_task_of(rec)
            for o in self.observers:
                o.new_task(*task)

    def _adopt(self, tid: int) -> None:
        """Take over the call C cut for ``tid`` (its entry half written) as one Python cut."""
        size = self.lib.veil_tf_open_size(self.tf, tid)
        enter = bytearray(size)
        if size == 0 or self.lib.veil_tf_take(self.tf, tid, self.ffi.from_buffer(enter), size):
            raise RuntimeError(f"veil: no call C cut for thread {tid}")
        rec = next(R.parse(enter))
        call = Call(rec.pid, rec.tid, rec.arch, rec.nr, rec.args, rec.caps, rec.ts_ns)
        self.pending[tid] = call
        self.writer._unfinished[tid] = call

    def _to_python(self, buf, pos: int) -> int:
        """The record at ``pos`` goes to Python without C seeing it: if its thread has
        a call C cut, Python takes the call first."""
        head = R.HEADER.unpack_from(buf, pos)
        rtype, tid = head[1], head[5]
        if rtype in _LEAVE_CALL_ALONE or (rtype == R.R_EXEC and head[8] == tid):
            return pos
        if self.lib.veil_tf_open_size(self.tf, tid):
            self._adopt(tid)
        return pos

    def run(self, buf, cbuf, pos: int, end: int) -> int:
        """Format what C can from ``pos`` on and write it; the position of the first
        record left to Python (``end`` if none)."""
        w = self.writer
        while pos < end:
            if NETLINK_SOCKETS:
                return self._to_python(buf, pos)
            if w._open is not None:
                # Python holds a line open: another thread's line C writes cuts it
                head = R.HEADER.unpack_from(buf, pos)
                rtype, arch, tid = head[1], head[2], head[5]
                if (rtype not in _C_LINES or (rtype == R.R_ENTER and arch)
                        or tid == w._open.tid) and not (
                        rtype == R.R_EXIT and self.lib.veil_tf_open_size(self.tf, tid)):
                    return self._to_python(buf, pos)
                w._cut_open(tid)
            pos, event = self._run(buf, cbuf, pos, end)
            if event is None:
                return pos
            self._booked(buf, event)
        return pos

    def _run(self, buf, cbuf, pos: int, end: int) -> tuple[int, int | None]:
        """One call of C's formatter: where it stopped, and the offset of a task event
        Python must book before going on (None: none)."""
        w = self.writer
        if w.to_file and (w.follow or w._live > 1):
            prefix = PREFIX_TID
        elif not w.to_file and w._live > 1:
            prefix = PREFIX_PID
        else:
            prefix = PREFIX_NONE
        blocked: Sequence[int] = list(self.pending) + list(w._unfinished) \
            if self.pending or w._unfinished else ()
        cblocked = self.ffi.new("int32_t[]", blocked) if blocked else self.ffi.NULL
        lib, tf = self.lib, self.tf
        self._pos[0] = pos
        while True:
            self._len[0] = 0
            status = lib.veil_tf_run(tf, cbuf, self._pos, end, prefix, cblocked, len(blocked),
                                     self._outp, _OUT_BYTES, self._len, self._miss,
                                     self._miss + 1, self._miss_value)
            n = self._len[0]
            if n:
                text = self._out[:n].decode("utf-8", "surrogateescape")
                self.lines += text.count("\n")
                w._write(text)
            if status == MISS:
                nr, slot, value = self._miss[0], self._miss[1], self._miss_value[0]
                lib.veil_tf_memo(tf, nr, slot, value, self._text(nr, slot, value).encode())
            elif status == NOPLAN:
                self._plan(self._miss[0])
            elif status == EVENT:
                return self._pos[0], self._miss_value[0]
            elif status == ADOPT:
                self._adopt(self._miss[0])
                return self._pos[0], None
            elif status != FULL:
                return self._pos[0], None
