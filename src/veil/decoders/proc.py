"""Process family: clone/clone3, wait4/waitid, rlimits, prctl, arch_prctl, sched_*, ids."""
from __future__ import annotations

from .. import records as R
from . import capture
from .common import DecodeError, array, flags, ptr, quote, s32, signal_name, u32, unpack, xval
from .kinds import Ctx, format_arg
from .kstructs import CLONE_ARGS, CLONE_ARGS_V0
from .registry import EXTRA_CAPTURES, RESUME_WITH_COMMA, RESUMED, enum_set, flag_set, special, special_ret, struct
from .registry import STRUCTS as _STRUCTS

CLONE_FLAGS = [
    (0x100, "CLONE_VM"), (0x200, "CLONE_FS"), (0x400, "CLONE_FILES"), (0x800, "CLONE_SIGHAND"),
    (0x1000, "CLONE_PIDFD"), (0x2000, "CLONE_PTRACE"), (0x4000, "CLONE_VFORK"),
    (0x8000, "CLONE_PARENT"), (0x10000, "CLONE_THREAD"), (0x20000, "CLONE_NEWNS"),
    (0x40000, "CLONE_SYSVSEM"), (0x80000, "CLONE_SETTLS"), (0x100000, "CLONE_PARENT_SETTID"),
    (0x200000, "CLONE_CHILD_CLEARTID"), (0x400000, "CLONE_DETACHED"),
    (0x800000, "CLONE_UNTRACED"), (0x1000000, "CLONE_CHILD_SETTID"),
    (0x2000000, "CLONE_NEWCGROUP"), (0x4000000, "CLONE_NEWUTS"), (0x8000000, "CLONE_NEWIPC"),
    (0x10000000, "CLONE_NEWUSER"), (0x20000000, "CLONE_NEWPID"), (0x40000000, "CLONE_NEWNET"),
    (0x80000000, "CLONE_IO"), (0x80, "CLONE_NEWTIME"),
]
CLONE3_FLAGS = CLONE_FLAGS + [(0x100000000, "CLONE_CLEAR_SIGHAND"),
                              (0x200000000, "CLONE_INTO_CGROUP")]


def _hx(v: int) -> str:
    return f"{v:#x}" if v else "0"


@flag_set("clone")
def clone_flags(v: int) -> str:
    v = u32(v)
    sig = v & 0xFF
    rest = v & ~0xFF
    if rest:
        text = flags(rest, CLONE_FLAGS, dflt="CLONE_???")
        return f"{text}|{signal_name(sig)}" if sig else text
    return signal_name(sig) if sig else "0"


@flag_set("clone3")
def clone3_flags(v: int) -> str:
    return flags(v, CLONE3_FLAGS, dflt="CLONE_???")


@flag_set("unshare_flags")
def unshare_flags(v: int) -> str:
    return flags(v & 0xFFFFFFFFFFFFFFFF, CLONE_FLAGS, dflt="CLONE_???")


@special("clone")
def _clone(call, ctx):
    # x86_64: clone(flags, stack, parent_tid, child_tid, tls)
    a = call.args
    fl = u32(a[0]) & ~0xFF
    out = [f"child_stack={ptr(a[1])}", f"flags={clone_flags(a[0])}"]
    if fl & (0x100000 | 0x1000):
        c = call.cap(2)
        if call.ret is None or call.failed:
            pt = ptr(a[2])
        elif fl & 0x100000:
            pt = f"[{call.ret}]"  # the kernel stores the child's tid there
        elif c is not None and len(c.data) >= 4:
            pt = f"[{s32(int.from_bytes(c.data[:4], 'little'))}]"
        else:
            pt = ptr(a[2])
        out.append(f"parent_tid={pt}")
    if fl & 0x80000:
        out.append(f"tls={ptr(a[4])}")
    if fl & (0x1000000 | 0x200000):
        out.append(f"child_tidptr={ptr(a[3])}")
    return out


# CLONE_PIDFD without CLONE_PARENT_SETTID: the pidfd is stored through parent_tid
EXTRA_CAPTURES["clone"] = {2: (R.CAP_FIXED_OUT, 0, 4)}

def clone_args(data: bytes, size: int) -> str:
    if len(data) < CLONE_ARGS_V0.size:
        raise DecodeError("short clone_args")
    fields = (CLONE_ARGS.parse(data) if len(data) >= CLONE_ARGS.size
              else tuple(CLONE_ARGS_V0.parse(data)) + (0, 0, 0))
    fl, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, \
        set_tid_size, cgroup = fields
    parts = [f"flags={clone3_flags(fl)}"]
    if fl & 0x1000:
        parts.append(f"pidfd={ptr(pidfd)}")
    if fl & (0x1000000 | 0x200000):
        parts.append(f"child_tid={ptr(child_tid)}")
    if fl & 0x100000:
        parts.append(f"parent_tid={ptr(parent_tid)}")
    if exit_signal < 0x7FFFFFFF:
        parts.append(f"exit_signal={signal_name(exit_signal) if exit_signal else 0}")
    else:
        parts.append(f"exit_signal={exit_signal}")
    parts.append(f"stack={ptr(stack)}")
    parts.append(f"stack_size={_hx(stack_size)}")
    if fl & 0x80000:
        parts.append(f"tls={ptr(tls)}")
    if set_tid or set_tid_size:
        parts.append(f"set_tid={ptr(set_tid)}")
        parts.append(f"set_tid_size={set_tid_size}")
    if len(data) >= 88 and size > 80 and (cgroup or fl & 0x200000000):
        parts.append(f"cgroup={cgroup}")
    return "{" + ", ".join(parts) + "}"


@struct("clone_args", 88)
def _clone_args(data: bytes, call=None, ctx=None) -> str:
    return clone_args(data, len(data))


# the pidfd that clone3 stores through clone_args.pidfd, where C can follow it
if capture.CAP_DEREF_OUT is not None:
    EXTRA_CAPTURES["clone3"] = {1: (capture.CAP_DEREF_OUT, (0 << 5) | 1, 4)}


def _clone3_after(call):
    """The " => {pidfd=[N], parent_tid=[N]}" that strace adds at exit, or None."""
    c = call.cap(0)
    if call.ret is None or call.failed or c is None or len(c.data) < 64 or call.args[1] < 64:
        return None
    fl = int.from_bytes(c.data[:8], "little")
    after = []
    if fl & 0x1000:
        p = call.cap(1)
        if p is None or p.kind != capture.KIND_DEREF_OUT or len(p.data) < 4:
            return None
        after.append(f"pidfd=[{s32(int.from_bytes(p.data[:4], 'little'))}]")
    if fl & 0x100000:
        after.append(f"parent_tid=[{call.ret}]")
    return " => {" + ", ".join(after) + "}" if after else None


def _clone3_resumed(call, ctx) -> str:
    """What follows "<... clone3 resumed>": the exit part of the struct, then the size."""
    return (_clone3_after(call) or "") + f", {call.args[1]}"


RESUMED["clone3"] = _clone3_resumed


@special("clone3")
def _clone3(call, ctx):
    a = call.args
    addr, size = a[0], a[1]
    c = call.cap(0)
    if addr == 0:
        text = "NULL"
    elif size < 64 or c is None:
        text = ptr(addr)
    else:
        try:
            text = clone_args(c.data, size)
        except DecodeError:
            text = ptr(addr)
        else:
            text += _clone3_after(call) or ""
    return [text, str(size)]


# --- wait ----------------------------------------------------------------------

def wait_status(st: int) -> str:
    st = u32(st)
    if st & 0x7F == 0:
        text = f"[{{WIFEXITED(s) && WEXITSTATUS(s) == {(st >> 8) & 0xFF}}}"
    elif st & 0xFF == 0x7F:
        text = f"[{{WIFSTOPPED(s) && WSTOPSIG(s) == {signal_name((st >> 8) & 0xFF)}}}"
    elif st == 0xFFFF:
        return "[{WIFCONTINUED(s)}]"
    else:
        core = " && WCOREDUMP(s)" if st & 0x80 else ""
        text = f"[{{WIFSIGNALED(s) && WTERMSIG(s) == {signal_name(st & 0x7F)}{core}}}"
    event = st >> 16
    if event:
        name = {1: "PTRACE_EVENT_FORK", 2: "PTRACE_EVENT_VFORK", 3: "PTRACE_EVENT_CLONE",
                4: "PTRACE_EVENT_EXEC", 5: "PTRACE_EVENT_VFORK_DONE", 6: "PTRACE_EVENT_EXIT",
                7: "PTRACE_EVENT_SECCOMP", 0x80: "PTRACE_EVENT_STOP"}.get(event, f"{event:#x}")
        text += f" | {name} << 16"
    return text + "]"


@struct("wait_status", 4)
def _wait_status(data: bytes, call=None, ctx=None) -> str:
    return wait_status(unpack("<I", data)[0])


_STRUCTS["wstatus"] = _STRUCTS["wait_status"]  # the table's name for it


@flag_set("wait_options")
def wait_options(v: int) -> str:
    return flags(u32(v), [(1, "WNOHANG"), (2, "WSTOPPED"), (4, "WEXITED"), (8, "WCONTINUED"),
                          (0x1000000, "WNOWAIT"), (0x20000000, "__WNOTHREAD"),
                          (0x40000000, "__WALL"), (0x80000000, "__WCLONE")], dflt="W???")


def wait4_options(v: int) -> str:
    # wait4's 2 is WUNTRACED (waitid's is WSTOPPED)
    return flags(u32(v), [(1, "WNOHANG"), (2, "WUNTRACED"), (8, "WCONTINUED"),
                          (0x1000000, "WNOWAIT"), (4, "WEXITED"), (0x20000000, "__WNOTHREAD"),
                          (0x40000000, "__WALL"), (0x80000000, "__WCLONE")], dflt="W???")


EXTRA_CAPTURES["wait4"] = {1: (R.CAP_FIXED_OUT, 0, 4)}


@special("wait4")
def _wait4(call, ctx):
    status = ptr(call.args[1])
    c = call.cap(1)
    if call.args[1] and c and len(c.data) >= 4 and call.ret and call.ret > 0:
        status = wait_status(int.from_bytes(c.data[:4], "little"))
    return [str(s32(call.args[0])), status, wait4_options(call.args[2]),
            format_arg(call, 3, call.sc.args[3][1], ctx)]


IDTYPES = {0: "P_ALL", 1: "P_PID", 2: "P_PGID", 3: "P_PIDFD"}


@enum_set("idtype")
def idtype(v: int) -> str:
    return xval(u32(v), IDTYPES, "P_???")


@special("waitid")
def _waitid(call, ctx):
    from .signals import siginfo
    a = call.args
    info = ptr(a[2])
    c = call.cap(2)
    if a[2] and c is not None and call.ret is not None and not call.failed and \
            len(c.data) >= 16:
        if not any(c.data[:16]):
            info = "{}"
        else:
            try:
                info = siginfo(c.data)
            except DecodeError:
                pass
    return [idtype(a[0]), str(s32(a[1])), info, wait_options(a[3]),
            format_arg(call, 4, call.sc.args[4][1], ctx)]


RESUME_WITH_COMMA.add("clone3")  # "clone3({...} <unfinished ...>": no comma before the cut


@struct("rusage", 144)
def rusage(data: bytes, call=None, ctx=None) -> str:
    us, uu, ss, su = unpack("<qqqq", data)
    return (f"{{ru_utime={{tv_sec={us}, tv_usec={uu}}}, ru_stime={{tv_sec={ss}, "
            f"tv_usec={su}}}, ...}}")


# --- rlimits ----------------------------------------------------------------------

RLIMITS = {0: "RLIMIT_CPU", 1: "RLIMIT_FSIZE", 2: "RLIMIT_DATA", 3: "RLIMIT_STACK",
           4: "RLIMIT_CORE", 5: "RLIMIT_RSS", 6: "RLIMIT_NPROC", 7: "RLIMIT_NOFILE",
           8: "RLIMIT_MEMLOCK", 9: "RLIMIT_AS", 10: "RLIMIT_LOCKS", 11: "RLIMIT_SIGPENDING",
           12: "RLIMIT_MSGQUEUE", 13: "RLIMIT_NICE", 14: "RLIMIT_RTPRIO", 15: "RLIMIT_RTTIME"}


@enum_set("rlimit_resource")
def rlimit_resource(v: int) -> str:
    return xval(u32(v), RLIMITS, "RLIMIT_???")


def _rlim(v: int) -> str:
    if v == 0xFFFFFFFFFFFFFFFF:
        return "RLIM64_INFINITY"
    if v > 1024 and v % 1024 == 0:
        return f"{v // 1024}*1024"
    return str(v)


@struct("rlimit", 16)
def rlimit(data: bytes, call=None, ctx=None) -> str:
    cur, mx = unpack("<QQ", data)
    return f"{{rlim_cur={_rlim(cur)}, rlim_max={_rlim(mx)}}}"


# --- prctl, arch_prctl -----------------------------------------------------------------

ARCH_PRCTL = {0x1001: "ARCH_SET_GS", 0x1002: "ARCH_SET_FS", 0x1003: "ARCH_GET_FS",
              0x1004: "ARCH_GET_GS", 0x1011: "ARCH_GET_CPUID", 0x1012: "ARCH_SET_CPUID",
              0x1021: "ARCH_GET_XCOMP_SUPP", 0x1022: "ARCH_GET_XCOMP_PERM",
              0x1023: "ARCH_REQ_XCOMP_PERM", 0x1024: "ARCH_GET_XCOMP_GUEST_PERM",
              0x1025: "ARCH_REQ_XCOMP_GUEST_PERM", 0x2001: "ARCH_MAP_VDSO_X32",
              0x2002: "ARCH_MAP_VDSO_32", 0x2003: "ARCH_MAP_VDSO_64"}


@enum_set("arch_prctl_code")
def arch_prctl_code(v: int) -> str:
    return xval(u32(v), ARCH_PRCTL, "ARCH_???")


EXTRA_CAPTURES["arch_prctl"] = {1: (R.CAP_FIXED_OUT, 0, 8)}


@special("arch_prctl")
def _arch_prctl(call, ctx):
    code, addr = u32(call.args[0]), call.args[1]
    out = [arch_prctl_code(code)]
    if code in (0x1003, 0x1004):
        c = call.cap(1)
        if call.ret is None or call.failed or c is None or len(c.data) < 8:
            out.append(ptr(addr))
        else:
            out.append(f"[{_hx(int.from_bytes(c.data[:8], 'little'))}]")
    elif code == 0x1011:
        pass
    else:
        out.append(_hx(addr))
    return out


PRCTL = {1: "PR_SET_PDEATHSIG", 2: "PR_GET_PDEATHSIG", 3: "PR_GET_DUMPABLE",
         4: "PR_SET_DUMPABLE", 5: "PR_GET_UNALIGN", 6: "PR_SET_UNALIGN", 7: "PR_GET_KEEPCAPS",
         8: "PR_SET_KEEPCAPS", 9: "PR_GET_FPEMU", 10: "PR_SET_FPEMU", 11: "PR_GET_FPEXC",
         12: "PR_SET_FPEXC", 13: "PR_GET_TIMING", 14: "PR_SET_TIMING", 15: "PR_SET_NAME",
         16: "PR_GET_NAME", 19: "PR_GET_ENDIAN", 20: "PR_SET_ENDIAN", 21: "PR_GET_SECCOMP",
         22: "PR_SET_SECCOMP", 23: "PR_CAPBSET_READ", 24: "PR_CAPBSET_DROP", 25: "PR_GET_TSC",
         26: "PR_SET_TSC", 27: "PR_GET_SECUREBITS", 28: "PR_SET_SECUREBITS",
         29: "PR_SET_TIMERSLACK", 30: "PR_GET_TIMERSLACK", 31: "PR_TASK_PERF_EVENTS_DISABLE",
         32: "PR_TASK_PERF_EVENTS_ENABLE", 33: "PR_MCE_KILL", 34: "PR_MCE_KILL_GET",
         35: "PR_SET_MM", 36: "PR_SET_CHILD_SUBREAPER", 37: "PR_GET_CHILD_SUBREAPER",
         38: "PR_SET_NO_NEW_PRIVS", 39: "PR_GET_NO_NEW_PRIVS", 40: "PR_GET_TID_ADDRESS",
         41: "PR_SET_THP_DISABLE", 42: "PR_GET_THP_DISABLE", 43: "PR_MPX_ENABLE_MANAGEMENT",
         44: "PR_MPX_DISABLE_MANAGEMENT", 45: "PR_SET_FP_MODE", 46: "PR_GET_FP_MODE",
         47: "PR_CAP_AMBIENT", 50: "PR_SVE_SET_VL", 51: "PR_SVE_GET_VL",
         52: "PR_GET_SPECULATION_CTRL", 53: "PR_SET_SPECULATION_CTRL", 54: "PR_PAC_RESET_KEYS",
         55: "PR_SET_TAGGED_ADDR_CTRL", 56: "PR_GET_TAGGED_ADDR_CTRL", 57: "PR_SET_IO_FLUSHER",
         58: "PR_GET_IO_FLUSHER", 59: "PR_SET_SYSCALL_USER_DISPATCH",
         60: "PR_PAC_SET_ENABLED_KEYS", 61: "PR_PAC_GET_ENABLED_KEYS", 62: "PR_SCHED_CORE",
         63: "PR_SME_SET_VL", 64: "PR_SME_GET_VL", 65: "PR_SET_MDWE", 66: "PR_GET_MDWE",
         0x53564d41: "PR_SET_VMA", 0x59616d61: "PR_SET_PTRACER"}
DUMPABLE = {0: "SUID_DUMP_DISABLE", 1: "SUID_DUMP_USER", 2: "SUID_DUMP_ROOT"}
CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
        "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
        "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
        "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]
CAP_NAMES = dict(enumerate(CAPS))


@enum_set("prctl_option")
def prctl_option(v: int) -> str:
    return xval(u32(v), PRCTL, "PR_???")


# arg2 points to a name (PR_SET_NAME, in; PR_GET_NAME, out) or an int/pointer
# (the getters): 16 bytes, at exit (the string of PR_SET_NAME is unchanged
# then) and at entry too where C can
EXTRA_CAPTURES["prctl"] = {1: capture.inout(16)}


def _name16(data, limit: int, ctx) -> str:
    s = data[:limit]
    cut = s.find(b"\0")
    if cut >= 0:
        return quote(s[:cut][:ctx.strsize], cut > ctx.strsize, ctx.hex_all)
    return quote(s[:ctx.strsize], True, ctx.hex_all)


@special("prctl")
def _prctl(call, ctx):
    a = call.args
    op = u32(a[0])
    name = prctl_option(op)
    rest = [_hx(x) for x in a[1:5]]
    done = call.ret is not None and not call.failed
    if op in (7, 21, 30, 13, 31, 32):
        return [name]
    if op in (37, 19, 9, 11):
        d = capture.exit_data(call, 1)
        if not done or d is None or len(d) < 4:
            return [name, ptr(a[1])]
        return [name, f"[{u32(int.from_bytes(d[:4], 'little'))}]"]
    if op == 3:
        return [name]
    if op == 16:
        d = capture.exit_data(call, 1)
        if not done or d is None:
            return [name, ptr(a[1])]
        return [name, _name16(d, 16, ctx)]
    if op == 15:
        d = capture.stable_data(call, 1)
        return [name, ptr(a[1]) if d is None else _name16(d, 15, ctx)]
    if op == 2:
        d = capture.exit_data(call, 1)
        if not done or d is None or len(d) < 4:
            return [name, ptr(a[1])]
        sig = u32(int.from_bytes(d[:4], "little"))
        return [name, f"[{signal_name(sig) if sig else 0}]"]
    if op == 40:
        d = capture.exit_data(call, 1)
        if not done or d is None or len(d) < 8:
            return [name, ptr(a[1])]
        return [name, f"[{ptr(int.from_bytes(d[:8], 'little'))}]"]
    if op in (36, 20, 10, 12, 8, 14):
        return [name, str(a[1])]
    if op == 4:
        return [name, xval(a[1], DUMPABLE, "SUID_DUMP_???")]
    if op in (23, 24):
        return [name, xval(a[1], CAP_NAMES, "CAP_???")]
    if op == 1:
        return [name, str(a[1]) if a[1] > 128 else (signal_name(a[1]) if a[1] else "0")]
    if op == 29:
        return [name, str(s32(a[1]) if a[1] >> 32 == 0 else a[1])]
    if op in (38, 41, 57):
        return [name, str(a[1])] + rest[1:]
    if op == 0x59616d61:
        return [name, "PR_SET_PTRACER_ANY" if s32(a[1]) == -1 else str(s32(a[1]))]
    return [name] + rest


@special_ret("prctl")
def _prctl_ret(call, ctx):
    if u32(call.args[0]) == 3:
        n = DUMPABLE.get(call.ret)
        return f"{call.ret} ({n})" if n else None
    return None


# --- getrandom ---------------------------------------------------------------------

@flag_set("getrandom_flags")
def getrandom_flags(v: int) -> str:
    return flags(u32(v), [(1, "GRND_NONBLOCK"), (2, "GRND_RANDOM"), (4, "GRND_INSECURE")],
                 dflt="GRND_???")


@special("getrandom")
def _getrandom(call, ctx):
    hexctx = Ctx(ctx.strsize, 2, ctx.decorate_fds)  # strace shows random bytes in hex
    return [format_arg(call, 0, "outbuf:1", hexctx), str(call.args[1]),
            getrandom_flags(call.args[2])]


# --- scheduler ----------------------------------------------------------------------------

SCHED_POLICIES = {0: "SCHED_OTHER", 1: "SCHED_FIFO", 2: "SCHED_RR", 3: "SCHED_BATCH",
                  4: "SCHED_ISO", 5: "SCHED_IDLE", 6: "SCHED_DEADLINE", 7: "SCHED_EXT"}


@enum_set("sched_policy")
def sched_policy(v: int) -> str:
    v = u32(v)
    if v & 0x40000000:
        return f"{xval(v & ~0x40000000, SCHED_POLICIES, 'SCHED_???')}|SCHED_RESET_ON_FORK"
    return xval(v, SCHED_POLICIES, "SCHED_???")


@special_ret("sched_getscheduler")
def _sched_getscheduler_ret(call, ctx):
    n = SCHED_POLICIES.get(call.ret & ~0x40000000)
    if n is None:
        return None
    if call.ret & 0x40000000:
        n += "|SCHED_RESET_ON_FORK"
    return f"{call.ret} ({n})"


@struct("sched_param", 4)
def sched_param(data: bytes, call=None, ctx=None) -> str:
    return f"[{unpack('<i', data)[0]}]"


SCHED_FLAGS = [(1, "SCHED_FLAG_RESET_ON_FORK"), (2, "SCHED_FLAG_RECLAIM"),
               (4, "SCHED_FLAG_DL_OVERRUN"), (8, "SCHED_FLAG_KEEP_POLICY"),
               (0x10, "SCHED_FLAG_KEEP_PARAMS"), (0x20, "SCHED_FLAG_UTIL_CLAMP_MIN"),
               (0x40, "SCHED_FLAG_UTIL_CLAMP_MAX")]


@struct("sched_attr", 56)
def sched_attr(data: bytes, call=None, ctx=None) -> str:
    size, policy, fl, nice, prio, runtime, deadline, period = unpack("<IIQiIQQQ", data)
    text = (f"{{size={size}, sched_policy={sched_policy(policy)}, "
            f"sched_flags={flags(fl, SCHED_FLAGS, dflt='SCHED_FLAG_???')}, sched_nice={nice}, "
            f"sched_priority={prio}, sched_runtime={runtime}, sched_deadline={deadline}, "
            f"sched_period={period}")
    if size >= 56 and len(data) >= 56:
        umin, umax = unpack("<II", data, 48)
        text += f", sched_util_min={umin}, sched_util_max={umax}"
    return text + "}"


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


# --- ids ----------------------------------------------------------------------------------

@struct("uid", 4)
def uid_ref(data: bytes, call=None, ctx=None) -> str:
    return f"[{s32(unpack('<I', data)[0])}]"


@struct("gid", 4)
def gid_ref(data: bytes, call=None, ctx=None) -> str:
    return f"[{s32(unpack('<I', data)[0])}]"


# getgroups/setgroups: arrays of gid_t whose count is an argument or the result
EXTRA_CAPTURES["getgroups"] = {1: (R.CAP_FIXED_OUT, 0, 4 * 64)}
EXTRA_CAPTURES["setgroups"] = {1: (R.CAP_FIXED_IN, 0, 4 * 64)}


def _gid_list(data: bytes, n: int, ctx) -> str:
    have = len(data) // 4
    items = [str(s32(int.from_bytes(data[4 * k:4 * k + 4], "little"))) for k in range(min(n, have))]
    return array(items, max(ctx.strsize, 1), more=n > have)


@special("getgroups")
def _getgroups(call, ctx):
    a = call.args
    size = s32(a[0])
    c = call.cap(1)
    if a[1] == 0:
        lst = "NULL"
    elif call.ret is None or call.failed or c is None:
        lst = ptr(a[1])
    else:
        lst = _gid_list(c.data, call.ret, ctx)
    return [str(size), lst]


@special("setgroups")
def _setgroups(call, ctx):
    a = call.args
    n = s32(a[0])
    c = call.cap(1)
    if a[1] == 0:
        lst = "NULL"
    elif c is None or n < 0:
        lst = ptr(a[1])
    else:
        lst = _gid_list(c.data, n, ctx)
    return [str(n), lst]


@special_ret("umask")
def _umask_ret(call, ctx):
    from .common import octal
    return octal(call.ret)



@flag_set("rseq_flags")
def rseq_flags(v: int) -> str:
    return flags(u32(v), [(1, "RSEQ_FLAG_UNREGISTER")], dflt="RSEQ_FLAG_???")


@enum_set("seccomp_op")
def seccomp_op(v: int) -> str:
    return xval(u32(v), {0: "SECCOMP_SET_MODE_STRICT", 1: "SECCOMP_SET_MODE_FILTER",
                         2: "SECCOMP_GET_ACTION_AVAIL", 3: "SECCOMP_GET_NOTIF_SIZES"},
                "SECCOMP_???")


PTRACE_REQUESTS = {0: "PTRACE_TRACEME", 1: "PTRACE_PEEKTEXT", 2: "PTRACE_PEEKDATA",
                   3: "PTRACE_PEEKUSER", 4: "PTRACE_POKETEXT", 5: "PTRACE_POKEDATA",
                   6: "PTRACE_POKEUSER", 7: "PTRACE_CONT", 8: "PTRACE_KILL",
                   9: "PTRACE_SINGLESTEP", 12: "PTRACE_GETREGS", 13: "PTRACE_SETREGS",
                   14: "PTRACE_GETFPREGS", 15: "PTRACE_SETFPREGS", 16: "PTRACE_ATTACH",
                   17: "PTRACE_DETACH", 18: "PTRACE_GETFPXREGS", 19: "PTRACE_SETFPXREGS",
                   24: "PTRACE_SYSCALL", 25: "PTRACE_GET_THREAD_AREA",
                   26: "PTRACE_SET_THREAD_AREA", 30: "PTRACE_ARCH_PRCTL",
                   31: "PTRACE_SYSEMU", 32: "PTRACE_SYSEMU_SINGLESTEP",
                   33: "PTRACE_SINGLEBLOCK", 0x4200: "PTRACE_SETOPTIONS",
                   0x4201: "PTRACE_GETEVENTMSG", 0x4202: "PTRACE_GETSIGINFO",
                   0x4203: "PTRACE_SETSIGINFO", 0x4204: "PTRACE_GETREGSET",
                   0x4205: "PTRACE_SETREGSET", 0x4206: "PTRACE_SEIZE",
                   0x4207: "PTRACE_INTERRUPT", 0x4208: "PTRACE_LISTEN",
                   0x4209: "PTRACE_PEEKSIGINFO", 0x420A: "PTRACE_GETSIGMASK",
                   0x420B: "PTRACE_SETSIGMASK", 0x420C: "PTRACE_SECCOMP_GET_FILTER",
                   0x420D: "PTRACE_SECCOMP_GET_METADATA", 0x420E: "PTRACE_GET_SYSCALL_INFO",
                   0x420F: "PTRACE_GET_RSEQ_CONFIGURATION",
                   0x4210: "PTRACE_SET_SYSCALL_USER_DISPATCH_CONFIG",
                   0x4211: "PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG"}


@enum_set("ptrace_request")
def ptrace_request(v: int) -> str:
    return xval(u32(v), PTRACE_REQUESTS, "PTRACE_???")


@struct("sysinfo", 112)
def sysinfo(data: bytes, call=None, ctx=None) -> str:
    up, l1, l2, l3, tr, fr, sr, br, ts, fs, procs = unpack("<qQQQQQQQQQH", data)
    th, fh, unit = unpack("<QQI", data, 88)
    return (f"{{uptime={up}, loads=[{l1}, {l2}, {l3}], totalram={tr}, freeram={fr}, "
            f"sharedram={sr}, bufferram={br}, totalswap={ts}, freeswap={fs}, procs={procs}, "
            f"totalhigh={th}, freehigh={fh}, mem_unit={unit}}}")


@struct("tms", 32)
def tms(data: bytes, call=None, ctx=None) -> str:
    u, s_, cu, cs = unpack("<qqqq", data)
    return f"{{tms_utime={u}, tms_stime={s_}, tms_cutime={cu}, tms_cstime={cs}}}"
