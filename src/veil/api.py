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

    ``output`` is a path, an open stream (binary for ``format="binary"``), or
    None (no trace written; the statistics are still in ``Result.stats``).
    ``format``: "text", "json", "binary" (read it with ``veil show``) or
    "perfetto".  ``trace`` takes strace's ``-e trace=`` syntax.  Returns the
    exit status and per-syscall statistics.
    """
    from .output.jsonl import JsonWriter
    from .output.text import TextWriter

    ctx = Ctx(strsize=strsize)
    stats = SyscallStats()
    obs = [stats, *observers]
    opened = None
    binary = None
    if format not in ("text", "json", "binary", "perfetto"):
        raise ValueError(f"format must be text, json, binary or perfetto, not {format!r}")
    if output is not None:
        if isinstance(output, str):
            stream = opened = open(output, "wb" if format == "binary" else "w")
        else:
            stream = output
        if format == "json":
            from .output.jsonl import JsonWriter
            obs.append(JsonWriter(stream, ctx, status))
        elif format == "perfetto":
            from .output.perfetto import PerfettoWriter
            obs.append(PerfettoWriter(stream, ctx, status=status, command=list(argv)))
        elif format == "binary":
            from .output.binary import BinaryWriter
            from .syscalls.lookup import resolve_set
            traced = resolve_set(trace) if isinstance(trace, str) else set(trace)
            binary = BinaryWriter(stream, argv=list(argv), attach_pids=(), traced=traced,
                                  trace_expr=trace if isinstance(trace, str) else "",
                                  strsize=strsize, follow=follow, decorate_fds=False,
                                  seccomp=seccomp)
        else:
            obs.append(TextWriter(stream, follow=follow, to_file=True, timestamps=timestamps,
                                  durations=durations, ctx=ctx, status=status))
    session = Session(argv, trace=trace, follow=follow, strsize=strsize, seccomp=seccomp,
                      affinity=affinity, observers=obs)
    if binary is not None:
        session.add_raw_sink(binary.write)
    result = None
    try:
        result = session.run()
    finally:
        if binary is not None:
            binary.finish(result, interrupted=session.interrupted)
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
