"""The progress bar of ``veil prep pack``: one line on stderr, redrawn in place.

Shown only when stderr is a terminal (or when asked for): pipes, logs and
tests get no carriage returns.
"""
from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

WIDTH = 24
EVERY = 0.1          # seconds between redraws


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


class Progress:
    """``[#####.....] 120/450 paths, 407 files, 22.3 MiB``; :meth:`phase` starts a new bar."""

    def __init__(self, enabled: Optional[bool] = None, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.label, self.total, self.done, self.files, self.bytes = "", 0, 0, 0, 0
        self._last = 0.0
        self._shown = False

    def phase(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self._draw(force=True)

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
        self.stream.write(f"\rveil: {self.label} [{bar}] {self.done}/{self.total}, "
                          f"{self.files} files, {human_size(self.bytes)}\x1b[K")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False
