"""Reading a binary trace file (``veil trace --format binary``) again.

The records in the file are the ring records of the live run; :func:`replay`
feeds them through the same assembler to the same observers (the text, JSON
and Perfetto writers, the -c statistics) as a live trace, so ``veil show``
(veil.cli.show) prints what ``veil trace`` would have printed with the same flags.
"""
from __future__ import annotations

from .errors import VeilError
from .observers import Observer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import IO


class TraceFileBroken(VeilError):
    """A truncated or corrupt trace file: what was readable has been shown."""

    exit_code = 1


class CallFilter(Observer):
    """Passes calls whose syscall is in ``nrs`` (i386/x32 calls: whose name is
    in ``names``) to ``inner``, and every process event."""

    def __init__(self, inner: Sequence[Observer], nrs: set[int], names: set[str]):
        self.inner = list(inner)
        self.nrs = nrs
        self.names = names

    def _keep(self, call) -> bool:
        if call.arch == 0:
            return call.nr in self.nrs
        return call.name.partition("[")[0] in self.names

    def enter(self, call):
        if self._keep(call):
            for o in self.inner:
                o.enter(call)

    def exit(self, call):
        if self._keep(call):
            for o in self.inner:
                o.exit(call)

    def signal(self, *a):
        for o in self.inner:
            o.signal(*a)

    def exited(self, *a):
        for o in self.inner:
            o.exited(*a)

    def killed(self, *a):
        for o in self.inner:
            o.killed(*a)

    def new_task(self, *a):
        for o in self.inner:
            o.new_task(*a)

    def exec(self, *a):
        for o in self.inner:
            o.exec(*a)

    def stopped(self, *a):
        for o in self.inner:
            o.stopped(*a)

    def attached(self, *a):
        for o in self.inner:
            o.attached(*a)

    def detached(self, *a):
        for o in self.inner:
            o.detached(*a)

    def close(self):
        for o in self.inner:
            o.close()


def open_trace(name: str) -> tuple[IO[bytes], object]:
    """The trace file ``name`` opened, and its header (veil.output.binary's
    TraceInfo).  VeilError if it cannot be read, TraceFileBroken if the header
    is not a veil trace's."""
    from .output.binary import TraceFileError, read_header
    try:
        f = open(name, "rb")
    except OSError as e:
        raise VeilError(f"cannot read {name}: {e.strerror}") from None
    try:
        return f, read_header(f, name)
    except TraceFileError as e:
        f.close()
        raise TraceFileBroken(str(e)) from None


def replay(f: IO[bytes], info, name: str, observers: Sequence[Observer],
           wanted: set[int] | None = None) -> None:
    """Feed the records after the header of ``f`` (opened by :func:`open_trace`)
    to ``observers`` as the live run fed them: every process event, and the
    calls whose syscall is in ``wanted`` (None: every call recorded).  The
    observers are not closed.  TraceFileBroken after what was readable has
    been fed, if the file is truncated or corrupt."""
    from .assembler import Assembler
    from .output.binary import TraceFileError, read_trace
    from .syscalls.lookup import BY_NR
    shown = info.traced if wanted is None else info.traced & wanted
    everything = all(nr in shown for nr in BY_NR)
    names = {BY_NR[nr].name for nr in shown if nr in BY_NR}
    sink: Sequence[Observer] = (observers if everything
                                else [CallFilter(observers, shown, names)])
    asm = Assembler(sink, None if everything else names)
    try:
        read_trace(f, asm.feed, name, info)
    except TraceFileError as e:
        raise TraceFileBroken(str(e)) from None


def check_trace(f: IO[bytes], info, name: str) -> None:
    """Read the records after the header without showing them (the trailer
    fills ``info.end``); TraceFileBroken if the file is truncated or corrupt."""
    from .output.binary import TraceFileError, read_trace
    try:
        read_trace(f, lambda data: None, name, info)
    except TraceFileError as e:
        raise TraceFileBroken(str(e)) from None
