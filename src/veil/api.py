"""``veil.trace()`` and ``veil.run()``: the CLI's commands as functions."""
from __future__ import annotations

from .decoders import Ctx
from .errors import VeilError
from .observers import Observer, SyscallStats
from .session import Result, Session
from .spec import Environment, Layout, Observation, RunSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import IO


def trace(argv: Sequence[str], *, follow: bool = True, trace: str | Iterable[int] = "all",
          output: None | str | IO[str] = None, format: str = "text", strsize: int = 32,
          status: str | None = None, timestamps: int = 0, durations: bool = False,
          seccomp: bool = True, affinity: str | int = "auto",
          observers: Sequence[Observer] = ()) -> Result:
    """Run ``argv`` under the tracer.

    ``output`` is a path, an open stream (binary for ``format="binary"``), or
    None (no trace written; the statistics are still in ``Result.stats``).
    ``format``: "text", "json", "binary" (read it with ``veil show``) or
    "perfetto".  ``trace`` takes strace's ``-e trace=`` syntax.  Returns the
    exit status and per-syscall statistics.
    """
    from .output import FORMATS, add_writer

    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    stats = SyscallStats()
    session = Session(argv, trace=trace, follow=follow, strsize=strsize, seccomp=seccomp,
                      affinity=affinity, observers=[stats, *observers])
    opened = None
    finish = None
    if output is not None:
        if isinstance(output, str):
            stream = opened = open(output, "wb" if format == "binary" else "w")
        else:
            stream = output
        finish = add_writer(session, format, stream, Ctx(strsize=strsize), status=status,
                            follow=follow, trace_expr=trace if isinstance(trace, str) else "",
                            to_file=True, timestamps=timestamps, durations=durations)
    result = None
    try:
        result = session.run()
    finally:
        if finish is not None:
            finish(result)
        if opened is not None:
            opened.close()
    result.stats = stats.as_dict()
    return result


def run(argv: Sequence[str] | None = None, *, spec: RunSpec | None = None, policy=None,
        follow: bool = True, trace: str | Iterable[int] = "none",
        output: None | str | IO[str] = None, seccomp: bool = True,
        affinity: str | int = "auto", observers: Sequence[Observer] = (),
        layout: Layout | None = None, cwd: str | None = None) -> Result:
    """Run ``argv`` (else the spec's ``[environment] argv``) as ``spec`` describes
    it, with every protection ``veil run`` applies, under one policy or a list
    of policies (composed in order after the spec's own: the first verdict that
    is not Allow wins).

    Without a spec, ``layout`` (a ``veil.Layout``; ``cwd`` is then a guest path),
    ``cwd``, ``trace``, ``output`` (a text trace as ``veil.trace`` writes it),
    ``seccomp`` and ``affinity`` make one.  ``Result.stats`` counts the traced
    calls, ``Result.refusals`` lists the calls veil refused and reported."""
    from .output.text import TextWriter

    policies = [] if policy is None else list(policy) if isinstance(policy, (list, tuple)) else [policy]
    if spec is None:
        observation = Observation(trace=trace if isinstance(trace, str) else None, seccomp=seccomp,
                                  affinity=str(affinity))
        spec = RunSpec(layout=layout or Layout(), environment=Environment(cwd=cwd) if cwd else Environment(),
                       observation=observation)
        traced = {} if isinstance(trace, str) else {"trace": trace}
    elif layout is not None or cwd is not None:
        raise VeilError("veil.run(spec=...): give the layout and cwd in the spec")
    else:
        traced = {}
    stats = SyscallStats()
    obs = [stats, *observers]
    opened = None
    if isinstance(output, str):
        output = opened = open(output, "w")
    if output is not None:
        obs.append(TextWriter(output, follow=follow, to_file=True, ctx=Ctx()))
    if traced:  # a set of numbers: the spec holds -e trace= text only
        spec = spec.replace(observation={"trace": None})
    session = Session(argv, spec=spec, policies=policies, follow=follow, observers=obs)
    if traced:
        session.traced = set(traced["trace"])
    try:
        result = session.run()
    finally:
        if opened is not None:
            opened.close()
    result.stats = stats.as_dict()
    return result
