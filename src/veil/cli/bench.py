"""``veil bench``: what veil costs YOUR program, side by side with native (and strace,
PRoot).  The measuring is veil.benchcmd, the tables and charts veil.benchreport.

Each veil mode runs as ``python -m veil.cli.benchchild --child STATS VEIL-ARGS``
(veil.cli.benchchild): the veil command line unchanged, with the engine's stop
count and the time spent in the session written to STATS at the end.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile

from ..benchcmd import MODES_HELP, PEERS, count_syscalls, make_mode, make_peer, measure, peak_rss
from ..errors import UsageError
from .argparser import VeilArgumentParser
from .common import strip_dashes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    p = VeilArgumentParser(prog="veil bench", description="Measure what veil costs a command.")
    p.add_argument("--mode", action="append", default=[], metavar="MODE",
                   help=f"repeatable; one of: {MODES_HELP.replace('%', '%%')} (default: trace and run)")
    p.add_argument("--runs", type=int, default=5, metavar="N", help="measured runs of each (5)")
    p.add_argument("--warmup", type=int, default=1, metavar="N",
                   help="unmeasured rounds first (1); they also check every mode works")
    p.add_argument("--against", default="native", metavar="native,strace,proot",
                   help="peers measured besides veil (native always is)")
    p.add_argument("--csv", metavar="FILE", help="write the results as CSV")
    p.add_argument("--plot", metavar="FILE.png", help="write a bar chart (needs matplotlib)")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("command", nargs=argparse.REMAINDER)
    return p


def cmd_bench(argv: Sequence[str]) -> int:
    from .. import benchreport as R
    from ..session import resolve_command

    args = _parser().parse_args(list(argv))
    cmd = strip_dashes(args.command)
    if not cmd:
        raise UsageError("bench: no command; usage: veil bench [--mode MODE ...] [--runs N] -- CMD ARGS")
    if args.runs < 1 or args.warmup < 0:
        raise UsageError("bench: --runs must be 1 or more and --warmup 0 or more")
    against = [a.strip() for a in args.against.split(",") if a.strip()]
    bad = [a for a in against if a not in PEERS]
    if bad:
        raise UsageError(f"bench: unknown --against peer {bad[0]!r}; peers: {', '.join(PEERS)}")
    if args.plot:
        R.check_plot()
    resolve_command(cmd[0])  # CommandNotFound: exit 127 (126) like veil run
    tmp = tempfile.mkdtemp(prefix="veil-bench-")
    try:
        modes = [make_peer("native")] + [make_peer(a) for a in PEERS[1:] if a in against]
        names = args.mode or ["trace", "run"]
        modes += [make_mode(n, tmp) for n in dict.fromkeys(names)]
        tty = sys.stderr.isatty()

        def progress(line: str) -> None:
            if tty:
                sys.stderr.write("\r\033[K" + line)
                sys.stderr.flush()

        progress("bench: counting syscalls")
        syscalls = count_syscalls(cmd)
        measure(modes, cmd, args.runs, args.warmup, tmp, progress)
        progress("bench: peak RSS (one run each under GNU time)")
        rss_note = peak_rss(modes, cmd, tmp)
        if tty:
            sys.stderr.write("\r\033[K")
        report = R.summarise(modes, cmd, args.runs, syscalls, rss_note)
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            R.print_table(report, sys.stdout)
        if args.csv:
            R.write_csv(report, args.csv)
        if args.plot:
            R.write_plot(report, args.plot)
        return 1 if any(r["status"] == "failed" for r in report["modes"]) else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
