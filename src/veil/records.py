"""Records written by the C loop into the ring, parsed into Python objects.

The byte layout is csrc/engine.h's ``struct veil_rec`` (48 bytes), followed
for ENTER by six u64 arguments, then by the captures: each a
``struct veil_cap_hdr`` (16 bytes) and its data, padded to 8 bytes.
"""
from __future__ import annotations

import struct

# the record types, arches and capture kinds of csrc/engine.h (read from the build)
from .abi import (  # noqa: F401
    ARCH_I386,
    ARCH_X32,
    ARCH_X86_64,
    CAP_BUF_ARG,
    CAP_BUF_RET,
    CAP_CSTR,
    CAP_FDPAIR,
    CAP_FDPATH,
    CAP_FDPATH_RET,
    CAP_FIXED_ANY,
    CAP_FIXED_IN,
    CAP_FIXED_OUT,
    CAP_IOV_IN,
    CAP_IOV_OUT,
    CAP_LEN_IN,
    CAP_LEN_OUT,
    CAP_PTRV_LEN,
    CAP_RESULT,
    CAP_SP_FIXED,
    CAP_STRV,
    FLUSH_SIGNAL_OFFSET,
    R_ATTACHED,
    R_DENIED,
    R_DETACHED,
    R_ENTER,
    R_EXEC,
    R_EXIT,
    R_EXITED,
    R_KILLED,
    R_NEWTASK,
    R_SIGNAL,
    R_STOPPED,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

# struct veil_rec, struct veil_rec_enter's arguments, struct veil_cap_hdr
# (tests/test_abi.py checks their sizes against the build)
HEADER = struct.Struct("<IHBBiiQqqq")
ARGS = struct.Struct("<6Q")
CAPHDR = struct.Struct("<BBBBIQ")
HEADER_SIZE = HEADER.size
assert HEADER_SIZE == 48 and CAPHDR.size == 16


class Capture:
    """Memory copied from the tracee for one argument."""

    __slots__ = ("kind", "data", "truncated", "fault", "count")

    def __init__(self, kind: int, data: bytes, truncated: bool, fault: bool, count: int):
        self.kind = kind
        self.data = data
        self.truncated = truncated
        self.fault = fault
        self.count = count

    def strings(self) -> list[tuple[bytes, bool]]:
        """Elements of a CAP_STRV capture: (bytes, truncated)."""
        out = []
        d = self.data
        i = 0
        while i + 4 <= len(d):
            n = d[i] | (d[i + 1] << 8)
            out.append((d[i + 4:i + 4 + n], bool(d[i + 2])))
            i += 4 + n
        return out

    def iovecs(self) -> tuple[list[tuple[int, int, bytes]], bool]:
        """Elements of an iovec capture: ([(base, len, bytes)], more_iovecs_than_shown).
        A short or damaged capture yields what it holds."""
        d = self.data
        if len(d) < 8:
            return [], False
        n, more = struct.unpack_from("<II", d, 0)
        n = min(n, (len(d) - 8) // 24)
        pos = 8 + 24 * n
        out = []
        for i in range(n):
            base, ln, got = struct.unpack_from("<QQI", d, 8 + 24 * i)
            out.append((base, ln, d[pos:pos + got]))
            pos += got
        return out, bool(more)

    def __repr__(self) -> str:
        return f"Capture(kind={self.kind}, data={self.data[:40]!r}, count={self.count})"


class Record:
    """One ring record.  ``caps`` maps argument index to its Capture."""

    __slots__ = ("type", "arch", "pid", "tid", "ts_ns", "nr", "value", "aux", "args", "caps",
                 "payload")

    def __init__(self, type: int, arch: int, pid: int, tid: int, ts_ns: int, nr: int,
                 value: int, aux: int, args: tuple[int, ...] | None,
                 caps: dict[int, Capture] | None, payload: bytes):
        self.type = type
        self.arch = arch
        self.pid = pid
        self.tid = tid
        self.ts_ns = ts_ns
        self.nr = nr
        self.value = value
        self.aux = aux
        self.args = args
        self.caps = caps
        self.payload = payload

    def __repr__(self) -> str:
        return (f"Record(type={self.type}, pid={self.pid}, tid={self.tid}, nr={self.nr}, "
                f"value={self.value}, aux={self.aux})")


def new_task_of(rec: Record) -> tuple[int, int, int, str, int]:
    """A NEWTASK record as Observer.new_task takes it: (parent tid, child tid, child
    pid, "fork" / "vfork" / "clone", time)."""
    how = {1: "fork", 2: "vfork", 3: "clone"}.get(rec.aux, "clone")
    child_pid = (int.from_bytes(rec.payload[:4], "little", signed=True)
                 if rec.payload else rec.value)
    return rec.tid, rec.value, child_pid, how, rec.ts_ns


class CorruptRecord(ValueError):
    def __init__(self, offset: int, reason: str):
        super().__init__(f"corrupt record at byte {offset}: {reason}")
        self.offset = offset


def parse(buf, start: int = 0, end: int | None = None) -> Iterator[Record]:
    """Parse records from ``buf[start:end]``."""
    if end is None:
        end = len(buf)
    unpack_header = HEADER.unpack_from
    unpack_caphdr = CAPHDR.unpack_from
    args_size, cap_size = ARGS.size, CAPHDR.size
    pos = start
    while pos < end:
        if pos + HEADER_SIZE > end:
            raise CorruptRecord(pos, "truncated header")
        size, rtype, arch, ncap, pid, tid, ts, nr, value, aux = unpack_header(buf, pos)
        if size < HEADER_SIZE or size % 8 or pos + size > end:
            raise CorruptRecord(pos, f"bad size {size}")
        body = pos + HEADER_SIZE
        args = None
        caps = None
        payload = b""
        if rtype == R_ENTER:
            args = ARGS.unpack_from(buf, body)
            body += args_size
        if ncap:
            caps = {}
            for _ in range(ncap):
                arg, kind, trunc, fault, ln, count = unpack_caphdr(buf, body)
                data = bytes(buf[body + cap_size:body + cap_size + ln])
                caps[arg] = Capture(kind, data, bool(trunc), bool(fault), count)
                body += (cap_size + ln + 7) & ~7
        elif rtype not in (R_ENTER, R_EXIT) and size > HEADER_SIZE:
            payload = bytes(buf[body:pos + size])
        yield Record(rtype, arch, pid, tid, ts, nr, value, aux, args, caps, payload)
        pos += size
