"""A fake system identity as a policy: hostname and uname fields, the CPU count,
fake root or another uid/gid (their hooks: veil.fakeroot).
/proc/sys/kernel/hostname, /etc/hostname, /proc/version,
/proc/sys/kernel/osrelease, /proc/cpuinfo and /sys/devices/system/cpu/online
agree: veil serves them.

    spec = veil.RunSpec(system={"hostname": "db2", "kernel_release": "6.1.0", "fake_root": True})
    veil.run(["sh", "-c", "hostname; uname -r; id -u"], spec=spec)
"""
from __future__ import annotations

import errno as _errno

from .errors import UsageError
from .policy import Policy
from .spec.checks import UTS_LEN as _UTS_LEN
from .stop import Stop
from .verdicts import Deny, Emulate, Rewrite, Verdict

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .fakeroot import OwnershipDB
    from .spec import System

_UTS_FIELDS = ("sysname", "nodename", "release", "version", "machine", "domainname")


def uts_of(system: System) -> dict[str, str | None]:
    """The utsname fields a spec's system section sets (None: the real value)."""
    return {"sysname": system.sysname, "nodename": system.hostname,
            "release": system.kernel_release, "version": system.kernel_version,
            "machine": system.machine, "domainname": system.domainname}


class NativeIdentity:
    """What the C engine serves of the identity (csrc/identity.c): the calls, the
    files, and the values given to the engine before the program starts (and again
    when the program changes them).  ``attach`` hands it to a session."""

    def __init__(self) -> None:
        self.enter: set = set()
        self.exit: set = set()
        self.files: dict[str, str] = {}
        self.setups: list[Callable[[Any], None]] = []
        self.on_request: list[Callable[[Stop], Verdict]] = []
        self.engine: Any = None  # the C engine, once it exists

    def update(self, fn: Callable[[Any], None]) -> None:
        """``fn(engine)`` now if the engine exists, and before the program starts."""
        self.setups.append(fn)
        if self.engine is not None:
            fn(self.engine)

    def attach(self, session: Any) -> None:
        def setup(eng: Any) -> None:
            self.engine = eng
            for fn in self.setups:
                fn(eng)
        session.serve_identity(self.enter, self.exit, self.files, setup, self.on_request)


def identity_policy(system: System, owners: OwnershipDB | None = None,
                    host_path: Callable[[str, bool], str] | None = None,
                    native: NativeIdentity | None = None) -> Policy:
    """The hooks and rules that make the program see the identity of a spec's
    system section (veil.spec.System: its values are checked there).  Under fake
    ids, ``owners`` keeps what chown, mknod and setcap set (default: for this run
    only) and ``host_path(guest_path, follow)`` is where a guest path lies on the
    host (the session's layout; default: the same path).  With ``native`` (the C
    engine; then ``native.attach(session)``), C answers the hot calls and serves
    the files; the policy keeps only the rare calls."""
    policy = Policy()
    state = uts_of(system)
    changed: list[Callable[[], None]] = []  # called when sethostname/setdomainname change state
    if any(v is not None for v in state.values()):
        _fake_uts(policy, state, native, changed)
    if system.ids is not None:
        from .fakeroot import OwnershipDB, fake_ids  # loaded for -0 and -i only
        fake_ids(policy, *system.ids, owners if owners is not None else OwnershipDB(),
                  host_path or (lambda path, follow: path), native)
    if system.cpus is not None:
        _fake_cpus(policy, system.cpus, native)
    _virtual_files(policy, state, system.cpus, native, changed)
    tolerant = {id(hook): _tolerant(hook) for _, _, hook in policy.hooks}
    policy.hooks = [(nrs, phase, tolerant[id(hook)]) for nrs, phase, hook in policy.hooks]
    if native is not None:
        native.on_request = [tolerant.get(id(h), h) for h in native.on_request]
    return policy


def _tolerant(hook: Callable[[Stop], Verdict]) -> Callable[[Stop], Verdict]:
    """A hook that cannot read or write what it needs (a bad pointer in the
    caller's memory, a process or file gone) leaves the call to the kernel,
    which answers it as it would (EFAULT, ENOENT...)."""
    def leave_to_kernel(call: Stop) -> Verdict:
        try:
            return hook(call)
        except OSError:
            return None
    # functools.wraps's work, without functools (start-up): errors name the hook
    for name in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(leave_to_kernel, name, getattr(hook, name, None))
    leave_to_kernel.__dict__.update(getattr(hook, "__dict__", {}))
    return leave_to_kernel


def serves_files(system: System) -> bool:
    """Does the identity rewrite the path of the program's opens (/proc/PID/status
    under ids that are not veil's: a file per open)?  Its other files
    (/proc/sys/kernel/hostname...) are binds under a layout, either engine."""
    if system.ids is None:
        return False
    from .fakeroot import ids_tracked
    return ids_tracked(*system.ids)


def _fake_uts(policy: Policy, state: dict[str, str | None], native: NativeIdentity | None,
              changed: list[Callable[[], None]]) -> None:
    if native is not None:
        native.exit.add("uname")

        def set_uts(eng: Any) -> None:
            for key in _UTS_FIELDS:
                eng.identity_set_uts(key, state[key])
        native.update(set_uts)
        changed.append(lambda: native.update(set_uts))
    else:
        @policy.on_exit("uname")
        def fake_uname(call: Stop) -> Verdict:
            if call.result != 0 or not call.args[0]:
                return None
            for i, key in enumerate(_UTS_FIELDS):
                value = state.get(key)
                if value is not None:
                    call.write(call.args[0] + i * _UTS_LEN, value.encode().ljust(_UTS_LEN, b"\0"))
            return None

    def setter(key: str):
        def set_name(call: Stop) -> Verdict:
            length = call.args[1]
            if length > _UTS_LEN - 1:
                return Deny(_errno.EINVAL)
            state[key] = call.read(call.args[0], length).split(b"\0", 1)[0].decode(
                errors="replace") if length else ""
            for fn in changed:
                fn()
            return Emulate(0)  # only the virtual value changes
        set_name.__qualname__ = f"virtual_{key}"
        return set_name

    policy.on_enter("sethostname")(setter("nodename"))
    policy.on_enter("setdomainname")(setter("domainname"))


def _real(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _virtual_files(policy: Policy, state: dict[str, str | None], cpus: int | None,
                   native: NativeIdentity | None, changed: list[Callable[[], None]]) -> None:
    """/proc and /etc files that must agree with the fake identity are served
    by veil: opening one opens a file veil wrote with the virtual content (with
    ``native``, written once and again when the program changes the hostname)."""
    import os

    from .policy import path_of

    def hostname() -> str:
        return (state["nodename"] or os.uname().nodename) + "\n"

    def version() -> str:
        real = _real("/proc/version")
        u = os.uname()
        if state["release"]:
            real = real.replace(u.release, state["release"], 1)
        if state["version"]:
            real = real.replace(u.version, state["version"], 1)
        return real

    def cpuinfo() -> str:
        """The host's blocks, as many as the CPUs shown (repeated, renumbered, when
        that is more than the host has)."""
        blocks = _real("/proc/cpuinfo").strip("\n").split("\n\n")
        shown = [_numbered(blocks[i % len(blocks)], i) for i in range(cpus or len(blocks))]
        return "\n\n".join(shown) + "\n\n"

    files: dict[str, Callable[[], str]] = {}
    if state["nodename"] is not None:
        files["/proc/sys/kernel/hostname"] = hostname
        files["/etc/hostname"] = hostname
    if state["domainname"] is not None:
        files["/proc/sys/kernel/domainname"] = lambda: state["domainname"] + "\n"
    if state["release"] is not None:
        files["/proc/sys/kernel/osrelease"] = lambda: state["release"] + "\n"
    if state["release"] is not None or state["version"] is not None:
        files["/proc/version"] = version
    if state["version"] is not None:
        files["/proc/sys/kernel/version"] = lambda: state["version"] + "\n"
    if cpus is not None:
        span = "0" if cpus == 1 else f"0-{cpus - 1}"
        for name in ("online", "possible", "present"):
            files[f"/sys/devices/system/cpu/{name}"] = lambda s=span: s + "\n"
        files["/proc/cpuinfo"] = cpuinfo
    if not files:
        return
    from .scratch import private_dir
    workdir = private_dir("veil-files-", 0o755)  # the program may run as another user (-u)

    def write(path: str) -> str:
        served = os.path.join(workdir, path.strip("/").replace("/", "_"))
        with open(served, "w") as f:  # in place: a bind mount shows this inode
            f.write(files[path]())
        os.chmod(served, 0o644)
        return served

    if native is not None:
        native.files.update({path: write(path) for path in files})
        changed.append(lambda: [write(path) for path in files])
        return

    @policy.on_enter("open", "openat", "openat2")
    def serve(call: Stop) -> Verdict:
        path = path_of(call)
        if path is None:
            return None
        if os.path.normpath(path) not in files:
            return None
        return Rewrite(path=write(os.path.normpath(path)))


def _fake_cpus(policy: Policy, n: int, native: NativeIdentity | None) -> None:
    """sched_getaffinity shows n CPUs: the first n of the real mask, then the
    next ones up while the caller's mask has room (n above the host's count)."""
    if n < 1:
        raise UsageError(f"cpus must be 1 or more, not {n}")
    if native is not None:
        native.exit.add("sched_getaffinity")
        native.update(lambda eng: eng.identity_set_cpus(n))
        return

    @policy.on_exit("sched_getaffinity")
    def n_cpus(call: Stop) -> Verdict:
        if call.result is None or call.result <= 0:
            return None
        mask = int.from_bytes(call.read(call.args[2], call.result), "little")
        shown, bit = 0, 0
        while bin(shown).count("1") < n and bit < call.result * 8:
            if mask >> bit & 1:
                shown |= 1 << bit
            bit += 1
        for bit in range(call.result * 8):
            if bin(shown).count("1") >= n:
                break
            shown |= 1 << bit
        call.write(call.args[2], shown.to_bytes(call.result, "little"))
        return None


def parse_ids(text: str) -> tuple[int, int]:
    """-i UID:GID (or UID)."""
    uid_s, _, gid_s = text.partition(":")
    try:
        uid = int(uid_s)
        gid = int(gid_s) if gid_s else uid
    except ValueError:
        raise UsageError(f"invalid -i value {text!r}: use UID:GID") from None
    if not (0 <= uid < 2**32 - 1 and 0 <= gid < 2**32 - 1):
        raise UsageError(f"invalid -i value {text!r}: ids are 0..4294967294")
    return uid, gid


def _numbered(block: str, n: int) -> str:
    """A /proc/cpuinfo block whose "processor : N" line says ``n``."""
    lines = block.split("\n")
    for i, line in enumerate(lines):
        key, colon, _ = line.partition(":")
        if colon and key.startswith("processor") and (key[9:] == "" or key[9:].isspace()):
            lines[i] = f"{key}: {n}"
            break
    return "\n".join(lines)
