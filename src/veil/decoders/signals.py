"""Signal family: sigaction, sigprocmask, siginfo (for --- SIG... --- lines)."""
from __future__ import annotations

import struct as _struct

from .common import enum, flags, ptr, s32, signal_name, sigset, u32
from .. import records as R
from .registry import EXTRA_CAPTURES, enum_set, special, struct

SA_FLAGS = [(0x00000001, "SA_NOCLDSTOP"), (0x00000002, "SA_NOCLDWAIT"),
            (0x00000004, "SA_SIGINFO"), (0x04000000, "SA_RESTORER"), (0x08000000, "SA_ONSTACK"),
            (0x10000000, "SA_RESTART"), (0x40000000, "SA_NODEFER"), (0x80000000, "SA_RESETHAND")]


def _handler(h: int) -> str:
    return {0: "SIG_DFL", 1: "SIG_IGN"}.get(h, f"{h:#x}")


@struct("sigaction", 32)
def sigaction(data: bytes, call, ctx) -> str:
    handler, fl, restorer = _struct.unpack_from("<QQQ", data)
    mask = data[24:32]
    parts = [f"sa_handler={_handler(handler)}", f"sa_mask={sigset(mask)}",
             f"sa_flags={flags(fl, SA_FLAGS)}"]
    if fl & 0x04000000:
        parts.append(f"sa_restorer={ptr(restorer)}")
    return "{" + ", ".join(parts) + "}"


@enum_set("sigprocmask_how")
def sigprocmask_how(v: int) -> str:
    return enum(s32(v), {0: "SIG_BLOCK", 1: "SIG_UNBLOCK", 2: "SIG_SETMASK"})


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


def siginfo(data: bytes) -> str:
    """The {si_signo=..., ...} part of a --- SIGNAL --- line."""
    signo, errno_, code = _struct.unpack_from("<iii", data)
    sname = signal_name(signo)
    parts = [f"si_signo={sname}"]
    if code <= 0 or code == 0x80:
        parts.append(f"si_code={SI_CODES.get(code, code)}")
        if code in (0, -6, -1):
            pid, uid = _struct.unpack_from("<iI", data, 16)
            parts += [f"si_pid={pid}", f"si_uid={uid}"]
        return "{" + ", ".join(parts) + "}"
    if signo == 17:
        pid, uid, status = _struct.unpack_from("<iIi", data, 16)
        utime, stime = _struct.unpack_from("<qq", data, 32)
        parts.append(f"si_code={CLD_CODES.get(code, code)}")
        parts += [f"si_pid={pid}", f"si_uid={uid}"]
        st = signal_name(status) if code in (2, 3, 4, 5, 6) else str(status)
        parts += [f"si_status={st}", f"si_utime={utime}", f"si_stime={stime}"]
        return "{" + ", ".join(parts) + "}"
    table = {11: SEGV_CODES, 7: BUS_CODES, 8: FPE_CODES, 4: ILL_CODES, 5: TRAP_CODES,
             29: POLL_CODES}.get(signo)
    parts.append(f"si_code={table.get(code, code) if table else code}")
    if signo in (11, 7, 8, 4, 5):
        addr = _struct.unpack_from("<Q", data, 16)[0]
        parts.append(f"si_addr={ptr(addr)}")
    return "{" + ", ".join(parts) + "}"


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
