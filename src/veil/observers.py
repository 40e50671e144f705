"""Observers: consumers of recorded events (trace writers, statistics).

The Session drains the C ring in batches and calls these methods in record
order.  ``enter`` and ``exit`` receive the same :class:`veil.decoders.Call`
object; its ``ret``/``ts_exit`` are filled at exit.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:   # the decoders load when a call is first assembled
    from .decoders import Call


class Observer:
    def prepare(self) -> None:
        """Called once, in run()'s thread, while the traced program starts and
        before its first events: load what they will need (the loop's thread
        is in the kernel meanwhile)."""

    def enter(self, call: Call) -> None:
        pass

    def exit(self, call: Call) -> None:
        pass

    def signal(self, pid: int, tid: int, sig: int, siginfo: bytes, ts: int) -> None:
        pass

    def exited(self, pid: int, tid: int, code: int, ts: int) -> None:
        pass

    def killed(self, pid: int, tid: int, sig: int, core: bool, ts: int) -> None:
        pass

    def new_task(self, parent_tid: int, child_tid: int, child_pid: int, how: str, ts: int) -> None:
        pass

    def exec(self, pid: int, tid: int, former_tid: int, ts: int) -> None:
        pass

    def stopped(self, pid: int, tid: int, sig: int, ts: int) -> None:
        pass

    def attached(self, pid: int, tid: int, ts: int) -> None:
        pass

    def detached(self, pid: int, tid: int, ts: int) -> None:
        pass

    def close(self) -> None:
        pass


class SyscallStats(Observer):
    """Per-syscall counts, errors and time between entry and exit (strace -c -w)."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.time_ns: dict[str, int] = {}

    def exit(self, call: Call) -> None:
        name = call.name
        self.calls[name] = self.calls.get(name, 0) + 1
        if call.failed:
            self.errors[name] = self.errors.get(name, 0) + 1
        if call.ts_exit is not None:
            self.time_ns[name] = self.time_ns.get(name, 0) + (call.ts_exit - call.ts_enter)

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {name: {"calls": n, "errors": self.errors.get(name, 0),
                       "seconds": self.time_ns.get(name, 0) / 1e9}
                for name, n in self.calls.items()}

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


class OnlyCalls(Observer):
    """Passes ``inner`` only the x86_64 calls whose number is in ``nrs`` (and
    every process event): an observer that must not see calls added for
    another's sake."""

    def __init__(self, inner: Observer, nrs: set) -> None:
        self.inner = inner
        self.nrs = nrs

    def prepare(self) -> None:
        self.inner.prepare()

    def enter(self, call: Call) -> None:
        if call.arch or call.nr in self.nrs:
            self.inner.enter(call)

    def exit(self, call: Call) -> None:
        if call.arch or call.nr in self.nrs:
            self.inner.exit(call)

    def signal(self, pid: int, tid: int, sig: int, siginfo: bytes, ts: int) -> None:
        self.inner.signal(pid, tid, sig, siginfo, ts)

    def exited(self, pid: int, tid: int, code: int, ts: int) -> None:
        self.inner.exited(pid, tid, code, ts)

    def killed(self, pid: int, tid: int, sig: int, core: bool, ts: int) -> None:
        self.inner.killed(pid, tid, sig, core, ts)

    def new_task(self, parent_tid: int, child_tid: int, child_pid: int, how: str, ts: int) -> None:
        self.inner.new_task(parent_tid, child_tid, child_pid, how, ts)

    def exec(self, pid: int, tid: int, former_tid: int, ts: int) -> None:
        self.inner.exec(pid, tid, former_tid, ts)

    def stopped(self, pid: int, tid: int, sig: int, ts: int) -> None:
        self.inner.stopped(pid, tid, sig, ts)

    def attached(self, pid: int, tid: int, ts: int) -> None:
        self.inner.attached(pid, tid, ts)

    def detached(self, pid: int, tid: int, ts: int) -> None:
        self.inner.detached(pid, tid, ts)

    def close(self) -> None:
        self.inner.close()


class _Everything:
    def __contains__(self, item) -> bool:
        return True


class OnlySignals(OnlyCalls):
    """Passes ``inner`` every call and event but the signals not in ``sigs``
    (strace's -e signal=SET)."""

    def __init__(self, inner: Observer, sigs: set) -> None:
        super().__init__(inner, _Everything())  # type: ignore[arg-type]
        self.sigs = sigs

    def signal(self, pid: int, tid: int, sig: int, siginfo: bytes, ts: int) -> None:
        if sig in self.sigs:
            self.inner.signal(pid, tid, sig, siginfo, ts)
