"""Observers that pass another only part of a trace.

``OnlyPaths``, strace's -P PATH: only the calls that touch PATH.

A call touches PATH when one of its path arguments is PATH as the program
wrote it (no resolution, as strace), or when one of its fd arguments was open
on PATH when the call began (the C side reads /proc/PID/fd/N at entry, as for
-y).  A PATH that is a symbolic link selects its target too.

``FromExec``: nothing of a process before its first execve (-D: veil's own
process becomes the program once the tracer has attached to it).
"""
from __future__ import annotations

import os

from .. import records as R
from ..decoders import Call
from ..observers import Observer, OnlyCalls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

_PATH_KINDS = ("path",)
_FD_KINDS = ("fd", "dirfd")


def selected_paths(paths: Iterable[str]) -> set[bytes]:
    out: set[bytes] = set()
    for p in paths:
        out.add(os.fsencode(p))
        real = os.path.realpath(p)
        if real != p:
            out.add(os.fsencode(real))
    return out


class OnlyPaths(OnlyCalls):
    """Passes ``inner`` the calls that touch one of ``paths``, and every process event."""

    def __init__(self, inner: Observer, paths: Iterable[str]) -> None:
        super().__init__(inner, set())
        self.paths = selected_paths(paths)
        self._passed: dict[int, Call] = {}  # tid -> its call passed at entry

    def touches(self, call: Call) -> bool:
        sc = call.sc
        if sc is None:
            return False
        for i, (_, kind) in enumerate(sc.args):
            base = kind.partition(":")[0]
            if base not in _PATH_KINDS and base not in _FD_KINDS:
                continue
            c = call.caps.get(i)
            if c is None or c.fault or not c.data:
                continue
            if base in _FD_KINDS and c.kind not in (R.CAP_FDPATH, R.CAP_FDPATH_RET):
                continue
            if c.data in self.paths:
                return True
        return False

    def enter(self, call: Call) -> None:
        if self.touches(call):
            self._passed[call.tid] = call
            self.inner.enter(call)

    def exit(self, call: Call) -> None:
        if self._passed.get(call.tid) is call:
            del self._passed[call.tid]
            self.inner.exit(call)


class FromExec(OnlyCalls):
    """Passes ``inner`` nothing of process ``pid`` until it enters execve."""

    def __init__(self, inner: Observer, pid: int) -> None:
        super().__init__(inner, set())
        self.pid = pid

    def enter(self, call: Call) -> None:
        if self.pid and call.tid == self.pid and call.name in ("execve", "execveat"):
            self.pid = 0
        if call.tid != self.pid:
            self.inner.enter(call)

    def exit(self, call: Call) -> None:
        if call.tid != self.pid:
            self.inner.exit(call)

    def signal(self, pid: int, tid: int, sig: int, siginfo: bytes, ts: int) -> None:
        if tid != self.pid:
            self.inner.signal(pid, tid, sig, siginfo, ts)

    def attached(self, pid: int, tid: int, ts: int) -> None:
        if tid != self.pid:
            self.inner.attached(pid, tid, ts)
