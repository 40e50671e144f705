"""Fake ids (``-0``, ``-i UID:GID``): credentials kept per thread, as the kernel
keeps them, that the id calls change and report.

The program starts with every uid the fake uid and every gid the fake gid.
setuid, setreuid, setresuid, setfsuid (and the gid calls, setgroups) follow the
kernel's rules as if the fake ids were real: a fake euid 0 may set anything, other
ids only what they hold, else EPERM.  get*id, getgroups, /proc/PID/status (Uid,
Gid, Groups) and /proc/PID/auxv and the auxiliary vector a new program gets
(AT_UID, AT_EUID, AT_GID, AT_EGID) report them; a new thread or process starts
with its creator's, exec sets the saved and fs ids from the effective ones.
Nothing changes the real credentials: the calls are answered by veil.
"""
from __future__ import annotations

import errno as _errno
import os

from .record import Record, replace

U32 = 0xFFFFFFFF
KEEP = U32  # an id argument of -1: leave it as it is
NGROUPS_MAX = 65536


class Creds(Record, frozen=False):
    """One thread's ids as the program sees them."""
    ruid: int
    euid: int
    suid: int
    fsuid: int
    rgid: int
    egid: int
    sgid: int
    fsgid: int
    groups: tuple[int, ...]
    # capabilities, all or none: permitted, effective, the effective file-system
    # ones (CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_MKNOD...: they also follow fsuid)
    cap_prm: bool = False
    cap_eff: bool = False
    cap_fs: bool = False
    keepcaps: bool = False  # prctl(PR_SET_KEEPCAPS)
    secure: bool = False  # AT_SECURE of the program: it was started with euid != ruid
    no_new_privs: bool = False  # set by the program itself (prctl)
    start: int = 0  # start time of the thread that owns the entry (tids are reused)

    def in_group(self, gid: int) -> bool:
        return gid == self.fsgid or gid in self.groups


def initial_creds(uid: int, gid: int) -> Creds:
    root = uid == 0
    return Creds(uid, uid, uid, uid, gid, gid, gid, gid, (gid,), root, root, root)


def _fix_caps(c: Creds, old: tuple[int, int, int, int]) -> None:
    """What a uid change does to the capabilities (capabilities(7), "Effect of
    user ID changes on capabilities")."""
    r, e, s, fs = old
    if 0 in (r, e, s) and 0 not in (c.ruid, c.euid, c.suid) and not c.keepcaps:
        c.cap_prm = c.cap_eff = c.cap_fs = False
    if e == 0 and c.euid != 0:
        c.cap_eff = c.cap_fs = False
    if e != 0 and c.euid == 0:
        c.cap_eff = c.cap_prm
    if fs == 0 and c.fsuid != 0:
        c.cap_fs = False
    if fs != 0 and c.fsuid == 0:
        c.cap_fs = c.cap_prm


def _set_triple(c: Creds, kind: str, r: int, e: int, s: int, privileged: bool) -> int:
    """setresuid/setresgid on c: 0 or -errno."""
    names = (("ruid", "euid", "suid", "fsuid") if kind == "uid"
             else ("rgid", "egid", "sgid", "fsgid"))
    held = tuple(getattr(c, n) for n in names[:3])
    new = (r, e, s)
    if not privileged and any(v != KEEP and v not in held for v in new):
        return -_errno.EPERM
    for name, v in zip(names[:3], new):
        if v != KEEP:
            setattr(c, name, v)
    setattr(c, names[3], getattr(c, names[1]))
    return 0


def change_ids(c: Creds, name: str, args) -> int:
    """Apply the id-changing call ``name`` with register ``args`` to ``c`` as the
    kernel would, with a fake euid 0 holding CAP_SETUID and CAP_SETGID: the call's
    return value (0, -errno, or the old fs id for setfsuid/setfsgid)."""
    old = (c.ruid, c.euid, c.suid, c.fsuid)
    ret = _change_ids(c, name, [x & U32 for x in args[:3]])
    if "uid" in name:
        _fix_caps(c, old)
    return ret


def _change_ids(c: Creds, name: str, a) -> int:
    privileged = c.cap_eff  # CAP_SETUID, CAP_SETGID
    kind = "gid" if "gid" in name else "uid"
    r_, e_, s_, fs_ = (("ruid", "euid", "suid", "fsuid") if kind == "uid"
                       else ("rgid", "egid", "sgid", "fsgid"))
    if name in ("setuid", "setgid"):
        v = a[0]
        if v == KEEP:
            return -_errno.EINVAL
        if privileged:
            return _set_triple(c, kind, v, v, v, True)
        if v not in (getattr(c, r_), getattr(c, s_)):
            return -_errno.EPERM
        setattr(c, e_, v)
        setattr(c, fs_, v)
        return 0
    if name in ("setreuid", "setregid"):
        r, e = a[0], a[1]
        old_r, old_e, old_s = getattr(c, r_), getattr(c, e_), getattr(c, s_)
        if not privileged and ((r != KEEP and r not in (old_r, old_e)) or
                               (e != KEEP and e not in (old_r, old_e, old_s))):
            return -_errno.EPERM
        new_e = old_e if e == KEEP else e
        s = new_e if r != KEEP or (e != KEEP and e != old_r) else KEEP
        return _set_triple(c, kind, r, e, s, True)
    if name in ("setresuid", "setresgid"):
        return _set_triple(c, kind, a[0], a[1], a[2], privileged)
    if name in ("setfsuid", "setfsgid"):
        old, v = getattr(c, fs_), a[0]
        held = (getattr(c, r_), getattr(c, e_), getattr(c, s_), old)
        if v != KEEP and (privileged or v in held):
            setattr(c, fs_, v)
        return old
    raise ValueError(name)


def exec_creds(c: Creds) -> None:
    """What execve does to the ids and capabilities of a program without set-id
    bits or file capabilities: root (real or effective) gets them all, others none;
    a program started with effective ids other than the real ones runs in secure
    mode (AT_SECURE: the dynamic loader ignores LD_PRELOAD and the like)."""
    c.secure = c.euid != c.ruid or c.egid != c.rgid
    c.suid = c.fsuid = c.euid
    c.sgid = c.fsgid = c.egid
    c.cap_prm = c.ruid == 0 or c.euid == 0
    c.cap_eff = c.cap_fs = c.euid == 0 and c.cap_prm
    c.keepcaps = False


def _stat_fields(pid: int) -> list:
    """/proc/PID/stat's fields after the command name (field 3 first)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rpartition(")")[2].split()


def start_time(tid: int) -> int:
    try:
        return int(_stat_fields(tid)[19])  # field 22
    except (OSError, IndexError, ValueError):
        return 0


def _ppid(pid: int) -> int:
    try:
        return int(_stat_fields(pid)[1])  # field 4
    except (OSError, IndexError, ValueError):
        return 0


class IdTable:
    """The fake credentials of every traced thread.  Threads not in the table
    have their creator's: a new thread or process is entered when its creator's
    clone returns; before that (or for the first process) the nearest traced
    ancestor's, or the initial ids."""

    def __init__(self, uid: int, gid: int):
        self.initial = initial_creds(uid, gid)
        self.threads: dict[int, Creds] = {}
        self.veil_pid = os.getpid()

    def of(self, tid: int, pid: int) -> Creds:
        c = self.threads.get(tid)
        if c is None and tid != pid:
            c = self.threads.get(pid)
        if c is not None:
            return c
        p = pid
        for _ in range(256):
            p = _ppid(p)
            if p <= 1 or p == self.veil_pid:
                break
            if p in self.threads:
                return self.threads[p]
        # no traced ancestor changed its ids: the first process, or one whose
        # creator is gone; kept, so that the walk is made once
        c = self.threads[pid] = replace(self.initial)
        return c

    def own(self, tid: int, pid: int) -> Creds:
        """The entry of this thread, made from what it has now if it had none."""
        c = self.threads.get(tid)
        if c is None:
            c = self.threads[tid] = replace(self.of(tid, pid), start=start_time(tid))
        return c

    def created(self, tid: int, pid: int, child: int) -> None:
        """Thread ``tid`` made ``child`` (clone, fork, vfork returned in the creator)."""
        start = start_time(child)
        known = self.threads.get(child)
        if known is not None and known.start == start:
            return  # the child changed its ids before its creator's clone returned
        self.threads[child] = replace(self.of(tid, pid), start=start)

    def is_traced(self, pid: int) -> bool:
        """Is the process a descendant of veil (a traced one, not a host process)?"""
        p = pid
        for _ in range(256):
            p = _ppid(p)
            if p == self.veil_pid:
                return True
            if p <= 1:
                return False
        return False


# --- what the program reads about itself --------------------------------------

AT_UID, AT_EUID, AT_GID, AT_EGID, AT_SECURE = 11, 12, 13, 14, 23
# CAP_CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID, LINUX_IMMUTABLE, MKNOD, MAC_OVERRIDE
CAP_FS_MASK = (0x1F | 1 << 9 | 1 << 27) | 1 << 32


def auxv_values(c: Creds) -> dict[int, int]:
    return {AT_UID: c.ruid, AT_EUID: c.euid, AT_GID: c.rgid, AT_EGID: c.egid,
            AT_SECURE: int(c.secure)}


def patched_auxv(raw: bytes, c: Creds) -> bytes:
    """An auxiliary vector (pairs of 8-byte words) with the fake ids."""
    out = bytearray(raw)
    values = auxv_values(c)
    for off in range(0, len(out) - 15, 16):
        key = int.from_bytes(out[off:off + 8], "little")
        if key == 0:
            break
        if key in values:
            out[off + 8:off + 16] = values[key].to_bytes(8, "little")
    return bytes(out)


def patched_status(text: str, c: Creds) -> str:
    """/proc/PID/status with the fake Uid, Gid and Groups lines."""
    import re  # (with enum) only when the program reads its status
    text = re.sub(r"(?m)^Uid:.*$", f"Uid:\t{c.ruid}\t{c.euid}\t{c.suid}\t{c.fsuid}", text)
    text = re.sub(r"(?m)^Gid:.*$", f"Gid:\t{c.rgid}\t{c.egid}\t{c.sgid}\t{c.fsgid}", text)
    text = re.sub(r"(?m)^Groups:.*$", "Groups:\t" + "".join(f"{g} " for g in c.groups), text)
    bounding = re.search(r"(?m)^CapBnd:\s*([0-9a-f]+)", text)
    every = int(bounding.group(1), 16) if bounding else 0
    text = re.sub(r"(?m)^CapPrm:.*$", f"CapPrm:\t{every if c.cap_prm else 0:016x}", text)
    eff = every if c.cap_eff else (every & CAP_FS_MASK if c.cap_fs else 0)
    return re.sub(r"(?m)^CapEff:.*$", f"CapEff:\t{eff:016x}", text)


def initial_stack_auxv(read, pid: int) -> int | None:
    """Address of the auxiliary vector on a new program's stack (argc, argv, NULL,
    envp, NULL, then auxv), found from /proc/PID/stat's startstack."""
    try:
        sp = int(_stat_fields(pid)[25])  # field 28: startstack, where argc is
    except (OSError, IndexError, ValueError):
        return None
    if not sp:
        return None
    argc = int.from_bytes(read(sp, 8), "little")
    at = sp + 8 + (argc + 1) * 8
    for _ in range(1 << 16):  # the environment's pointers, up to its NULL
        if int.from_bytes(read(at, 8), "little") == 0:
            return at + 8
        at += 8
    return None
