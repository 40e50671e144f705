"""strace-style text output.

At most one line is open at a time, as in strace: a call's line is written
when it finishes, unless another thread's event comes first, in which case
the entry half is written with ``<unfinished ...>`` and the call later ends
with ``<... name resumed>``.
"""
from __future__ import annotations

import os
import time

from ..decoders import Call, Ctx, DecodeError, format_args, format_ret
from ..decoders.common import signal_name
from ..decoders.registry import RESUME_WITH_COMMA, RESUMED, split_of
from ..observers import Observer
from ..syscalls.lookup import BY_NAME

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection
    from typing import IO

    from .textfast import FastText

COLUMN = 39  # strace pads "name(args)" to this column before " = result" (-a 40)
EXIT_NR, EXIT_GROUP_NR = BY_NAME["exit"].nr, BY_NAME["exit_group"].nr
PRECISION_DIGITS = {"s": 0, "ms": 3, "us": 6, "ns": 9}  # -T, -r: --syscall-times=PRECISION
# what the dynamic loader and libc's start-up call in every dynamically linked program
STARTING_CALLS = ("execve", "brk", "mmap", "access", "openat", "newfstatat", "fstat", "close",
                  "read", "pread64", "arch_prctl", "set_tid_address", "set_robust_list", "rseq",
                  "mprotect", "prlimit64", "munmap", "getrandom", "exit_group")


def _split_index(call: Call) -> int:
    """Arguments before this index are known at entry."""
    return 6 if call.sc is None else split_of(call.sc)


class TextWriter(Observer):
    """Writes strace's notation to one stream, or one file per process (-ff)."""

    def __init__(self, out: IO[str] | None = None, *, path: str | None = None,
                 per_process: bool = False, follow: bool = True, to_file: bool = False,
                 timestamps: int = 0, durations=False, ctx: Ctx | None = None,
                 status: str | None = None, quiet: int = 0, column: int = COLUMN + 1,
                 relative: str | None = None, numbers: bool = False, comm: bool = False,
                 dump_read: Collection[int] | None = None,
                 dump_write: Collection[int] | None = None,
                 ips: dict[int, int] | None = None, stacks: dict | None = None):
        """``durations`` (-T) and ``relative`` (-r): False/None, or the precision
        ("s", "ms", "us", "ns"; True is "us"); ``column``: strace's -a;
        ``numbers``: -n; ``comm``: -Y; ``dump_read``/``dump_write``: the fds whose
        data -e read=/-e write= dumps in hex (an object that contains every fd for all);
        ``ips``: -i, (tid, entry time) -> the call's instruction pointer (filled by a
        hook at each call's entry, taken out here); ``stacks``: -k, the same for
        the call's stack frames (veil.output.stack)."""
        self.out = out
        self.path = path
        self.per_process = per_process
        self.follow = follow
        self.to_file = to_file
        self.timestamps = timestamps
        self.durations = "us" if durations is True else durations or None
        self.relative = relative
        self.column = column - 1
        self.numbers = numbers
        self.comms: dict[int, str] | None = {} if comm else None
        self.dump_read = dump_read
        self.dump_write = dump_write
        self.ips = ips
        self.stacks = stacks
        self._gone_tids: set = set()  # -i: "[????????????????]" on a process's last line
        self._ip_of: dict[int, int] = {}  # -i: tid -> the address of its latest call
        self._last_nr: dict[int, int] = {}  # tid -> its last call's number (-n on events)
        self._last_ts: int | None = None  # -r: the previous line's time
        self.ctx = ctx or Ctx()
        if comm:
            self.ctx.pid_comm = self._comm_of
        self.status = status  # None, "successful", "failed"
        self.quiet = quiet
        self._files: dict[int, IO[str]] = {}
        self._open: Call | None = None      # the call whose line is pending
        self._unfinished: dict[int, Call] = {}  # tid -> call whose line was cut
        self._live = 1
        self._attached = 0
        self._write = out.write if out is not None else None
        self._fast: FastText | None = None   # set by fast_path()

    def fast_path(self, observers, pending):
        """C formatting of the common calls (veil.output.textfast) when this
        writer's options allow it and the other observers do not need the calls
        it takes (the netlink socket table gets every call while it has a
        socket); else None."""
        from . import textfast
        from .netlinkfds import NetlinkSockets
        if any(o is not self and type(o) is not NetlinkSockets for o in observers) \
                or type(self) is not TextWriter or not textfast.eligible(self, self.ctx):
            return None
        try:
            self._fast = textfast.FastText(self, observers, pending)
        except ImportError:   # no C part (python-ptrace backend without it)
            return None
        return self._fast

    def prepare(self) -> None:
        # the decoders (and the C formatter's plans) of the calls every dynamically
        # linked program starts with, made while it execs
        from ..decoders import load_for
        for name in STARTING_CALLS:
            load_for(name)
        if self._fast is not None:
            self._fast.plan_ahead(STARTING_CALLS)

    # --- output plumbing -------------------------------------------------
    def _stream(self, tid: int) -> IO[str]:
        if not self.per_process:
            return self.out
        f = self._files.get(tid)
        if f is None:
            f = open(f"{self.path}.{tid}", "w")
            self._files[tid] = f
        return f

    def _prefix(self, tid: int, ts_ns: int, call: Call | None = None) -> str:
        p = ""
        if not self.per_process:
            comm = f"<{self._comm_of(tid)}>" if self.comms is not None else ""
            if self.to_file and (self.follow or self._live > 1):
                p = f"{tid}{comm}".ljust(5) + " "
            elif not self.to_file and self._live > 1:
                p = f"[pid {tid:5d}{comm}] "
        if self.timestamps:
            p += _timestamp(ts_ns, self.timestamps) + " "
        if self.relative:
            since = ts_ns - self._last_ts if self._last_ts is not None else 0
            p += _seconds(max(since, 0), self.relative).rjust(
                7 + PRECISION_DIGITS[self.relative]) + " "
            self._last_ts = ts_ns
        if self.numbers:
            nr = self._last_nr.get(tid) if call is None else call.nr
            p += f"[{nr:4d}] " if nr is not None else "[????] "
        if self.ips is not None:
            if call is not None and (tid, call.ts_enter) in self.ips:
                self._ip_of[tid] = self.ips.pop((tid, call.ts_enter))
            ip = None if tid in self._gone_tids else self._ip_of.get(tid)
            p += f"[{ip:016x}] " if ip is not None else "[????????????????] "
        return p

    # --- -Y: a process's command name as it was when its line began ------
    def _comm_of(self, pid: int) -> str | None:
        comms = self.comms
        if comms is None:
            return None
        name = comms.get(pid)
        if name is None:
            try:
                with open(f"/proc/{pid}/comm") as f:
                    name = f.read().rstrip("\n")
            except OSError:
                return None
            comms[pid] = name
        return name

    @staticmethod
    def _own_comm() -> str:
        with open("/proc/self/comm") as f:
            return f.read().rstrip("\n")

    def _note_exec(self, call: Call) -> None:
        """A successful execve names the process after the file's base name (15 bytes)."""
        path = call.cap(0) if call.name == "execve" else call.cap(1)
        if path is not None and path.data:
            self.comms[call.tid] = os.path.basename(path.data).decode(
                "utf-8", "replace")[:15]

    def _emit(self, tid: int, text: str) -> None:
        if self.per_process:
            self._stream(tid).write(text)
        else:
            self._write(text)

    def _cut_open(self, except_tid: int) -> None:
        """Another thread's event arrives: close the pending line as unfinished."""
        call = self._open
        if call is None or call.tid == except_tid:
            return
        self._open = None
        self._unfinished[call.tid] = call
        if self.status is None:
            self._cut(call, "<unfinished ...>")

    def _cut(self, call: Call, note: str) -> None:
        """Write the entry half of a call: what is known before it returns."""
        args = format_args(call, self.ctx)
        split = _split_index(call)
        head = ", ".join(args[:split])
        sep = ", " if 0 < split < len(args) and call.name not in RESUME_WITH_COMMA else ""
        self._emit(call.tid, f"{self._prefix(call.tid, call.ts_enter, call)}{call.name}("
                             f"{head}{sep} {note}\n")

    # --- observer --------------------------------------------------------
    def enter(self, call: Call) -> None:
        if self._open is not None:
            self._cut_open(call.tid)
        self._open = call
        if self.numbers:
            self._last_nr[call.tid] = call.nr
        if self.comms is not None and call.tid not in self.comms and call.name == "execve":
            # the program veil started, before its first execve: veil's child, veil's name
            self.comms[call.tid] = self._own_comm()

    def exit(self, call: Call) -> None:
        if self._open is not None and self._open is not call:
            self._cut_open(call.tid)
        if self._open is call:
            self._open = None
        if self.numbers:
            self._last_nr[call.tid] = call.nr
        if (self.status == "successful" and call.failed) or \
                (self.status == "failed" and not call.failed):
            self._unfinished.pop(call.tid, None)
            return
        self._finish(call)

    def _finish(self, call: Call) -> None:
        ctx = self.ctx
        args = format_args(call, ctx)
        ret = format_ret(call, ctx)
        if self._unfinished.pop(call.tid, None) is not None and self.status is None:
            resumed = RESUMED.get(call.name)
            if resumed is not None:
                body = f"<... {call.name} resumed>{resumed(call, ctx)})"
            else:
                split = _split_index(call)
                rest = ", ".join(args[split:])
                lead = ", " if call.name in RESUME_WITH_COMMA and rest else ""
                body = f"<... {call.name} resumed>{lead}{rest})"
            prefix = self._prefix(call.tid, call.ts_exit or call.ts_enter, call)
        else:
            body = f"{call.name}({', '.join(args)})"
            prefix = self._prefix(call.tid, call.ts_enter, call)
        line = prefix + body
        if len(line) < self.column:
            line += " " * (self.column - len(line))
        line += " = " + ret
        if self.durations and call.ts_exit is not None:
            line += f" <{_seconds(call.ts_exit - call.ts_enter, self.durations)}>"
        if self.dump_read is not None or self.dump_write is not None:
            from .hexdump import dumps  # -e read=/write= only
            line += "".join(dumps(call, self.dump_read, self.dump_write))
        if self.stacks is not None:
            from .stack import frame_line  # -k only
            frames = self.stacks.pop((call.tid, call.ts_enter), None)
            if frames:
                line += "".join("\n" + frame_line(f) for f in frames)
        self._emit(call.tid, line + "\n")
        if self.comms is not None and call.ret == 0 and call.name in ("execve", "execveat"):
            self._note_exec(call)

    def _finish_unreturned(self, tid: int, ts: int) -> None:
        """The thread is gone while its call (exit, exit_group, execve) had no exit."""
        call = self._open if self._open is not None and self._open.tid == tid else None
        if call is not None:
            self._open = None
        else:
            call = self._unfinished.get(tid)
        if call is not None and self.status is None:
            call.ret = None
            call.ts_exit = ts
            self._finish(call)
        self._unfinished.pop(tid, None)

    def signal(self, pid: int, tid: int, sig: int, info: bytes, ts: int) -> None:
        self._cut_open(tid)
        if self.quiet >= 3:
            return
        from ..decoders.signals import siginfo
        try:
            detail = siginfo(info)
        except DecodeError:  # a siginfo cut short (a damaged trace file)
            detail = "{}"
        self._emit(tid, f"{self._prefix(tid, ts)}--- {signal_name(sig)} {detail} ---\n")

    def exited(self, pid: int, tid: int, code: int, ts: int) -> None:
        if self.numbers and self._last_nr.get(tid) not in (EXIT_NR, EXIT_GROUP_NR):
            # a normal end is an exit_group the filter may not have stopped at
            self._last_nr[tid] = EXIT_GROUP_NR
        self._cut_open(tid)
        self._finish_unreturned(tid, ts)
        self._ended(tid)
        if self.quiet < 2:
            self._emit(tid, f"{self._prefix(tid, ts)}+++ exited with {code} +++\n")
        self._gone(tid)

    def killed(self, pid: int, tid: int, sig: int, core: bool, ts: int) -> None:
        self._cut_open(tid)
        self._finish_unreturned(tid, ts)
        self._ended(tid)
        if self.quiet < 2:
            extra = " (core dumped)" if core else ""
            self._emit(tid, f"{self._prefix(tid, ts)}+++ killed by {signal_name(sig)}{extra} +++\n")
        self._gone(tid)

    def _ended(self, tid: int) -> None:
        if self.ips is not None:
            self._gone_tids.add(tid)

    def _gone(self, tid: int) -> None:
        self._gone_tids.discard(tid)
        self._ip_of.pop(tid, None)
        self._live = max(1, self._live - 1)
        f = self._files.pop(tid, None) if self.per_process else None
        if f is not None:
            f.close()

    def new_task(self, parent_tid: int, child_tid: int, child_pid: int, how: str, ts: int) -> None:
        self._live += 1
        if self.comms is not None and parent_tid in self.comms:
            self.comms[child_tid] = self.comms[parent_tid]
        if self.numbers and parent_tid in self._last_nr:
            self._last_nr[child_tid] = self._last_nr[parent_tid]

    def exec(self, pid: int, tid: int, former_tid: int, ts: int) -> None:
        if former_tid == tid:
            return
        # a non-leader thread exec'd: the leader's call never returns, the
        # thread's execve goes on under the leader's tid (ptrace(2), "execve(2) under ptrace")
        self._live = max(1, self._live - 1)
        # the thread's execve was entered before: its entry half comes first
        if self._open is not None and self._open.tid == former_tid:
            self._cut_open(-1)
        leader_call = self._open if self._open is not None and self._open.tid == tid else None
        if leader_call is not None:
            self._open = None
        else:
            leader_call = self._unfinished.get(tid)
        if leader_call is not None:
            leader_call.ret = None
            leader_call.ts_exit = ts
            self._finish(leader_call)
        if self.quiet < 2:
            self._emit(tid, f"{self._prefix(tid, ts)}+++ superseded by execve in pid "
                            f"{former_tid} +++\n")
        execve = self._unfinished.pop(former_tid, None)
        if execve is not None:
            self._unfinished[tid] = execve

    def stopped(self, pid: int, tid: int, sig: int, ts: int) -> None:
        self._cut_open(tid)
        if self.quiet < 3:
            self._emit(tid, f"{self._prefix(tid, ts)}--- stopped by {signal_name(sig)} ---\n")

    def attached(self, pid: int, tid: int, ts: int) -> None:
        if self.comms is not None:
            self.comms.pop(tid, None)
            self._comm_of(tid)
        self._attached += 1
        self._live = max(self._live, self._attached)
        if self.quiet < 1:
            self._emit(tid, f"veil: Process {tid} attached\n")

    def detached(self, pid: int, tid: int, ts: int) -> None:
        self._cut_open(tid)
        call = self._open if self._open is not None and self._open.tid == tid else None
        if call is not None:
            self._open = None
            self._cut(call, "<detached ...>")
        self._unfinished.pop(tid, None)
        if self.quiet < 1:
            self._emit(tid, f"veil: Process {tid} detached\n")

    def close(self) -> None:
        if self._open is not None:
            call, self._open = self._open, None
            self._finish(call)
        for f in self._files.values():
            f.close()
        self._files.clear()
        if self.out is not None:
            self.out.flush()


def _seconds(ns: int, precision: str) -> str:
    """A duration in seconds with the digits -T/-r PRECISION asks for."""
    digits = PRECISION_DIGITS[precision]
    sec, frac = divmod(ns, 1_000_000_000)
    return f"{sec}.{frac // 10 ** (9 - digits):0{digits}d}" if digits else str(sec)


def _timestamp(ts_ns: int, mode: int) -> str:
    sec, ns = divmod(ts_ns, 1_000_000_000)
    if mode >= 3:
        return f"{sec}.{ns // 1000:06d}"
    t = time.localtime(sec)
    base = time.strftime("%H:%M:%S", t)
    if mode == 2:
        return f"{base}.{ns // 1000:06d}"
    return base
