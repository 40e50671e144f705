"""``veil run``: run a program under policies (a Python policy file, an OCI
seccomp profile, fault injection).  The virtual layout and identity options
of the design build on this command."""
from __future__ import annotations

import argparse
import os
import runpy
import sys
import traceback
from typing import Sequence

from .errors import CommandNotFound, UsageError, VeilError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="veil run",
                                description="Run a program under veil's policies.")
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
    g.add_argument("--kernel-release", help="uname -r")
    g.add_argument("--kernel-version", help="uname -v")
    g.add_argument("--machine", help="uname -m")
    g.add_argument("--sysname", help="uname -s")
    g.add_argument("-0", "--root-id", dest="root", action="store_true",
                   help="fake root: every id call reports 0, setuid/chown succeed virtually")
    g.add_argument("-i", dest="ids", metavar="UID:GID", help="report this uid and gid")
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
    x = p.add_argument_group("execution environment")
    x.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="set a variable")
    x.add_argument("--unset", action="append", default=[], metavar="NAME", help="remove a variable")
    x.add_argument("--clear-env", action="store_true", help="start from an empty environment")
    x.add_argument("-w", "--cwd", metavar="DIR", help="working directory of the program")
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
    net.add_argument("--capture-bytes", type=int, default=0, metavar="N",
                     help="with --sockets-out: keep the last N bytes each way per socket")
    p.add_argument("--profile", metavar="PROFILE.toml",
                   help="a veil profile: [environment] [layout] [system] [security]; flags win")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE", help="override one profile value")
    p.add_argument("--deny", action="append", default=[], metavar="SET",
                   help="fail these syscalls with EPERM (names, %%classes, as -e trace=)")
    p.add_argument("--strict", action="store_true",
                   help="fail (ENOSYS) every call veil does not know: unknown numbers, i386 and "
                        "x32 calls, path calls a layout does not translate")
    p.add_argument("--no-seccomp", dest="seccomp", action="store_false")
    p.add_argument("--affinity", default="auto")
    p.add_argument("command", nargs=argparse.REMAINDER)
    return p


def load_policy_file(path: str, session) -> None:
    """Run a policy file and apply what it defines; errors name file and line."""
    from .policy import Policy
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such policy file")

    def failed(e: Exception) -> UsageError:
        """The error as one line naming the policy file's line it came from."""
        line = next((f.lineno for f in reversed(traceback.extract_tb(e.__traceback__))
                     if os.path.abspath(f.filename) == os.path.abspath(path)), "?")
        return UsageError(f"{path}:{line}: {type(e).__name__}: {e}")
    try:
        ns = runpy.run_path(path, run_name="veil_policy")
    except SyntaxError as e:
        raise UsageError(f"{path}:{e.lineno}: {e.msg}") from None
    except Exception as e:
        raise failed(e) from None
    policy, configure = ns.get("policy"), ns.get("configure")
    if policy is None and configure is None:
        raise UsageError(f"{path}: defines neither `policy` nor `configure(session)`")
    if policy is not None:
        for p in policy if isinstance(policy, (list, tuple)) else [policy]:
            if not isinstance(p, Policy):
                raise UsageError(f"{path}: `policy` must be a veil.Policy (or a list of them), "
                                 f"not {type(p).__name__}")
            p.apply(session)
    if configure is not None:
        try:
            configure(session)
        except VeilError:
            raise
        except Exception as e:
            raise failed(e) from None


def _identity(args):
    from .identity import Identity, identity_policy, parse_ids
    uid = gid = None
    if args.root and args.ids:
        raise UsageError("give -0 or -i, not both")
    if args.root:
        uid = gid = 0
    elif args.ids:
        uid, gid = parse_ids(args.ids)
    return identity_policy(Identity(hostname=args.hostname, domainname=args.domainname,
                                    sysname=args.sysname, kernel_release=args.kernel_release,
                                    kernel_version=args.kernel_version, machine=args.machine,
                                    uid=uid, gid=gid, cpus=args.cpus))


def _environment(args):
    """env, umask and rlimits from the execution-environment flags."""
    import resource
    env = {} if args.clear_env else dict(os.environ)
    for name in args.unset:
        env.pop(name, None)
    for item in args.env:
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise UsageError(f"invalid --env {item!r}: use NAME=VALUE")
        env[name] = value
    if args.cwd is not None and not layout_active(args) and not os.path.isdir(args.cwd):
        raise UsageError(f"-w {args.cwd}: not a directory")
    umask = None
    if args.umask is not None:
        try:
            umask = int(args.umask, 8)
        except ValueError:
            raise UsageError(f"invalid --umask {args.umask!r}: an octal mode like 022") from None
        if not 0 <= umask <= 0o777:
            raise UsageError(f"invalid --umask {args.umask!r}: 000..777")
    limits = []
    for item in args.rlimit:
        name, eq, value = item.partition("=")
        res = getattr(resource, "RLIMIT_" + name.upper(), None)
        if not eq or res is None:
            raise UsageError(f"invalid --rlimit {item!r}: use NAME=SOFT[:HARD] with NAME like "
                             f"nofile, core, stack, nproc, as, cpu, fsize")
        soft_s, _, hard_s = value.partition(":")

        def num(v: str) -> int:
            if v in ("unlimited", "infinity"):
                return resource.RLIM_INFINITY
            if not v.isdigit():
                raise UsageError(f"invalid --rlimit {item!r}: {v!r} is not a number")
            return int(v)
        soft = num(soft_s)
        hard = num(hard_s) if hard_s else resource.getrlimit(res)[1]
        if hard != resource.RLIM_INFINITY and (soft == resource.RLIM_INFINITY or soft > hard):
            raise UsageError(f"invalid --rlimit {item!r}: the soft limit is above the hard one")
        limits.append((res, soft & 0xFFFFFFFFFFFFFFFF, hard & 0xFFFFFFFFFFFFFFFF))
    return env, umask, limits


# PRoot's -R: host files a guest usually wants (those that exist are bound)
RECOMMENDED_BINDS = ("/proc", "/dev", "/sys", "/tmp", "/run", "/etc/resolv.conf", "/etc/hosts",
                     "/etc/host.conf", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group",
                     "/etc/localtime")


def layout_active(args) -> bool:
    return bool(getattr(args, "layout_root", None) or getattr(args, "layout_root_binds", None)
                or getattr(args, "binds", None) or getattr(args, "hidden", None)
                or getattr(args, "readonly", None) or getattr(args, "private_tmp", False))


def _layout(args):
    from .layout import Bind, Layout, parse_bind
    if not layout_active(args):
        if args.keep_tmp:
            raise UsageError("--keep-tmp goes with --private-tmp")
        return None
    if args.layout_root and args.layout_root_binds:
        raise UsageError("give -r or -R, not both")
    binds = [parse_bind(b) for b in args.binds]
    if args.layout_root_binds:
        home = os.environ.get("HOME")
        extra = [Bind(p, p) for p in (*RECOMMENDED_BINDS, home) if p and os.path.exists(p)]
        binds = extra + binds
    return Layout(root=args.layout_root or args.layout_root_binds or "/", binds=binds,
                  hidden=list(args.hidden), readonly=list(args.readonly),
                  private_tmp=args.private_tmp, keep_tmp=args.keep_tmp)


def _guest_cwd(args, layout) -> str:
    """-w, else (as PRoot) the current directory if the guest shows it, else /."""
    if args.cwd:
        return args.cwd
    here = os.getcwd()
    shown = [(b.host, b.guest) for b in layout.binds] + [(os.path.realpath(layout.root), "/")]
    for host, guest in sorted(shown, key=lambda hg: -len(hg[0])):
        host = os.path.realpath(host)
        if here == host or here.startswith(host.rstrip("/") + "/"):
            return os.path.normpath(guest + "/" + here[len(host):])
    return "/"


def _snapshot_on_usr1(session, path: str) -> None:
    """SIGUSR1 to veil writes the socket table as the kernel shows it now."""
    import signal

    def write_snapshot() -> None:
        try:
            session.sockets.write(path, session.sockets.snapshot())
        except OSError as e:
            print(f"veil: cannot write {path}: {e.strerror}", file=sys.stderr)
        except Exception as e:  # a snapshot must never stop the run
            import traceback; traceback.print_exc()
            print(f"veil: socket snapshot failed: {type(e).__name__}: {e}", file=sys.stderr)
    signal.signal(signal.SIGUSR1, lambda signum, frame: session.request_snapshot(write_snapshot))


CLONE_UNTRACED = 0x00800000
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3


def _protect_veil(session) -> None:
    """The program cannot signal, trace or write into veil itself (which would
    end or take over its own confinement): EPERM, decided in the filter and
    reported."""
    import errno
    from . import filter as bpf
    from .syscalls.lookup import BY_NAME
    me, group = os.getpid(), os.getpgrp()

    def refuse(name: str, reason: str, *conds, err: int = errno.EPERM) -> None:
        if name in BY_NAME:
            session.refuse([BY_NAME[name].nr], err, reason, list(conds))
    for target in (me, -group, 0):  # veil, its process group, the caller's group (veil's)
        refuse("kill", "veil itself cannot be signalled",
               bpf.Cond(0, "MASKED_EQ", target & 0xFFFFFFFF, 0xFFFFFFFF))
    for name, index in (("tgkill", 0), ("pidfd_open", 0), ("process_vm_writev", 0),
                        ("process_vm_readv", 0), ("ptrace", 1), ("rt_sigqueueinfo", 0),
                        ("rt_tgsigqueueinfo", 0), ("tkill", 0)):
        refuse(name, "veil itself cannot be signalled, traced or written",
               bpf.Cond(index, "MASKED_EQ", me, 0xFFFFFFFF))
    # a child made with CLONE_UNTRACED would run untraced (clone(2))
    untraced = "a child made with CLONE_UNTRACED would escape the tracer"
    refuse("clone", untraced, bpf.Cond(0, "MASKED_EQ", CLONE_UNTRACED, CLONE_UNTRACED))
    if "clone3" in BY_NAME:
        # clone3's flags lie in memory the filter cannot read, and that another
        # thread may change: every clone3 fails, ENOSYS (libc falls back to clone),
        # and one asking for CLONE_UNTRACED is reported (EPERM)
        from .verdicts import Deny

        def clone3(stop):
            try:
                head = stop.read(stop.args[0], 8) if stop.args[0] else b""
            except OSError:
                head = b""  # the kernel would fail it with EFAULT
            if len(head) == 8 and int.from_bytes(head, "little") & CLONE_UNTRACED:
                session.note_refusal(stop.pid, stop.tid, "clone3", errno.EPERM, untraced)
                return Deny(errno.EPERM)
            return Deny(errno.ENOSYS)
        session.watch(["clone3"], clone3)
    # seccomp(2) with a listener: a supervisor holding it would answer the calls its
    # filter sends it (SECCOMP_RET_USER_NOTIF wins over veil's TRACE), calls veil
    # never sees.  Without a listener such a filter fails them with ENOSYS.
    refuse("seccomp", "a seccomp listener (SECCOMP_FILTER_FLAG_NEW_LISTENER) would "
           "answer calls veil never sees",
           bpf.Cond(0, "EQ", SECCOMP_SET_MODE_FILTER),
           bpf.Cond(1, "MASKED_EQ", SECCOMP_FILTER_FLAG_NEW_LISTENER,
                    SECCOMP_FILTER_FLAG_NEW_LISTENER))


def _strict(session) -> None:
    import errno
    from . import engine as E
    from .layout import untranslated_calls
    from .syscalls.lookup import BY_NR
    session.refuse([nr for nr in range(E.NR_MAX) if nr not in BY_NR], errno.ENOSYS,
                   "--strict refuses calls veil does not know")
    if session.layout is not None and untranslated_calls():
        session.refuse(untranslated_calls(), errno.ENOSYS,
                       "--strict refuses path calls the layout does not translate")
    session.refuse_foreign(errno.ENOSYS, "--strict refuses i386 and x32 calls")
    # a symlink swapped into a path after veil's walk cannot redirect the call
    session.pin_paths = True
    # personality(2): only the plain Linux persona and the query; flags such as
    # READ_IMPLIES_EXEC or ADDR_LIMIT_* change how memory can be mapped
    from . import filter as bpf
    from .syscalls.lookup import BY_NAME
    nr = BY_NAME["personality"].nr
    session.add_rule([nr], ("allow", 0), bpf.Cond(0, "MASKED_EQ", 0, 0xFFFFFFFF))
    session.add_rule([nr], ("allow", 0), bpf.Cond(0, "MASKED_EQ", 0xFFFFFFFF, 0xFFFFFFFF))
    session.refuse([nr], errno.EPERM, "--strict allows only the plain Linux personality")


def _bundle_form(argv: list, args: argparse.Namespace) -> argparse.Namespace:
    """``veil run [OPTIONS] BUNDLE [OPTIONS] [-- ARGS]``: a first command word that is a
    directory is a bundle, run as ``--profile BUNDLE/profile.toml`` with ARGS appended to its
    argv; options after BUNDLE (before ``--``) are veil's."""
    command = list(args.command)
    lead = 1 if command[:1] == ["--"] else 0
    if len(command) <= lead or not os.path.isdir(command[lead]):
        return args
    bundle = command[lead]
    if not os.path.isfile(os.path.join(bundle, "profile.toml")):
        raise UsageError(f"veil run {bundle}: not a bundle (no profile.toml in the directory)")
    if args.profile:
        raise UsageError(f"veil run {bundle}: give a bundle or --profile, not both")
    before = argv[:len(argv) - len(command)]
    args = _parser().parse_args(before + ["--profile", bundle] + command[lead + 1:])
    args.bundle = bundle
    return args


def cmd_run(argv: Sequence[str]) -> int:
    from .cli import _inject_policy, _parse_exprs
    from .decoders import Ctx
    from .oci import load_profile
    from .output.guard import GuardedStream
    from .output.text import TextWriter
    from .session import Session

    args = _parser().parse_args(argv)
    args = _bundle_form(list(argv), args)
    _parse_exprs(args.exprs, ("inject",))  # what -o traces is --trace SET
    if args.profile or args.overrides:
        from .profile import apply_profile, load_profile as load_run_profile
        if not args.profile:
            raise UsageError("--set needs --profile")
        apply_profile(args, load_run_profile(args.profile, args.overrides))
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("veil run: a command to run is needed")
    observers = []
    opened = None
    if args.output:
        try:
            opened = GuardedStream(open(args.output, "w"), args.output)
        except OSError as e:
            raise VeilError(f"cannot write {args.output}: {e.strerror}") from None
        observers.append(TextWriter(opened, follow=True, to_file=True, ctx=Ctx()))
    env, umask, limits = _environment(args)
    layout = _layout(args)
    if layout is not None:
        layout.check()
        if not os.access(layout.root, os.R_OK | os.X_OK):
            # e.g. mode 000 for a user other than root: every path would be ENOENT/EACCES
            raise UsageError(f"-r {layout.root}: permission denied (veil must read and "
                             f"search the guest's root)")
    cwd = args.cwd
    if layout is not None:
        cwd = _guest_cwd(args, layout)
        layout.cwd_is_guess = not args.cwd
    session = Session(command, trace=(args.trace or "all") if args.output else "none",
                      seccomp=args.seccomp, affinity=args.affinity, observers=observers,
                      env=env, cwd=cwd, umask=umask, rlimits=limits, argv0=args.argv0,
                      layout=layout, sockets=bool(args.sockets_out),
                      capture_bytes=max(args.capture_bytes, 0))
    if args.sockets_out:
        where = os.path.dirname(os.path.abspath(args.sockets_out))
        if not os.path.isdir(where) or not os.access(where, os.W_OK):
            raise UsageError(f"--sockets-out {args.sockets_out}: cannot write in {where}")
        _snapshot_on_usr1(session, args.sockets_out)
    if args.net_allow or args.net_deny or args.net_default == "deny":
        from .netrules import net_rules_policy, parse_rule
        # denies first, so that a deny inside an allowed range wins
        rules = ([parse_rule(r, False) for r in args.net_deny] +
                 [parse_rule(r, True) for r in args.net_allow])
        net_rules_policy(rules, default_deny=args.net_default == "deny").apply(session)
    if args.net_map:
        from .netmap import address_view, net_map_args, net_map_policy
        maps = net_map_args(args.net_map)
        net_map_policy(maps).apply(session)
        if session.sockets is not None:
            session.sockets.address_view = address_view(maps)
    if args.strict or layout is not None:
        _protect_veil(session)
    if args.strict:
        _strict(session)
    for spec in args.deny:
        from .syscalls.lookup import UnknownSyscallError, resolve_set
        try:
            session.deny(sorted(resolve_set(spec)))
        except UnknownSyscallError as e:
            raise UsageError(f"--deny {spec}: {e}") from None
    _identity(args).apply(session)
    owners = None
    if args.root or args.ids:
        from .identity import OwnershipDB, ownership_policy
        owners = OwnershipDB(args.ownership_db)
        ownership_policy(owners).apply(session)
    elif args.ownership_db:
        raise UsageError("--ownership-db goes with -0 or -i")
    for path in args.seccomp_profile:
        load_profile(path).apply(session)
    _inject_policy(args.exprs).apply(session)
    for path in args.policy:
        load_policy_file(path, session)
    seen = set()

    def report(ref) -> None:
        if (ref.name, ref.errno) not in seen:  # one line per kind of call refused
            seen.add((ref.name, ref.errno))
            print(ref.line(), file=sys.stderr, flush=True)
    session.on_refusal = report
    try:
        result = session.run()
    except CommandNotFound as e:
        if getattr(args, "bundle", None) and layout is not None and e.exit_code == 127:
            where = (f" (no {os.path.join(layout.root, e.command.lstrip('/'))})"
                     if e.command.startswith("/") else "")
            raise CommandNotFound(e.command, f"not in the bundle {args.bundle}{where}",
                                  127) from None
        raise
    except Exception as e:
        note = getattr(e, "__notes__", None)
        if note and any("raised by hook" in n for n in note):
            traceback.print_exception(e, file=sys.stderr)
            return 1
        raise
    finally:
        if opened is not None:
            opened.close()
        if owners is not None:
            owners.save()
        if args.sockets_out and session.sockets is not None:
            session.sockets.write(args.sockets_out, session.sockets.finish())
    for pid, name, reason in session.kills:
        print(f"veil: killed the traced processes: process {pid} called {name}"
              + (f" ({reason})" if reason else ""), file=sys.stderr)
    if result.kept_tmp:
        print(f"veil: the private /tmp is kept at {result.kept_tmp}", file=sys.stderr)
    if opened is not None and opened.report():
        print(f"veil: {opened.report()}", file=sys.stderr)
    from .output import death_line
    died = death_line(command[0], result)
    if died and not session.kills:  # a Kill verdict was just reported
        print(died, file=sys.stderr)
    return result.exit_code
