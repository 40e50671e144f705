"""The builder: a RunSpec becomes a configured Session, with every protection.

``veil run``, ``veil run BUNDLE``, ``veil.run(spec=...)``, ``Session(spec=...)``,
the pytest plugin and ``veil prep pack``'s learning run all come here (through
``Session(spec=...)``, which calls ``session_options`` and ``configure``), so a
run started from Python is exactly as confined as the same run from the shell.

Errors about the host (a root that does not exist, a bind source that is
missing) are SpecErrors naming the key; the command line names its flag.
"""
from __future__ import annotations

import _signal as signal  # without the signal module's enums
import os
import resource
import sys

from ..errors import VeilError
from ..hostenv import host_environ
from ..layout import GuestTree, mount_only
from ..record import replace
from .checks import RLIM_INFINITY, SpecError
from .model import Environment, Layout, RunSpec, System

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from ..session import Session


def environment(spec: Environment) -> tuple[dict[str, str], list[tuple[int, int, int]]]:
    """The program's variables and its resource limits (resource, soft, hard)."""
    env = {} if spec.clear_env else host_environ()
    for name in spec.unset:
        env.pop(name, None)
    env.update(spec.env or {})
    limits = []
    for name, (soft, hard) in spec.rlimits.items():
        res = getattr(resource, "RLIMIT_" + name.upper())
        if hard is None:
            hard = resource.getrlimit(res)[1]
            if hard != RLIM_INFINITY and (soft == RLIM_INFINITY or soft > hard):
                raise SpecError("environment", "rlimits", "the soft limit is above the "
                                f"current hard one ({hard})", f".{name}")
        limits.append((res, soft & 0xFFFFFFFFFFFFFFFF, hard & 0xFFFFFFFFFFFFFFFF))
    return env, limits


def guest_tree(spec: Layout, cwd: str | None, strict: bool = False,
               ids: tuple[int, int] | None = None, virtual_files: bool = False,
               uts_names: tuple[str | None, str | None] = (None, None)
               ) -> tuple[GuestTree, str]:
    """The session's guest tree and the guest directory the program starts in.
    As PRoot, a bind whose host path is missing is left out with a warning (an
    error under ``strict``), and a relative cwd is taken from the current
    directory as the guest sees it."""
    root = spec.root or "/"
    if not os.path.isdir(root):
        raise SpecError("layout", "root", "not a directory" if os.path.exists(root)
                        else "no such directory", value=root)
    if not os.access(root, os.R_OK | os.X_OK):
        # e.g. mode 000 for a user other than root: every path would be ENOENT/EACCES
        raise SpecError("layout", "root", "permission denied (veil must read and search "
                        "the guest's root)", value=root)
    binds = []
    for i, b in enumerate(spec.binds):
        if os.path.exists(b.host):
            binds.append(b)
        elif strict:
            raise SpecError("layout", "binds", "no such file or directory", f"[{i}]",
                            value=b.host)
        else:
            print(f"veil: warning: bind {b.host}: no such file or directory (left out)",
                  file=sys.stderr)
    qemu = None
    if spec.qemu:
        from ..qemu import resolve
        qemu = resolve(spec.qemu)
    tree = GuestTree(root, binds, spec.hidden, spec.readonly, spec.private_tmp,
                     spec.keep_tmp, cwd_is_guess=cwd is None, engine=spec.engine,
                     strict=strict, ids=ids, virtual_files=virtual_files,
                     namespaces=spec.namespaces, new_session=spec.new_session, qemu=qemu,
                     uts_names=uts_names)
    if cwd is not None and not cwd.startswith("/"):
        here = _guessed_cwd(tree)
        cwd = os.path.normpath(os.path.join(os.getcwd() if here is None else here, cwd))
    return tree, cwd if cwd is not None else _guessed_cwd(tree) or "/"


def _guessed_cwd(tree: GuestTree) -> str | None:
    """The current directory's guest path, if the guest shows it (PRoot starts there)."""
    here = os.getcwd()
    shown = [(b.host, b.guest) for b in tree.binds] + [(os.path.realpath(tree.root), "/")]
    for host, guest in sorted(shown, key=lambda hg: -len(hg[0])):
        host = os.path.realpath(host)
        if here == host or here.startswith(host.rstrip("/") + "/"):
            return os.path.normpath(os.path.join(guest, os.path.relpath(here, host)))
    return None


def identity_system(spec: RunSpec) -> System:
    """The identity veil shows by itself: all of spec.system, but the hostname and
    domain name where the program's own UTS namespace holds them (bubblewrap's
    --unshare-uts --hostname, when the mount engine is needed anyway)."""
    layout = spec.layout
    if "uts" in layout.namespaces and mount_only(layout.namespaces, layout.new_session,
                                                 layout.qemu):
        return replace(spec.system, hostname=None, domainname=None)
    return spec.system


def session_options(spec: RunSpec) -> dict[str, Any]:
    """The Session's own settings that the spec decides."""
    env_spec, obs = spec.environment, spec.observation
    env, limits = environment(env_spec)
    options: dict[str, Any] = dict(
        env=env, cwd=env_spec.cwd, umask=env_spec.umask, rlimits=limits, argv0=env_spec.argv0,
        sockets=obs.keeps_sockets, capture_bytes=obs.capture_bytes, seccomp=obs.seccomp,
        affinity=obs.affinity, trace=(obs.trace or "all") if obs.output else (obs.trace or "none"))
    if spec.layout.active:
        system = identity_system(spec)
        names = (None, None) if system is spec.system else (spec.system.hostname,
                                                             spec.system.domainname)
        serves = False
        if system.ids is not None:
            from ..identity import serves_files
            serves = serves_files(system)
        options["layout"], options["cwd"] = guest_tree(spec.layout, env_spec.cwd,
                                                       spec.security.strict, system.ids,
                                                       serves, names)
    elif env_spec.cwd is not None and not os.path.isdir(env_spec.cwd):
        raise SpecError("environment", "cwd", "not a directory", value=env_spec.cwd)
    if options["cwd"] is not None and "PWD" in env and "PWD" not in (env_spec.env or {}):
        env["PWD"] = os.path.abspath(options["cwd"])  # as a shell's cd sets it
    return options


def configure(session: Session, spec: RunSpec, policies: Sequence[Any] = ()) -> None:
    """Everything the spec asks of a session beyond its settings: the trace file,
    the socket table's file, network rules and map, veil's protections, strict
    mode, denied calls, the identity and ownership database, OCI profiles,
    injections, policy files, then the caller's ``policies`` in order."""
    # each part's module only where used: a plain run imports none of them

    obs, security, network = spec.observation, spec.security, spec.network
    if obs.output:
        _trace_file(session, obs.output)
    if obs.sockets_out:
        where = os.path.dirname(os.path.abspath(obs.sockets_out))
        if not os.path.isdir(where) or not os.access(where, os.W_OK):
            raise SpecError("observation", "sockets_out", f"cannot write in {where}",
                            value=obs.sockets_out)
        _sockets_file(session, obs.sockets_out)
    if network.allow or network.deny or network.default == "deny":
        from ..netrules import net_rules_policy, parse_rule
        # denies first, so that a deny inside an allowed range wins
        rules = ([parse_rule(r, False) for r in network.deny] +
                 [parse_rule(r, True) for r in network.allow])
        net_rules_policy(rules, default_deny=network.default == "deny").apply(session)
    if network.map:
        from ..netmap import address_view, net_map_args, net_map_policy
        maps = net_map_args(network.map)
        net_map_policy(maps).apply(session)
        if session.sockets is not None:
            session.sockets.address_view = address_view(maps)
    if spec.confines or policies:
        from .. import protect
        protect.protect_veil(session)
    if security.strict:
        from .. import protect
        protect.strict(session)
    if security.deny:
        from ..syscalls.lookup import resolve_set
    for names in security.deny:
        session.deny(sorted(resolve_set(names)))
    # after protect_veil (its target check comes first) and the rules (a rule on
    # ptrace, such as --deny ptrace, keeps the emulation off)
    _guest_ptrace(session)
    shown = identity_system(spec)
    if shown != System():      # the default section shows the real identity: nothing to do
        _identity(session, shown)
    for path in security.seccomp_profile:
        from ..oci import load_profile as load_seccomp_profile
        load_seccomp_profile(path).apply(session)
    if security.inject:
        from ..policy import Policy, parse_inject
        injected = Policy()
        for text in security.inject:
            names, kw = parse_inject(text)
            injected.inject(names, **kw)
        injected.apply(session)
    if security.enforce:        # a bundle's learned paths and peers (veil prep)
        from ..prep.enforce import enforcer
        enforcer(spec).apply(session)
    for path in security.policy:
        from ..policyfile import load_policy_file
        load_policy_file(path, session)
    for policy in policies:
        policy.apply(session)


def _identity(session: Session, system: System) -> None:
    """The hooks (and, with the C engine, the values C serves) of a fake identity."""
    from ..identity import NativeIdentity, identity_policy
    owners = None
    if system.ids is not None:
        from ..fakeroot import OwnershipDB
        owners = OwnershipDB(system.ownership_db)
    native = NativeIdentity() if session.backend == "c" else None
    identity_policy(system, owners, session.host_path, native).apply(session)
    if native is not None:
        native.attach(session)
    if owners is not None:
        session.at_end(owners.save)


def _guest_ptrace(session: Session) -> None:
    """ptrace emulated for the guest's tracers (veil.guest_ptrace).  Its hooks are
    watched from the start, as they must be (a guest's ptrace call never reaches
    the kernel unchecked); the emulation itself loads at the first one."""
    if not session.seccomp:
        return   # attach mode: ptrace-syscall stops are veil's own, nothing to share
    if session.has_rules("ptrace"):
        return   # the run's own rules decide ptrace (--deny ptrace, a profile's rules)
    made: list[Any] = []

    def emulation() -> Any:
        if not made:
            from ..guest_ptrace import GuestPtrace
            made.append(GuestPtrace(session))
        return made[0]

    def on_ptrace(stop: Any) -> Any:
        return emulation().on_ptrace(stop)

    def on_guest_call(stop: Any) -> Any:
        return emulation().on_guest_call(stop)

    def on_event(ev: Any) -> None:
        emulation().on_event(ev)

    session.watch(["ptrace"], on_ptrace)
    session.watch(["wait4", "waitid", "exit_group", "seccomp", "prctl"], on_guest_call,
                  guest_tracing=True)
    session.guest_events = on_event


def _trace_file(session: Session, path: str) -> None:
    """The trace (strace's text) written to ``path``."""
    from ..decoders import Ctx
    from ..output.guard import GuardedStream
    from ..output.text import TextWriter
    try:
        stream = GuardedStream(open(path, "w"), path)
    except OSError as e:
        raise SpecError("observation", "output", f"cannot write: {e.strerror}", value=path) from None
    session.trace_stream = stream
    session.add_observer(session.traced_only(TextWriter(stream, follow=True, to_file=True,
                                                        ctx=Ctx())))
    session.at_end(stream.close)


def _sockets_file(session: Session, path: str) -> None:
    """The socket table written to ``path`` at the end, and whenever veil gets
    SIGUSR1 (the table as the kernel shows it then)."""
    def write_snapshot() -> None:
        try:
            session.sockets.write(path, session.sockets.snapshot())
        except OSError as e:
            print(f"veil: cannot write {path}: {e.strerror}", file=sys.stderr)
        except Exception as e:  # a snapshot must never stop the run
            print(f"veil: socket snapshot failed: {type(e).__name__}: {e}", file=sys.stderr)

    def write_table() -> None:
        if session.sockets is not None:
            session.sockets.write(path, session.sockets.finish())
    session.at_end(write_table)
    try:
        before = signal.signal(signal.SIGUSR1,
                               lambda _signum, _frame: session.request_snapshot(write_snapshot))
    except ValueError:   # not the main thread: Python runs its signal handlers there only
        return
    session.at_end(lambda: signal.signal(signal.SIGUSR1, before))


def command_of(spec: RunSpec, argv: Sequence[str] | None) -> list[str]:
    """The command a run of ``spec`` starts."""
    command = list(argv) if argv else list(spec.environment.argv)
    if not command:
        raise VeilError("nothing to run: give a command or [environment] argv")
    return command
