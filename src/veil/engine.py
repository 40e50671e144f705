"""Thin Python face of the C accelerator (csrc/, built as veil._veil_c).

Turns negative errno returns into OSError and keeps cffi types out of the
rest of the code.  Policy lives above this module, in the Session.
"""
from __future__ import annotations

import os

from . import engine_features as API
from ._veil_c import ffi, lib
from .valueclass import ValueClass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

F_STOP = lib.VEIL_F_STOP
F_EXIT = lib.VEIL_F_EXIT
F_RECORD = lib.VEIL_F_RECORD
F_PY_ENTER = lib.VEIL_F_PY_ENTER
F_PY_EXIT = lib.VEIL_F_PY_EXIT
F_DENY = lib.VEIL_F_DENY
F_KILL = lib.VEIL_F_KILL
F_PATHS = lib.VEIL_F_PATHS
F_MUTATES = lib.VEIL_F_MUTATES
F_TRANSLATE = lib.VEIL_F_TRANSLATE
F_NEWFD = lib.VEIL_F_NEWFD
F_TARGETS = lib.VEIL_F_TARGETS
F_FDS_IN = lib.VEIL_F_FDS_IN
F_IDENTITY = lib.VEIL_F_IDENTITY
F_ID_ASKS = lib.VEIL_F_ID_ASKS
UTS_FIELDS = ("sysname", "nodename", "release", "version", "machine", "domainname")
F_GUEST = lib.VEIL_F_GUEST

PATH_GLOB = lib.VEIL_PATH_GLOB           # path rules (add_path_rule): how a pattern matches
PATH_PREFIX = lib.VEIL_PATH_PREFIX
PATH_EXACT = lib.VEIL_PATH_EXACT
PATH_WRITES = lib.VEIL_PATH_WRITES       # ... and what it applies to
PATH_EXISTING = lib.VEIL_PATH_EXISTING

L_PATHS = lib.VEIL_L_PATHS
L_EXEC = lib.VEIL_L_EXEC
L_GETCWD = lib.VEIL_L_GETCWD
L_READLINK = lib.VEIL_L_READLINK
L_CHROOT = lib.VEIL_L_CHROOT
L_SOCK_IN = lib.VEIL_L_SOCK_IN
L_SOCK_OUT = lib.VEIL_L_SOCK_OUT
L_MSG_IN = lib.VEIL_L_MSG_IN
L_MSG_OUT = lib.VEIL_L_MSG_OUT
L_MEMGUARD = lib.VEIL_L_MEMGUARD
L_CREDS = lib.VEIL_L_CREDS
SCRATCH_BASE = lib.VEIL_SCRATCH_BASE   # veil's read-only scratch area in each tracee
SCRATCH_SIZE = lib.VEIL_SCRATCH_SIZE

EV_NONE = lib.VEIL_EV_NONE
EV_DRAIN = lib.VEIL_EV_DRAIN
EV_ENTER = lib.VEIL_EV_ENTER
EV_EXIT = lib.VEIL_EV_EXIT
EV_INTERRUPTED = lib.VEIL_EV_INTERRUPTED
EV_GUEST = lib.VEIL_EV_GUEST

# VEIL_EV_GUEST: what stopped a thread a guest tracer traces (event.nr)
G_SYSCALL_ENTRY = lib.VEIL_G_SYSCALL_ENTRY
G_SYSCALL_EXIT = lib.VEIL_G_SYSCALL_EXIT
G_SIGNAL = lib.VEIL_G_SIGNAL
G_EVENT = lib.VEIL_G_EVENT
G_GONE = lib.VEIL_G_GONE
G_SECCOMP = lib.VEIL_G_SECCOMP
# what the guest tracer gets (Engine.guest_trace)
GT_TRACED = lib.VEIL_GT_TRACED
GT_SECCOMP = lib.VEIL_GT_SECCOMP
GT_TRACER = lib.VEIL_GT_TRACER
# how the guest tracer resumed it (Engine.guest_resume)
GR_CONT = lib.VEIL_GR_CONT
GR_SYSCALL = lib.VEIL_GR_SYSCALL
GR_STEP = lib.VEIL_GR_STEP
GR_DETACH = lib.VEIL_GR_DETACH
GR_LISTEN = lib.VEIL_GR_LISTEN

V_ALLOW = lib.VEIL_V_ALLOW
V_DENY = lib.VEIL_V_DENY
V_EMULATE = lib.VEIL_V_EMULATE
V_KILL = lib.VEIL_V_KILL
V_SETRET = lib.VEIL_V_SETRET
V_DETACH = lib.VEIL_V_DETACH

NR_MAX = lib.VEIL_NR_MAX

AFFINITY_OFF = -1
AFFINITY_AUTO = -2

# capability numbers (linux/capability.h), by name without CAP_
CAPABILITIES = {name: nr for nr, name in enumerate((
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",
    "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE",
    "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
    "PERFMON", "BPF", "CHECKPOINT_RESTORE"))}
ALL_CAPS = (1 << 64) - 1


def caps_mask(names) -> int:
    """The capability bit mask of ``names`` ("SYS_ADMIN" or "CAP_SYS_ADMIN")."""
    mask = 0
    for name in names:
        key = name.upper().removeprefix("CAP_")
        if key not in CAPABILITIES:
            raise ValueError(f"unknown capability {name!r}")
        mask |= 1 << CAPABILITIES[key]
    return mask


class SysAction(ValueClass):
    """What the C loop does with one syscall number."""

    __slots__ = _fields = (
        "flags", "deny_errno", "captures", "path_args", "dirfd_args", "open_flags_arg",
        "open_flags_ptr", "layout_op", "nofollow_args", "follow_flag_arg", "follow_flag_mask",
        "follow_flag_sets", "sock_arg", "sockfd_arg", "pid_args", "pidfd_args")

    def __init__(self, flags: int = 0, deny_errno: int = 0,
                 captures: list[tuple[int, int, int, int]] | None = None,
                 path_args: int = 0, dirfd_args: int = 0, open_flags_arg: int = -1,
                 open_flags_ptr: int = -1, layout_op: int = 0, nofollow_args: int = 0,
                 follow_flag_arg: int = -1, follow_flag_mask: int = 0,
                 follow_flag_sets: bool = False, sock_arg: int = -1, sockfd_arg: int = -1,
                 pid_args: int = 0, pidfd_args: int = 0):
        self.flags = flags
        self.deny_errno = deny_errno
        # (argument index, capture kind, param, limit)
        self.captures: list[tuple[int, int, int, int]] = [] if captures is None else captures
        self.path_args = path_args            # F_PATHS: bit i = argument i is a path
        self.dirfd_args = dirfd_args          # bit i = argument i is the dirfd of argument i+1
        self.open_flags_arg = open_flags_arg
        self.open_flags_ptr = open_flags_ptr
        self.layout_op = layout_op            # F_TRANSLATE: L_*
        self.nofollow_args = nofollow_args    # bit i: path argument i never follows a final symlink
        self.follow_flag_arg = follow_flag_arg
        self.follow_flag_mask = follow_flag_mask
        self.follow_flag_sets = follow_flag_sets  # the flag asks to follow (else: asks not to)
        self.sock_arg = sock_arg
        self.sockfd_arg = sockfd_arg          # record only when this fd argument is a socket
        self.pid_args = pid_args      # F_TARGETS: bit i = argument i names a process (pid, tid, -pgrp)
        self.pidfd_args = pidfd_args  # F_TARGETS: bit i = argument i is a pidfd


_NO_ACTION = SysAction()


# struct.pack codes of the integer types struct veil_sysdesc is made of
_STRUCT_CODES = {"uint8_t": "B", "int8_t": "b", "uint16_t": "H", "int16_t": "h",
                 "uint32_t": "I", "int32_t": "i", "uint64_t": "Q", "int64_t": "q"}
_packer = None


def _row_packer():
    """SysAction -> the bytes of its struct veil_sysdesc, packed with a struct.Struct
    laid out from the build's own offsets (cffi's view of csrc/engine.h): its scalar
    fields are SysAction's of the same names, ``ncap`` the number of captures and
    ``cap`` the captures indexed by argument slot."""
    global _packer
    if _packer is not None:
        return _packer
    import struct
    desc = ffi.typeof("struct veil_sysdesc")
    fmt, names, at, ncaps = "<", [], 0, 0
    for name, field in desc.fields:
        fmt += "x" * (field.offset - at)
        if field.type.kind == "array":   # cap[]: struct veil_capture's kind, param, limit
            ncaps = field.type.length
            item = field.type.item
            codes = "".join(_STRUCT_CODES[f.type.cname] for _, f in item.fields)
            assert [n for n, _ in item.fields] == ["kind", "param", "limit"] \
                and struct.calcsize("<" + codes) == ffi.sizeof(item), "struct veil_capture"
            fmt += codes * ncaps
        else:
            fmt += _STRUCT_CODES[field.type.cname]
            names.append(name)
        at = field.offset + ffi.sizeof(field.type)
    fmt += "x" * (ffi.sizeof(desc) - at)
    layout = struct.Struct(fmt)
    assert layout.size == ffi.sizeof(desc), "struct veil_sysdesc"
    pack = layout.pack
    scalars = [(name, name == "ncap") for name in names]
    free_caps = [0] * (3 * ncaps)

    def packed(act: SysAction) -> bytes:
        caps = free_caps
        if act.captures:
            caps = caps.copy()
            for arg, kind, param, limit in act.captures:
                caps[3 * arg:3 * arg + 3] = kind, param, min(limit, 65535)
        return pack(*[len(act.captures) if is_ncap else getattr(act, name)
                      for name, is_ncap in scalars], *caps)
    _packer = packed
    return packed


def _action_key(act: SysAction | None) -> tuple:
    if act is None:
        return ()
    return (act.flags, act.deny_errno, tuple(act.captures), act.path_args, act.dirfd_args,
            act.open_flags_arg, act.open_flags_ptr, act.layout_op, act.nofollow_args,
            act.follow_flag_arg, act.follow_flag_mask, act.follow_flag_sets, act.sock_arg,
            act.sockfd_arg, act.pid_args, act.pidfd_args)


class StopEvent(ValueClass):
    """A syscall stop handed to Python; the thread stays stopped until resumed."""

    __slots__ = _fields = ("kind", "pid", "tid", "arch", "nr", "args", "ret", "ts_ns", "sp",
                           "scratch")

    def __init__(self, kind: int, pid: int, tid: int, arch: int, nr: int, args: tuple[int, ...],
                 ret: int, ts_ns: int, sp: int = 0, scratch: int = 0):
        self.kind = kind
        self.pid = pid
        self.tid = tid
        self.arch = arch
        self.nr = nr
        self.args = args
        self.ret = ret
        self.ts_ns = ts_ns
        self.sp = sp
        self.scratch = scratch


MNT_RDONLY = lib.VEIL_MNT_RDONLY
MNT_MASK = lib.VEIL_MNT_MASK
MNT_PROCFS = lib.VEIL_MNT_PROCFS
SPAWN_MOUNTNS = lib.VEIL_SPAWN_MOUNTNS
NAMESPACE_FLAGS = {"ipc": lib.VEIL_NS_IPC, "uts": lib.VEIL_NS_UTS, "cgroup": lib.VEIL_NS_CGROUP}
SPAWN_STEP_SHIFT = lib.VEIL_SPAWN_STEP_SHIFT


def mountns_probe(userns: bool) -> int:
    """0 when this process can make the mount engine's namespaces, else -errno."""
    return lib.veil_mountns_probe(int(userns))


def _check(rc: int, what: str) -> int:
    if rc < 0:
        raise OSError(-rc, f"{what}: {os.strerror(-rc)}")
    return rc


class Engine:
    """The C loop (csrc/): every feature of veil.engine_features (veil.engine_api's Protocols)."""

    backend = "c"
    supports = API.FEATURES

    def __init__(self, ring_bytes: int = 4 << 20):
        self._e = ffi.gc(lib.veil_new(ring_bytes), lib.veil_free)
        if self._e == ffi.NULL:
            raise MemoryError("veil_new")
        self._ev = ffi.new("struct veil_event *")
        self._used = ffi.new("uint32_t *")
        self._stats = ffi.new("struct veil_stats *")
        self._keep: list = []
        self.main_pid: int | None = None

    # --- configuration ---------------------------------------------------
    def set_options(self, *, seccomp: bool, follow: bool, affinity: int, strsize: int) -> None:
        lib.veil_set_options(self._e, int(seccomp), int(follow), affinity, strsize)

    def set_actions(self, actions: dict[int, SysAction], foreign: SysAction) -> None:
        # each distinct row is packed once with struct (cffi field writes cost ~0.3 us
        # each), then the whole table is written with one copy
        pack = _row_packer()
        made: dict[tuple, bytes] = {}
        empty = pack(_NO_ACTION)
        rows = [empty] * NR_MAX   # the numbers without an action
        for nr, act in actions.items():
            if 0 <= nr < NR_MAX:
                key = _action_key(act)
                data = made.get(key)
                if data is None:
                    data = made[key] = pack(act)
                rows[nr] = data
        ffi.memmove(lib.veil_table(self._e), b"".join(rows), len(empty) * NR_MAX)
        ffi.memmove(lib.veil_foreign(self._e), pack(foreign), len(empty))

    # --- processes -------------------------------------------------------
    def spawn(self, path: str, argv: Sequence[str], env: dict[str, str],
              cwd: str | None, bpf: bytes | None) -> int:
        c_argv = [ffi.new("char[]", os.fsencode(a)) for a in argv]
        c_env = [ffi.new("char[]", os.fsencode(f"{k}={v}")) for k, v in env.items()]
        argv_arr = ffi.new("char *[]", c_argv + [ffi.NULL])
        env_arr = ffi.new("char *[]", c_env + [ffi.NULL])
        c_path = ffi.new("char[]", os.fsencode(path))
        c_cwd = ffi.new("char[]", os.fsencode(cwd)) if cwd else ffi.NULL
        c_bpf = ffi.from_buffer(bpf) if bpf else ffi.NULL
        pid = ffi.new("int32_t *")
        rc = lib.veil_spawn(self._e, c_path, argv_arr, env_arr, c_cwd, c_bpf,
                            len(bpf) // 8 if bpf else 0, pid)
        _check(rc, f"spawn {path}")
        self.main_pid = pid[0]
        return pid[0]

    def set_decorate(self, level: int) -> None:
        """-y (1): SCM_RIGHTS fds are resolved too; -yy (2): socket fds are described."""
        lib.veil_set_decorate(self._e, level)

    def add_path_rule(self, pattern: str, match: int, err: int, flags: int,
                      why: str | None = None) -> None:
        """match: PATH_GLOB, PATH_PREFIX or PATH_EXACT; err 0 lets the call go on;
        flags: PATH_WRITES | PATH_EXISTING; why: a refusal is reported, "PATH: why"."""
        _check(lib.veil_add_path_rule(self._e, os.fsencode(pattern), match, err, flags,
                                      why.encode() if why else ffi.NULL), "path rule")

    def set_sockfd_calls(self, nrs: Sequence[int]) -> None:
        """Calls traced only on socket fds, through filters stacked into the tracee."""
        arr = ffi.new("int32_t[]", list(nrs))
        _check(lib.veil_set_sockfd_calls(self._e, arr, len(nrs)), "socket fd calls")

    def set_layout_root(self, host_root: str) -> None:
        _check(lib.veil_layout_set_root(self._e, os.fsencode(host_root)), f"layout root {host_root}")

    def add_layout_bind(self, host: str, guest: str) -> None:
        _check(lib.veil_layout_add_bind(self._e, os.fsencode(host), os.fsencode(guest)),
               f"bind {host}:{guest}")

    def layout_pin_paths(self, on: bool) -> None:
        """Path calls other than opens reach the kernel through fds veil opened
        (a symlink swapped in after veil's walk cannot redirect them)."""
        lib.veil_layout_pin_paths(self._e, int(on))

    def layout_proc_scope(self, on: bool) -> None:
        """/proc/PID of a process veil does not trace is ENOENT in the guest."""
        lib.veil_layout_proc_scope(self._e, int(on))

    def mountns_begin(self, host_root: str, userns: bool, ids_inside: tuple[int, int]) -> None:
        """The next spawn builds its tree in a mount namespace (csrc/mountns.c)."""
        _check(lib.veil_mountns_begin(self._e, os.fsencode(host_root), int(userns),
                                      ids_inside[0], ids_inside[1]), "mount engine")

    def mountns_pidns(self, on: bool) -> None:
        """The program runs in a pid namespace of its own (under its init)."""
        lib.veil_mountns_pidns(self._e, int(on))

    def mountns_unshare(self, namespaces: Sequence[str], new_session: bool) -> None:
        """The program also gets these namespaces of its own (names of
        NAMESPACE_FLAGS) and, if ``new_session``, a session of its own."""
        flags = 0
        for name in namespaces:
            flags |= NAMESPACE_FLAGS[name]
        _check(lib.veil_mountns_unshare(self._e, flags, int(new_session)), "namespaces")

    def mountns_uts(self, hostname: str | None, domainname: str | None) -> None:
        """The names set in the program's UTS namespace (None: the host's)."""
        _check(lib.veil_mountns_uts(self._e, hostname.encode() if hostname else ffi.NULL,
                                    domainname.encode() if domainname else ffi.NULL), "uts")

    def mountns_binfmt(self, rule: str | None) -> None:
        """A binfmt_misc rule registered in the program's user namespace."""
        _check(lib.veil_mountns_binfmt(self._e, rule.encode() if rule else ffi.NULL), "binfmt_misc")

    def mountns_add(self, host: str | None, guest: str, flags: int) -> None:
        """A step of that tree: ``host`` at ``guest`` (None: the guest's own path)."""
        _check(lib.veil_mountns_add(self._e, os.fsencode(host) if host else ffi.NULL,
                                    os.fsencode(guest), flags), f"mount at {guest}")

    def layout_resolve(self, guest: str, follow: bool = True) -> tuple[str, str]:
        """(host path, canonical guest path) of a guest path, as the guest's root sees it."""
        host = ffi.new("char[]", 4096)
        canon = ffi.new("char[]", 4096)
        _check(lib.veil_layout_resolve(self._e, os.fsencode(guest), int(follow), host, canon),
               f"resolve {guest}")
        return os.fsdecode(ffi.string(host)), os.fsdecode(ffi.string(canon))

    def set_umask(self, mask: int) -> None:
        lib.veil_set_umask(self._e, mask)

    # --- the fake identity's answers (csrc/identity.c) ---
    def identity_add_file(self, guest: str, host: str) -> None:
        """An open of ``guest`` (an absolute path, normalized) opens ``host``."""
        _check(lib.veil_identity_add_file(self._e, os.fsencode(guest), os.fsencode(host)),
               f"serve {guest}")

    def identity_open_asks(self, proc: bool, refused: bool) -> None:
        """The opens Python's on-request hooks see: of /proc/..., refused by the modes."""
        lib.veil_identity_open_asks(self._e, (lib.VEIL_ID_ASK_PROC if proc else 0)
                                    | (lib.VEIL_ID_ASK_REFUSED if refused else 0))

    def identity_mount_files(self, on: bool) -> None:
        """The files bound over their guest paths in the child's own mount namespace."""
        lib.veil_identity_mount_files(self._e, int(on))

    def identity_set_uts(self, field: str, value: str | None) -> None:
        """uname's ``field`` (engine.UTS_FIELDS) shows ``value`` (None: the kernel's)."""
        _check(lib.veil_identity_set_uts(self._e, UTS_FIELDS.index(field),
                                         value.encode() if value is not None else ffi.NULL),
               f"uname {field}")

    def identity_set_cpus(self, cpus: int) -> None:
        lib.veil_identity_set_cpus(self._e, cpus)

    def identity_set_ids(self, ids: Sequence[int] | None) -> None:
        """(ruid, euid, suid, rgid, egid, sgid) get*id answer; None: not answered in C."""
        lib.veil_identity_set_ids(self._e, ffi.new("uint32_t[6]", list(ids)) if ids else ffi.NULL)

    def identity_set_owners(self, real: tuple[int, int], shown: tuple[int, int],
                            eacces_asks: bool) -> None:
        lib.veil_identity_set_owners(self._e, real[0], real[1], shown[0], shown[1],
                                     int(eacces_asks))

    def identity_set_owner(self, dev: int, ino: int, uid: int = -1, gid: int = -1,
                           kind: int = 0, rdev: int = 0, asks: bool = False) -> None:
        row = ffi.new("struct veil_owner *", dict(dev=dev, ino=ino, uid=uid, gid=gid,
                                                  type=kind, asks=int(asks), rdev=rdev))
        _check(lib.veil_identity_set_owner(self._e, row), "ownership row")

    def add_rlimit(self, resource: int, soft: int, hard: int) -> None:
        _check(lib.veil_add_rlimit(self._e, resource, soft, hard), "rlimit")

    def set_caps(self, keep: int) -> None:
        """The spawned program keeps only the capabilities in the mask ``keep``
        (bounding, permitted, effective, inheritable; ambient cleared) and gets
        no_new_privs; ALL_CAPS (the default): both untouched."""
        lib.veil_set_caps(self._e, keep & ALL_CAPS)

    def set_ids(self, uid: int, gid: int, groups: Sequence[int]) -> None:
        """The spawned program runs with these ids (set before the seccomp filter)."""
        _check(lib.veil_set_ids(self._e, uid, gid, ffi.new("uint32_t[]", list(groups) or [0]),
                                len(groups)), "set ids")

    def set_stdio(self, stdin: int = -1, stdout: int = -1, stderr: int = -1) -> None:
        """fds the next spawned child gets as 0, 1, 2 (-1: veil's own)."""
        lib.veil_set_stdio(self._e, stdin, stdout, stderr)

    def spawn_error(self) -> int:
        """errno of a failed exec in the child, 0 if it exec'd."""
        return lib.veil_spawn_error(self._e)

    def attach(self, pid: int) -> None:
        _check(lib.veil_attach(self._e, pid), f"attach {pid}")
        if self.main_pid is None:
            self.main_pid = pid

    def detach_all(self) -> None:
        lib.veil_detach_all(self._e)

    def kill_all(self) -> None:
        lib.veil_kill_all(self._e)

    def install_signals(self, forward: bool) -> None:
        _check(lib.veil_signals_install(self._e, int(forward)), "signal handlers")

    def restore_signals(self) -> None:
        lib.veil_signals_restore(self._e)

    # --- the loop --------------------------------------------------------
    def next(self) -> int:
        """Run until something needs Python; returns an EV_* code."""
        return _check(lib.veil_next(self._e, self._ev), "wait loop")

    def event(self) -> StopEvent:
        ev = self._ev
        return StopEvent(ev.kind, ev.pid, ev.tid, ev.arch, ev.nr, tuple(ev.args), ev.ret, ev.ts_ns,
                         ev.sp, ev.scratch)

    def resume(self, tid: int, verdict: int = V_ALLOW, value: int = 0) -> None:
        _check(lib.veil_resume(self._e, tid, verdict, value), f"resume {tid}")

    def guest_trace(self, tid: int, how: int) -> None:
        """A guest tracer traces the thread (GT_* bits; 0: no more): its stops come
        as EV_GUEST."""
        _check(lib.veil_guest_trace(self._e, tid, how), f"guest trace of {tid}")

    def guest_calls(self, on: bool) -> None:
        """on: the calls watched with guest_tracing=True go to Python."""
        lib.veil_guest_calls(self._e, int(on))

    def guest_resume(self, tid: int, how: int, sig: int = 0) -> None:
        """Let a thread held at an EV_GUEST stop go on (GR_*), delivering ``sig``."""
        _check(lib.veil_guest_resume(self._e, tid, how, sig), f"guest resume of {tid}")

    def set_arg(self, tid: int, index: int, value: int) -> None:
        """Change an argument of a thread held at entry (restored for the caller at exit)."""
        _check(lib.veil_set_arg(self._e, tid, index, value & 0xFFFFFFFFFFFFFFFF), f"set arg of {tid}")

    def take_ring(self) -> bytes:
        """A copy of the undrained records; the ring is empty afterwards."""
        base = lib.veil_ring(self._e, self._used)
        data = ffi.buffer(base, self._used[0])[:]
        lib.veil_ring_reset(self._e)
        return data

    def main_status(self) -> int:
        return lib.veil_main_status(self._e)

    def stats(self) -> dict[str, int]:
        lib.veil_get_stats(self._e, self._stats)
        s = self._stats
        return {"stops": s.stops, "syscall_stops": s.syscall_stops,
                "tasks_seen": s.tasks_seen, "records": s.records, "ring_drains": s.ring_drains,
                "placement_samples": s.placement_samples, "placement_moves": s.placement_moves}


def sock_query(pid: int, fd: int) -> dict[str, object] | None:
    """The kernel's view of a socket fd of a live process (None if it is gone)."""
    q = ffi.new("struct veil_sockq *")
    if lib.veil_sock_query(pid, fd, q) < 0:
        return None
    return {"local": bytes(ffi.buffer(q.local, q.local_len)),
            "remote": bytes(ffi.buffer(q.remote, q.remote_len)),
            "domain": q.domain, "type": q.type, "protocol": q.protocol,
            "listening": bool(q.listening), "inq": q.inq, "outq": q.outq,
            "tcp_state": q.tcp_state, "tcp_unacked": q.tcp_unacked, "tcp_sacked": q.tcp_sacked}


def read_memory(tid: int, addr: int, size: int) -> bytes:
    buf = ffi.new("char[]", size)
    n = _check(lib.veil_read_mem(tid, addr, buf, size), f"read memory of {tid}")
    return ffi.buffer(buf, n)[:]


def write_memory(tid: int, addr: int, data: bytes) -> int:
    return _check(lib.veil_write_mem(tid, addr, data, len(data)), f"write memory of {tid}")


def read_string(tid: int, addr: int, limit: int = 4096) -> bytes:
    buf = ffi.new("char[]", limit + 1)
    trunc = ffi.new("int *")
    n = _check(lib.veil_read_cstr(tid, addr, buf, limit + 1, trunc), f"read string of {tid}")
    return ffi.buffer(buf, n)[:]
