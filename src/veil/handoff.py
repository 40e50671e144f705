"""What the loop's thread hands to run()'s thread: records, an error, the end.

Built on ``_thread``'s locks: the threading and queue modules (with functools
and collections) were ~5 ms of every start-up.  A lock acquired with a timeout
waits as queue.Queue's condition does: a signal handled meanwhile runs its
handler and the wait goes on (Python 3.11's SimpleQueue was seen to miss its
wake-up after one).
"""
from __future__ import annotations

import _thread
from _collections import deque

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


class Handoff:
    """A queue with one consumer.  ``get`` returns None when nothing came
    within the timeout (or on a spurious wake-up: callers loop)."""

    def __init__(self) -> None:
        self._items: deque = deque()
        self._ready = _thread.allocate_lock()   # released: there may be items
        self._ready.acquire()

    def put(self, item: object) -> None:
        self._items.append(item)
        _release(self._ready)

    def get(self, timeout: float) -> object:
        if not self._items and not self._ready.acquire(True, timeout):
            return None
        return self._items.popleft() if self._items else None


class Backlog:
    """Bytes of records the loop has handed to run()'s thread and that are not
    formatted yet.  The loop waits while there are more than ``limit``: a trace
    written slower than the program makes records slows the program (strace
    writes as it traces) instead of filling veil's memory."""

    def __init__(self, limit: float):
        self.limit = limit
        self.bytes = 0
        self._mutex = _thread.allocate_lock()
        self._room = _thread.allocate_lock()    # released: there may be room
        self._room.acquire()

    def add(self, n: int) -> None:
        while self.bytes > self.limit:
            self._room.acquire()
        with self._mutex:
            self.bytes += n

    def done(self, n: int) -> None:
        with self._mutex:
            self.bytes -= n
        _release(self._room)

    def close(self) -> None:
        """Nobody formats any more: never wait again."""
        self.limit = float("inf")
        _release(self._room)


def start_thread(target: Callable[[], None]) -> Callable[[], None]:
    """Run ``target`` in a new thread (a daemon: the interpreter's exit does not
    wait for it); returns a function that waits until ``target`` returned."""
    finished = _thread.allocate_lock()
    finished.acquire()

    def run() -> None:
        try:
            target()
        finally:
            finished.release()

    _thread.start_new_thread(run, ())

    def join() -> None:
        finished.acquire()
        finished.release()
    return join


def _release(lock: _thread.LockType) -> None:
    try:
        lock.release()
    except RuntimeError:   # released already: the waiter has a wake-up coming
        pass
