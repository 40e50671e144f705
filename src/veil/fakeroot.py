"""Fake ids and file ownership (fakeroot's job) as hooks: ``veil run -0`` and
``-i UID:GID``.  The ids a program sets are kept per thread; stat results show
the owners, modes and device types it set (``OwnershipDB``, which may be
saved between runs); opens, access checks and directory writes that need a
root the program is not are done for it; /proc/PID/status and auxv show the
fake ids.  veil.identity assembles these with the rest of the identity.
"""
from __future__ import annotations

import errno as _errno
import os as _os
import stat as _stat

from . import fakeids as _ids
from .record import replace as _replace
from .spec.checks import SpecError
from .verdicts import Deny, Emulate, Rewrite, Verdict

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .identity import NativeIdentity
    from .policy import Policy
    from .stop import Stop


def ids_tracked(uid: int, gid: int) -> bool:
    """Fake ids differ from veil's own: veil keeps them (when they are the same,
    root running -0, the kernel is right as it is)."""
    return _os.getresuid() != (uid,) * 3 or _os.getresgid() != (gid,) * 3


class OwnershipDB:
    """Owners, and device types faked by mknod, that the program set under a fake
    identity, keyed by (st_dev, st_ino); stat results show them.  Saved to and
    loaded from a JSON file so a second run sees the first run's chowns."""

    def __init__(self, path: str | None = None):
        self.path = path
        self.entries: dict[tuple[int, int], dict[str, Any]] = {}
        self.listeners: list[Callable[[tuple[int, int]], None]] = []  # told of each change
        if path and _os.path.exists(path):
            import json as _json  # only with a database: json's import is a start-up cost
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
        import json as _json
        with open(tmp, "w") as f:
            _json.dump(rows, f)
        _os.replace(tmp, self.path)

    def chown(self, st: _os.stat_result, uid: int, gid: int) -> None:
        e = self.entries.setdefault((st.st_dev, st.st_ino), {})
        if uid != 0xFFFFFFFF:
            e["uid"] = uid
        if gid != 0xFFFFFFFF:
            e["gid"] = gid
        self.changed((st.st_dev, st.st_ino))

    def changed(self, key: tuple[int, int]) -> None:
        """The entry of ``key`` changed (the listeners are told)."""
        for fn in self.listeners:
            fn(key)

    def owner(self, st: _os.stat_result, view: _Files) -> tuple[int, int]:
        """(uid, gid) the program sees for a file: what chown set, else the fake
        ids for the files of the user who runs veil, else the real owner."""
        e = self.entries.get((st.st_dev, st.st_ino), {})
        return (e.get("uid", view.uid if st.st_uid == view.real_uid else st.st_uid),
                e.get("gid", view.gid if st.st_gid == view.real_gid else st.st_gid))


# --- fake ids: the hooks --------------------------------------------------------



AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_EACCESS = 0x200
AT_EMPTY_PATH = 0x1000
O_WRONLY, O_RDWR, O_CREAT, O_TRUNC = 0o1, 0o2, 0o100, 0o1000
O_NOFOLLOW, O_PATH = 0o400000, 0o10000000
CAPS_XATTR = "security.capability"
# the stat buffer's argument, and where st_uid lies in it (st_gid follows), x86_64
_STAT_BUF = {"stat": (1, 28), "lstat": (1, 28), "fstat": (1, 28), "newfstatat": (2, 28),
             "statx": (4, 20)}
_PROC_VIEW = r"/proc/(self|thread-self|\d+)(?:/task/(\d+))?/(status|auxv)"
_CLONE_THREAD = 0x10000


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + 4], "little")


class _Kept(dict[tuple[int, int], tuple[int, int]]):
    """The ctimes to show of files veil chmod'ed for a moment; its listeners are
    told of every key added or removed."""

    def __init__(self) -> None:
        super().__init__()
        self.listeners: list[Callable[[tuple[int, int]], None]] = []

    def __setitem__(self, key: tuple[int, int], value: tuple[int, int]) -> None:
        super().__setitem__(key, value)
        for fn in self.listeners:
            fn(key)

    def __delitem__(self, key: tuple[int, int]) -> None:
        super().__delitem__(key)
        for fn in self.listeners:
            fn(key)

    def pop(self, key: tuple[int, int], *default: Any) -> Any:  # type: ignore[override]
        value = super().pop(key, *default)
        for fn in self.listeners:
            fn(key)
        return value


class _Files:
    """The files a call names: where they are on the host, who owns them."""

    def __init__(self, db: OwnershipDB, uid: int, gid: int, host_path: Callable[[str, bool], str]):
        self.db, self.uid, self.gid, self.host_path = db, uid, gid, host_path
        self.real_uid, self.real_gid = _os.geteuid(), _os.getegid()
        # (st_dev, st_ino) -> (ctime shown, ctime veil's own chmod left), in ns
        self.kept: _Kept = _Kept()

    def host(self, call: Stop, dirfd: int, path: str, follow: bool) -> str:
        """A guest path as veil can reach it: an absolute one through the layout,
        a relative one from the caller's own cwd or dirfd (/proc/TID/cwd/PATH:
        the kernel follows the link to the directory itself, in any mount
        namespace)."""
        if path.startswith("/"):
            return self.host_path(path, follow)
        base = f"/proc/{call.tid}/cwd" if dirfd == AT_FDCWD else f"/proc/{call.tid}/fd/{dirfd}"
        return f"{base}/{path}" if path else base

    def stat(self, call: Stop, dirfd: int, path: str | None, follow: bool) -> _os.stat_result:
        if path is None:
            raise FileNotFoundError(_errno.ENOENT, "empty path")
        if not path:  # the file of an fd (fchown, fsetxattr, AT_EMPTY_PATH)
            return _os.stat(f"/proc/{call.tid}/fd/{dirfd}")
        host = self.host(call, dirfd, path, follow)
        return _os.stat(host) if follow else _os.lstat(host)


def _named(call: Stop) -> tuple[int, str | None, bool]:
    """(dirfd, path, follow) of the file a call names: path "" is dirfd's own
    file (an fd call, AT_EMPTY_PATH), None an empty path the kernel refuses."""
    name, args = call.name, call.args
    if name in ("fchown", "fsetxattr", "fgetxattr", "fremovexattr", "flistxattr"):
        return args.fd, "", True
    path = args.path or None
    if name in ("fchownat", "faccessat2"):
        flags = args[4] if name == "fchownat" else args[3]
        if path is None and flags & AT_EMPTY_PATH:
            path = ""
        return args.dirfd, path, not flags & AT_SYMLINK_NOFOLLOW
    if name in ("mknodat", "faccessat", "openat", "openat2"):
        return args.dirfd, path, name != "mknodat"
    follow = name not in ("lchown", "mknod", "lsetxattr", "lgetxattr", "lremovexattr",
                          "llistxattr")
    return AT_FDCWD, path, follow


def fake_ids(policy: Policy, uid: int, gid: int, db: OwnershipDB,
              host_path: Callable[[str, bool], str], native: NativeIdentity | None) -> None:
    table = _ids.IdTable(uid, gid)
    files = _Files(db, uid, gid, host_path)
    tracking = ids_tracked(uid, gid)
    if tracking:
        _track_ids(policy, table, files, native)
    root_override = uid == 0 and files.real_uid != 0
    _owners(policy, table, files, root_override, native)
    if uid == 0 or any("caps" in e for e in db.entries.values()):
        _file_caps(policy, table, files)
    if tracking or root_override:
        _opens(policy, table, files, tracking, root_override, native)
    if root_override:
        _root_access(policy, table, files)
        _root_writes_entries(policy, table, files)


def _track_ids(policy: Policy, table: _ids.IdTable, files: _Files,
               native: NativeIdentity | None) -> None:
    """get*id report, set*id change, per thread; clone and exec pass them on.
    With ``native``, C answers get*id while every thread has the initial ids."""
    fields = {"getuid": "ruid", "geteuid": "euid", "getgid": "rgid", "getegid": "egid"}

    def ids_of(c: _ids.Creds) -> tuple[int, ...]:
        return (c.ruid, c.euid, c.suid, c.rgid, c.egid, c.sgid)

    initial = ids_of(table.initial)
    fixed = [native is not None]
    if native is not None:
        native.enter.update([*fields, "getresuid", "getresgid"])
        native.update(lambda eng: eng.identity_set_ids(initial))

    def changed(c: _ids.Creds) -> None:
        if fixed[0] and ids_of(c) != initial:
            fixed[0] = False  # per thread from now on: Python's table answers
            native.update(lambda eng: eng.identity_set_ids(None))

    @policy.on_enter(*fields)
    def report_id(call: Stop) -> Verdict:
        return Emulate(getattr(table.of(call.tid, call.pid), fields[call.name]))

    @policy.on_enter("getresuid", "getresgid")
    def report_triple(call: Stop) -> Verdict:
        c = table.of(call.tid, call.pid)
        values = (c.ruid, c.euid, c.suid) if call.name == "getresuid" else (c.rgid, c.egid, c.sgid)
        try:
            for ptr, value in zip(call.args[:3], values):
                call.write(ptr, value.to_bytes(4, "little"))
        except OSError:
            return Deny(_errno.EFAULT)
        return Emulate(0)

    @policy.on_enter("getgroups")
    def report_groups(call: Stop) -> Verdict:
        groups = table.of(call.tid, call.pid).groups
        size = call.args.size
        if size == 0:
            return Emulate(len(groups))
        if size < len(groups):
            return Deny(_errno.EINVAL)
        try:
            call.write(call.args[1], b"".join(g.to_bytes(4, "little") for g in groups))
        except OSError:
            return Deny(_errno.EFAULT)
        return Emulate(len(groups))

    @policy.on_enter("setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
                     "setfsuid", "setfsgid")
    def change_ids(call: Stop) -> Verdict:
        c = table.own(call.tid, call.pid)
        result = _ids.change_ids(c, call.name, call.args)
        changed(c)
        return Emulate(result)

    @policy.on_enter("setgroups")
    def change_groups(call: Stop) -> Verdict:
        c = table.own(call.tid, call.pid)
        size = call.args[0] & 0xFFFFFFFF
        if not c.cap_eff:  # CAP_SETGID
            return Deny(_errno.EPERM)
        if size > _ids.NGROUPS_MAX:
            return Deny(_errno.EINVAL)
        try:
            raw = call.read(call.args[1], 4 * size) if size else b""
        except OSError:
            return Deny(_errno.EFAULT)
        c.groups = tuple(sorted(_u32(raw, i) for i in range(0, len(raw), 4)))
        return Emulate(0)

    @policy.on_enter("capget", "capset")
    def capabilities(call: Stop) -> Verdict:
        """The fake capabilities, all or none (a fake root has them all, which
        setcap and setpriv check); capset may drop them, not gain any."""
        try:
            version, pid = (_u32(call.read(call.args[0], 8), i) for i in (0, 4))
        except OSError:
            return Deny(_errno.EFAULT)
        if version not in (0x20071026, 0x20080522) or pid not in (0, call.pid, call.tid):
            return None  # the kernel's answer (its version, EINVAL; other processes)
        c = table.of(call.tid, call.pid)
        every = _bounding_set(call.pid)
        if call.name == "capget":
            if call.args[1]:
                eff = every if c.cap_eff else every & _ids.CAP_FS_MASK if c.cap_fs else 0
                prm = every if c.cap_prm else 0
                call.write(call.args[1], b"".join(
                    (eff >> shift & _ids.U32).to_bytes(4, "little")
                    + (prm >> shift & _ids.U32).to_bytes(4, "little") + bytes(4)
                    for shift in (0, 32)))
            return Emulate(0)
        try:
            raw = call.read(call.args[1], 24)
        except OSError:
            return Deny(_errno.EFAULT)
        eff, prm = (_u32(raw, at) | _u32(raw, at + 12) << 32 for at in (0, 4))
        if (prm and not c.cap_prm) or eff & ~prm:
            return Deny(_errno.EPERM)
        c = table.own(call.tid, call.pid)
        c.cap_prm, c.cap_eff, c.cap_fs = bool(prm), bool(eff & ~_ids.CAP_FS_MASK), \
            bool(eff & _ids.CAP_FS_MASK)
        return Emulate(0)

    @policy.on_enter("prctl")
    def keep_capabilities(call: Stop) -> Verdict:
        if call.args[0] == 7:  # PR_GET_KEEPCAPS
            return Emulate(int(table.of(call.tid, call.pid).keepcaps))
        if call.args[0] == 38 and call.args[1] == 1:  # PR_SET_NO_NEW_PRIVS (the kernel's too)
            table.own(call.tid, call.pid).no_new_privs = True
        if call.args[0] == 39:  # PR_GET_NO_NEW_PRIVS: the program's, not veil's
            return Emulate(int(table.of(call.tid, call.pid).no_new_privs))
        if call.args[0] == 8:  # PR_SET_KEEPCAPS
            if call.args[1] > 1:
                return Deny(_errno.EINVAL)
            table.own(call.tid, call.pid).keepcaps = bool(call.args[1])
            return Emulate(0)
        return None

    @policy.on_exit("clone", "clone3", "fork", "vfork")
    def pass_on(call: Stop) -> Verdict:
        if call.result is not None and call.result > 0:
            table.created(call.tid, call.pid, call.result)
        return None

    @policy.on_exit("execve", "execveat")
    def new_program(call: Stop) -> Verdict:
        if call.result != 0:
            return None
        c = table.of(call.tid, call.pid)
        after = _replace(c)
        _set_id_bits(call.pid, after, files)
        _ids.exec_creds(after)
        if after.secure and _started_by_loader(call.pid):
            # glibc's loader run as a command cannot drop LD_PRELOAD and the like
            # from the stack in secure mode (an assertion in _dl_start_args_adjust)
            after.secure = False
        if after != c:
            c = table.threads[call.tid] = _replace(
                after, start=_ids.start_time(call.tid))
            changed(c)
        _write_stack_auxv(call, c)
        return None


def _set_id_bits(pid: int, c: _ids.Creds, files: _Files) -> None:
    """A set-user-ID or set-group-ID program runs with its owner's ids as the
    program sees them (not on a nosuid mount, nor under the program's own
    no_new_privs: veil's, which its seccomp filter needs, is not the program's)."""
    try:
        st = _os.stat(f"/proc/{pid}/exe")
        if (c.no_new_privs or not st.st_mode & (_stat.S_ISUID | _stat.S_ISGID) or
                _os.statvfs(f"/proc/{pid}/exe").f_flag & _os.ST_NOSUID):
            return
    except OSError:
        return
    uid, gid = files.db.owner(st, files)
    if st.st_mode & _stat.S_ISUID:
        c.euid = uid
    if st.st_mode & _stat.S_ISGID and st.st_mode & 0o010:  # S_ISGID without g+x: locking
        c.egid = gid


def _started_by_loader(pid: int) -> bool:
    """Is the new program the dynamic loader itself (a layout starts programs
    through it)?"""
    try:
        return _os.path.basename(_os.readlink(f"/proc/{pid}/exe")).startswith("ld-")
    except OSError:
        return False


def _bounding_set(pid: int) -> int:
    """The capabilities a process may ever hold: all that a root one has."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _write_stack_auxv(call: Stop, c: _ids.Creds) -> None:
    """AT_UID, AT_EUID, AT_GID and AT_EGID on the new program's stack (what
    getauxval and the dynamic loader read) say the fake ids."""
    try:
        at = _ids.initial_stack_auxv(call.read, call.pid)
        values = _ids.auxv_values(c)
        while at:
            pair = call.read(at, 16)
            key = int.from_bytes(pair[:8], "little")
            if key == 0:
                break
            if key in values:
                call.write(at + 8, values[key].to_bytes(8, "little"))
            at += 16
    except OSError:
        pass  # the process is gone


def _owners(policy: Policy, table: _ids.IdTable, files: _Files, root_override: bool,
            native: NativeIdentity | None) -> None:
    """chown is remembered, not done, where the fake ids may do it (EPERM
    elsewhere, as the kernel's rules say); a device mknod makes a regular file
    that stat shows as the device; stat results show the owners the program
    sees (fakeroot's ownership database, PRoot's -0/-i for the user's files).
    With ``native``, C patches stat results from a copy of the database and
    hands Python only its own cases (a ctime kept, a stat done again as root)."""
    db = files.db
    if native is not None:
        _native_owners(native, files, root_override)

    @policy.on_enter("chown", "fchown", "lchown", "fchownat")
    def remember_chown(call: Stop) -> Verdict:
        try:
            st = files.stat(call, *_named(call))
        except OSError as e:
            return Deny(e.errno or _errno.ENOENT)
        at = 2 if call.name == "fchownat" else 1
        uid, gid = call.args[at] & _ids.U32, call.args[at + 1] & _ids.U32
        c = table.of(call.tid, call.pid)
        if not c.cap_fs:  # no CAP_CHOWN: the owner may only change the group to its own
            owner_uid, owner_gid = db.owner(st, files)
            if ((uid != _ids.KEEP and uid != owner_uid) or
                    (gid != _ids.KEEP and (owner_uid != c.fsuid or
                                           (gid != owner_gid and not c.in_group(gid))))):
                return Deny(_errno.EPERM)
        db.chown(st, uid, gid)
        return Emulate(0)

    pending: dict[int, tuple[int, int]] = {}  # tid -> (file type, rdev) of a faked mknod

    @policy.on_enter("mknod", "mknodat")
    def fake_device(call: Stop) -> Verdict:
        mode = call.args.mode
        kind = mode & 0o170000
        if kind not in (0o020000, 0o060000):  # character or block device
            return None
        if not table.of(call.tid, call.pid).cap_fs:
            return Deny(_errno.EPERM)  # no CAP_MKNOD (even when veil's real user is root)
        pending[call.tid] = (kind, call.args.dev)
        return Rewrite(mode=0o100000 | (mode & 0o7777), dev=0)  # a regular file instead

    @policy.on_exit("mknod", "mknodat")
    def remember_device(call: Stop) -> Verdict:
        faked = pending.pop(call.tid, None)
        if faked is None or call.result != 0:
            return None
        try:
            st = files.stat(call, *_named(call))
        except OSError:
            return None
        e = db.entries.setdefault((st.st_dev, st.st_ino), {})
        e["type"], e["rdev"] = faked
        db.changed((st.st_dev, st.st_ino))
        return None

    @policy.on_exit(*_STAT_BUF)
    def show_owner(call: Stop) -> Verdict:
        """(With ``native``: only the stops identity.c hands over.)"""
        verdict = None
        if (call.result == -_errno.EACCES and root_override and
                table.of(call.tid, call.pid).cap_fs and _stat_as_root(call, files)):
            verdict = Emulate(0)  # what root would have got
        elif call.result != 0:
            return None
        arg, uid_at = _STAT_BUF[call.name]
        buf = call.args[arg]
        if not buf:
            return None
        if call.name == "statx":
            raw = call.read(buf, 144)
            dev = _os.makedev(_u32(raw, 136), _u32(raw, 140))
            key = (dev, int.from_bytes(raw[32:40], "little"))
        else:
            raw = call.read(buf, 120)
            key = (int.from_bytes(raw[0:8], "little"), int.from_bytes(raw[8:16], "little"))
        if key in files.kept:
            _keep_ctime(call, buf, raw, key, files.kept)
        uid, gid = _u32(raw, uid_at), _u32(raw, uid_at + 4)
        e = db.entries.get(key, {})
        shown = (e.get("uid", files.uid if uid == files.real_uid else uid),
                 e.get("gid", files.gid if gid == files.real_gid else gid))
        if shown != (uid, gid):
            call.write(buf + uid_at, b"".join(v.to_bytes(4, "little") for v in shown))
        if "type" in e:
            if call.name == "statx":
                mode = int.from_bytes(raw[28:30], "little")
                call.write(buf + 28, ((mode & 0o7777) | e["type"]).to_bytes(2, "little"))
                call.write(buf + 128, _os.major(e["rdev"]).to_bytes(4, "little")
                           + _os.minor(e["rdev"]).to_bytes(4, "little"))
            else:
                mode = _u32(raw, 24)
                call.write(buf + 24, ((mode & 0o7777) | e["type"]).to_bytes(4, "little"))
                call.write(buf + 40, e["rdev"].to_bytes(8, "little"))
        return verdict

    if native is not None:
        native.on_request.append(show_owner)


def _native_owners(native: NativeIdentity, files: _Files, root_override: bool) -> None:
    """The database's rows, and the files whose ctime veil keeps, copied to C as
    they change; the stat family's results patched there."""
    db = files.db
    native.exit.update(_STAT_BUF)

    def push(eng: Any, key: tuple[int, int]) -> None:
        e = db.entries.get(key, {})
        eng.identity_set_owner(*key, e.get("uid", -1), e.get("gid", -1), e.get("type", 0),
                               e.get("rdev", 0), key in files.kept)

    def setup(eng: Any) -> None:
        eng.identity_set_owners((files.real_uid, files.real_gid), (files.uid, files.gid),
                                root_override)
        for key in list(db.entries) + list(files.kept):
            push(eng, key)

    def changed(key: tuple[int, int]) -> None:
        if native.engine is not None:
            push(native.engine, key)

    native.setups.append(setup)
    db.listeners.append(changed)
    files.kept.listeners.append(changed)


def _keep_ctime(call: Stop, buf: int, raw: bytes, key: tuple[int, int],
                kept: dict[tuple[int, int], tuple[int, int]]) -> None:
    """A file whose mode veil opened up for a moment shows its ctime from before."""
    if call.name == "statx" and not _u32(raw, 0) & 0x80:  # no STATX_CTIME in stx_mask
        return
    at = 96 if call.name == "statx" else 104  # stx_ctime, st_ctime (seconds, then ns)
    real = (int.from_bytes(raw[at:at + 8], "little", signed=True) * 10**9
            + _u32(raw, at + 8))
    shown, left = kept[key]
    if real != left:
        del kept[key]  # changed since: the real ctime is right
        return
    call.write(buf + at, (shown // 10**9).to_bytes(8, "little", signed=True))
    call.write(buf + at + 8, (shown % 10**9).to_bytes(4, "little"))


def _file_caps(policy: Policy, table: _ids.IdTable, files: _Files) -> None:
    """security.capability (setcap) set by a fake root is remembered with the
    owners, and read back from there (getcap); without a fake euid 0: EPERM."""
    db = files.db

    def entry(call: Stop, make: bool = False) -> dict[str, Any] | None:
        try:
            st = files.stat(call, *_named(call))
        except OSError:
            return None
        key = (st.st_dev, st.st_ino)
        return db.entries.setdefault(key, {}) if make else db.entries.get(key)

    def remembered(call: Stop) -> dict[str, Any] | None:
        """The entry of a file whose capabilities veil keeps (None: the kernel answers)."""
        if call.args.name != CAPS_XATTR:
            return None
        e = entry(call)
        return e if e is not None and "caps" in e else None

    @policy.on_enter("setxattr", "lsetxattr", "fsetxattr")
    def set_caps(call: Stop) -> Verdict:
        if call.args.name != CAPS_XATTR:
            return None
        if not table.of(call.tid, call.pid).cap_eff:  # CAP_SETFCAP
            return Deny(_errno.EPERM)
        e = entry(call, make=True)
        if e is None:
            return None  # the kernel's own error
        flags = call.args.flags
        if flags & 1 and "caps" in e:  # XATTR_CREATE
            return Deny(_errno.EEXIST)
        if flags & 2 and "caps" not in e:  # XATTR_REPLACE
            return Deny(_errno.ENODATA)
        try:
            e["caps"] = call.read(call.args.value, call.args.size).hex()
        except OSError:
            return Deny(_errno.EFAULT)
        return Emulate(0)

    @policy.on_enter("getxattr", "lgetxattr", "fgetxattr")
    def get_caps(call: Stop) -> Verdict:
        e = remembered(call)
        if e is None:
            return None
        value = bytes.fromhex(e["caps"])
        size = call.args.size
        if size and size < len(value):
            return Deny(_errno.ERANGE)
        if size:
            try:
                call.write(call.args.value, value)
            except OSError:
                return Deny(_errno.EFAULT)
        return Emulate(len(value))

    @policy.on_exit("listxattr", "llistxattr", "flistxattr")
    def list_caps(call: Stop) -> Verdict:
        """The names of a file's xattrs include the capabilities veil keeps."""
        if call.result is None or call.result < 0:
            return None
        e = entry(call)
        if e is None or "caps" not in e:
            return None
        name = CAPS_XATTR.encode() + b"\0"
        size, listed = call.args[2], call.result
        if size and listed:
            if CAPS_XATTR.encode() in call.read(call.args[1], listed).split(b"\0"):
                return None
        if size and listed + len(name) > size:
            return Emulate(-_errno.ERANGE)
        if size:
            call.write(call.args[1] + listed, name)
        return Emulate(listed + len(name))

    @policy.on_enter("removexattr", "lremovexattr", "fremovexattr")
    def remove_caps(call: Stop) -> Verdict:
        e = remembered(call)
        if e is None:
            return None
        if not table.of(call.tid, call.pid).cap_eff:  # CAP_SETFCAP
            return Deny(_errno.EPERM)
        del e["caps"]
        return Emulate(0)


def _opens(policy: Policy, table: _ids.IdTable, files: _Files, tracking: bool,
           root_override: bool, native: NativeIdentity | None) -> None:
    """Opens of /proc/PID/status and /proc/PID/auxv get the fake ids; under a
    fake root, an open (or chdir) the user's own modes refuse works as root's would:
    the modes of the user's own files and directories that stand in the way get
    the owner's bits for as long as the open takes (restored at its exit).  With
    ``native``, C hands Python only those opens (/proc/..., refused by the modes)."""
    workdir: list[str] = []
    proc_is_host: list[bool] = []
    opened: dict[int, Granted] = {}  # tid -> what to put back at the open's exit

    def serve_proc(call: Stop, path: str) -> Verdict:
        import re  # (with enum) only when the program opens a /proc status or auxv
        m = re.fullmatch(_PROC_VIEW, _os.path.normpath(path))
        if m is None:
            return None
        if not proc_is_host:  # is the guest's /proc the host's (a layout may not bind it)?
            try:
                proc_is_host.append(files.host_path("/proc", True) == "/proc")
            except OSError:
                proc_is_host.append(False)
        who, task, what = m.groups()
        if not proc_is_host[0] or (who == "thread-self" and task):
            return None
        pid = call.pid if who in ("self", "thread-self") else int(who)
        tid = call.tid if who == "thread-self" else int(task) if task else pid
        if pid != call.pid and not table.is_traced(pid):
            return None
        try:
            with open(f"/proc/{pid}/task/{tid}/{what}", "rb") as f:
                real = f.read()
        except OSError:
            return None
        c = table.of(tid, pid)
        data = (_ids.patched_auxv(real, c) if what == "auxv"
                else _ids.patched_status(real.decode(), c).encode())
        if not workdir:
            from .scratch import private_dir
            workdir.append(private_dir("veil-ids-"))
        served = _os.path.join(workdir[0], f"{what}-{call.tid}")
        with open(served + ".new", "wb") as f:
            f.write(data)
        _os.replace(served + ".new", served)
        return Rewrite(path=served)

    def open_up(call: Stop, dirfd: int, path: str, flags: int) -> None:
        if not table.of(call.tid, call.pid).cap_fs:  # CAP_DAC_OVERRIDE
            return
        need = {0: _os.R_OK, O_WRONLY: _os.W_OK, O_RDWR: _os.R_OK | _os.W_OK}.get(flags & 3, 0)
        if flags & O_TRUNC:
            need |= _os.W_OK
        if flags & O_PATH:
            need = 0
        try:
            host = files.host(call, dirfd, path, not flags & O_NOFOLLOW)
        except OSError:
            return
        if _os.access(host, need or _os.F_OK) or not _os.path.isabs(host):
            return
        changed = _search_granted(host, files.real_uid)
        if _os.path.lexists(host):
            bits = (0o400 if need & _os.R_OK else 0) | (0o200 if need & _os.W_OK else 0)
            if bits:
                _grant(_os.path.realpath(host), bits, files.real_uid, changed)
        elif flags & O_CREAT:
            _grant(_os.path.realpath(_os.path.dirname(host)), 0o300, files.real_uid, changed)
        if changed:
            opened[call.tid] = changed

    @policy.on_enter("open", "openat", "openat2")
    def open_hook(call: Stop) -> Verdict:
        path = call.args.path
        if path is None:
            return None
        if tracking and path.startswith("/proc/"):
            served = serve_proc(call, path)
            if served is not None:
                return served
        if root_override:
            if call.name == "openat2":
                try:
                    flags = int.from_bytes(call.read(call.args[2], 8), "little")
                except OSError:
                    return None
            else:
                flags = call.args[1] if call.name == "open" else call.args[2]
            dirfd = AT_FDCWD if call.name == "open" else call.args.dirfd
            open_up(call, dirfd, path, flags)
        return None

    if native is not None:
        native.enter.update(["open", "openat", "openat2"])
        native.on_request.append(open_hook)
        native.update(lambda eng: eng.identity_open_asks(tracking, root_override))

    if root_override:
        @policy.on_enter("chdir")
        def search_up(call: Stop) -> Verdict:
            """chdir into the user's own directory without x, as root may."""
            path = call.args.path
            if not path or not table.of(call.tid, call.pid).cap_fs:
                return None
            try:
                host = files.host(call, AT_FDCWD, path, True)
            except OSError:
                return None
            if _os.access(host, _os.X_OK):
                return None
            changed = _search_granted(host, files.real_uid)
            _grant(_os.path.realpath(host), 0o100, files.real_uid, changed)
            if changed:
                opened[call.tid] = changed
            return None

        @policy.on_exit("open", "openat", "openat2", "chdir")
        def close_up(call: Stop) -> Verdict:
            _put_back(opened.pop(call.tid, []), files.kept)
            return None

        if native is not None:
            native.on_request.append(close_up)


Granted = list[tuple[str, int, int]]  # (path, mode to put back, its ctime before, ns)


def _grant(path: str, bits: int, real_uid: int, changed: Granted) -> None:
    """Add the owner's ``bits`` to the mode of ``path`` if the user who runs veil
    owns it and they are missing; what was changed is added to ``changed``."""
    if path.startswith(("/proc/", "/sys/", "/dev/")):
        return
    try:
        st = _os.stat(path)
        mode = _stat.S_IMODE(st.st_mode)
        if st.st_uid == real_uid and mode & bits != bits:
            _os.chmod(path, mode | bits)
            changed.append((path, mode, st.st_ctime_ns))
    except OSError:
        pass


def _search_granted(host: str, real_uid: int) -> Granted:
    """Search (x) on the user's own directories on the way to ``host``, as
    root could search them: the (path, mode) pairs to put back."""
    changed: Granted = []
    parts = _os.path.realpath(_os.path.dirname(host)).strip("/").split("/")
    for i in range(1, len(parts) + 1):
        _grant("/" + "/".join(parts[:i]), 0o100, real_uid, changed)
    return changed


def _put_back(changed: Granted, kept: dict[tuple[int, int], tuple[int, int]],
              modified: tuple[str, ...] = ()) -> None:
    """The modes as they were; stat keeps showing the ctime from before (in
    ``kept``) until something else changes the file, unless it was ``modified``
    meanwhile (a directory an entry was made in: its new ctime is right)."""
    for path, mode, ctime_ns in reversed(changed):
        try:
            _os.chmod(path, mode)
            st = _os.stat(path)
            key = (st.st_dev, st.st_ino)
            if path in modified:
                kept.pop(key, None)
                continue
            before = kept.get(key)  # opened up before too: the first ctime stays
            shown = before[0] if before and before[1] == ctime_ns else ctime_ns
            kept[key] = (shown, st.st_ctime_ns)
        except OSError:
            pass


def _stat_as_root(call: Stop, files: _Files) -> bool:
    """A stat-family call that failed with EACCES on the way to its file, done
    again by veil as root could (search granted on the user's own directories
    for that moment), the result written to the caller's buffer: True if done."""
    import ctypes
    name, a = call.name, call.args
    if name == "statx":
        dirfd, flags, buf, size = a.dirfd, a[2], a[4], 256
    elif name == "newfstatat":
        dirfd, flags, buf, size = a.dirfd, a[3], a[2], 144
    else:
        dirfd, flags, buf, size = AT_FDCWD, AT_SYMLINK_NOFOLLOW if name == "lstat" else 0, a[1], 144
    path = a.path
    if not path or not buf:
        return False
    try:
        host = files.host(call, dirfd, path, not flags & AT_SYMLINK_NOFOLLOW)
    except OSError:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    out = ctypes.create_string_buffer(size)
    flags &= 0xFFFFFFFF & ~AT_EMPTY_PATH
    changed = _search_granted(host, files.real_uid)
    try:
        if name == "statx":
            rc = libc.syscall(ctypes.c_long(332), ctypes.c_long(AT_FDCWD), _os.fsencode(host),
                              ctypes.c_long(flags), ctypes.c_long(a[3] & 0xFFFFFFFF), out)
        else:
            rc = libc.syscall(ctypes.c_long(262), ctypes.c_long(AT_FDCWD), _os.fsencode(host),
                              out, ctypes.c_long(flags))
    finally:
        _put_back(changed, files.kept)
    if rc != 0:
        return False
    try:
        call.write(buf, out.raw)
    except OSError:
        return False
    return True


# calls that make or remove directory entries: (dirfd, path) argument indexes of
# the names they change (dirfd None: AT_FDCWD), and of a name they only read
_ENTRY_CALLS = {
    "mkdir": ([(None, 0)], None), "mkdirat": ([(0, 1)], None), "rmdir": ([(None, 0)], None),
    "unlink": ([(None, 0)], None), "unlinkat": ([(0, 1)], None),
    "rename": ([(None, 0), (None, 1)], None), "renameat": ([(0, 1), (2, 3)], None),
    "renameat2": ([(0, 1), (2, 3)], None), "symlink": ([(None, 1)], None),
    "symlinkat": ([(1, 2)], None), "link": ([(None, 1)], (None, 0)),
    "linkat": ([(2, 3)], (0, 1)),
}


def _umask_of(tid: int) -> int:
    with open(f"/proc/{tid}/status") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022


def _root_writes_entries(policy: Policy, table: _ids.IdTable, files: _Files) -> None:
    """A fake root may make and remove entries in the user's own directories
    whatever their modes, as root may: a call the modes refused (EACCES) is done
    by veil itself with the owner's bits granted for that moment, and returns
    what it returned to veil."""
    @policy.on_exit(*_ENTRY_CALLS)
    def write_entries_as_root(call: Stop) -> Verdict:
        if call.result != -_errno.EACCES or not table.of(call.tid, call.pid).cap_fs:
            return None
        changes, reads = _ENTRY_CALLS[call.name]
        a = call.args

        def host(where: tuple[int | None, int], follow: bool = False) -> str:
            dirfd = AT_FDCWD if where[0] is None else _signed32(a[where[0]])
            path = _os.fsdecode(call.read_string(a[where[1]]))
            if not path:
                raise FileNotFoundError(_errno.ENOENT, "empty path")
            return files.host(call, dirfd, path, follow)

        try:
            targets = [host(w) for w in changes]
            source = host(reads) if reads is not None else None
        except OSError:
            return None
        parents = tuple(_os.path.realpath(_os.path.dirname(t)) for t in targets)
        changed: Granted = []
        for t in targets + ([source] if source else []):
            changed += _search_granted(t, files.real_uid)
        for parent in parents:
            _grant(parent, 0o300, files.real_uid, changed)
        try:
            _do_entry_call(call, targets, source)
            result = 0
        except OSError as e:
            result = -(e.errno or _errno.EACCES)
        finally:
            _put_back(changed, files.kept, parents)
        return Emulate(result)


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


def _do_entry_call(call: Stop, targets: list[str], source: str | None) -> None:
    """The call, made by veil on host paths (raises OSError as the call fails)."""
    name, a = call.name, call.args
    if name in ("mkdir", "mkdirat"):
        mode = a[1] if name == "mkdir" else a[2]
        _os.mkdir(targets[0], mode & 0o7777 & ~_umask_of(call.tid))
    elif name == "rmdir" or (name == "unlinkat" and a[2] & 0x200):  # AT_REMOVEDIR
        _os.rmdir(targets[0])
    elif name in ("unlink", "unlinkat"):
        _os.unlink(targets[0])
    elif name in ("rename", "renameat", "renameat2"):
        flags = a[4] if name == "renameat2" else 0
        if flags & ~1:  # RENAME_EXCHANGE, RENAME_WHITEOUT: not done for the program
            raise PermissionError(_errno.EACCES, "")
        if flags and _os.path.lexists(targets[1]):  # RENAME_NOREPLACE
            raise FileExistsError(_errno.EEXIST, "")
        _os.rename(targets[0], targets[1])
    elif name in ("symlink", "symlinkat"):
        _os.symlink(_os.fsdecode(call.read_string(a[0])), targets[0])
    else:  # link, linkat (AT_SYMLINK_FOLLOW)
        follow = name == "linkat" and bool(a[4] & 0x400)
        _os.link(source, targets[0], follow_symlinks=follow)


def _root_access(policy: Policy, table: _ids.IdTable, files: _Files) -> None:
    """access(2) as root's: every file may be read and written (EROFS on a
    read-only mount), and run if any execute bit is set (PRoot's override)."""
    @policy.on_enter("access", "faccessat", "faccessat2")
    def root_access(call: Stop) -> Verdict:
        c = table.of(call.tid, call.pid)
        flags = call.args[3] if call.name == "faccessat2" else 0
        # access checks with the real uid, and root's capabilities only if it is 0
        if not (c.cap_fs if flags & AT_EACCESS else c.ruid == 0 and c.cap_prm):
            return None
        dirfd, path, follow = _named(call)
        if not path:
            return None
        try:
            host = files.host(call, dirfd, path, follow)
            st = _os.stat(host) if follow else _os.lstat(host)
        except OSError:
            return None  # the kernel's own answer (ENOENT, ENOTDIR, EACCES on the way)
        mode = call.args.mode & 7
        if mode & _os.W_OK and _os.statvfs(host).f_flag & _os.ST_RDONLY:
            return Deny(_errno.EROFS)
        if mode & _os.X_OK and _stat.S_ISREG(st.st_mode) and not st.st_mode & 0o111:
            return Deny(_errno.EACCES)
        return Emulate(0)
