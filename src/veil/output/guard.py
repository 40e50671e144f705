"""A trace file that may fail (disk full, I/O error): the first error is kept
and later writes are dropped, so the traced program runs on unharmed and veil
can say once, at the end, where the trace stopped."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO


class GuardedStream:
    def __init__(self, stream: IO, name: str) -> None:
        self._stream = stream
        self.name = name
        self.error: OSError | None = None

    def _guard(self, op, *args):
        if self.error is not None:
            return None
        try:
            return op(*args)
        except OSError as e:
            self.error = e
            return None

    def write(self, data):
        return self._guard(self._stream.write, data)

    def flush(self) -> None:
        self._guard(self._stream.flush)

    def close(self) -> None:
        self._guard(self._stream.close)
        if self.error is not None:
            try:
                self._stream.close()  # buffered data that cannot be written is dropped
            except OSError:
                pass

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)

    def report(self) -> str | None:
        """One line for the user if writing failed."""
        if self.error is None:
            return None
        reason = self.error.strerror or str(self.error)
        return f"{self.name}: {reason}: the trace stops there; the program ran on"
