"""``veil trace``: strace's flags, veil's engine."""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Sequence

from ..errors import UsageError, VeilError
from .common import (VeilArgumentParser, inject_policy, open_output, parse_exprs, raw_set,
                     strip_dashes, syscall_set)


def _parser() -> argparse.ArgumentParser:
    p = VeilArgumentParser(prog="veil trace",
                                description="Trace the system calls of a program (strace's flags).")
    p.add_argument("-f", dest="follow", action="count", default=0,
                   help="follow forks, vforks and clones; -ff with -o writes FILE.PID per process")
    p.add_argument("-o", dest="output", metavar="FILE", help="write the trace to FILE")
    p.add_argument("-e", dest="exprs", action="append", default=[], metavar="EXPR",
                   help="trace=SET (names, %%class, /regex, !negation), status=successful|failed, "
                        "signal=SET (SIGCHLD, CHLD, 17, all, none, !negation), "
                        "raw=SET (arguments undecoded, in hex: no tracee memory is read), "
                        "inject=SET:error=E|retval=N|signal=S[:when=FIRST[..LAST][+STEP]][:path=GLOB]")
    p.add_argument("-c", dest="summary_only", action="store_true",
                   help="count time, calls and errors per syscall; print a summary at the end")
    p.add_argument("-C", dest="summary_too", action="store_true",
                   help="like -c, and print the trace too")
    p.add_argument("-S", dest="sortby", default="time",
                   choices=["time", "calls", "errors", "name", "nothing"], help="summary order")
    p.add_argument("-w", dest="wall", action="store_true",
                   help="summary times are wall time between entry and exit (always the case)")
    p.add_argument("-T", dest="durations", action="store_true", help="show time spent in each call")
    p.add_argument("-t", dest="timestamps", action="count", default=0,
                   help="prefix each line with the time; -tt with microseconds; -ttt epoch")
    p.add_argument("-s", dest="strsize", type=int, default=32, metavar="N",
                   help="print at most N bytes of each string (default 32)")
    p.add_argument("-p", dest="pids", action="append", default=[], metavar="PID",
                   help="attach to PID (repeatable, or comma separated)")
    p.add_argument("-y", dest="decorate", action="count", default=0,
                   help="print paths of fds; -yy: protocol and addresses of sockets too")
    p.add_argument("-x", dest="hex", action="count", default=0,
                   help="print non-printable strings in hex; -xx: every string")
    p.add_argument("-q", dest="quiet", action="count", default=0,
                   help="-q: no attach/detach messages; -qq: no exit status lines either")
    p.add_argument("--format", choices=["text", "json", "binary", "perfetto"], default="text",
                   help="text: strace's notation; json: one typed object per line; binary: "
                        "the raw records (needs -o FILE.veil; read it with veil show); "
                        "perfetto: a Chrome trace-event JSON timeline (needs -o FILE.json)")
    p.add_argument("--affinity", default="auto", metavar="auto|off|CPU",
                   help="keep veil on the tracee's core while it has one task (default auto)")
    p.add_argument("--learn-seccomp", metavar="PROFILE.json",
                   help="write the least-privilege OCI seccomp profile that allows exactly "
                        "the syscalls this run made")
    p.add_argument("--no-seccomp", dest="seccomp", action="store_false",
                   help="stop at every syscall (PTRACE_SYSCALL) instead of filtering in the kernel")
    p.add_argument("--backend", choices=["c", "python"], default="c",
                   help="python: the python-ptrace reference engine (no seccomp, slow)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the program and its arguments")
    return p


def _parse_pids(values: Sequence[str]) -> List[int]:
    pids = []
    for v in values:
        for part in v.replace(" ", ",").split(","):
            if not part:
                continue
            if not part.isdigit() or int(part) <= 0:
                raise UsageError(f"invalid process id: {part!r}")
            pid = int(part)
            if not os.path.exists(f"/proc/{pid}"):
                raise UsageError(f"attach: process {pid} does not exist")
            tracer = _tracer_of(pid)
            if tracer:
                # ptrace(2): EPERM, "the process is already being traced"
                raise VeilError(f"attach {pid}: process {pid} is already traced by "
                                f"process {tracer}")
            pids.append(pid)
    return pids


def _tracer_of(pid: int) -> str:
    """'PID (NAME)' of the process tracing ``pid``, or '' if none."""
    try:
        with open(f"/proc/{pid}/status") as f:
            tracer = next((line.split()[1] for line in f if line.startswith("TracerPid:")), "0")
        if tracer == "0":
            return ""
        with open(f"/proc/{tracer}/comm") as f:
            return f"{tracer} ({f.read().strip()})"
    except OSError:  # either process just went away
        return ""


def cmd_trace(argv: Sequence[str]) -> int:
    from ..decoders import Ctx
    from ..observers import SyscallStats
    from ..output.summary import write_summary
    from ..output import add_writer
    from ..session import Session

    args = _parser().parse_args(argv)
    command = strip_dashes(args.command)
    pids = _parse_pids(args.pids)
    if not command and not pids:
        raise UsageError("must have a command to run or -p PID")
    if command and pids:
        raise UsageError("give a command or -p PID, not both")
    if args.strsize < 0:
        raise UsageError(f"invalid -s value {args.strsize}: must be 0 or more")
    trace_expr, status, signals = parse_exprs(args.exprs)
    traced = syscall_set(trace_expr)
    per_process = args.follow >= 2 and bool(args.output)
    if args.format == "json" and per_process:
        raise UsageError("-ff cannot be combined with --format json: every object has its pid "
                         "(jq 'select(.pid == N)' splits the file)")
    if args.format in ("binary", "perfetto"):
        if not args.output:
            raise UsageError(f"--format {args.format} needs -o FILE")
        if per_process:
            raise UsageError(f"-ff cannot be combined with --format {args.format}: "
                             f"the file holds every process")
        if args.summary_only or args.summary_too:
            raise UsageError(f"-c/-C cannot be combined with --format {args.format}"
                             + ("; use veil show -c FILE" if args.format == "binary" else ""))

    out = sys.stderr
    opened = None
    if args.output and not per_process:
        opened = out = open_output(args.output, binary=args.format == "binary")

    raw = raw_set(args.exprs)
    ctx = Ctx(strsize=args.strsize, hex_all=args.hex, decorate_fds=bool(args.decorate), raw=raw)
    observers = []
    stats = None
    if args.summary_only or args.summary_too:
        stats = SyscallStats()
        observers.append(stats)
    session = Session(command or None, pids=pids, trace=traced, follow=bool(args.follow) or bool(pids),
                      strsize=args.strsize, seccomp=args.seccomp, affinity=args.affinity,
                      observers=observers, decorate_fds=args.decorate, backend=args.backend,
                      raw=raw)
    finish = None
    if args.format == "binary" or not args.summary_only:
        finish = add_writer(session, args.format, out, ctx, status=status, signals=signals,
                            follow=bool(args.follow), trace_expr=trace_expr,
                            path=args.output, per_process=per_process, to_file=bool(args.output),
                            timestamps=args.timestamps, durations=args.durations,
                            quiet=args.quiet)
    inject_policy(args.exprs).apply(session)
    learner = None
    if args.learn_seccomp:
        from ..oci import SyscallLearner
        if trace_expr != "all":
            raise UsageError("--learn-seccomp needs every syscall traced (no -e trace=)")
        learner = SyscallLearner()
        session.add_observer(learner)
    result = None
    try:
        result = session.run()
    finally:
        if finish is not None:
            finish(result)
        if stats is not None:
            write_summary(stats, out, args.sortby)
        if opened is not None:
            opened.close()
    if learner is not None:
        from ..oci import write_profile
        try:
            write_profile(args.learn_seccomp, learner.names)
        except OSError as e:
            raise VeilError(f"cannot write {args.learn_seccomp}: {e.strerror}") from None
    if opened is not None and opened.report():
        print(f"veil: {opened.report()}", file=sys.stderr)
    from ..output import death_line
    died = death_line(command[0], result) if command else None
    if died and (args.output or args.summary_only or args.quiet >= 2 or args.format != "text"):
        print(died, file=sys.stderr)  # else the trace on stderr just said "+++ killed by"
    return result.exit_code


