"""What veil refuses a guest so that it keeps no power over veil (signals,
ptrace, memory writes, untraced children, seccomp listeners), and what
``strict`` adds.  The builder (veil.spec.build) applies them to every run that
confines its program, whether it was started from the shell or from Python."""
from __future__ import annotations

CLONE_UNTRACED = 0x00800000
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3


# Calls that name another process: (indexes of pid/tid arguments, of pidfd arguments).
# 0 names the caller; a negative pid (kill, setpriority's PRIO_PGRP) a process group.
TARGET_ARGS = {
    "kill": ((0,), ()), "tkill": ((0,), ()), "tgkill": ((0, 1), ()),
    "rt_sigqueueinfo": ((0,), ()), "rt_tgsigqueueinfo": ((0, 1), ()),
    "pidfd_open": ((0,), ()), "ptrace": ((1,), ()),
    "process_vm_readv": ((0,), ()), "process_vm_writev": ((0,), ()),
    "prlimit64": ((0,), ()), "sched_setaffinity": ((0,), ()), "sched_setparam": ((0,), ()),
    "sched_setscheduler": ((0,), ()), "sched_setattr": ((0,), ()),
    "setpriority": ((1,), ()), "ioprio_set": ((1,), ()), "kcmp": ((0, 1), ()),
    "get_robust_list": ((0,), ()), "migrate_pages": ((0,), ()), "move_pages": ((0,), ()),
    "perf_event_open": ((1,), ()),
    "pidfd_send_signal": ((), (0,)), "pidfd_getfd": ((), (0,)),
    "process_madvise": ((), (0,)), "process_mrelease": ((), (0,)),
}
PRIO_USER = 2         # setpriority(2): every process of a user
IOPRIO_WHO_USER = 3   # ioprio_set(2)


def protect_veil(session) -> None:
    """The program reaches only the processes veil traces: it cannot signal,
    trace, read, write or reprioritize veil (any of its threads) or any other
    host process (EPERM, decided in C at the stop, and reported)."""
    import errno

    from . import filter as bpf
    from .syscalls.lookup import BY_NAME

    def refuse(name: str, reason: str, *conds, err: int = errno.EPERM) -> None:
        if name in BY_NAME:
            session.refuse([BY_NAME[name].nr], err, reason, list(conds))
    session.restrict_targets(TARGET_ARGS, "the program reaches only processes veil traces")
    # kill(0, ...) signals the caller's process group, which veil shares
    refuse("kill", "the program's process group is veil's",
           bpf.Cond(0, "MASKED_EQ", 0, 0xFFFFFFFF))
    refuse("setpriority", "PRIO_USER reaches every process of the user",
           bpf.Cond(0, "MASKED_EQ", PRIO_USER, 0xFFFFFFFF))
    refuse("ioprio_set", "IOPRIO_WHO_USER reaches every process of the user",
           bpf.Cond(0, "MASKED_EQ", IOPRIO_WHO_USER, 0xFFFFFFFF))
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


# What a container runtime grants by default (moby, oci/caps/defaults.go): under
# --strict the program keeps only these capabilities and gets no_new_privs
DOCKER_DEFAULT_CAPS = ("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW",
                       "SETGID", "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE",
                       "SYS_CHROOT", "KILL", "AUDIT_WRITE")


# What a container runtime keeps read-only or out of sight in /proc and /sys (moby's
# default readonlyPaths and maskedPaths): host-wide knobs a root guest could turn by
# file permissions alone (sysctls, binfmt_misc rules, sysrq) and kernel memory.
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
MASKED_PATHS = ("/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/firmware", "/sys/devices/virtual/powercap")


def strict(session) -> None:
    """--strict: every call veil does not know fails, paths are pinned, only the
    plain Linux personality."""
    import errno

    from . import engine as E
    from .syscalls.lookup import BY_NR
    from .translations import untranslated_calls
    session.refuse([nr for nr in range(E.NR_MAX) if nr not in BY_NR], errno.ENOSYS,
                   "--strict refuses calls veil does not know")
    if session.layout is not None and untranslated_calls():
        session.refuse(untranslated_calls(), errno.ENOSYS,
                       "--strict refuses path calls the layout does not translate")
    session.refuse_foreign(errno.ENOSYS, "--strict refuses i386 and x32 calls")
    # a symlink swapped into a path after veil's walk cannot redirect the call
    session.pin_paths = True
    # no CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH...: host root's powers stay out
    session.keep_caps = DOCKER_DEFAULT_CAPS
    for path in READONLY_PATHS:
        session.protect_path(path, "readonly")
    for path in MASKED_PATHS:
        session.protect_path(path, "mask")
    # personality(2): only the plain Linux persona and the query; flags such as
    # READ_IMPLIES_EXEC or ADDR_LIMIT_* change how memory can be mapped
    from . import filter as bpf
    from .syscalls.lookup import BY_NAME
    nr = BY_NAME["personality"].nr
    session.add_rule([nr], ("allow", 0), bpf.Cond(0, "MASKED_EQ", 0, 0xFFFFFFFF))
    session.add_rule([nr], ("allow", 0), bpf.Cond(0, "MASKED_EQ", 0xFFFFFFFF, 0xFFFFFFFF))
    session.refuse([nr], errno.EPERM, "--strict allows only the plain Linux personality")
