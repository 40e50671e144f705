"""The constants Python shares with the C accelerator, csrc/engine.h's ``VEIL_*``.

engine.h defines them and the compiled module (``veil._veil_c``) exports them:
each name here is ``lib.VEIL_<name>`` when the C build is there.  Reading a
trace file (``veil show``, the binary and JSON readers) must also work without
it, so the values are written out once more below, in ``WITHOUT_C`` only;
tests/test_abi.py fails when that table and the build disagree.
"""
from __future__ import annotations

try:  # the readers of records also run without the C module
    from ._veil_c import lib as _lib
except ImportError:  # pragma: no cover - depends on the build
    _lib = None

C_BUILT = _lib is not None

# name (without VEIL_) -> value, used only when the C module is missing
WITHOUT_C: dict[str, int] = {
    # record types in the ring (struct veil_rec.type)
    "R_ENTER": 1, "R_EXIT": 2, "R_SIGNAL": 3, "R_EXITED": 4, "R_KILLED": 5,
    "R_NEWTASK": 6, "R_EXEC": 7, "R_STOPPED": 8, "R_ATTACHED": 9, "R_DETACHED": 10,
    "R_DENIED": 11,
    # struct veil_rec.arch
    "ARCH_X86_64": 0, "ARCH_I386": 1, "ARCH_X32": 2,
    # capture kinds (struct veil_cap_hdr.kind) and capture slots
    "CAP_NONE": 0, "CAP_CSTR": 1, "CAP_BUF_ARG": 2, "CAP_BUF_RET": 3, "CAP_FIXED_IN": 4,
    "CAP_FIXED_OUT": 5, "CAP_STRV": 6, "CAP_PTRV_LEN": 7, "CAP_IOV_IN": 8, "CAP_IOV_OUT": 9,
    "CAP_LEN_IN": 10, "CAP_LEN_OUT": 11, "CAP_FIXED_ANY": 12, "CAP_FDPATH": 13,
    "CAP_FDPATH_RET": 14, "CAP_SP_FIXED": 15, "CAP_FIXED_INOUT": 16, "CAP_MSGHDR_IN": 17,
    "CAP_MSGHDR_OUT": 18, "CAP_DEREF_IN": 19, "CAP_DEREF_OUT": 20, "CAP_FDPAIR": 21,
    "CAP_FDPATH_EXIT": 22, "CAP_BUF_TAIL": 23,
    "CAP_RESULT": 6, "CAP_EXIT_SLOT": 8, "IOV_FULL_LEN": 2, "FDPATH_DESCRIBE": 2,
    # the ring flush timer's signal is SIGRTMIN + this
    "FLUSH_SIGNAL_OFFSET": 3,
}


def _value(name: str) -> int:
    if _lib is not None:
        return int(getattr(_lib, "VEIL_" + name))
    return WITHOUT_C[name]


R_ENTER = _value("R_ENTER")
R_EXIT = _value("R_EXIT")
R_SIGNAL = _value("R_SIGNAL")
R_EXITED = _value("R_EXITED")
R_KILLED = _value("R_KILLED")
R_NEWTASK = _value("R_NEWTASK")
R_EXEC = _value("R_EXEC")
R_STOPPED = _value("R_STOPPED")
R_ATTACHED = _value("R_ATTACHED")
R_DETACHED = _value("R_DETACHED")
R_DENIED = _value("R_DENIED")

ARCH_X86_64 = _value("ARCH_X86_64")
ARCH_I386 = _value("ARCH_I386")
ARCH_X32 = _value("ARCH_X32")

CAP_CSTR = _value("CAP_CSTR")
CAP_BUF_ARG = _value("CAP_BUF_ARG")
CAP_BUF_RET = _value("CAP_BUF_RET")
CAP_FIXED_IN = _value("CAP_FIXED_IN")
CAP_FIXED_OUT = _value("CAP_FIXED_OUT")
CAP_STRV = _value("CAP_STRV")
CAP_PTRV_LEN = _value("CAP_PTRV_LEN")
CAP_IOV_IN = _value("CAP_IOV_IN")
CAP_IOV_OUT = _value("CAP_IOV_OUT")
CAP_LEN_IN = _value("CAP_LEN_IN")
CAP_LEN_OUT = _value("CAP_LEN_OUT")
CAP_FIXED_ANY = _value("CAP_FIXED_ANY")
CAP_FDPATH = _value("CAP_FDPATH")
CAP_FDPATH_RET = _value("CAP_FDPATH_RET")
CAP_SP_FIXED = _value("CAP_SP_FIXED")
CAP_FIXED_INOUT = _value("CAP_FIXED_INOUT")
CAP_MSGHDR_IN = _value("CAP_MSGHDR_IN")
CAP_MSGHDR_OUT = _value("CAP_MSGHDR_OUT")
CAP_DEREF_IN = _value("CAP_DEREF_IN")
CAP_DEREF_OUT = _value("CAP_DEREF_OUT")
CAP_FDPAIR = _value("CAP_FDPAIR")
CAP_FDPATH_EXIT = _value("CAP_FDPATH_EXIT")
CAP_BUF_TAIL = _value("CAP_BUF_TAIL")
CAP_RESULT = _value("CAP_RESULT")        # capture slot of the return value
CAP_EXIT_SLOT = _value("CAP_EXIT_SLOT")  # FIXED_INOUT: the exit copy of slot i is slot i + this
IOV_FULL_LEN = _value("IOV_FULL_LEN")    # iovec block flag: elements keep their own length
FDPATH_DESCRIBE = _value("FDPATH_DESCRIBE")

FLUSH_SIGNAL_OFFSET = _value("FLUSH_SIGNAL_OFFSET")


def s32(v: int) -> int:
    """A register's low 32 bits as the int the kernel sees (a pid, an fd, a flag word)."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def s64(v: int) -> int:
    """A register as the signed long the kernel sees."""
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v & (1 << 63) else v
