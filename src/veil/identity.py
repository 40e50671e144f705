"""A fake system identity as a policy: hostname and uname fields, fake root or
another uid/gid.  /proc/sys/kernel/hostname, /etc/hostname, /proc/version,
/proc/sys/kernel/osrelease, /proc/cpuinfo and /sys/devices/system/cpu/online
agree: veil serves them.

    spec = veil.RunSpec(system={"hostname": "db2", "kernel_release": "6.1.0", "fake_root": True})
    veil.run(["sh", "-c", "hostname; uname -r; id -u"], spec=spec)
"""
from __future__ import annotations

import errno as _errno
from typing import TYPE_CHECKING, Callable, Dict, Optional, Tuple

from .errors import UsageError
from .spec.checks import UTS_LEN as _UTS_LEN, SpecError
from .policy import Policy
from .stop import Stop
from .verdicts import Deny, Emulate, Rewrite, Verdict

if TYPE_CHECKING:
    from .spec import System

_UTS_FIELDS = ("sysname", "nodename", "release", "version", "machine", "domainname")


def uts_of(system: "System") -> Dict[str, Optional[str]]:
    """The utsname fields a spec's system section sets (None: the real value)."""
    return {"sysname": system.sysname, "nodename": system.hostname,
            "release": system.kernel_release, "version": system.kernel_version,
            "machine": system.machine, "domainname": system.domainname}


def identity_policy(system: "System") -> Policy:
    """The hooks and rules that make the program see the identity of a spec's
    system section (veil.spec.System: its values are checked there)."""
    policy = Policy()
    state = uts_of(system)
    if any(v is not None for v in state.values()):
        _fake_uts(policy, state)
    if system.ids is not None:
        _fake_ids(policy, *system.ids)
    if system.cpus is not None:
        _fake_cpus(policy, system.cpus)
    _virtual_files(policy, state, system.cpus)
    return policy


def _fake_uts(policy: Policy, state: Dict[str, Optional[str]]) -> None:
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


def _virtual_files(policy: Policy, state: Dict[str, Optional[str]], cpus: Optional[int]) -> None:
    """/proc and /etc files that must agree with the fake identity are served
    by veil: opening one opens a file veil wrote with the virtual content."""
    import os
    import tempfile
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
        blocks = _real("/proc/cpuinfo").strip("\n").split("\n\n")
        return "\n\n".join(blocks[:cpus]) + "\n\n"

    files: Dict[str, Callable[[], str]] = {}
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
    workdir = tempfile.mkdtemp(prefix="veil-files-")

    @policy.on_enter("open", "openat", "openat2")
    def serve(call: Stop) -> Verdict:
        path = path_of(call)
        if path is None:
            return None
        make = files.get(os.path.normpath(path))
        if make is None:
            return None
        served = os.path.join(workdir, path.strip("/").replace("/", "_"))
        with open(served, "w") as f:
            f.write(make())
        return Rewrite(path=served)


def _fake_cpus(policy: Policy, n: int) -> None:
    if n < 1:
        raise UsageError(f"cpus must be 1 or more, not {n}")

    @policy.on_exit("sched_getaffinity")
    def fewer_cpus(call: Stop) -> Verdict:
        if call.result is None or call.result <= 0:
            return None
        mask = bytearray(call.read(call.args[2], call.result))
        kept = 0
        for i in range(len(mask) * 8):
            if mask[i // 8] >> (i % 8) & 1:
                kept += 1
                if kept > n:
                    mask[i // 8] &= ~(1 << (i % 8)) & 0xFF
        call.write(call.args[2], bytes(mask))
        return None


def _fake_ids(policy: Policy, uid: int, gid: int) -> None:
    if _os.getresuid() != (uid,) * 3 or _os.getresgid() != (gid,) * 3:
        _report_ids(policy, uid, gid)
    if (_os.geteuid(), _os.getegid()) != (uid, gid):
        _own_files_show_fake_ids(policy, uid, gid)
    # else the program already has these ids (veil runs as them): the id calls are
    # left alone, and the kernel's seccomp cache lets them pass without the filter
    # changing ids succeeds virtually; owners: see ownership_policy
    policy.on_enter("setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
                    "setfsuid", "setfsgid", "setgroups")(lambda call: Emulate(0))


def _report_ids(policy: Policy, uid: int, gid: int) -> None:
    if uid == 0 and gid == 0:
        # the filter answers these itself: SECCOMP_RET_ERRNO with 0 returns 0
        policy.deny(["getuid", "geteuid", "getgid", "getegid"], errno=0)
    else:
        for names, value in ((("getuid", "geteuid"), uid), (("getgid", "getegid"), gid)):
            policy.on_enter(*names)(lambda call, v=value: Emulate(v))

    def triple(value: int):
        def fake(call: Stop) -> Verdict:
            for i in range(3):
                if call.args[i]:
                    call.write(call.args[i], value.to_bytes(4, "little"))
            return Emulate(0)
        return fake

    policy.on_enter("getresuid")(triple(uid))
    policy.on_enter("getresgid")(triple(gid))


# where st_uid and st_gid lie in struct stat and struct statx (x86_64)
_STAT_OWNER = {"stat": (1, 28, 32), "lstat": (1, 28, 32), "fstat": (1, 28, 32),
               "newfstatat": (2, 28, 32), "statx": (4, 20, 24)}


def _own_files_show_fake_ids(policy: Policy, uid: int, gid: int) -> None:
    """The files the program's real user owns read as the fake user's (PRoot's -0
    and -i, fakeroot): under -0 what veil's user made is root's.  Owners that
    ownership_policy remembered are written after this hook, so they win."""
    real_uid, real_gid = _os.geteuid(), _os.getegid()

    @policy.on_exit(*_STAT_OWNER)
    def own_files(call: Stop) -> Verdict:
        if call.result != 0:
            return None
        arg, uid_at, gid_at = _STAT_OWNER[call.name]
        buf = call.args[arg]
        if not buf:
            return None
        raw = call.read(buf + uid_at, 8)
        if int.from_bytes(raw[:4], "little") == real_uid:
            call.write(buf + uid_at, uid.to_bytes(4, "little"))
        if int.from_bytes(raw[4:], "little") == real_gid:
            call.write(buf + gid_at, gid.to_bytes(4, "little"))
        return None


def parse_ids(text: str) -> Tuple[int, int]:
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


# --- the ownership database (fakeroot's job) ------------------------------------

import json as _json
import os as _os


class OwnershipDB:
    """Owners, and device types faked by mknod, that the program set under a fake
    identity, keyed by (st_dev, st_ino); stat results show them.  Saved to and
    loaded from a JSON file so a second run sees the first run's chowns."""

    def __init__(self, path: Optional[str] = None):
        self.path = path
        self.entries: Dict[Tuple[int, int], Dict[str, int]] = {}
        if path and _os.path.exists(path):
            try:
                with open(path) as f:
                    for row in _json.load(f):
                        self.entries[(row["dev"], row["ino"])] = {
                            k: v for k, v in row.items() if k not in ("dev", "ino")}
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise SpecError("system", "ownership_db", f"unreadable ({e})", value=path) from None

    def save(self) -> None:
        if not self.path:
            return
        rows = [{"dev": d, "ino": i, **v} for (d, i), v in sorted(self.entries.items())]
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            _json.dump(rows, f)
        _os.replace(tmp, self.path)

    def chown(self, st: _os.stat_result, uid: int, gid: int) -> None:
        e = self.entries.setdefault((st.st_dev, st.st_ino), {})
        if uid != 0xFFFFFFFF:
            e["uid"] = uid
        if gid != 0xFFFFFFFF:
            e["gid"] = gid


def _target_stat(call: Stop, follow: bool) -> Optional[_os.stat_result]:
    """stat of what a chown-like call names, from the tracer (same file system view)."""
    AT_FDCWD_VALUE = -100
    name = call.name
    try:
        if name == "fchown":
            return _os.stat(f"/proc/{call.pid}/fd/{call.args.fd}")
        if name == "mknodat":
            dirfd, path = call.args.dirfd, call.args.path
        elif name == "fchownat":
            dirfd = call.args.dirfd
            path = call.args.path or ""
            at_flags = call.args[4]
            follow = not at_flags & 0x100  # AT_SYMLINK_NOFOLLOW
            if not path and at_flags & 0x1000:  # AT_EMPTY_PATH
                return _os.stat(f"/proc/{call.pid}/fd/{dirfd}")
        if name not in ("fchownat", "mknodat"):
            dirfd, path = AT_FDCWD_VALUE, call.args.path
        if not _os.path.isabs(path):
            base = f"/proc/{call.pid}/cwd" if dirfd == AT_FDCWD_VALUE else f"/proc/{call.pid}/fd/{dirfd}"
            path = _os.path.join(_os.readlink(base), path)
        return _os.stat(path) if follow else _os.lstat(path)
    except OSError:
        return None


def ownership_policy(db: OwnershipDB) -> Policy:
    """chown is remembered instead of done; stat results show what was remembered."""
    policy = Policy()

    @policy.on_enter("chown", "fchown", "lchown", "fchownat")
    def remember_chown(call: Stop) -> Verdict:
        st = _target_stat(call, follow=call.name != "lchown")
        if st is None:
            return Deny(_errno.ENOENT)
        owner = (2, 3) if call.name == "fchownat" else (1, 2)
        db.chown(st, call.args[owner[0]] & 0xFFFFFFFF, call.args[owner[1]] & 0xFFFFFFFF)
        return Emulate(0)

    pending: Dict[int, Tuple[int, int]] = {}  # tid -> (file type, rdev) of a faked mknod

    @policy.on_enter("mknod", "mknodat")
    def fake_device(call: Stop) -> Verdict:
        mode = call.args.mode
        kind = mode & 0o170000
        if kind not in (0o020000, 0o060000):  # character or block device
            return None
        pending[call.tid] = (kind, call.args.dev)
        return Rewrite(mode=0o100000 | (mode & 0o7777), dev=0)  # a regular file instead

    @policy.on_exit("mknod", "mknodat")
    def remember_device(call: Stop) -> Verdict:
        faked = pending.pop(call.tid, None)
        if faked is None or call.result != 0:
            return None
        st = _target_stat(call, follow=False)
        if st is not None:
            e = db.entries.setdefault((st.st_dev, st.st_ino), {})
            e["type"], e["rdev"] = faked
        return None

    @policy.on_exit("stat", "lstat", "fstat", "newfstatat")
    def show_owner(call: Stop) -> Verdict:
        if call.result != 0:
            return None
        buf = call.args[1] if call.name != "newfstatat" else call.args[2]
        raw = call.read(buf, 48)
        dev, ino = int.from_bytes(raw[0:8], "little"), int.from_bytes(raw[8:16], "little")
        e = db.entries.get((dev, ino))
        if e:
            if "uid" in e:
                call.write(buf + 28, e["uid"].to_bytes(4, "little"))
            if "gid" in e:
                call.write(buf + 32, e["gid"].to_bytes(4, "little"))
            if "type" in e:
                mode = int.from_bytes(raw[24:28], "little")
                call.write(buf + 24, ((mode & 0o7777) | e["type"]).to_bytes(4, "little"))
                call.write(buf + 40, e["rdev"].to_bytes(8, "little"))
        return None

    @policy.on_exit("statx")
    def show_owner_x(call: Stop) -> Verdict:
        if call.result != 0:
            return None
        buf = call.args[4]
        raw = call.read(buf, 144)
        ino = int.from_bytes(raw[32:40], "little")
        dev = _os.makedev(int.from_bytes(raw[136:140], "little"),
                          int.from_bytes(raw[140:144], "little"))
        e = db.entries.get((dev, ino))
        if e:
            if "uid" in e:
                call.write(buf + 20, e["uid"].to_bytes(4, "little"))
            if "gid" in e:
                call.write(buf + 24, e["gid"].to_bytes(4, "little"))
            if "type" in e:
                mode = int.from_bytes(raw[28:30], "little")
                call.write(buf + 28, ((mode & 0o7777) | e["type"]).to_bytes(2, "little"))
                call.write(buf + 128, _os.major(e["rdev"]).to_bytes(4, "little")
                           + _os.minor(e["rdev"]).to_bytes(4, "little"))
        return None
    return policy
