"""Trace writers: strace text, JSON lines, the binary record, Perfetto, and the -c summary."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import IO

FORMATS = ("text", "json", "binary", "perfetto")


def add_writer(session, fmt: str, stream: IO, ctx, *, status: str | None = None,
               follow: bool = True, trace_expr: str = "", signals: set[int] | None = None,
               paths: Sequence[str] = (), from_exec: int = 0, stacks=None,
               **text_options) -> Callable[[object], None]:
    """Give ``session`` the writer of ``fmt`` on ``stream``: an observer, or for
    "binary" a raw sink (which keeps everything).  Returns what to call with the
    Result (or None) when the run ends.  ``signals``: show only these (-e
    signal=); ``paths``: only the calls that touch these (-P); ``from_exec``: a pid
    whose events before its first execve are left out (-D); ``stacks``: the stack
    frames of the calls (-k, veil.output.stack.watch_stacks), for text and json.
    ``text_options`` go to the TextWriter."""
    if fmt == "binary":
        from .binary import BinaryWriter
        binary = BinaryWriter(stream, argv=session.argv, attach_pids=session.pids,
                              traced=session.traced, trace_expr=trace_expr,
                              strsize=session.strsize, follow=follow,  # line prefixes in show
                              decorate_fds=bool(session.decorate_fds), seccomp=session.seccomp,
                              raw=session.raw)
        session.add_raw_sink(binary.write)
        return lambda result: binary.finish(result, interrupted=session.interrupted)
    after_table = None
    if fmt == "json":
        from .jsonl import JsonWriter  # construct: imported only when needed
        writer = JsonWriter(stream, ctx, status, stacks=stacks)
    elif fmt == "perfetto":
        from .perfetto import PerfettoWriter
        writer = PerfettoWriter(stream, ctx, status=status, command=session.argv or None)
        if session.sockets is not None:
            after_table = writer.follow_sockets(session.sockets)
    elif fmt == "text":
        from .text import TextWriter
        writer = TextWriter(stream, follow=follow, ctx=ctx, status=status, stacks=stacks,
                            **text_options)
    else:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if paths:
        from .filters import OnlyPaths
        writer = OnlyPaths(writer, paths)
    if from_exec:
        from .filters import FromExec
        writer = FromExec(writer, from_exec)
    writer = session.traced_only(writer)
    session.add_observer(writer if signals is None else only_signals(writer, signals))
    if after_table is not None:
        session.add_observer(after_table)
    return lambda result: None


def only_signals(writer, signals: set[int]):
    from ..observers import OnlySignals
    return OnlySignals(writer, signals)


def parse_signal_set(spec: str) -> set[int]:
    """strace's -e signal=SET: names (SIGCHLD or CHLD) or numbers, "all", "none",
    comma separated, "!" in front for every signal but these.  UsageError if bad."""
    from ..errors import UsageError
    from ..policy import parse_signal
    text = spec.strip()
    negate = text.startswith("!")
    tokens = [t.strip() for t in text.lstrip("!").split(",") if t.strip()]
    if not tokens:
        raise UsageError(f"invalid -e signal={spec!r}: an empty set")
    chosen: set[int] = set()
    for t in tokens:
        if t == "all":
            chosen |= set(range(1, 65))
        elif t != "none":
            chosen.add(parse_signal(t, "-e signal"))
    return set(range(1, 65)) - chosen if negate else chosen


def death_line(command: str, result) -> str | None:
    """The line a shell would print for a program killed by a signal (bash:
    "Segmentation fault (core dumped)"; nothing for SIGINT and SIGPIPE).  veil
    exits with 128+N instead of dying of the signal, so the shell above veil
    says nothing: veil says it, with the core-dump flag the kernel reported."""
    import _signal  # the signal module without its enums
    sig = getattr(result, "signal", None)
    if not sig or sig in (_signal.SIGINT, _signal.SIGPIPE):
        return None
    from ..decoders.common import signal_name
    return (f"veil: {command} killed by {signal_name(sig)}"
            + (" (core dumped)" if result.core_dumped else ""))
