"""Process family: clone, wait, exit, rlimits, prctl, arch_prctl, time structs."""
from __future__ import annotations

import struct as _struct

from .. import records as R
from .common import enum, flags, ptr, s32, signal_name, u32
from .registry import EXTRA_CAPTURES, enum_set, flag_set, special, struct

CLONE_FLAGS = [
    (0x100, "CLONE_VM"), (0x200, "CLONE_FS"), (0x400, "CLONE_FILES"), (0x800, "CLONE_SIGHAND"),
    (0x1000, "CLONE_PIDFD"), (0x2000, "CLONE_PTRACE"), (0x4000, "CLONE_VFORK"),
    (0x8000, "CLONE_PARENT"), (0x10000, "CLONE_THREAD"), (0x20000, "CLONE_NEWNS"),
    (0x40000, "CLONE_SYSVSEM"), (0x80000, "CLONE_SETTLS"), (0x100000, "CLONE_PARENT_SETTID"),
    (0x200000, "CLONE_CHILD_CLEARTID"), (0x400000, "CLONE_DETACHED"),
    (0x800000, "CLONE_UNTRACED"), (0x1000000, "CLONE_CHILD_SETTID"),
    (0x2000000, "CLONE_NEWCGROUP"), (0x4000000, "CLONE_NEWUTS"), (0x8000000, "CLONE_NEWIPC"),
    (0x10000000, "CLONE_NEWUSER"), (0x20000000, "CLONE_NEWPID"), (0x40000000, "CLONE_NEWNET"),
    (0x80000000, "CLONE_IO"),
]


@flag_set("clone")
def clone_flags(v: int) -> str:
    v = u32(v)
    sig = v & 0xFF
    rest = flags(v & ~0xFF, CLONE_FLAGS, zero=None)
    if sig:
        s = signal_name(sig)
        return s if rest == "0" else f"{rest}|{s}"
    return rest


@special("clone")
def _clone(call, ctx):
    # x86_64: clone(flags, stack, parent_tid, child_tid, tls)
    fl = u32(call.args[0])
    out = [f"child_stack={ptr(call.args[1])}", f"flags={clone_flags(fl)}"]
    if fl & 0x100000:
        out.append(f"parent_tid={ptr(call.args[2])}")
    if fl & (0x1000000 | 0x200000):
        out.append(f"child_tidptr={ptr(call.args[3])}")
    if fl & 0x80000:
        out.append(f"tls={ptr(call.args[4])}")
    return out


_CLONE_ARGS = _struct.Struct("<QQQQQQQQ")


@struct("clone_args", 88)
def clone_args(data: bytes, call, ctx) -> str:
    fl, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls = \
        _CLONE_ARGS.unpack_from(data)
    parts = [f"flags={flags(fl, CLONE_FLAGS)}"]
    if pidfd:
        parts.append(f"pidfd={ptr(pidfd)}")
    if child_tid:
        parts.append(f"child_tid={ptr(child_tid)}")
    if parent_tid:
        parts.append(f"parent_tid={ptr(parent_tid)}")
    parts.append(f"exit_signal={signal_name(exit_signal) if exit_signal else 0}")
    parts.append(f"stack={ptr(stack)}")
    parts.append(f"stack_size={stack_size:#x}")
    if tls:
        parts.append(f"tls={ptr(tls)}")
    return "{" + ", ".join(parts) + "}"


def wait_status(st: int) -> str:
    st = u32(st)
    if st & 0x7F == 0:
        return f"[{{WIFEXITED(s) && WEXITSTATUS(s) == {(st >> 8) & 0xFF}}}]"
    if st & 0xFF == 0x7F:
        return f"[{{WIFSTOPPED(s) && WSTOPSIG(s) == {signal_name((st >> 8) & 0xFF)}}}]"
    if st == 0xFFFF:
        return "[{WIFCONTINUED(s)}]"
    core = " && WCOREDUMP(s)" if st & 0x80 else ""
    return f"[{{WIFSIGNALED(s) && WTERMSIG(s) == {signal_name(st & 0x7F)}{core}}}]"


@struct("wait_status", 4)
def _wait_status(data: bytes, call, ctx) -> str:
    return wait_status(_struct.unpack_from("<I", data)[0])


@flag_set("wait_options")
def wait_options(v: int) -> str:
    return flags(u32(v), [(1, "WNOHANG"), (2, "WUNTRACED"), (4, "WEXITED"), (8, "WCONTINUED"),
                          (0x1000000, "WNOWAIT"), (0x20000000, "__WNOTHREAD"),
                          (0x40000000, "__WALL"), (0x80000000, "__WCLONE")])


EXTRA_CAPTURES["wait4"] = {1: (R.CAP_FIXED_OUT, 0, 4)}


@special("wait4")
def _wait4(call, ctx):
    from . import format_arg
    status = ptr(call.args[1])
    c = call.cap(1)
    if call.args[1] and c and c.data and call.ret and call.ret > 0:
        status = wait_status(int.from_bytes(c.data[:4], "little"))
    return [str(s32(call.args[0])), status, wait_options(call.args[2]),
            format_arg(call, 3, call.sc.args[3][1], ctx)]


RLIMITS = {0: "RLIMIT_CPU", 1: "RLIMIT_FSIZE", 2: "RLIMIT_DATA", 3: "RLIMIT_STACK",
           4: "RLIMIT_CORE", 5: "RLIMIT_RSS", 6: "RLIMIT_NPROC", 7: "RLIMIT_NOFILE",
           8: "RLIMIT_MEMLOCK", 9: "RLIMIT_AS", 10: "RLIMIT_LOCKS", 11: "RLIMIT_SIGPENDING",
           12: "RLIMIT_MSGQUEUE", 13: "RLIMIT_NICE", 14: "RLIMIT_RTPRIO", 15: "RLIMIT_RTTIME"}


@enum_set("rlimit_resource")
def rlimit_resource(v: int) -> str:
    return enum(u32(v), RLIMITS)


def _rlim(v: int) -> str:
    if v == 0xFFFFFFFFFFFFFFFF:
        return "RLIM64_INFINITY"
    if v and v % 1024 == 0:
        return f"{v // 1024}*1024"
    return str(v)


@struct("rlimit", 16)
def rlimit(data: bytes, call, ctx) -> str:
    cur, mx = _struct.unpack_from("<QQ", data)
    return f"{{rlim_cur={_rlim(cur)}, rlim_max={_rlim(mx)}}}"


ARCH_PRCTL = {0x1001: "ARCH_SET_GS", 0x1002: "ARCH_SET_FS", 0x1003: "ARCH_GET_FS",
              0x1004: "ARCH_GET_GS", 0x1011: "ARCH_GET_CPUID", 0x1012: "ARCH_SET_CPUID",
              0x3001: "ARCH_CET_STATUS", 0x5001: "ARCH_SHSTK_ENABLE"}


@enum_set("arch_prctl_code")
def arch_prctl_code(v: int) -> str:
    v = u32(v)
    name = ARCH_PRCTL.get(v)
    if name and v != 0x3001:
        return name
    return f"{v:#x} /* ARCH_??? */"


PRCTL = {1: "PR_SET_PDEATHSIG", 2: "PR_GET_PDEATHSIG", 3: "PR_GET_DUMPABLE",
         4: "PR_SET_DUMPABLE", 8: "PR_SET_KEEPCAPS", 15: "PR_SET_NAME", 16: "PR_GET_NAME",
         22: "PR_SET_SECCOMP", 21: "PR_GET_SECCOMP", 23: "PR_CAPBSET_READ",
         24: "PR_CAPBSET_DROP", 36: "PR_SET_CHILD_SUBREAPER", 37: "PR_GET_CHILD_SUBREAPER",
         38: "PR_SET_NO_NEW_PRIVS", 39: "PR_GET_NO_NEW_PRIVS", 47: "PR_CAP_AMBIENT",
         0x59616d61: "PR_SET_PTRACER", 35: "PR_SET_MM", 40: "PR_GET_TID_ADDRESS",
         41: "PR_SET_THP_DISABLE", 42: "PR_GET_THP_DISABLE", 53: "PR_SET_VMA"}


@enum_set("prctl_option")
def prctl_option(v: int) -> str:
    return enum(s32(v), PRCTL, fallback=f"{u32(v):#x} /* PR_??? */")


@special("prctl")
def _prctl(call, ctx):
    op = s32(call.args[0])
    a = call.args
    name = prctl_option(op)
    if op in (1,):
        return [name, signal_name(s32(a[1])) if s32(a[1]) else "0"]
    if op in (3, 39, 37, 42, 2, 21):
        return [name] if op not in (2, 37) else [name, ptr(a[1])]
    if op in (4, 8, 38, 36, 23, 24, 41):
        return [name, str(a[1])] + ([f"{a[2]}", f"{a[3]}", f"{a[4]}"] if op == 38 else [])
    if op in (15, 16):
        return [name, ptr(a[1])]
    return [name] + [f"{x:#x}" for x in a[1:5]]


_TS = _struct.Struct("<qq")


@struct("timespec", 16)
def timespec(data: bytes, call, ctx) -> str:
    sec, nsec = _TS.unpack_from(data)
    return f"{{tv_sec={sec}, tv_nsec={nsec}}}"


@struct("timeval", 16)
def timeval(data: bytes, call, ctx) -> str:
    sec, usec = _TS.unpack_from(data)
    return f"{{tv_sec={sec}, tv_usec={usec}}}"


@enum_set("clock_id")
def clock_id(v: int) -> str:
    return enum(s32(v), {0: "CLOCK_REALTIME", 1: "CLOCK_MONOTONIC", 2: "CLOCK_PROCESS_CPUTIME_ID",
                         3: "CLOCK_THREAD_CPUTIME_ID", 4: "CLOCK_MONOTONIC_RAW",
                         5: "CLOCK_REALTIME_COARSE", 6: "CLOCK_MONOTONIC_COARSE",
                         7: "CLOCK_BOOTTIME", 8: "CLOCK_REALTIME_ALARM",
                         9: "CLOCK_BOOTTIME_ALARM", 11: "CLOCK_TAI"})


@flag_set("getrandom_flags")
def getrandom_flags(v: int) -> str:
    return flags(u32(v), [(1, "GRND_NONBLOCK"), (2, "GRND_RANDOM"), (4, "GRND_INSECURE")])


@special("getrandom")
def _getrandom(call, ctx):
    from . import Ctx, format_arg
    hexctx = Ctx(ctx.strsize, True, ctx.decorate_fds)  # strace shows random bytes in hex
    return [format_arg(call, 0, "outbuf:1", hexctx), str(call.args[1]),
            getrandom_flags(call.args[2])]


@enum_set("sched_policy")
def sched_policy(v: int) -> str:
    return enum(s32(v), {0: "SCHED_OTHER", 1: "SCHED_FIFO", 2: "SCHED_RR", 3: "SCHED_BATCH",
                         5: "SCHED_IDLE", 6: "SCHED_DEADLINE"})


@enum_set("itimer_which")
def itimer_which(v: int) -> str:
    return enum(s32(v), {0: "ITIMER_REAL", 1: "ITIMER_VIRTUAL", 2: "ITIMER_PROF"})


@struct("utsname_full", 390)
def _utsname_full(data: bytes, call, ctx) -> str:
    from .fs import utsname
    return utsname(data, call, ctx)


def cpu_mask(data: bytes) -> str:
    bits = int.from_bytes(data, "little")
    return "[" + " ".join(str(i) for i in range(len(data) * 8) if bits >> i & 1) + "]"


EXTRA_CAPTURES["sched_getaffinity"] = {2: (R.CAP_BUF_RET, 0, 1024)}
EXTRA_CAPTURES["sched_setaffinity"] = {2: (R.CAP_BUF_ARG, 1, 1024)}


@special("sched_getaffinity", "sched_setaffinity")
def _affinity(call, ctx):
    c = call.cap(2)
    getter = call.name == "sched_getaffinity"
    if c is None or (getter and (call.ret is None or call.failed)):
        mask = ptr(call.args[2])
    else:
        mask = cpu_mask(c.data[:call.ret] if getter else c.data)
    return [str(s32(call.args[0])), str(call.args[1]), mask]


# the remaining time is written only when a signal interrupts the sleep
EXTRA_CAPTURES["nanosleep"] = {1: (R.CAP_FIXED_ANY, 0, 16)}
EXTRA_CAPTURES["clock_nanosleep"] = {3: (R.CAP_FIXED_ANY, 0, 16)}


@special("nanosleep", "clock_nanosleep")
def _nanosleep(call, ctx):
    from . import format_arg
    sc = call.sc
    out = [format_arg(call, i, kind, ctx) for i, (_, kind) in enumerate(sc.args)]
    last = len(sc.args) - 1
    remain = call.args[last]
    if remain == 0:
        out[last] = "NULL"
    elif call.ret is not None and call.ret == -4:  # EINTR
        c = call.caps.get(last)
        out[last] = timespec(c.data, call, ctx) if c is not None and not c.fault and c.data else ptr(remain)
    else:
        out[last] = ptr(remain)
    return out
