"""Reading what the C side captured, whatever the C side can capture.

Some decoders want capture kinds that the C accelerator may not have yet
(asked for in docs/HOWTO_ADD_SYSCALL.md, "Capture kinds").  Each is probed
here from the compiled module's constants; a decoder asks for the better
capture when it exists and falls back to an older one (or to printing the
address) when it does not, so the same decoder works with both.

* ``FIXED_INOUT``: ``limit`` bytes at ``args[i]`` copied at entry (slot ``i``)
  and again at exit whatever the result (slot ``i + EXIT_SLOT``).
* ``MSGHDR_IN`` / ``MSGHDR_OUT``: a ``struct msghdr`` at ``args[param]`` with
  the name, control buffer and iovec data it points to (entry / exit).
* ``DEREF_IN`` / ``DEREF_OUT``: ``limit`` bytes at the pointer stored in the
  word ``param & 31`` of the struct that ``args[param >> 5]`` points to
  (entry / exit whatever the result): pselect6's sigmask, clone3's pidfd.
* iovec captures whose per-element metadata keeps the element's own length
  (``IOV_FULL_LEN``, announced by bit 1 of the capture's second header word).
"""
from __future__ import annotations

import struct as _struct

from .. import abi
from .. import records as R

# the kinds this build of the C module captures (None: not without the build)
CAP_FIXED_INOUT: int | None = abi.CAP_FIXED_INOUT if abi.C_BUILT else None
CAP_MSGHDR_IN: int | None = abi.CAP_MSGHDR_IN if abi.C_BUILT else None
CAP_MSGHDR_OUT: int | None = abi.CAP_MSGHDR_OUT if abi.C_BUILT else None
CAP_DEREF_IN: int | None = abi.CAP_DEREF_IN if abi.C_BUILT else None
CAP_DEREF_OUT: int | None = abi.CAP_DEREF_OUT if abi.C_BUILT else None
EXIT_SLOT: int = abi.CAP_EXIT_SLOT

# the kind numbers the decoders recognise in records, even without the C module
# (records may come from a file)
KIND_FIXED_INOUT = abi.CAP_FIXED_INOUT
KIND_MSGHDR_IN = abi.CAP_MSGHDR_IN
KIND_MSGHDR_OUT = abi.CAP_MSGHDR_OUT
KIND_DEREF_IN = abi.CAP_DEREF_IN
KIND_DEREF_OUT = abi.CAP_DEREF_OUT

IOV_FULL_LEN = abi.IOV_FULL_LEN  # bit of the iovec block's second word: metadata = (base, iov_len, got, avail)
IOV_FULL_LEN_SUPPORTED = abi.C_BUILT

_EXIT_ONLY = (R.CAP_FIXED_OUT, R.CAP_FIXED_ANY, R.CAP_BUF_RET, R.CAP_LEN_OUT, R.CAP_IOV_OUT)


def inout(kind_limit: int) -> tuple[int, int, int]:
    """A (kind, param, limit) capture spec that sees the argument at entry and exit
    when C can; otherwise at exit only (FIXED_ANY)."""
    if CAP_FIXED_INOUT is not None:
        return (CAP_FIXED_INOUT, 0, kind_limit)
    return (R.CAP_FIXED_ANY, 0, kind_limit)


def inout_or_entry(kind_limit: int) -> tuple[int, int, int]:
    """As inout(), but without FIXED_INOUT the entry copy (FIXED_IN) is kept."""
    if CAP_FIXED_INOUT is not None:
        return (CAP_FIXED_INOUT, 0, kind_limit)
    return (R.CAP_FIXED_IN, 0, kind_limit)


def _ok(c) -> bool:
    return c is not None and not c.fault


def entry_data(call, i: int) -> bytes | None:
    """Bytes of argument ``i`` as they were at entry, if captured then."""
    c = call.caps.get(i)
    if not _ok(c) or c.kind in _EXIT_ONLY:
        return None
    return c.data


def exit_data(call, i: int) -> bytes | None:
    """Bytes of argument ``i`` as the call left them, if captured at exit."""
    c = call.caps.get(i)
    if c is not None and c.kind == KIND_FIXED_INOUT:
        c = call.caps.get(i + EXIT_SLOT)
        return c.data if _ok(c) else None
    if not _ok(c) or c.kind not in _EXIT_ONLY:
        return None
    return c.data


def stable_data(call, i: int) -> bytes | None:
    """Bytes of an argument the kernel does not change (read at entry or, failing
    that, at exit): an input struct captured by FIXED_INOUT or FIXED_ANY."""
    d = entry_data(call, i)
    if d is None and call.ret is not None:
        d = exit_data(call, i)
    return d


def iovecs(data: bytes) -> tuple[list[tuple[int, int, bytes, int]], bool]:
    """An iovec capture: ([(base, iov_len, captured bytes, bytes transferred)], more).

    With the old metadata the element's own length is not known: the
    transferred length stands for it."""
    if data is None or len(data) < 8:
        return [], False
    n, word = _struct.unpack_from("<II", data, 0)
    full = bool(word & IOV_FULL_LEN)
    pos = 8 + 24 * n
    if pos > len(data):
        n = max(0, (len(data) - 8) // 24)
        pos = 8 + 24 * n
    out = []
    for k in range(n):
        base, ln, got, avail = _struct.unpack_from("<QQII", data, 8 + 24 * k)
        chunk = data[pos:pos + got]
        pos += got
        out.append((base, ln, chunk, avail if full else ln))
    return out, bool(word & 1)
