"""``veil show FILE.veil``: render a binary trace file later, as veil trace would
have printed it live (strace text, JSON lines, a Perfetto timeline, the -c summary)."""
from __future__ import annotations

import argparse
import sys
import time

from ..errors import UsageError
from ..observers import Observer
from .argparser import VeilArgumentParser
from .common import open_output, parse_exprs, raw_set, syscall_set

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

USAGE = ("veil show [-f] [-e EXPR] [-c|-C] [-S SORT] [-T] [-t|-tt|-ttt] [-s N] [-y] [-x] [-q] "
         "[-o FILE] [--format text|json|perfetto] [--info] FILE.veil")


def _parser() -> argparse.ArgumentParser:
    p = VeilArgumentParser(prog="veil show", description=(
        "Render a binary trace file (veil trace --format binary -o FILE.veil) as strace text, "
        "JSON lines, a Perfetto timeline or a -c summary.  Defaults are as recorded."))
    p.add_argument("file", metavar="FILE.veil")
    p.add_argument("-f", dest="follow", action="count", default=0,
                   help="prefix lines with the thread id (default: as recorded with -f)")
    p.add_argument("-e", dest="exprs", action="append", default=[], metavar="EXPR",
                   help="trace=SET, status=successful|failed: show only these calls; "
                        "raw=SET: show these calls' arguments undecoded, in hex")
    p.add_argument("-c", dest="summary_only", action="store_true",
                   help="count time, calls and errors per syscall; print the summary only")
    p.add_argument("-C", dest="summary_too", action="store_true",
                   help="like -c, and print the trace too")
    p.add_argument("-S", dest="sortby", default="time",
                   choices=["time", "calls", "errors", "name", "nothing"], help="summary order")
    p.add_argument("-T", dest="durations", action="store_true", help="show time spent in each call")
    p.add_argument("-t", dest="timestamps", action="count", default=0,
                   help="prefix each line with the time; -tt with microseconds; -ttt epoch")
    p.add_argument("-s", dest="strsize", type=int, default=None, metavar="N",
                   help="print at most N bytes of each string (default: as recorded)")
    p.add_argument("-y", dest="decorate", action="count", default=0,
                   help="print paths of fds (needs a file recorded with -y; default: as recorded)")
    p.add_argument("-x", dest="hex", action="store_true", help="print strings in hex")
    p.add_argument("-q", dest="quiet", action="count", default=0,
                   help="-q: no attach/detach messages; -qq: no exit status lines either")
    p.add_argument("-o", dest="output", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument("--format", choices=["text", "json", "perfetto"], default="text")
    p.add_argument("--info", action="store_true",
                   help="print what the header and trailer say about the run, not the trace")
    return p


def _info_lines(info, name: str) -> list[str]:
    start = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.start_ns / 1e9))
    what = (" ".join(info.argv) if info.argv
            else "attach to " + ",".join(map(str, info.attach_pids)))
    opts = [k for k in ("follow", "decorate_fds", "seccomp") if getattr(info, k)]
    lines = [f"file: {name} (veil trace format {info.version}, records v{info.record_version})",
             f"command: {what}",
             f"cwd: {info.cwd}",
             f"started: {start}.{info.start_ns % 1_000_000_000 // 1000:06d} on {info.hostname} "
             f"({info.kernel}), veil {info.veil_version}",
             f"traced: {info.trace_expr} ({len(info.traced)} syscalls); strsize {info.strsize}; "
             f"{', '.join(opts) or 'no options'}"]
    if info.raw:
        from ..syscalls.lookup import BY_NR
        names = sorted(BY_NR[nr].name if nr in BY_NR else str(nr) for nr in info.raw)
        lines.append(f"raw (undecoded, no memory read): {len(names)} syscalls: "
                     + (", ".join(names) if len(names) <= 12 else ", ".join(names[:12]) + ", ..."))
    if not info.same_table:
        lines.append("syscall table: differs from this veil's (names may be decoded differently)")
    end = info.end
    if end is not None:
        lines.append(f"ended: after {(end.end_ns - info.start_ns) / 1e9:.3f} s, exit status "
                     f"{end.exit_code}{' (interrupted, detached)' if end.interrupted else ''}")
        lines.append(f"records: {info.records_read}; stops: {end.stops} "
                     f"({end.syscall_stops} at syscalls); tasks: {end.tasks_seen}")
    return lines


def cmd_show(argv: Sequence[str]) -> int:
    from ..decoders import Ctx
    from ..observers import SyscallStats
    from ..output import only_signals
    from ..output.jsonl import JsonWriter
    from ..output.perfetto import PerfettoWriter
    from ..output.summary import write_summary
    from ..output.text import TextWriter
    from ..show import TraceFileBroken, check_trace, open_trace, replay

    args = _parser().parse_args(argv)
    trace_expr, status, signals = parse_exprs(args.exprs, ("trace", "status", "signal", "raw"))
    raw = raw_set(args.exprs)
    wanted = syscall_set(trace_expr)
    if args.strsize is not None and args.strsize < 0:
        raise UsageError(f"invalid -s value {args.strsize}: must be 0 or more")
    if args.format == "perfetto" and (args.summary_only or args.summary_too):
        raise UsageError("-c/-C cannot be combined with --format perfetto")

    name = args.file
    f, info = open_trace(name)
    out = sys.stdout
    opened = None
    with f:
        if args.info:
            broken = None
            try:
                check_trace(f, info, name)
            except TraceFileBroken as e:
                broken = e
            for line in _info_lines(info, name):
                print(line)
            if broken is not None:
                raise broken
            return 0

        if not info.same_table:
            print(f"veil show: warning: {name} was recorded with another syscall table; "
                  f"names and arguments may be decoded differently", file=sys.stderr)
        if args.output:
            opened = out = open_output(args.output, guard=False)

        ctx = Ctx(strsize=info.strsize if args.strsize is None else args.strsize,
                  hex_all=args.hex, decorate_fds=bool(args.decorate) or info.decorate_fds,
                  raw=raw | info.raw)
        follow = bool(args.follow) or info.follow
        observers: list[Observer] = []
        stats = None
        if args.summary_only or args.summary_too:
            stats = SyscallStats()
            observers.append(stats)
        if not args.summary_only:
            if args.format == "json":
                writer: Observer = JsonWriter(out, ctx, status)
            elif args.format == "perfetto":
                writer = PerfettoWriter(out, ctx, status=status)
            else:
                writer = TextWriter(out, follow=follow, to_file=True,
                                    timestamps=args.timestamps, durations=args.durations,
                                    ctx=ctx, status=status, quiet=args.quiet)
            observers.append(writer if signals is None else only_signals(writer, signals))
        try:
            replay(f, info, name, observers, wanted)
        finally:
            for o in observers:
                o.close()
            if stats is not None:
                write_summary(stats, out, args.sortby)
            out.flush()
            if opened is not None:
                opened.close()
    return 0
