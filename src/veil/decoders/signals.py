"""Signal family: sigaction, sigprocmask, siginfo (for --- SIG... --- lines)."""
from __future__ import annotations

import struct as _struct

from .. import records as R
from .common import DecodeError, flags, ptr, signal_name, sigset, u32, unpack, xval
from .kstructs import KSIGACTION, KSIGACTION_HEAD
from .registry import EXTRA_CAPTURES, enum_set, special, special_ret, struct

SA_FLAGS = [(0x04000000, "SA_RESTORER"), (0x08000000, "SA_ONSTACK"), (0x10000000, "SA_RESTART"),
            (0x20000000, "SA_INTERRUPT"), (0x40000000, "SA_NODEFER"),
            (0x80000000, "SA_RESETHAND"), (0x00000004, "SA_SIGINFO"),
            (0x00000001, "SA_NOCLDSTOP"), (0x00000002, "SA_NOCLDWAIT")]


def _handler(h: int) -> str:
    return xval(h, {0: "SIG_DFL", 1: "SIG_IGN"})


@struct("sigaction", 32)
def sigaction(data: bytes, call=None, ctx=None) -> str:
    handler, fl, restorer = KSIGACTION_HEAD.parse(data)
    mask = data[KSIGACTION_HEAD.size:KSIGACTION.size]
    parts = [f"sa_handler={_handler(handler)}", f"sa_mask={sigset(mask)}",
             f"sa_flags={flags(fl, SA_FLAGS, dflt='SA_???')}"]
    if fl & 0x04000000:
        parts.append(f"sa_restorer={ptr(restorer)}")
    return "{" + ", ".join(parts) + "}"


@enum_set("sigprocmask_how")
def sigprocmask_how(v: int) -> str:
    return xval(u32(v), {0: "SIG_BLOCK", 1: "SIG_UNBLOCK", 2: "SIG_SETMASK"}, "SIG_???")


SI_CODES = {0: "SI_USER", 0x80: "SI_KERNEL", -1: "SI_QUEUE", -2: "SI_TIMER", -3: "SI_MESGQ",
            -4: "SI_ASYNCIO", -5: "SI_SIGIO", -6: "SI_TKILL"}
CLD_CODES = {1: "CLD_EXITED", 2: "CLD_KILLED", 3: "CLD_DUMPED", 4: "CLD_TRAPPED",
             5: "CLD_STOPPED", 6: "CLD_CONTINUED"}
SEGV_CODES = {1: "SEGV_MAPERR", 2: "SEGV_ACCERR", 3: "SEGV_BNDERR", 4: "SEGV_PKUERR"}
BUS_CODES = {1: "BUS_ADRALN", 2: "BUS_ADRERR", 3: "BUS_OBJERR"}
FPE_CODES = {1: "FPE_INTDIV", 2: "FPE_INTOVF", 3: "FPE_FLTDIV"}
ILL_CODES = {1: "ILL_ILLOPC", 2: "ILL_ILLOPN", 3: "ILL_ILLADR", 4: "ILL_ILLTRP"}
TRAP_CODES = {1: "TRAP_BRKPT", 2: "TRAP_TRACE"}
POLL_CODES = {1: "POLL_IN", 2: "POLL_OUT", 3: "POLL_MSG", 4: "POLL_ERR", 5: "POLL_PRI",
              6: "POLL_HUP"}


def _sigval(data: bytes) -> str:
    si_int, = _struct.unpack_from("<i", data, 24)
    si_ptr, = _struct.unpack_from("<Q", data, 24)
    return f"si_int={si_int}, si_ptr={ptr(si_ptr)}"


def siginfo(data: bytes) -> str:
    """The {si_signo=..., ...} part of a --- SIGNAL --- line (and of waitid, rt_sigtimedwait)."""
    if data is None or len(data) < 48:
        raise DecodeError("short siginfo")
    signo, errno_, code = _struct.unpack_from("<iii", data)
    sname = signal_name(signo) if signo > 0 else str(signo)
    parts = [f"si_signo={sname}"]
    if errno_:
        from .common import errno_name
        parts.append(f"si_errno={errno_name(errno_) if errno_ > 0 else errno_}")
    if code <= 0:  # SI_FROMUSER
        parts.append(f"si_code={SI_CODES.get(code, code)}")
        if code in (0, -6):
            pid, uid = _struct.unpack_from("<iI", data, 16)
            parts += [f"si_pid={pid}", f"si_uid={uid}"]
        elif code in (-1, -3):
            pid, uid = _struct.unpack_from("<iI", data, 16)
            parts += [f"si_pid={pid}", f"si_uid={uid}", _sigval(data)]
        elif code == -2:
            tid, overrun = _struct.unpack_from("<ii", data, 16)
            parts += [f"si_timerid={tid:#x}" if tid else "si_timerid=0",
                      f"si_overrun={overrun}", _sigval(data)]
        return "{" + ", ".join(parts) + "}"
    if signo == 17 and code != 0x80:
        pid, uid, status = _struct.unpack_from("<iIi", data, 16)
        # clock_t printed unsigned, as strace does; waitid(2) leaves both unset
        utime, stime = _struct.unpack_from("<QQ", data, 32)
        parts.append(f"si_code={CLD_CODES.get(code, code)}")
        parts += [f"si_pid={pid}", f"si_uid={uid}"]
        st = signal_name(status) if code in (2, 3, 4, 5, 6) and status > 0 else str(status)
        parts += [f"si_status={st}", f"si_utime={utime}", f"si_stime={stime}"]
        return "{" + ", ".join(parts) + "}"
    table = {11: SEGV_CODES, 7: BUS_CODES, 8: FPE_CODES, 4: ILL_CODES, 5: TRAP_CODES,
             29: POLL_CODES, 31: {1: "SYS_SECCOMP", 2: "SYS_USER_DISPATCH"}}.get(signo)
    if code == 0x80:
        parts.append("si_code=SI_KERNEL")
    else:
        parts.append(f"si_code={table.get(code, code) if table else code}")
    if signo in (11, 7, 8, 4, 5):
        addr = _struct.unpack_from("<Q", data, 16)[0]
        parts.append(f"si_addr={ptr(addr)}")
    elif signo == 29:
        band, fd = _struct.unpack_from("<qi", data, 16)
        parts += [f"si_band={band}", f"si_fd={fd}"]
    elif signo == 31 and code == 1:
        addr, nr, arch = _struct.unpack_from("<QiI", data, 16)
        from ..syscalls.lookup import BY_NR
        sc = BY_NR.get(nr) if arch == 0xC000003E else None
        parts += [f"si_call_addr={ptr(addr)}",
                  f"si_syscall={'__NR_' + sc.name if sc is not None else nr}",
                  f"si_arch={'AUDIT_ARCH_X86_64' if arch == 0xC000003E else hex(arch)}"]
    return "{" + ", ".join(parts) + "}"


@struct("siginfo", 128)
def _siginfo_struct(data: bytes, call=None, ctx=None) -> str:
    return siginfo(data)


@special_ret("rt_sigtimedwait")
def _sigtimedwait_ret(call, ctx):
    return f"{call.ret} ({signal_name(call.ret)})" if call.ret > 0 else None


SS_FLAGS = [(1, "SS_ONSTACK"), (2, "SS_DISABLE"), (0x80000000, "SS_AUTODISARM")]


@struct("stack_t", 24)
def stack_t(data: bytes, call=None, ctx=None) -> str:
    sp, fl, size = unpack("<Qi4xQ", data)
    return (f"{{ss_sp={ptr(sp)}, ss_flags={flags(u32(fl), SS_FLAGS, dflt='SS_???')}, "
            f"ss_size={size}}}")


# rt_sigreturn reads the signal frame on the stack: at the call the handler has
# returned through pretcode, so the stack pointer is at the frame's ucontext,
# whose uc_sigmask follows uc_flags, uc_link, uc_stack (24) and the sigcontext (256).
_UC_SIGMASK_OFFSET = 8 + 8 + 24 + 256
EXTRA_CAPTURES["rt_sigreturn"] = {0: (R.CAP_SP_FIXED, _UC_SIGMASK_OFFSET // 8, 8)}


@special("rt_sigreturn")
def _rt_sigreturn(call, ctx):
    c = call.cap(0)
    if c is None or c.kind != R.CAP_SP_FIXED or len(c.data) < 8:
        return []
    return [f"{{mask={sigset(c.data)}}}"]
