"""Pieces every decoder family uses: strings, flag sets, errno and signal names."""
from __future__ import annotations

# the signal module without its enums (Signals, Handlers: ~4 ms of start-up with
# enum's import); the same ints
import _signal
import errno as _errno
import os

from ..abi import s32, s64  # noqa: F401  (the decoders' names for them)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence


class DecodeError(Exception):
    """A decoder could not make sense of what it was given."""


# (pid, fd) -> protocol of the traced programs' netlink sockets, as their socket()
# calls said (veil.output.netlinkfds fills it; veil.decoders.netlink reads it)
NETLINK_SOCKETS: dict[tuple[int, int], int] = {}


# --- strings --------------------------------------------------------------

_ESCAPES = {9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 34: '\\"', 92: "\\\\"}


def _build_escape_table() -> list[str]:
    table = []
    for b in range(256):
        if b in _ESCAPES:
            table.append(_ESCAPES[b])
        elif 32 <= b < 127:
            table.append(chr(b))
        else:
            table.append(None)  # octal, depends on the next byte
    return table


_TABLE = _build_escape_table()
_OCTAL_DIGITS = set(b"01234567")


def _needs_hex(data: bytes) -> bool:
    """strace -x: a string with a byte that is neither printable nor whitespace."""
    for b in data:
        if b > 0x7E or (b < 0x20 and not 9 <= b <= 13):
            return True
    return False


def escape_bytes(data: bytes, hex_all: int = 0) -> str:
    """strace's quoting: C escapes, other non-printables in octal (shortest
    form unless an octal digit follows).  ``hex_all`` is strace's -x level:
    1 prints a string in hex when it has a non-printable byte, 2 always."""
    if hex_all and (hex_all >= 2 or _needs_hex(data)):
        return "".join(f"\\x{b:02x}" for b in data)
    out = []
    table = _TABLE
    n = len(data)
    for i, b in enumerate(data):
        s = table[b]
        if s is None:
            if i + 1 < n and data[i + 1] in _OCTAL_DIGITS:
                s = f"\\{b:03o}"
            else:
                s = f"\\{b:o}"
        out.append(s)
    return "".join(out)


def quote(data: bytes, truncated: bool = False, hex_all: int = 0) -> str:
    s = '"' + escape_bytes(data, hex_all) + '"'
    return s + "..." if truncated else s


def quote_limited(data: bytes, total: int, strsize: int, hex_all: int = 0) -> str:
    """A buffer of ``total`` bytes of which ``data`` was captured, cut at strsize."""
    shown = data[:strsize]
    return quote(shown, truncated=total > len(shown), hex_all=hex_all)


def ptr(value: int) -> str:
    return "NULL" if value == 0 else f"{value:#x}"


# --- numbers --------------------------------------------------------------



def u32(v: int) -> int:
    return v & 0xFFFFFFFF


# --- flag sets --------------------------------------------------------------

# --- -X raw|abbrev|verbose ----------------------------------------------------

class XlatStyle:
    """How named constants print (strace's -X): "abbrev" (names), "raw" (the
    number) or "verbose" (``number /* names */``).  The style applies to the
    outermost constant being printed: a flag set built from smaller ones prints
    its whole value once."""
    style = "abbrev"
    depth = 0


XLAT = XlatStyle()


def styled(number: str, symbolic: Callable[[], str]) -> str:
    """``symbolic()`` (names) or ``number``, as the -X style says."""
    if XLAT.style == "abbrev" or XLAT.depth:
        return symbolic()
    if XLAT.style == "raw":
        return number
    XLAT.depth += 1
    try:
        text = symbolic()
    finally:
        XLAT.depth -= 1
    import re  # -X verbose only: re is not imported at start-up
    if text == number or not re.search(r"[A-Za-z_]", re.sub(r"0x[0-9a-f]+", "", text)):
        return number
    return f"{number} /* {text} */"


def hex_number(value: int) -> str:
    return f"{value:#x}" if value else "0"


def flags(value: int, table: Sequence[tuple[int, str]], zero: str | None = "0",
          dflt: str | None = None) -> str:
    """Bits named by ``table`` joined with |, leftover bits in hex (strace's printflags):
    nothing known at all prints ``0x... /* dflt */`` when ``dflt`` is given."""
    return styled(hex_number(value), lambda: _flags(value, table, zero, dflt))


def xval(value: int, table: dict[int, str], dflt: str | None = None) -> str:
    """strace's printxval: the name, else ``0x... /* dflt */`` (plain hex without dflt)."""
    return styled(hex_number(value if value >= 0 else value & 0xFFFFFFFF),
                  lambda: _xval(value, table, dflt))


def _flags(value: int, table: Sequence[tuple[int, str]], zero: str | None = "0",
          dflt: str | None = None) -> str:
    """Bits named by ``table`` joined with |, leftover bits in hex (strace's printflags):
    nothing known at all prints ``0x... /* dflt */`` when ``dflt`` is given."""
    names = []
    left = value
    for bit, name in table:
        if bit and (left & bit) == bit:
            names.append(name)
            left &= ~bit
    if not names:
        if left:
            return f"{left:#x} /* {dflt} */" if dflt else f"{left:#x}"
        return zero if zero is not None else "0"
    if left:
        names.append(f"{left:#x}")
    return "|".join(names)


def _xval(value: int, table: dict[int, str], dflt: str | None = None) -> str:
    """strace's printxval: the name, else ``0x... /* dflt */`` (plain hex without dflt)."""
    name = table.get(value)
    if name is not None:
        return name
    text = f"{value:#x}" if value >= 0 else f"{value & 0xFFFFFFFF:#x}"
    if value == 0:
        text = "0"
    return f"{text} /* {dflt} */" if dflt else text



def octal(v: int) -> str:
    """C's %#03o (strace's print_numeric_umode_t): 022, 0755, 000."""
    s = "0" + format(v, "o") if v else "0"
    return s.rjust(3, "0")


def unpack(fmt, data: bytes, offset: int = 0):
    """struct.unpack_from that raises DecodeError on short or missing data."""
    import struct as _st
    st = fmt if isinstance(fmt, _st.Struct) else _st.Struct(fmt)
    if data is None or offset < 0 or len(data) < offset + st.size:
        raise DecodeError(f"need {st.size} bytes at {offset}, have {0 if data is None else len(data)}")
    return st.unpack_from(data, offset)


def array(items: Iterable[str], limit: int, more: bool = False) -> str:
    """[a, b, ...] cut after ``limit`` elements, as strace's print_array."""
    out = []
    cut = more
    for i, it in enumerate(items):
        if i >= limit:
            cut = True
            break
        out.append(it)
    if cut:
        out.append("...")
    return "[" + ", ".join(out) + "]"


# --- errno ------------------------------------------------------------------

# kernel-internal restart codes (include/linux/errno.h); only tracers see them
RESTART_CODES = {
    512: ("ERESTARTSYS", "To be restarted if SA_RESTART is set"),
    513: ("ERESTARTNOINTR", "To be restarted"),
    514: ("ERESTARTNOHAND", "To be restarted if no handler"),
    515: ("ENOIOCTLCMD", "No ioctl command"),
    516: ("ERESTART_RESTARTBLOCK", "Interrupted by signal"),
    517: ("EPROBE_DEFER", "Driver requests probe retry"),
    518: ("EOPENSTALE", "An open with O_CREAT to a stale file handle"),
    521: ("EBADHANDLE", "Illegal NFS file handle"),
    524: ("ENOTSUPP", "Operation not supported"),
}

# errno module aliases we do not want (strace prints the kernel's first name)
_PREFERRED = {_errno.EAGAIN: "EAGAIN", _errno.EDEADLK: "EDEADLK", _errno.ENOTSUP: "EOPNOTSUPP"}


# the restart codes strace prints as "? NAME (text)" rather than "-1 NAME (text)"
RESTART_QUESTION = {512, 513, 514, 516}


def errno_name(err: int) -> str:
    if err in RESTART_CODES:
        return RESTART_CODES[err][0]
    return _PREFERRED.get(err) or _errno.errorcode.get(err, f"errno {err}")


def errno_text(err: int) -> str:
    if err in RESTART_CODES:
        return RESTART_CODES[err][1]
    return os.strerror(err)


def is_error_return(ret: int) -> bool:
    return -4095 <= ret < 0


# --- signals ----------------------------------------------------------------

SIGNAL_NAMES: dict[int, str] = {}
for _number, _name in sorted((v, n) for n, v in vars(_signal).items()
                             if n.startswith("SIG") and not n.startswith("SIG_")):
    SIGNAL_NAMES.setdefault(_number, _name)     # signal.Signals' names: first by name
SIGNAL_NAMES[6] = "SIGABRT"
SIGNAL_NAMES[29] = "SIGIO"
SIGNAL_NAMES[17] = "SIGCHLD"
_SIGRTMIN = 32


def signal_name(sig: int) -> str:
    if sig in SIGNAL_NAMES and sig < _SIGRTMIN:
        return SIGNAL_NAMES[sig]
    if sig == 32:
        return "SIGRTMIN"  # glibc's internal SIGRTMIN is 34; the kernel's is 32
    if 33 <= sig <= 64:
        return f"SIGRT_{sig - 32}"
    return str(sig)


def sigset(data: bytes, size: int = 8) -> str:
    """A kernel sigset: [INT CHLD], or ~[...] when more than half is set (as strace)."""
    if not data:
        return "[]"
    bits = int.from_bytes(data[:size], "little")
    nsig = 8 * min(size, len(data))
    present = [s for s in range(1, nsig + 1) if bits >> (s - 1) & 1]
    invert = len(present) > nsig // 2
    if invert:
        present = [s for s in range(1, nsig + 1) if not bits >> (s - 1) & 1]
    names = []
    for s in present:
        n = signal_name(s)
        if n == "SIGRTMIN":
            names.append("RTMIN")
        elif n.startswith("SIGRT_"):
            names.append("RT_" + n[6:])
        else:
            names.append(n[3:] if n.startswith("SIG") else n)
    return ("~[" if invert else "[") + " ".join(names) + "]"
