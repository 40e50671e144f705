"""IPC and synchronisation family: futex operations, SysV IPC flags."""
from __future__ import annotations

from .. import records as R
from .common import DecodeError, flags, ptr, u32, xval
from .registry import EXTRA_CAPTURES, enum_set, flag_set, special

FUTEX_CMDS = ["FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_FD", "FUTEX_REQUEUE", "FUTEX_CMP_REQUEUE",
              "FUTEX_WAKE_OP", "FUTEX_LOCK_PI", "FUTEX_UNLOCK_PI", "FUTEX_TRYLOCK_PI",
              "FUTEX_WAIT_BITSET", "FUTEX_WAKE_BITSET", "FUTEX_WAIT_REQUEUE_PI",
              "FUTEX_CMP_REQUEUE_PI", "FUTEX_LOCK_PI2"]
FUTEX_OPS = {}
for _i, _n in enumerate(FUTEX_CMDS):
    FUTEX_OPS[_i] = _n
    FUTEX_OPS[_i | 128] = "FUTEX_FD|FUTEX_PRIVATE_FLAG" if _i == 2 else _n + "_PRIVATE"
for _i in (0, 9, 11):
    FUTEX_OPS[_i | 256] = FUTEX_CMDS[_i] + "|FUTEX_CLOCK_REALTIME"
    FUTEX_OPS[_i | 384] = FUTEX_CMDS[_i] + "_PRIVATE|FUTEX_CLOCK_REALTIME"
WAKE_OPS = {0: "FUTEX_OP_SET", 1: "FUTEX_OP_ADD", 2: "FUTEX_OP_OR", 3: "FUTEX_OP_ANDN",
            4: "FUTEX_OP_XOR"}
WAKE_CMPS = {0: "FUTEX_OP_CMP_EQ", 1: "FUTEX_OP_CMP_NE", 2: "FUTEX_OP_CMP_LT",
             3: "FUTEX_OP_CMP_LE", 4: "FUTEX_OP_CMP_GT", 5: "FUTEX_OP_CMP_GE"}


@enum_set("futex_op")
def futex_op(v: int) -> str:
    return xval(u32(v), FUTEX_OPS, "FUTEX_???")


def _hx(v: int) -> str:
    return f"{v:#x}" if v else "0"


def wake_op(val3: int) -> str:
    op, cmp_ = (val3 >> 28) & 0xF, (val3 >> 24) & 0xF
    parts = []
    if op & 8:
        parts.append("FUTEX_OP_OPARG_SHIFT<<28")
    name = WAKE_OPS.get(op & 7)
    parts.append(f"{name}<<28" if name else f"{op & 7:#x}<<28 /* FUTEX_OP_??? */")
    parts.append(f"{_hx((val3 >> 12) & 0xFFF)}<<12")
    name = WAKE_CMPS.get(cmp_)
    parts.append(f"{name}<<24" if name else f"{cmp_:#x}<<24 /* FUTEX_OP_CMP_??? */")
    parts.append(_hx(val3 & 0xFFF))
    return "|".join(parts)


# the timeout of the waiting operations (for the others the slot is a number)
EXTRA_CAPTURES["futex"] = {3: (R.CAP_FIXED_IN, 0, 16)}


def _futex_ts(call, ctx) -> str:
    from .time import timespec_text
    v = call.args[3]
    if v == 0:
        return "NULL"
    c = call.cap(3)
    if c is None:
        return ptr(v)
    try:
        return timespec_text(c.data)
    except DecodeError:
        return ptr(v)


@special("futex")
def _futex(call, ctx):
    a = call.args
    op = u32(a[1])
    cmd = op & 127
    val, val2, val3 = u32(a[2]), u32(a[3]), u32(a[5])
    out = [ptr(a[0]), futex_op(op)]
    if cmd == 0:
        out += [str(val), _futex_ts(call, ctx)]
    elif cmd in (6, 13):
        out += [_futex_ts(call, ctx)]
    elif cmd == 9:
        out += [str(val), _futex_ts(call, ctx),
                "FUTEX_BITSET_MATCH_ANY" if val3 == 0xFFFFFFFF else _hx(val3)]
    elif cmd == 10:
        out += [str(val), "FUTEX_BITSET_MATCH_ANY" if val3 == 0xFFFFFFFF else _hx(val3)]
    elif cmd == 3:
        out += [str(val), str(val2), ptr(a[4])]
    elif cmd in (4, 12):
        out += [str(val), str(val2), ptr(a[4]), str(val3)]
    elif cmd == 5:
        out += [str(val), str(val2), ptr(a[4]), wake_op(val3)]
    elif cmd == 11:
        out += [str(val), _futex_ts(call, ctx), ptr(a[4])]
    elif cmd in (1, 2):
        out += [str(val)]
    elif cmd in (7, 8):
        pass
    else:
        out += [str(val), ptr(a[3]), ptr(a[4]), _hx(val3)]
    return out


# --- SysV IPC --------------------------------------------------------------------

IPC_FLAGS = [(0o1000, "IPC_CREAT"), (0o2000, "IPC_EXCL"), (0o4000, "IPC_NOWAIT")]


@flag_set("ipc_flags")
def ipc_flags(v: int) -> str:
    v = u32(v)
    perm = v & 0o777
    rest = flags(v & ~0o777, IPC_FLAGS, zero=None, dflt="IPC_???")
    if rest == "0":
        return f"{perm:#o}" if perm else "0"
    return f"{rest}|{perm:#o}" if perm else rest


@enum_set("ipc_cmd")
def ipc_cmd(v: int) -> str:
    return xval(u32(v), {0: "IPC_RMID", 1: "IPC_SET", 2: "IPC_STAT", 3: "IPC_INFO"}, "IPC_???")

