"""``veil.trace()``: the CLI's options as a function."""
from __future__ import annotations

import io
import sys
from typing import IO, Iterable, Optional, Sequence, Union

from .decoders import Ctx
from .observers import Observer, SyscallStats
from .session import Result, Session


def trace(argv: Sequence[str], *, follow: bool = True, trace: Union[str, Iterable[int]] = "all",
          output: Union[None, str, IO[str]] = None, format: str = "text", strsize: int = 32,
          status: Optional[str] = None, timestamps: int = 0, durations: bool = False,
          seccomp: bool = True, affinity: Union[str, int] = "auto",
          observers: Sequence[Observer] = ()) -> Result:
    """Run ``argv`` under the tracer.

    ``output`` is a path, an open text stream, or None (no trace written; the
    statistics are still in ``Result.stats``).  ``trace`` takes strace's
    ``-e trace=`` syntax.  Returns the exit status and per-syscall statistics.
    """
    from .output.jsonl import JsonWriter
    from .output.text import TextWriter

    ctx = Ctx(strsize=strsize)
    stats = SyscallStats()
    obs = [stats, *observers]
    opened = None
    if output is not None:
        stream = opened = open(output, "w") if isinstance(output, str) else None
        stream = stream or output
        if format == "json":
            obs.append(JsonWriter(stream, ctx, status))
        elif format == "text":
            obs.append(TextWriter(stream, follow=follow, to_file=True, timestamps=timestamps,
                                  durations=durations, ctx=ctx, status=status))
        else:
            raise ValueError(f"format must be 'text' or 'json', not {format!r}")
    session = Session(argv, trace=trace, follow=follow, strsize=strsize, seccomp=seccomp,
                      affinity=affinity, observers=obs)
    try:
        result = session.run()
    finally:
        if opened is not None:
            opened.close()
    result.stats = stats.as_dict()
    return result
