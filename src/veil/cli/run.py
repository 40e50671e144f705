"""``veil run``: parse the flags into a RunSpec (over a profile or a bundle, if
given), run it, print what happened.  What a run means lives in veil.spec."""
from __future__ import annotations

import _thread  # threading's module costs ~2 ms of start-up
import os
import sys

from ..errors import CommandNotFound, UsageError, VeilError
from ..spec import RunSpec, SpecError
from . import collect_again
from .common import parse_exprs, strip_dashes
from .foreign import (
    BWRAP_NAMESPACES,
    SAFE_BINDS,
    add_bwrap_flags,
    bwrap_layout,
    kernel_fields,
    read_fakeroot_save,
    respell,
    scratch_dir,
    write_fakeroot_save,
)
from .options import REMAINDER, SUPPRESS, Namespace, Options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


def parser() -> Options:
    p = Options(prog="veil run", description="Run a program confined: a directory "
                           "layout, a system identity, network rules and policies.")
    p.add_argument("--policy", action="append", default=[], metavar="FILE.py",
                   help="a Python file that defines `policy` (a veil.Policy or a list of them) "
                        "or `def configure(session)`; repeatable, applied in order")
    p.add_argument("--seccomp-profile", action="append", default=[], metavar="PROFILE.json",
                   help="an OCI/Docker seccomp profile")
    p.add_argument("-e", dest="exprs", action="append", default=[], metavar="inject=...",
                   help="inject=SET:error=E|retval=N|signal=S[:when=W][:path=GLOB][:fd=N]")
    p.add_argument("-o", dest="output", metavar="FILE", help="also write a trace (strace text) to FILE")
    p.add_argument("--trace", default=None, metavar="SET", help="what -o traces (default: all)")
    g = p.add_argument_group("system identity")
    g.add_argument("--hostname", help="uname's nodename (sethostname changes only this value)")
    g.add_argument("--domainname", help="uname's domainname")
    g.add_argument("-k", "--kernel-release", metavar="RELEASE",
                   help="uname -r; PRoot's '\\sysname\\nodename\\release\\version\\machine"
                        "\\domainname\\hwcap\\' sets each non-empty field")
    g.add_argument("--kernel-version", help="uname -v")
    g.add_argument("--machine", help="uname -m")
    g.add_argument("--sysname", help="uname -s")
    g.add_argument("-0", "--root-id", dest="ids", action="store_const", const=FAKE_ROOT,
                   help="fake root: the ids are 0, the user's own files are root's, chown "
                        "succeeds virtually (the last of -0 and -i wins)")
    g.add_argument("-i", "--change-id", dest="ids", metavar="UID:GID|FILE",
                   help="report this uid and gid, also as the owner of the user's own files; "
                        "fakeroot's -i FILE: -0 with the owners of its save file")
    g.add_argument("-s", dest="fakeroot_save", metavar="FILE",
                   help="fakeroot's -s: at the end, save the owners chown and mknod set in "
                        "its format (fakeroot -i FILE reads it); -0 unless -i UID:GID")
    g.add_argument("--ownership-db", metavar="FILE",
                   help="with -0/-i: keep the owners chown set in FILE, for later runs")
    g.add_argument("--cpus", type=int, metavar="N",
                   help="the program sees N CPUs (sched_getaffinity, /proc/cpuinfo, .../cpu/online)")
    lay = p.add_argument_group("directory layout (PRoot's flags)")
    lay.add_argument("-r", "--rootfs", dest="layout_root", metavar="ROOT",
                     help="the guest's / is the host directory ROOT")
    lay.add_argument("-R", dest="layout_root_binds", metavar="ROOT",
                     help="like -r, and bind the host's /proc /dev /sys /tmp /run, network and "
                          "user files and $HOME (as PRoot's -R)")
    lay.add_argument("-S", dest="layout_root_safe", metavar="ROOT",
                     help="PRoot's -S: -0, -r ROOT, and bind the host's " + ", ".join(SAFE_BINDS)
                          + " and $HOME (no other host file can change)")
    lay.add_argument("-b", "--bind", "-m", "--mount", dest="binds", action="append", default=[],
                     metavar="HOST[:GUEST]", help="show the host path HOST at GUEST (default: the "
                     "same path) in the guest; ':ro' at the end makes it read-only")
    lay.add_argument("--hidden", action="append", default=[], metavar="GUEST_PATH",
                     help="the path does not exist for the program (ENOENT)")
    lay.add_argument("--readonly", action="append", default=[], metavar="GUEST_PATH",
                     help="writes below the path fail (EROFS)")
    lay.add_argument("--private-tmp", action="store_true",
                     help="a fresh host directory is the guest's /tmp, removed at the end")
    lay.add_argument("--keep-tmp", action="store_true", help="keep the --private-tmp directory")
    lay.add_argument("--layout-engine", choices=("auto", "mount", "ptrace"), metavar="ENGINE",
                     help="how the tree is made: 'mount' (user and mount namespaces, as "
                          "bubblewrap: path calls cost nothing), 'ptrace' (every path call "
                          "translated, as PRoot), or 'auto' (the default: mount where the "
                          "kernel permits it and it can show the layout; -v says which)")
    x = p.add_argument_group("execution environment")
    x.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="set a variable")
    x.add_argument("--unset", action="append", default=[], metavar="NAME", help="remove a variable")
    x.add_argument("--clear-env", action="store_true", help="start from an empty environment")
    x.add_argument("-w", "--cwd", "--pwd", metavar="DIR", help="working directory of the program")
    x.add_argument("--umask", metavar="MODE", help="umask of the program (octal)")
    x.add_argument("--rlimit", action="append", default=[], metavar="NAME=SOFT[:HARD]",
                   help="a resource limit, e.g. nofile=256 or core=0:0 (unlimited: 'unlimited')")
    x.add_argument("--argv0", metavar="NAME", help="argv[0] the program sees")
    net = p.add_argument_group("sockets")
    net.add_argument("--sockets-out", metavar="TABLE.json",
                     help="keep the socket table and write it here at the end (SIGUSR1 to veil: now)")
    net.add_argument("--net-map", action="append", default=[], metavar="VIRT_IP[:PORT]=HOST_IP[:PORT]",
                     help="the program's connect/bind/sendto to VIRT go to HOST, and it sees VIRT")
    net.add_argument("--net-allow", action="append", default=[], metavar="CIDR[:PORTS]",
                     help="let connect/bind/sendto/sendmsg reach these addresses")
    net.add_argument("--net-deny", action="append", default=[], metavar="CIDR[:PORTS][=ERRNO]",
                     help="refuse connect/bind/sendto/sendmsg to these addresses (errno: EACCES); "
                          "denies are checked before allows")
    net.add_argument("--net-default", choices=("allow", "deny"), default=None,
                     help="what addresses no rule names get (default: allow)")
    net.add_argument("--capture-bytes", type=int, default=None, metavar="N",
                     help="with --sockets-out: keep the last N bytes each way per socket")
    p.add_argument("--profile", metavar="PROFILE.toml",
                   help="a veil profile: [environment] [layout] [system] [network] [security] "
                        "[observation]; flags add to it and win")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE", help="override one profile value")
    p.add_argument("--deny", action="append", default=[], metavar="SET",
                   help="fail these syscalls with EPERM (names, %%classes, as -e trace=)")
    p.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1,
                   default=0, help="say how the run is made (which layout engine, and why); "
                   "PRoot's -v N: N >= 1 as -v, N <= 0 quiet")
    p.add_argument("--verbosity", type=int, help=SUPPRESS)
    p.add_argument("--kill-on-exit", action="store_true",
                   help="when the command exits, kill the processes it leaves (PRoot's; "
                        "by default veil waits for them all)")
    p.add_argument("-L", "-l", "--link2symlink", action="store_true",
                   help="accepted for PRoot scripts: veil makes hard links as hard links "
                        "(the host's file system decides, under any layout)")
    p.add_argument("-q", "--qemu", metavar="QEMU",
                   help="PRoot's -q: the guest's programs of QEMU's architecture run under "
                        "qemu-user, e.g. -q qemu-aarch64-static -r ARM64-ROOT (mount engine)")
    p.add_argument("--result", metavar="FILE.json",
                   help="write how the run ended and was made (exit status, layout engine "
                        "and why, refusals) as JSON")
    p.add_argument("--strict", action="store_true",
                   help="fail (ENOSYS) every call veil does not know: unknown numbers, i386 and "
                        "x32 calls, path calls a layout does not translate")
    p.add_argument("--no-seccomp", dest="seccomp", action="store_false",
                   help="stop at every syscall instead of filtering in the kernel")
    p.add_argument("--affinity", default=None, metavar="auto|off|CPU",
                   help="keep veil on the tracee's core while it has one task (default auto)")
    add_bwrap_flags(p)
    p.add_argument("command", nargs=REMAINDER)
    return p


FAKE_ROOT = "-0"  # -0 and -i share a destination: the last one given wins


def _is_ids(text: str) -> bool:
    """-i UID[:GID] (any other value is fakeroot's -i FILE)."""
    uid, colon, gid = text.partition(":")
    return all(part.isascii() and part.isdigit() for part in ((uid, gid) if colon else (uid,)))

# PRoot's -R: host files a guest usually wants (those that exist are bound)
RECOMMENDED_BINDS = ("/proc", "/dev", "/sys", "/tmp", "/run", "/etc/resolv.conf", "/etc/hosts",
                     "/etc/host.conf", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group",
                     "/etc/localtime")

# the flag that sets each key of a spec, for errors
FLAGS = {
    ("environment", "env"): "--env", ("environment", "unset"): "--unset",
    ("environment", "clear_env"): "--clear-env", ("environment", "cwd"): "-w",
    ("environment", "umask"): "--umask", ("environment", "rlimits"): "--rlimit",
    ("environment", "argv0"): "--argv0", ("environment", "argv"): "the command",
    ("layout", "root"): "-r", ("layout", "binds"): "-b", ("layout", "hidden"): "--hidden",
    ("layout", "readonly"): "--readonly", ("layout", "private_tmp"): "--private-tmp",
    ("layout", "keep_tmp"): "--keep-tmp", ("layout", "engine"): "--layout-engine",
    ("layout", "qemu"): "-q", ("layout", "namespaces"): "--unshare-*",
    ("layout", "new_session"): "--new-session",
    ("system", "kernel_release"): "--kernel-release", ("system", "kernel_version"): "--kernel-version",
    ("system", "uid"): "-i", ("system", "gid"): "-i", ("system", "fake_root"): "-0",
    ("system", "ownership_db"): "--ownership-db",
    ("network", "allow"): "--net-allow", ("network", "deny"): "--net-deny",
    ("network", "default"): "--net-default", ("network", "map"): "--net-map",
    ("security", "seccomp_profile"): "--seccomp-profile", ("security", "inject"): "-e inject=",
    ("observation", "trace"): "--trace", ("observation", "output"): "-o",
    ("observation", "sockets_out"): "--sockets-out",
    ("observation", "capture_bytes"): "--capture-bytes", ("observation", "seccomp"): "--no-seccomp",
}


def flag_of(section: str, key: str) -> str:
    return FLAGS.get((section, key), "--" + key.replace("_", "-"))


def flag_error(e: SpecError) -> UsageError:
    """A spec's error as the command line reports it: naming the flag."""
    flag = flag_of(e.section, e.key)
    if e.value is not None and e.value.startswith("-"):   # the flags themselves
        return UsageError(f"{e.value}: {e.message}")
    if e.value is not None:
        return UsageError(f"{flag} {e.value}: {e.message}")
    return UsageError(f"invalid {flag}{e.sub if e.sub.startswith('.') else ''}: {e.message}")


def _pairs(items: Sequence[str], flag: str, form: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise UsageError(f"invalid {flag} {item!r}: use {form}")
        out[name] = value
    return out


def flag_sections(args: Namespace) -> dict[str, dict[str, Any]]:
    """What the flags say, section by section (only what was given)."""
    roots = [f for f, v in (("-r", args.layout_root), ("-R", args.layout_root_binds),
                            ("-S", args.layout_root_safe)) if v]
    if len(roots) > 1:
        raise UsageError(f"give one of {', '.join(roots)}, not several")
    namespaces = sorted({ns for flag in args.namespaces or () for ns in BWRAP_NAMESPACES[flag]})
    env = _pairs(args.env, "--env", "NAME=VALUE")
    env.update(dict(args.setenv))
    given = {
        "environment": dict(env=env, unset=args.unset,
                            clear_env=args.clear_env or None, cwd=args.cwd, umask=args.umask,
                            rlimits=_pairs(args.rlimit, "--rlimit", "NAME=SOFT[:HARD]"),
                            argv0=args.argv0),
        "layout": dict(root=args.layout_root or args.layout_root_binds or args.layout_root_safe,
                       binds=args.binds,
                       hidden=args.hidden, readonly=args.readonly,
                       private_tmp=args.private_tmp or None, keep_tmp=args.keep_tmp or None,
                       engine=args.layout_engine, namespaces=namespaces,
                       new_session=args.new_session or None, qemu=args.qemu),
        "system": dict(hostname=args.hostname, domainname=args.domainname,
                       sysname=args.sysname,
                       kernel_version=args.kernel_version, machine=args.machine,
                       cpus=args.cpus, ownership_db=args.ownership_db),
        "network": dict(allow=args.net_allow, deny=args.net_deny, default=args.net_default,
                        map=args.net_map),
        "security": dict(strict=args.strict or None, deny=args.deny, seccomp_profile=args.seccomp_profile,
                         policy=args.policy,
                         inject=[e.partition("=")[2] for e in args.exprs
                                 if e.partition("=")[0].strip() == "inject"]),
        "observation": dict(output=args.output, trace=args.trace if args.output else None,
                            sockets_out=args.sockets_out, capture_bytes=args.capture_bytes,
                            seccomp=None if args.seccomp else False, affinity=args.affinity),
    }
    recommended = (RECOMMENDED_BINDS if args.layout_root_binds else
                   SAFE_BINDS if args.layout_root_safe else None)
    if recommended:
        home = os.environ.get("HOME")
        given["layout"]["binds"] = [p for p in (*recommended, home)
                                    if p and os.path.exists(p)] + list(args.binds)
    if args.kernel_release is not None:
        given["system"].update(kernel_fields(args.kernel_release))
    if args.bwrap_fs:
        root, binds, readonly = bwrap_layout(args.bwrap_fs, given["layout"]["root"])
        given["layout"].update(root=root, binds=given["layout"]["binds"] + binds,
                               readonly=given["layout"]["readonly"] + readonly)
    unshare_all = "--unshare-all" in (args.namespaces or ())
    if (args.unshare_net or unshare_all) and not args.share_net:   # bubblewrap: loopback only
        net = given["network"]
        net.update(default="deny", allow=["127.0.0.0/8", "::1/128", *net["allow"]])
    ids = args.ids
    fakeroot_in = ids if ids not in (None, FAKE_ROOT) and not _is_ids(ids) else None
    if fakeroot_in or args.fakeroot_save:
        if args.ownership_db:
            raise UsageError("give --ownership-db or fakeroot's -i FILE / -s FILE, not both")
        db = os.path.join(scratch_dir(), "owners.json")
        import json
        with open(db, "w") as f:
            json.dump(read_fakeroot_save(fakeroot_in) if fakeroot_in else [], f)
        given["system"]["ownership_db"] = db
        if fakeroot_in or ids is None:
            ids = FAKE_ROOT
    if args.uid is not None:
        ids = f"{args.uid}:{args.gid if args.gid is not None else args.uid}"
    elif args.gid is not None:
        raise UsageError("--gid needs --uid")
    if ids == FAKE_ROOT or (args.layout_root_safe and ids is None):
        given["system"]["fake_root"] = True
    elif ids:
        from ..identity import parse_ids
        given["system"]["uid"], given["system"]["gid"] = parse_ids(ids)
    if "PROOT_NO_SECCOMP" in os.environ and args.seccomp:
        # PRoot's users set it where seccomp misbehaves; veil's layouts need the
        # filter (--no-seccomp with one is an error), so a PRoot script still runs
        if any(given["layout"].values()):
            print("veil: warning: PROOT_NO_SECCOMP ignored: a layout needs the seccomp filter",
                  file=sys.stderr)
        else:
            given["observation"]["seccomp"] = False
    return {name: {k: v for k, v in keys.items() if v is not None and v != [] and v != {}}
            for name, keys in given.items()}


def _parsed(argv: Sequence[str]) -> tuple:
    """(arguments, command, bundle): options after a bundle's path are veil's too."""
    p = parser()
    argv = respell(argv, p)
    args = p.parse_args(argv)
    command = list(args.command)
    lead = 1 if command[:1] == ["--"] else 0
    bundle = None
    if len(command) > lead and command[lead].endswith(".veil"):   # B.veil: its unpacked copy
        from ..prep.archive import is_archive, unpacked
        if is_archive(command[lead]):
            command[lead] = unpacked(command[lead])
    if len(command) > lead and os.path.isdir(command[lead]):
        bundle = command[lead]
        if not os.path.isfile(os.path.join(bundle, "profile.toml")):
            raise UsageError(f"veil run {bundle}: not a bundle (no profile.toml in the directory)")
        if args.profile:
            raise UsageError(f"veil run {bundle}: give a bundle or --profile, not both")
        before = list(argv)[:len(argv) - len(command)]
        args = p.parse_args(before + command[lead + 1:])
        command = list(args.command)
    return args, command, bundle


def spec_of(argv: Sequence[str], parsed: tuple | None = None) -> tuple:
    """(spec, command, bundle, flagged) from veil run's arguments (``parsed``: what
    _parsed(argv) gave, when the caller has it).

    ``veil run [OPTIONS] BUNDLE [OPTIONS] [-- ARGS]``: a first command word that is
    a directory (or a B.veil archive, unpacked once into a cache) is a bundle, ARGS
    are appended to its argv; options after BUNDLE (before ``--``) are veil's."""
    args, command, bundle = parsed or _parsed(argv)
    parse_exprs(args.exprs, ("inject",))  # what -o traces is --trace SET
    if args.overrides and not (args.profile or bundle):
        raise UsageError("--set needs --profile")
    if bundle:
        base = RunSpec.from_bundle(bundle, args.overrides)
    elif args.profile:
        base = RunSpec.from_profile(args.profile, args.overrides)
    else:
        base = RunSpec()
    flagged = flag_sections(args)
    try:
        spec = base.extended(**flagged)
    except SpecError as e:
        raise flag_error(e) from None
    command = list(spec.environment.argv) + strip_dashes(command)
    if not command:
        raise UsageError("veil run: a command to run is needed")
    return spec, command, bundle, {(s, k) for s, keys in flagged.items() for k in keys}


def _reported(e: SpecError, spec: RunSpec, flagged: set) -> UsageError:
    """A spec's error naming the flag that gave the value, else the profile's key."""
    if (e.section, e.key) in flagged or not spec.source:
        return flag_error(e)
    return UsageError(f"{spec.source}: {e}")


def _kill_the_others(stop: Any) -> None:
    """--kill-on-exit: when the command's process calls exit_group, every other
    process veil traces is killed (the command exits with its own status)."""
    if _status(stop.pid).get("PPid") != str(os.getpid()):   # veil's child is the command
        return None
    tracer = str(_thread.get_native_id())   # hooks run in the thread that traces
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != stop.pid and _status(name).get("TracerPid") == tracer:
            try:
                os.kill(int(name), 9)
            except OSError:
                pass
    return None


def _status(pid: Any) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status") as f:
            return {k: v.strip() for k, _, v in (line.partition(":") for line in f)}
    except OSError:
        return {}


def _save_fakeroot(spec: RunSpec, path: str) -> None:
    """-s FILE: the run's ownership database in fakeroot's format."""
    import json
    with open(spec.system.ownership_db) as f:
        rows = json.load(f)
    top = spec.layout.root or os.getcwd()
    try:
        missing = write_fakeroot_save(rows, path, top, spec.system.ids or (0, 0))
    except OSError as e:
        raise UsageError(f"-s {path}: {e.strerror}") from None
    if missing:
        print(f"veil: warning: -s {path}: {missing} files with owners not found below {top} "
              "(left out)", file=sys.stderr)


def _die_with_parent() -> None:
    """bubblewrap's --die-with-parent: veil gets SIGKILL when its parent dies, and
    its tracees die with it (PTRACE_O_EXITKILL)."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0) != 0:
        raise UsageError(f"--die-with-parent: prctl: {os.strerror(ctypes.get_errno())}")
    if os.getppid() == 1:
        os._exit(1)  # the parent was gone already


def cmd_run(argv: Sequence[str]) -> int:
    from ..output import death_line
    from ..session import Session

    parsed = _parsed(argv)   # once: the run's own flags are read from it below
    args = parsed[0]
    spec, command, bundle, flagged = spec_of(argv, parsed)
    seen = set()

    def report(ref) -> None:
        if (ref.name, ref.errno) not in seen:  # one line per kind of call refused
            seen.add((ref.name, ref.errno))
            print(ref.line(), file=sys.stderr, flush=True)
    try:
        session = Session(command, spec=spec)
    except SpecError as e:
        raise _reported(e, spec, flagged) from None
    session.on_refusal = report
    if args.kill_on_exit:
        session.watch(["exit_group"], _kill_the_others)
    if args.die_with_parent:
        _die_with_parent()
    if (args.verbosity or 0) >= 1:
        def say_engine() -> None:
            if session.layout_engine is not None:
                engine, why = session.layout_engine
                print(f"veil: layout engine: {engine} ({why})", file=sys.stderr, flush=True)
        session.after_start = say_engine
    try:
        collect_again()
        result = session.run()
    except CommandNotFound as e:
        if bundle and spec.layout.active and e.exit_code == 127:
            where = (f" (no {os.path.join(spec.layout.root or '/', e.command.lstrip('/'))})"
                     if e.command.startswith("/") else "")
            raise CommandNotFound(e.command, f"not in the bundle {bundle}{where}", 127) from None
        raise
    except SpecError as e:
        raise _reported(e, spec, flagged) from None
    except VeilError:
        raise
    except Exception as e:
        note = getattr(e, "__notes__", None)
        if note and any("raised by hook" in n for n in note):
            import traceback
            traceback.print_exception(e, file=sys.stderr)
            return 1
        raise
    if args.fakeroot_save:
        _save_fakeroot(spec, args.fakeroot_save)
    result_file = args.result
    if result_file:
        import json
        try:
            with open(result_file, "w") as f:
                json.dump(result.summary(), f, indent=1)
        except OSError as e:
            print(f"veil: --result {result_file}: {e.strerror}", file=sys.stderr)
    for pid, name, reason in result.kills:
        print(f"veil: killed the traced processes: process {pid} called {name}"
              + (f" ({reason})" if reason else ""), file=sys.stderr)
    if result.kept_tmp:
        print(f"veil: the private /tmp is kept at {result.kept_tmp}", file=sys.stderr)
    stream = session.trace_stream
    if stream is not None and stream.report():
        print(f"veil: {stream.report()}", file=sys.stderr)
    died = death_line(command[0], result)
    if died and not result.kills:  # a Kill verdict was just reported
        print(died, file=sys.stderr)
    return result.exit_code
