"""The ``veil`` command line."""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Sequence, Set

from .errors import UsageError, VeilError

USAGE = """veil trace [-f|-ff] [-o FILE] [-e EXPR] [-c|-C] [-T] [-t|-tt|-ttt] [-s N] [-y] [-q]
           [--format text|json|binary|perfetto] [--affinity auto|off|CPU] [--no-seccomp]
           (-p PID ... | [--] CMD ...)
veil show [-f] [-e EXPR] [-c|-C] [-T] [-t|-tt|-ttt] [-s N] [-y] [-o FILE]
          [--format text|json|perfetto] [--info] FILE.veil
veil syscalls [SET]"""


def _trace_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="veil trace", add_help=True,
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


def _parse_exprs(exprs: Sequence[str], allowed: Sequence[str] = ("trace", "status", "signal",
                                                                  "inject", "raw")):
    """-e EXPR...: (trace set, status filter, signal set or None); qualifiers
    outside ``allowed`` are refused."""
    trace = "all"
    status = None
    signals = None
    for e in exprs:
        key, eq, value = e.partition("=")
        if not eq:
            key, value = "trace", e
        key = key.strip()
        if key == "t":
            key = "trace"
        if key not in allowed:
            raise UsageError(f"unsupported -e qualifier {key!r}: use "
                             + ", ".join(f"{k}=" for k in allowed))
        if key == "trace":
            trace = value
        elif key == "status":
            if value not in ("successful", "failed"):
                raise UsageError(f"invalid -e status value {value!r}: use successful or failed")
            status = value
        elif key == "signal":
            signals = parse_signal_set(value)
        # inject=: see _inject_policy; raw=: _raw_set
    return trace, status, signals


def _raw_set(exprs: Sequence[str]) -> Set[int]:
    """-e raw=SET (strace's): the syscalls shown undecoded, whose memory veil
    does not read; the last -e raw= wins."""
    from .syscalls.lookup import UnknownSyscallError, resolve_set
    raw: Set[int] = set()
    for e in exprs:
        key, eq, value = e.partition("=")
        if eq and key.strip() == "raw":
            try:
                raw = resolve_set(value)
            except UnknownSyscallError as err:
                raise UsageError(f"-e raw=: {err}") from None
    return raw


def parse_signal_set(spec: str) -> Set[int]:
    """strace's -e signal=SET: names (SIGCHLD or CHLD) or numbers, "all", "none",
    comma separated, "!" in front for every signal but these."""
    from .policy import _parse_signal
    text = spec.strip()
    negate = text.startswith("!")
    tokens = [t.strip() for t in text.lstrip("!").split(",") if t.strip()]
    if not tokens:
        raise UsageError(f"invalid -e signal={spec!r}: an empty set")
    chosen: Set[int] = set()
    for t in tokens:
        if t == "all":
            chosen |= set(range(1, 65))
        elif t != "none":
            chosen.add(_parse_signal(t.upper()))
    return set(range(1, 65)) - chosen if negate else chosen


def _inject_policy(exprs: Sequence[str]):
    """-e inject=SET:error=E|retval=N|signal=S|delay_enter=US|delay_exit=US[:when=W][:path=G][:fd=N]"""
    from .policy import Policy, parse_inject
    policy = Policy()
    for e in exprs:
        key, eq, value = e.partition("=")
        if key.strip() == "inject" and eq:
            sset, kw = parse_inject(value)
            policy.inject(sset, **kw)
    return policy


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
    from .decoders import Ctx
    from .observers import SyscallStats
    from .output.summary import write_summary
    from .output import add_writer
    from .output.guard import GuardedStream
    from .session import Session
    from .syscalls.lookup import UnknownSyscallError, resolve_set

    args = _trace_parser().parse_args(argv)
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    pids = _parse_pids(args.pids)
    if not command and not pids:
        raise UsageError("must have a command to run or -p PID")
    if command and pids:
        raise UsageError("give a command or -p PID, not both")
    if args.strsize < 0:
        raise UsageError(f"invalid -s value {args.strsize}: must be 0 or more")
    trace_expr, status, signals = _parse_exprs(args.exprs)
    try:
        traced = resolve_set(trace_expr)
    except UnknownSyscallError as e:
        raise UsageError(str(e)) from None
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
        try:
            opened = out = GuardedStream(open(args.output, "wb" if args.format == "binary"
                                              else "w"), args.output)
        except OSError as e:
            raise VeilError(f"cannot write {args.output}: {e.strerror}") from None

    raw = _raw_set(args.exprs)
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
    _inject_policy(args.exprs).apply(session)
    learner = None
    if args.learn_seccomp:
        from .oci import SyscallLearner
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
        from .oci import write_profile
        try:
            write_profile(args.learn_seccomp, learner.names)
        except OSError as e:
            raise VeilError(f"cannot write {args.learn_seccomp}: {e.strerror}") from None
    if opened is not None and opened.report():
        print(f"veil: {opened.report()}", file=sys.stderr)
    from .output import death_line
    died = death_line(command[0], result) if command else None
    if died and (args.output or args.summary_only or args.quiet >= 2 or args.format != "text"):
        print(died, file=sys.stderr)  # else the trace on stderr just said "+++ killed by"
    return result.exit_code


def cmd_syscalls(argv: Sequence[str]) -> int:
    from . import engine as E
    from .syscalls.lookup import BY_NAME, BY_NR, UnknownSyscallError, resolve_set
    p = argparse.ArgumentParser(prog="veil syscalls",
                                description="List the syscalls a -e trace= set selects.")
    p.add_argument("set", nargs="?", default="all")
    p.add_argument("--untranslated", action="store_true",
                   help="calls that take a path but that a layout (-r/-b) neither translates "
                        "nor denies")
    p.add_argument("--layout", action="store_true",
                   help="how a layout handles each call that takes or returns a path")
    a = p.parse_args(argv)
    if a.untranslated or a.layout:
        from .layout import DENIED, translated_calls, untranslated_calls
        if a.untranslated:
            left = untranslated_calls()
            for name in left:
                print(name)
            if not left:
                print("veil: every call that takes a path is translated or denied",
                      file=sys.stderr)
            return 0
        ops = {E.L_PATHS: "translated", E.L_EXEC: "translated (exec)",
               E.L_GETCWD: "answered", E.L_READLINK: "translated (magic links answered)",
               E.L_CHROOT: "emulated", E.L_SOCK_IN: "translated (AF_UNIX)",
               E.L_SOCK_OUT: "translated back (AF_UNIX)", E.L_MSG_IN: "translated (AF_UNIX)",
               E.L_MSG_OUT: "translated back (AF_UNIX)"}
        rows = {n: ops[t.op] for n, t in translated_calls().items()}
        rows.update({n: "denied (EPERM)" for n in DENIED if n in BY_NAME})
        for name in sorted(rows, key=lambda n: BY_NAME[n].nr):
            print(f"{BY_NAME[name].nr:4d} {name:24s} {rows[name]}")
        return 0
    try:
        nrs = resolve_set(a.set)
    except UnknownSyscallError as e:
        raise UsageError(str(e)) from None
    for nr in sorted(nrs):
        sc = BY_NR.get(nr)
        if sc is not None:
            print(f"{nr:4d} {sc.name:24s} {' '.join(sc.class_names)}")
    return 0


def cmd_show(argv: Sequence[str]) -> int:
    from .show import cmd_show as show
    return show(argv)


def cmd_run(argv: Sequence[str]) -> int:
    from .runcmd import cmd_run as run
    return run(argv)


def cmd_sockets(argv: Sequence[str]) -> int:
    from .sockets import cmd_sockets as sockets
    return sockets(argv)


def cmd_prep(argv: Sequence[str]) -> int:
    from .prep import main as prep
    return prep(argv)


def cmd_bench(argv: Sequence[str]) -> int:
    from .benchcmd import cmd_bench as bench
    return bench(argv)


COMMANDS = {"trace": cmd_trace, "run": cmd_run, "show": cmd_show, "syscalls": cmd_syscalls,
            "sockets": cmd_sockets, "prep": cmd_prep, "bench": cmd_bench}


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: {USAGE}")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    fn = COMMANDS.get(name)
    if fn is None:
        print(f"veil: unknown command {name!r}; commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    try:
        return fn(rest)
    except VeilError as e:
        print(f"veil: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 141
    except OSError as e:
        # the kernel refused veil itself (ptrace, seccomp, a file): one line, no traceback
        what = f"{e.filename}: {e.strerror}" if e.filename else e.strerror or str(e)
        print(f"veil: {what}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
