"""strace-style text output.

At most one line is open at a time, as in strace: a call's line is written
when it finishes, unless another thread's event comes first, in which case
the entry half is written with ``<unfinished ...>`` and the call later ends
with ``<... name resumed>``.
"""
from __future__ import annotations

import time
from typing import Dict, Optional, TextIO

from ..decoders import Call, Ctx, DecodeError, format_args, format_ret
from ..decoders.common import signal_name
from ..decoders.registry import RESUME_WITH_COMMA, RESUMED, SPLIT
from ..decoders.signals import siginfo
from ..observers import Observer

COLUMN = 39  # strace pads "name(args)" to this column before " = result"

_EXIT_KINDS = ("outbuf", "outstr", "outstruct", "outsockaddr", "outiovec", "outsigset")


def _split_index(call: Call) -> int:
    """Arguments before this index are known at entry."""
    sc = call.sc
    if sc is None:
        return 6
    if sc.name in SPLIT:
        return SPLIT[sc.name]
    for i, (_, kind) in enumerate(sc.args):
        if kind.partition(":")[0] in _EXIT_KINDS:
            return i
    return len(sc.args)


class TextWriter(Observer):
    """Writes strace's notation to one stream, or one file per process (-ff)."""

    def __init__(self, out: Optional[TextIO] = None, *, path: Optional[str] = None,
                 per_process: bool = False, follow: bool = True, to_file: bool = False,
                 timestamps: int = 0, durations: bool = False, ctx: Optional[Ctx] = None,
                 status: Optional[str] = None, quiet: int = 0):
        self.out = out
        self.path = path
        self.per_process = per_process
        self.follow = follow
        self.to_file = to_file
        self.timestamps = timestamps
        self.durations = durations
        self.ctx = ctx or Ctx()
        self.status = status  # None, "successful", "failed"
        self.quiet = quiet
        self._files: Dict[int, TextIO] = {}
        self._open: Optional[Call] = None      # the call whose line is pending
        self._unfinished: Dict[int, Call] = {}  # tid -> call whose line was cut
        self._live = 1
        self._attached = 0
        self._write = out.write if out is not None else None

    # --- output plumbing -------------------------------------------------
    def _stream(self, tid: int) -> TextIO:
        if not self.per_process:
            return self.out
        f = self._files.get(tid)
        if f is None:
            f = open(f"{self.path}.{tid}", "w")
            self._files[tid] = f
        return f

    def _prefix(self, tid: int, ts_ns: int) -> str:
        p = ""
        if not self.per_process:
            if self.to_file and (self.follow or self._live > 1):
                p = f"{tid:<5d} "
            elif not self.to_file and self._live > 1:
                p = f"[pid {tid:5d}] "
        if self.timestamps:
            p += _timestamp(ts_ns, self.timestamps) + " "
        return p

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
        self._emit(call.tid, f"{self._prefix(call.tid, call.ts_enter)}{call.name}({head}{sep}"
                             f" {note}\n")

    # --- observer --------------------------------------------------------
    def enter(self, call: Call) -> None:
        if self._open is not None:
            self._cut_open(call.tid)
        self._open = call

    def exit(self, call: Call) -> None:
        if self._open is not None and self._open is not call:
            self._cut_open(call.tid)
        if self._open is call:
            self._open = None
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
            prefix = self._prefix(call.tid, call.ts_exit or call.ts_enter)
        else:
            body = f"{call.name}({', '.join(args)})"
            prefix = self._prefix(call.tid, call.ts_enter)
        line = prefix + body
        if len(line) < COLUMN:
            line += " " * (COLUMN - len(line))
        line += " = " + ret
        if self.durations and call.ts_exit is not None:
            line += f" <{(call.ts_exit - call.ts_enter) / 1e9:.6f}>"
        self._emit(call.tid, line + "\n")

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
        try:
            detail = siginfo(info)
        except DecodeError:  # a siginfo cut short (a damaged trace file)
            detail = "{}"
        self._emit(tid, f"{self._prefix(tid, ts)}--- {signal_name(sig)} {detail} ---\n")

    def exited(self, pid: int, tid: int, code: int, ts: int) -> None:
        self._cut_open(tid)
        self._finish_unreturned(tid, ts)
        if self.quiet < 2:
            self._emit(tid, f"{self._prefix(tid, ts)}+++ exited with {code} +++\n")
        self._gone(tid)

    def killed(self, pid: int, tid: int, sig: int, core: bool, ts: int) -> None:
        self._cut_open(tid)
        self._finish_unreturned(tid, ts)
        if self.quiet < 2:
            extra = " (core dumped)" if core else ""
            self._emit(tid, f"{self._prefix(tid, ts)}+++ killed by {signal_name(sig)}{extra} +++\n")
        self._gone(tid)

    def _gone(self, tid: int) -> None:
        self._live = max(1, self._live - 1)
        f = self._files.pop(tid, None) if self.per_process else None
        if f is not None:
            f.close()

    def new_task(self, parent_tid: int, child_tid: int, child_pid: int, how: str, ts: int) -> None:
        self._live += 1

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


def _timestamp(ts_ns: int, mode: int) -> str:
    sec, ns = divmod(ts_ns, 1_000_000_000)
    if mode >= 3:
        return f"{sec}.{ns // 1000:06d}"
    t = time.localtime(sec)
    base = time.strftime("%H:%M:%S", t)
    if mode == 2:
        return f"{base}.{ns // 1000:06d}"
    return base
