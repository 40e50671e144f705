"""``veil.trace()``: the CLI's options as a function."""
from __future__ import annotations

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


def run(argv: Sequence[str], *, policy=None, follow: bool = True,
        trace: Union[str, Iterable[int]] = "none", output: Union[None, str, IO[str]] = None,
        seccomp: bool = True, affinity: Union[str, int] = "auto",
        observers: Sequence[Observer] = ()) -> Result:
    """Run ``argv`` under one policy or a list of policies (composed in order:
    the first verdict that is not Allow wins).  ``trace`` and ``output`` add a
    trace as ``veil.trace`` writes it.  ``Result.stats`` counts the traced calls."""
    from .output.text import TextWriter

    policies = [] if policy is None else list(policy) if isinstance(policy, (list, tuple)) else [policy]
    stats = SyscallStats()
    obs = [stats, *observers]
    opened = None
    if output is not None:
        stream = opened = open(output, "w") if isinstance(output, str) else None
        obs.append(TextWriter(stream or output, follow=follow, to_file=True, ctx=Ctx()))
    session = Session(argv, trace=trace, follow=follow, seccomp=seccomp, affinity=affinity,
                      observers=obs)
    for p in policies:
        p.apply(session)
    try:
        result = session.run()
    finally:
        if opened is not None:
            opened.close()
    result.stats = stats.as_dict()
    result.kills = list(session.kills)
    return result
