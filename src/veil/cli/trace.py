"""``veil trace``: strace's flags, veil's engine."""
from __future__ import annotations

import _signal as signal  # without the signal module's enums (~4 ms of start-up)
import os
import sys

from ..errors import UsageError, VeilError
from ..syscalls.lookup import BY_NAME
from . import collect_again
from .common import (
    EXPR_KEYS,
    inject_policy,
    open_output,
    parse_exprs,
    raw_set,
    strip_dashes,
    syscall_set,
)
from .options import REMAINDER, Namespace, Options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def _expr_option(p: Options, *flags: str, key: str, help: str) -> None:
    p.add_argument(*flags, dest="exprs", action="qualifier", const=key, metavar="SET", help=help)


def _parser() -> Options:
    p = Options(prog="veil trace",
                           description="Trace the system calls of a program (strace's flags, "
                                       "short and long).")
    p.add_argument("-V", "--version", action="store_true",
                   help="print veil's version as strace -V does, and exit")
    p.add_argument("-f", dest="follow", action="count", default=0,
                   help="follow forks, vforks and clones; -ff with -o writes FILE.PID per process")
    p.add_argument("--follow-forks", dest="follow_forks", action="store_true",
                   help="same as -f")
    p.add_argument("--output-separately", dest="separately", action="store_true",
                   help="with -f and -o: one file per process (-ff)")
    p.add_argument("-o", "--output", dest="output", metavar="FILE",
                   help="write the trace to FILE")
    p.add_argument("-A", "--output-append-mode", dest="append", action="store_true",
                   help="append to the -o file instead of truncating it")
    p.add_argument("-e", dest="exprs", action="append", default=[], metavar="EXPR",
                   help="trace=SET (names, %%class, /regex, !negation), status=successful|failed, "
                        "signal=SET (SIGCHLD, CHLD, 17, all, none, !negation), "
                        "raw=SET (arguments undecoded, in hex: no tracee memory is read), "
                        "inject=SET:error=E|retval=N|signal=S[:when=FIRST[..LAST][+STEP]][:path=GLOB], "
                        "fault=SET[:error=E] (inject, ENOSYS by default), "
                        "read=FDS / write=FDS (hex dumps of the data), "
                        "verbose=SET / abbrev=SET (structures in full or abbreviated), "
                        "quiet=attach,exit,all, decode-fds=path|socket|all")
    for key, text in (("trace", "-e trace=SET"), ("signal", "-e signal=SET"),
                      ("status", "-e status=SET"), ("raw", "-e raw=SET"),
                      ("inject", "-e inject=..."), ("fault", "-e fault=..."),
                      ("read", "-e read=FDS"), ("write", "-e write=FDS"),
                      ("verbose", "-e verbose=SET"), ("abbrev", "-e abbrev=SET")):
        _expr_option(p, f"--{key}", key=key, help=f"same as {text}")
    p.add_argument("-z", "--successful-only", dest="successful", action="store_true",
                   help="print only the calls that succeeded (-e status=successful)")
    p.add_argument("-Z", "--failed-only", dest="failed", action="store_true",
                   help="print only the calls that failed (-e status=failed)")
    p.add_argument("-P", "--trace-path", dest="paths", action="append", default=[],
                   metavar="PATH", help="only the calls that touch PATH (by name or through an "
                                        "fd open on it); repeatable")
    p.add_argument("-c", "--summary-only", dest="summary_only", action="store_true",
                   help="count time, calls and errors per syscall; print a summary at the end")
    p.add_argument("-C", "--summary", dest="summary_too", action="store_true",
                   help="like -c, and print the trace too")
    p.add_argument("-S", "--summary-sort-by", dest="sortby", default="time",
                   choices=["time", "calls", "errors", "name", "nothing"], help="summary order")
    p.add_argument("-w", "--summary-wall-clock", dest="wall", action="store_true",
                   help="summary times are wall time between entry and exit (always the case)")
    p.add_argument("-T", dest="durations", action="store_const", const="us",
                   help="show time spent in each call")
    p.add_argument("--syscall-times", dest="durations", nargs="?", const="us",
                   metavar="s|ms|us|ns", help="-T, with that precision")
    p.add_argument("-t", dest="timestamps", action="count", default=0,
                   help="prefix each line with the time; -tt with microseconds; -ttt epoch")
    p.add_argument("--absolute-timestamps", "--timestamps", dest="absolute", nargs="?",
                   const="time", metavar="[format:]time|unix[,[precision:]s|us]",
                   help="-t (time), -tt (time,us), -ttt (unix,us)")
    p.add_argument("-r", dest="relative", action="store_const", const="us",
                   help="prefix each line with the time since the previous call began")
    p.add_argument("--relative-timestamps", dest="relative", nargs="?", const="us",
                   metavar="s|ms|us|ns", help="-r, with that precision")
    p.add_argument("-i", "--instruction-pointer", dest="ip", action="store_true",
                   help="print the instruction pointer at each call")
    p.add_argument("-k", "--stack-traces", dest="stack", action="store_true",
                   help="print the call stack at each call (libunwind); in JSON a frames array")
    p.add_argument("-n", "--syscall-number", dest="numbers", action="store_true",
                   help="print each call's number before its name")
    p.add_argument("-a", "--columns", dest="column", default="40", metavar="COLUMN",
                   help="the column where \" = result\" starts (default 40)")
    p.add_argument("-s", "--string-limit", dest="strsize", type=int, default=32, metavar="N",
                   help="print at most N bytes of each string (default 32)")
    p.add_argument("-p", "--attach", dest="pids", action="append", default=[], metavar="PID",
                   help="attach to PID (repeatable, or comma separated)")
    p.add_argument("-y", dest="decorate", action="count", default=0,
                   help="print paths of fds; -yy: protocol and addresses of sockets too")
    p.add_argument("--decode-fds", dest="decode_fds", nargs="?", const="path",
                   metavar="path|socket|all", help="path: -y; socket or all: -yy")
    p.add_argument("-Y", dest="comm", action="store_true",
                   help="print command names after pids: [pid 1234<cat>]")
    p.add_argument("--decode-pids", dest="decode_pids", metavar="comm",
                   help="comm: same as -Y")
    p.add_argument("-x", dest="hex", action="count", default=0,
                   help="print non-printable strings in hex; -xx: every string")
    p.add_argument("--strings-in-hex", dest="strings_in_hex", nargs="?", const="all",
                   metavar="non-ascii|all", help="non-ascii: -x; all: -xx")
    p.add_argument("-X", "--const-print-style", dest="xlat", metavar="raw|abbrev|verbose",
                   help="constants and flags as numbers (raw), names (abbrev, the default) "
                        "or both (verbose)")
    p.add_argument("-v", "--no-abbrev", dest="verbose_all", action="store_true",
                   help="print structures and environments in full (-e abbrev=none)")
    p.add_argument("-q", dest="quiet", action="count", default=0,
                   help="-q: no attach/detach messages; -qq: no exit status lines either")
    p.add_argument("--quiet", dest="quiet_set", metavar="attach,exit,all",
                   help="the messages to leave out (-e quiet=SET)")
    p.add_argument("-D", "--daemonize", dest="daemonize", action="store_true",
                   help="run the tracer as a detached grandchild: the program keeps "
                        "veil's place (its parent is the one that started veil)")
    p.add_argument("-E", "--env", dest="env", action="append", default=[], metavar="VAR[=VAL]",
                   help="VAR=VAL: put VAR in the program's environment; VAR: remove it")
    p.add_argument("-u", "--user", dest="user", metavar="USER",
                   help="run the program as USER (name or uid), with its groups (needs root)")
    p.add_argument("-b", "--detach-on", dest="detach_on", metavar="execve",
                   help="execve: stop tracing a process when it calls execve (not the first)")
    p.add_argument("--format", choices=["text", "json", "binary", "perfetto"], default="text",
                   help="text: strace's notation; json: one typed object per line; binary: "
                        "the raw records (needs -o FILE.veil; read it with veil show); "
                        "perfetto: a Chrome trace-event JSON timeline (needs -o FILE.json)")
    p.add_argument("--affinity", default="auto", metavar="auto|off|CPU",
                   help="keep veil on the tracee's core while it has one task (default auto)")
    p.add_argument("--learn-seccomp", metavar="PROFILE.json",
                   help="write the least-privilege OCI seccomp profile that allows exactly "
                        "the syscalls this run made")
    p.add_argument("--seccomp-bpf", dest="seccomp_bpf", action="store_true",
                   help="filter in the kernel with seccomp-bpf (veil's default with -f; without "
                        "-f children are let go and so is the filter, as strace does)")
    p.add_argument("--no-seccomp", dest="seccomp", action="store_false",
                   help="stop at every syscall (PTRACE_SYSCALL) instead of filtering in the kernel")
    p.add_argument("--backend", choices=["c", "python"], default="c",
                   help="python: the python-ptrace reference engine (no seccomp, slow)")
    p.add_argument("command", nargs=REMAINDER, help="the program and its arguments")
    return p


def _parse_pids(values: Sequence[str]) -> list[int]:
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


EXTRA_KEYS = ("fault", "read", "write", "verbose", "abbrev", "quiet", "decode-fds")
PRECISIONS = ("s", "ms", "us", "ns")
QUIET_LEVELS = {"none": 0, "attach": 1, "personality": 1, "path-resolution": 1,
                "exit": 2, "thread-execve": 2, "superseded": 2, "all": 3}


def _split_exprs(exprs: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """strace's -e qualifiers: those parse_exprs knows (fault= becomes inject= with
    ENOSYS by default, as strace's), and the others by key (the last one wins)."""
    plain: list[str] = []
    extra: dict[str, str] = {}
    for e in exprs:
        key, eq, value = e.partition("=")
        key = key.strip()
        if eq and key == "fault":
            opts = value.split(":")[1:]
            if not any(o.startswith(("error=", "retval=")) for o in opts):
                value += ":error=ENOSYS"
            plain.append(f"inject={value}")
        elif eq and key in EXTRA_KEYS:
            extra[key] = value
        else:
            plain.append(e)
    parse_exprs(plain, EXPR_KEYS + EXTRA_KEYS)  # refuses unknown keys, naming every one
    return plain, extra


def _precision(value: str | None, flag: str) -> str | None:
    if value is None or value in PRECISIONS:
        return value
    raise UsageError(f"invalid {flag} precision {value!r}: use s, ms, us or ns")


def _absolute(spec: str) -> int:
    """--absolute-timestamps=[format:]FMT[,[precision:]PREC] as a -t count."""
    fmt, prec = "time", None
    for part in spec.split(","):
        key, _, value = part.rpartition(":")
        if key not in ("", "format", "precision"):
            raise UsageError(f"invalid --absolute-timestamps {spec!r}")
        if value in ("none", "time", "unix") and key != "precision":
            fmt = value
        elif value in PRECISIONS and key != "format":
            prec = value
        else:
            raise UsageError(f"invalid --absolute-timestamps {spec!r}: format none, time or "
                             f"unix, precision s or us")
    levels = {("none", None): 0, ("time", None): 1, ("time", "s"): 1, ("time", "us"): 2,
              ("unix", None): 3, ("unix", "us"): 3}
    if (fmt, prec) not in levels:
        raise UsageError(f"unsupported --absolute-timestamps {spec!r}: veil prints time, "
                         f"time,us and unix,us")
    return levels[(fmt, prec)]


def _choice(value: str, table: dict[str, int], flag: str) -> int:
    if value not in table:
        raise UsageError(f"invalid {flag} {value!r}: use {', '.join(table)}")
    return table[value]


def _quiet(spec: str) -> int:
    level = 0
    for part in spec.split(","):
        level = max(level, _choice(part.strip(), QUIET_LEVELS, "--quiet"))
    return level


def _strace_options(args: Namespace) -> dict[str, str]:
    """Fold strace's long and alternative spellings into the short options' fields;
    check every value.  Returns the extra -e qualifiers (read=, write=, verbose=, ...)."""
    args.exprs, extra = _split_exprs(args.exprs)
    if args.follow_forks:
        args.follow = max(args.follow, 1)
    if args.separately:
        args.follow = max(args.follow, 2)
    if args.absolute is not None:
        args.timestamps = max(args.timestamps, _absolute(args.absolute))
    args.durations = _precision(args.durations, "--syscall-times")
    args.relative = _precision(args.relative, "--relative-timestamps")
    decode = args.decode_fds if args.decode_fds is not None else extra.get("decode-fds")
    if decode is not None:
        levels = {"none": 0, "path": 1, "socket": 2, "all": 2}
        args.decorate = max(args.decorate, max(_choice(d.strip(), levels, "--decode-fds")
                                               for d in decode.split(",")))
    if args.strings_in_hex is not None:
        args.hex = max(args.hex, _choice(args.strings_in_hex, {"non-ascii": 1, "all": 2},
                                         "--strings-in-hex"))
    quiet = args.quiet_set if args.quiet_set is not None else extra.get("quiet")
    if quiet is not None:
        args.quiet = max(args.quiet, _quiet(quiet))
    if args.decode_pids is not None:
        _choice(args.decode_pids, {"comm": 1}, "--decode-pids")
        args.comm = True
    if args.xlat is not None:
        _choice(args.xlat, {"raw": 0, "abbrev": 1, "verbose": 2}, "-X")
    try:
        column = int(args.column)
    except ValueError:
        column = -1
    if column < 0:
        raise UsageError(f"invalid -a value {args.column!r}: a column number expected")
    args.column = column
    if args.detach_on is not None and args.detach_on != "execve":
        raise UsageError(f"invalid -b value {args.detach_on!r}: only execve is supported")
    return extra


def _status(args: Namespace, status: str | None) -> str | None:
    """-z / -Z (both: every finished call) over -e status=."""
    if args.successful and args.failed:
        return None
    if args.successful:
        return "successful"
    if args.failed:
        return "failed"
    return status


def _environment(changes: Sequence[str]) -> dict[str, str] | None:
    """-E VAR=VAL / -E VAR over veil's environment (None: unchanged)."""
    if not changes:
        return None
    env = dict(os.environ)
    for change in changes:
        name, eq, value = change.partition("=")
        if not name:
            raise UsageError(f"invalid -E {change!r}: VAR=VALUE or VAR expected")
        if eq:
            env[name] = value
        else:
            env.pop(name, None)
    return env


def _run_as(user: str) -> tuple[int, int, list[int]]:
    """-u USER (a name or a uid): its uid, primary gid and groups, as login would set them."""
    import grp
    import pwd
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except (KeyError, ValueError):
        raise UsageError(f"-u: unknown user {user!r}") from None
    if os.geteuid() != 0:
        raise VeilError("-u: running a program as another user needs root")
    groups = sorted({entry.pw_gid, *(g.gr_gid for g in grp.getgrall()
                                      if entry.pw_name in g.gr_mem)})
    return entry.pw_uid, entry.pw_gid, groups


def _daemonize(command: list[str], env: dict[str, str] | None,
               run_as: tuple[int, int, list[int]] | None):
    """-D, as strace's: this process becomes the program, and the tracer is its
    grandchild (reparented away), which attaches to it.  Returns, in the tracer,
    (the program's pid, what to call once attached); never returns in the program."""
    import ctypes

    from ..session import resolve_command
    path = resolve_command(command[0], (env or os.environ).get("PATH"))
    me = os.getpid()
    # Yama's ptrace_scope 1 lets only ancestors attach, unless the tracee allows it
    ctypes.CDLL(None, use_errno=True).prctl(0x59616d61, -1, 0, 0, 0)  # PR_SET_PTRACER, ANY
    ready_r, ready_w = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.close(ready_r)
        if os.fork():
            os._exit(0)
        return me, lambda: os.write(ready_w, b"g")  # the tracer: the grandchild
    os.close(ready_w)
    os.waitpid(middle, 0)
    if os.read(ready_r, 1) != b"g":
        raise VeilError("-D: the tracer could not attach")
    os.close(ready_r)
    if run_as is not None:
        uid, gid, groups = run_as
        os.setgroups(groups)
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores these; a shell would not
        signal.signal(sig, signal.SIG_DFL)
    try:
        os.execve(path, command, env if env is not None else os.environ)
    except OSError as e:
        raise VeilError(f"{command[0]}: {e.strerror}") from None


def _watch_ips(session, traced) -> dict[tuple[int, int], int]:
    """-i: (tid, entry time) -> instruction pointer of each traced call, which a hook
    at its entry reads from /proc/TID/syscall (the last field) while the thread is stopped."""
    ips: dict[tuple[int, int], int] = {}

    def note(stop) -> None:
        try:
            with open(f"/proc/{stop.tid}/syscall") as f:
                fields = f.read().split()
            ips[(stop.tid, stop.ts_ns)] = int(fields[-1], 16)
            if len(ips) > 65536:  # calls no line printed (-P, -z): their oldest go
                del ips[next(iter(ips))]
        except (OSError, ValueError, IndexError):  # the thread is gone
            pass

    session.watch(traced, note, "enter")
    return ips


def _watch_netlink_sockets(session, traced) -> None:
    """Netlink data is decoded on the sockets the program's socket() calls made:
    those calls are recorded for that even when not traced (the other observers
    still see only the traced calls)."""
    from ..decoders.kinds import NETLINK_CALLS
    from ..observers import OnlyCalls
    from ..output.netlinkfds import NetlinkSockets
    wanted = {BY_NAME[n].nr for n in NETLINK_CALLS}
    if not wanted & traced:
        return
    extra = {BY_NAME["socket"].nr} - traced
    if extra:
        session.observers = [OnlyCalls(o, set(traced)) for o in session.observers]
        session.traced = set(session.traced) | extra
    session.add_observer(NetlinkSockets())


def _detach_on_execve(session, started_here: bool) -> None:
    """-b execve: a process that calls execve is let go (the program's own first
    execve, when veil started it, excepted)."""
    from ..verdicts import Detach
    first = [started_here]

    def detach(stop):
        if first[0] and stop.pid == session._engine.main_pid:
            first[0] = False
            return None
        return Detach()

    session.watch(["execve", "execveat"], detach, "enter")


def _version() -> int:
    from .. import __version__
    print(f"veil -- version {__version__}")
    return 0


def cmd_trace(argv: Sequence[str]) -> int:
    from ..decoders import Ctx, capture_environments
    from ..observers import SyscallStats
    from ..output import add_writer
    from ..session import Session

    args = _parser().parse_args(argv)
    if args.version:
        return _version()
    extra = _strace_options(args)
    command = strip_dashes(args.command)
    pids = _parse_pids(args.pids)
    if not command and not pids:
        raise UsageError("must have a command to run or -p PID")
    if command and pids:
        raise UsageError("give a command or -p PID, not both")
    if args.strsize < 0:
        raise UsageError(f"invalid -s value {args.strsize}: must be 0 or more")
    started = [flag for flag, given in (("-E", args.env), ("-u", args.user), ("-D", args.daemonize))
               if given]
    if pids and started:
        raise UsageError(f"{', '.join(started)}: for a command veil starts, not with -p")
    env = _environment(args.env)
    run_as = _run_as(args.user) if args.user is not None else None
    if args.detach_on is not None:
        if args.backend != "c":
            raise UsageError("-b needs the C engine (not --backend python)")
        if args.seccomp_bpf:  # as strace says
            print("veil: --seccomp-bpf is not enabled because it is not compatible with -b",
                  file=sys.stderr)
        args.seccomp = False  # a thread let go would get ENOSYS from the filter
    elif not args.follow and not pids and args.seccomp:
        # as strace: children are let go (they may trace their own, as strace or gdb
        # do), and a child that inherited the filter would get ENOSYS for every call
        # it sends to a tracer
        if args.seccomp_bpf:
            print("veil: --seccomp-bpf is not enabled because it needs -f", file=sys.stderr)
        args.seccomp = False
    if run_as is not None and args.backend != "c":
        raise UsageError("-u needs the C engine (not --backend python)")
    trace_expr, status, signals = parse_exprs(args.exprs)
    status = _status(args, status)
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
    dump_read = dump_write = None
    if "read" in extra or "write" in extra:
        from ..output.hexdump import parse_fd_set
        dump_read = parse_fd_set(extra["read"], "read") if "read" in extra else None
        dump_write = parse_fd_set(extra["write"], "write") if "write" in extra else None
    text_only = [flag for flag, given in (("-e read=", dump_read is not None),
                                          ("-e write=", dump_write is not None),
                                          ("-Y", args.comm), ("-r", args.relative),
                                          ("-n", args.numbers), ("-i", args.ip),
                                          ("-k", args.stack and args.format != "json"),
                                          ("-P", args.paths and args.format == "binary"))
                 if given]
    if text_only and args.format != "text":
        raise UsageError(f"{', '.join(text_only)}: text output only (not --format {args.format})")

    tracee = 0
    after_start = None
    if args.daemonize:
        if args.format == "binary":
            raise UsageError("-D cannot be combined with --format binary")
        tracee, after_start = _daemonize(command, env, run_as)
        pids, command, env, run_as = [tracee], [], None, None
        args.quiet = max(args.quiet, 1)  # no "attached" line: strace -D has none

    out = sys.stderr
    opened = None
    if args.output and not per_process:
        opened = out = open_output(args.output, binary=args.format == "binary",
                                   append=args.append)

    raw = raw_set(args.exprs)
    verbose = syscall_set(extra["verbose"], "-e verbose=") if "verbose" in extra else None
    abbrev = (set() if args.verbose_all else
              syscall_set(extra["abbrev"], "-e abbrev=") if "abbrev" in extra else None)
    ctx = Ctx(strsize=args.strsize, hex_all=args.hex, decorate_fds=bool(args.decorate), raw=raw,
              xlat=args.xlat or "abbrev", verbose=verbose, abbrev=abbrev)
    if abbrev is not None and not {BY_NAME["execve"].nr, BY_NAME["execveat"].nr} <= abbrev:
        capture_environments()  # -v prints execve's environment
    observers = []
    stats = None
    if args.summary_only or args.summary_too:
        stats = SyscallStats()
        if tracee:
            from ..output.filters import FromExec
            observers.append(FromExec(stats, tracee))
        else:
            observers.append(stats)
    # -P resolves fds to paths as -y does; -e read=/write= dump whole buffers (up to 64 KiB)
    capture_size = 65536 if dump_read is not None or dump_write is not None else args.strsize
    session = Session(command or None, pids=pids, trace=traced,
                      follow=bool(args.follow) or (bool(pids) and not tracee),
                      after_start=after_start,
                      strsize=max(args.strsize, capture_size), seccomp=args.seccomp,
                      affinity=args.affinity, observers=observers,
                      decorate_fds=max(args.decorate, 1 if args.paths else 0),
                      backend=args.backend, raw=raw, env=env,
                      sockets=args.format == "perfetto")   # its socket lifelines
    session.run_as = run_as
    stacks = None
    if args.stack:
        from ..output.stack import watch_stacks
        stacks = watch_stacks(session, traced)
    finish = None
    if args.format == "binary" or not args.summary_only:
        text_options = dict(timestamps=args.timestamps, durations=args.durations, quiet=args.quiet)
        if args.format == "text":
            text_options.update(column=args.column, relative=args.relative,
                                numbers=args.numbers, comm=args.comm,
                                ips=_watch_ips(session, traced) if args.ip else None,
                                dump_read=dump_read, dump_write=dump_write)
        finish = add_writer(session, args.format, out, ctx, status=status, signals=signals,
                            follow=bool(args.follow), trace_expr=trace_expr,
                            path=args.output, per_process=per_process, to_file=bool(args.output),
                            paths=args.paths, from_exec=tracee, stacks=stacks, **text_options)
    if args.format != "binary":
        _watch_netlink_sockets(session, traced)
    if args.detach_on:
        _detach_on_execve(session, started_here=bool(command))
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
        collect_again()
        result = session.run()
    finally:
        if finish is not None:
            finish(result)
        if stats is not None:
            from ..output.summary import write_summary
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
