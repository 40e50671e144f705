"""The progress bar of ``veil prep trace`` and ``pack``: one line on stderr, redrawn in
place: while learning, the paths and processes seen so far; while copying, a bar with
the files, the bytes and the time left.

Shown only when stderr is a terminal (or when asked for): pipes, logs and
tests get no carriage returns.
"""
from __future__ import annotations

import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

WIDTH = 24
EVERY = 0.1          # seconds between redraws


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}" if minutes >= 60 \
        else f"{minutes}:{seconds:02d}"


class Progress:
    """``[#####.....] 120/450, 407 files, 22.3 MiB, 0:12 left``; :meth:`phase` starts a
    new bar, :meth:`count` shows a count without a bar (the learning run)."""

    def __init__(self, enabled: bool | None = None, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.label, self.total, self.done, self.files, self.bytes = "", 0, 0, 0, 0
        self._last = 0.0
        self._shown = False
        self._started = time.monotonic()

    def phase(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self._started = time.monotonic()
        self._draw(force=True)

    def count(self, text: str) -> None:
        """A line without a bar: ``veil: learning: 812 paths, 3 processes, 0:04``."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < EVERY:
            return
        self._last = now
        self.stream.write(f"\rveil: {text}, {clock(now - self._started)}\x1b[K")
        self.stream.flush()
        self._shown = True

    def step(self, files: int = 0, nbytes: int = 0, items: int = 1) -> None:
        self.done += items
        self.files += files
        self.bytes += nbytes
        self._draw()

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < EVERY and self.done < self.total:
            return
        self._last = now
        full = WIDTH * self.done // self.total if self.total else WIDTH
        bar = "#" * full + "." * (WIDTH - full)
        spent = now - self._started
        left = (f", {clock(spent * (self.total - self.done) / self.done)} left"
                if 0 < self.done < self.total and spent >= 1 else "")
        self.stream.write(f"\rveil: {self.label} [{bar}] {self.done}/{self.total}, "
                          f"{self.files} files, {human_size(self.bytes)}{left}\x1b[K")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False
