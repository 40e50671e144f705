"""The binary trace file (``veil trace --format binary -o FILE.veil``).

Layout (docs/FORMATS.md has the full description)::

    header    magic "\\x89VEIL\\r\\n\\x1a", format version (u16), the header body
              prefixed by its length (u32), crc32 of the body (u32)
    chunks    "VCHK", length (u32), crc32 (u32), data: the ring records
              (veil.records) as the C loop wrote them, cut into pieces of at
              most ``chunk_size`` bytes (a record may straddle two chunks)
    trailer   "VEND", length, crc32, the end body (exit status, engine stats)

The writer is a raw sink of the Session (``Session.add_raw_sink``): it gets
every batch of ring records as bytes and writes it with a crc32 per chunk; it
never looks inside a record.  The reader (:func:`read_trace`) checks every
chunk and says where a truncated or corrupt file stops making sense.
"""
from __future__ import annotations

import hashlib
import os
import struct
import time
import zlib

from .. import records as R
from .binconst import MAGIC, NR_BITMAP_BYTES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import IO

FORMAT_VERSION = 1
# the ring record layout this file's chunks hold (csrc/engine.h, veil.records);
# bump when struct veil_rec or the capture layout changes
RECORD_VERSION = 1
CHUNK_SIZE = 16384  # bytes of records per chunk (before compression)
ARCH_X86_64 = R.ARCH_X86_64  # the records' arch (csrc/engine.h)
ARCH_NAMES = {ARCH_X86_64: "x86_64"}
FLAG_FOLLOW, FLAG_DECORATE_FDS, FLAG_SECCOMP, FLAG_ATTACH = 1, 2, 4, 8

TAG_CHUNK = b"VCHK"   # raw records
TAG_ZCHUNK = b"VCHZ"  # zlib-compressed records
TAG_END = b"VEND"
FRAME = struct.Struct("<4sII")  # tag, length, crc32
FRAME_SIZE = FRAME.size

# The file's structures are construct definitions (veil.output.binformat:
# Header, HeaderBody, Frame, EndBody), used by the reader.  The writer packs
# the same bytes with struct, which saves veil trace construct's import time
# (tests/test_formats.py checks that both agree).
_HEAD_FIXED = struct.Struct("<HBBIIQ16s128s")
_END = struct.Struct("<QiiBQQQQQ")


class TraceFileError(Exception):
    """The file is not a veil trace, or is truncated or corrupt at ``offset``."""

    def __init__(self, message: str, offset: int | None = None,
                 record: int | None = None):
        super().__init__(message)
        self.offset = offset
        self.record = record


def syscall_table_fingerprint() -> bytes:
    """16 bytes naming the syscall table's numbering (x86_64, i386 and x32
    numbers and names) that the records refer to: a file shown by a veil that
    numbers syscalls differently says so.  Better decoders (argument kinds)
    do not change it: a file is shown with the decoders of the veil showing it."""
    from ..syscalls.lookup import I386_NAMES, SYSCALLS, X32_NAMES
    h = hashlib.sha256()
    h.update(repr([(sc.nr, sc.name) for sc in SYSCALLS]).encode())
    h.update(repr(sorted(I386_NAMES.items())).encode())
    h.update(repr(sorted(X32_NAMES.items())).encode())
    return h.digest()[:16]


def nr_bitmap(nrs: Iterable[int]) -> bytes:
    bits = bytearray(NR_BITMAP_BYTES)
    for nr in nrs:
        if 0 <= nr < NR_BITMAP_BYTES * 8:
            bits[nr >> 3] |= 1 << (nr & 7)
    return bytes(bits)


def nrs_of_bitmap(bits: bytes) -> set[int]:
    return {i for i in range(len(bits) * 8) if bits[i >> 3] & (1 << (i & 7))}


def _uname() -> str:
    u = os.uname()
    return f"{u.sysname} {u.release} {u.machine}"


def _str16(text: str) -> bytes:
    b = text.encode("utf-8")[:0xFFFF]
    return struct.pack("<H", len(b)) + b


def _bytes32(b: bytes) -> bytes:
    return struct.pack("<I", len(b)) + b


def build_header(*, argv: Sequence[str] = (), attach_pids: Sequence[int] = (),
                 traced: Iterable[int] = (), trace_expr: str = "all", strsize: int = 32,
                 follow: bool = True, decorate_fds: bool = False, seccomp: bool = True,
                 start_ns: int | None = None, cwd: str | None = None,
                 chunk_size: int = CHUNK_SIZE, raw: Iterable[int] = ()) -> bytes:
    """The file header (binformat.Header): what was traced, how, and where."""
    from ..version import VERSION as __version__
    flags = ((FLAG_FOLLOW if follow else 0) | (FLAG_DECORATE_FDS if decorate_fds else 0)
             | (FLAG_SECCOMP if seccomp else 0) | (FLAG_ATTACH if attach_pids else 0))
    body = b"".join([
        _HEAD_FIXED.pack(RECORD_VERSION, ARCH_X86_64, flags, strsize, chunk_size,
                         time.time_ns() if start_ns is None else start_ns,
                         syscall_table_fingerprint(), nr_bitmap(traced)),
        _str16(trace_expr), _str16(__version__), _str16(_uname()), _str16(os.uname().nodename),
        _bytes32(os.fsencode(os.getcwd() if cwd is None else cwd)),
        struct.pack("<I", len(argv)), *(_bytes32(os.fsencode(a)) for a in argv),
        struct.pack("<I", len(attach_pids)), *(struct.pack("<i", p) for p in attach_pids),
        nr_bitmap(raw),
    ])
    prefixed = struct.pack("<I", len(body)) + body
    return MAGIC + struct.pack("<H", FORMAT_VERSION) + prefixed + \
        struct.pack("<I", zlib.crc32(prefixed))


class BinaryWriter:
    """Writes the header at once, then every ring batch given to ``write``
    (use it as a Session raw sink), then the trailer at ``finish``.

    ``header`` takes :func:`build_header`'s keywords.  Nothing here looks
    inside a record: a batch is cut into chunks of ``chunk_size`` bytes, each
    compressed (zlib level 1, unless ``compress=False``) and checksummed."""

    def __init__(self, out: IO[bytes], *, chunk_size: int = CHUNK_SIZE, compress: bool = True,
                 **header):
        self.out = out
        self.chunk_size = chunk_size
        self.compress = compress
        self._write = out.write
        self._write(build_header(chunk_size=chunk_size, **header))
        self.out.flush()

    def write(self, data: bytes) -> None:
        """One batch of ring records."""
        n = len(data)
        if not n:
            return
        w = self._write
        pack = FRAME.pack
        crc32 = zlib.crc32
        step = self.chunk_size
        view = memoryview(data)
        if self.compress:
            compress = zlib.compress
            for i in range(0, n, step):
                z = compress(view[i:i + step], 1)
                w(pack(TAG_ZCHUNK, len(z), crc32(z)))
                w(z)
        else:
            for i in range(0, n, step):
                piece = view[i:i + step]
                w(pack(TAG_CHUNK, len(piece), crc32(piece)))
                w(piece)
        # a veil killed later still leaves every batch it was given
        self.out.flush()

    __call__ = write

    def finish(self, result=None, interrupted: bool = False) -> None:
        """The trailer: how the run ended.  A file without it is reported as truncated."""
        st: dict[str, int] = dict(getattr(result, "engine_stats", None) or {})
        status = getattr(result, "status", None)
        body = _END.pack(time.time_ns(),
                         getattr(result, "exit_code", -1) if result is not None else -1,
                         -1 if status is None else status, int(interrupted),
                         st.get("stops", 0), st.get("syscall_stops", 0),
                         st.get("tasks_seen", 0), st.get("records", 0),
                         st.get("ring_drains", 0))
        self._write(FRAME.pack(TAG_END, len(body), zlib.crc32(body)) + body)
        self.out.flush()


# --- reading ---------------------------------------------------------------------

class TraceInfo:
    """What the header (and, once read, the trailer) says."""

    def __init__(self, version: int, body, header_size: int):
        self.version = version
        self.header_size = header_size
        self.record_version = body.record_version
        self.arch = body.arch
        self.follow = bool(body.flags.follow)
        self.decorate_fds = bool(body.flags.decorate_fds)
        self.seccomp = bool(body.flags.seccomp)
        self.attach = bool(body.flags.attach)
        self.strsize = body.strsize
        self.chunk_size = body.chunk_size
        self.start_ns = body.start_ns
        self.table_fingerprint = bytes(body.table_fingerprint)
        self.traced = nrs_of_bitmap(body.traced)
        # -e raw= when recording (absent from files of older veils)
        self.raw = nrs_of_bitmap(body.raw) if body.get("raw") is not None else set()
        self.trace_expr = body.trace_expr
        self.veil_version = body.veil_version
        self.kernel = body.kernel
        self.hostname = body.hostname
        self.cwd = os.fsdecode(body.cwd)
        self.argv = [os.fsdecode(a) for a in body.argv]
        self.attach_pids = list(body.attach_pids)
        self.end = None  # the EndBody container, once the trailer is read
        self.records_read = 0

    @property
    def same_table(self) -> bool:
        return self.table_fingerprint == syscall_table_fingerprint()


def read_header(f: IO[bytes], name: str = "file") -> TraceInfo:
    from construct import ConstructError

    from .binformat import Header
    head = f.read(len(MAGIC) + 2 + 4)
    if len(head) < len(MAGIC) or head[:len(MAGIC)] != MAGIC:
        raise TraceFileError(f"{name}: not a veil trace file (no veil magic at the start)", 0)
    if len(head) < len(MAGIC) + 6:
        raise TraceFileError(f"{name}: truncated in the header (at byte {len(head)})", len(head))
    version, blen = struct.unpack_from("<HI", head, len(MAGIC))
    if version != FORMAT_VERSION:
        raise TraceFileError(f"{name}: trace format version {version} is not supported "
                             f"(this veil reads version {FORMAT_VERSION})", len(MAGIC))
    if blen > 1 << 24:
        raise TraceFileError(f"{name}: corrupt header (body length {blen})", len(MAGIC) + 2)
    rest = f.read(blen + 4)
    size = len(head) + len(rest)
    if len(rest) < blen + 4:
        raise TraceFileError(f"{name}: truncated in the header (at byte {size})", size)
    try:
        parsed = Header.parse(head + rest)
    except ConstructError as e:
        what = "checksum mismatch" if "checksum" in str(e).lower() else str(e).splitlines()[0]
        raise TraceFileError(f"{name}: corrupt header ({what})", 0) from None
    info = TraceInfo(version, parsed.body.value, size)
    if info.record_version != RECORD_VERSION:
        raise TraceFileError(f"{name}: record layout version {info.record_version} is not "
                             f"supported (this veil reads version {RECORD_VERSION})", len(MAGIC) + 6)
    if info.arch not in ARCH_NAMES:
        raise TraceFileError(f"{name}: recorded on an unsupported architecture ({info.arch})",
                             len(MAGIC) + 8)
    return info


_TYPES = frozenset(range(R.R_ENTER, R.R_DENIED + 1))
_MAX_RECORD = 1 << 20


def _bad_body(buf, p: int, size: int, rtype: int, ncap: int) -> str | None:
    """Why the arguments and captures of the record at ``p`` do not fit in its
    ``size`` bytes (the live ring is written by C; a file may be anything)."""
    end = p + size
    body = p + R.HEADER_SIZE + (R.ARGS.size if rtype == R.R_ENTER else 0)
    if body > end:
        return f"size {size} too small for a type {rtype} record"
    for i in range(ncap):
        if body + R.CAPHDR.size > end:
            return f"capture {i + 1} of {ncap} outside the record"
        body += (R.CAPHDR.size + R.CAPHDR.unpack_from(buf, body)[4] + 7) & ~7
        if body > end:
            return f"capture {i + 1} of {ncap} longer than the record"
    return None


def read_trace(f: IO[bytes], feed: Callable[[bytes], None], name: str = "file",
               info: TraceInfo | None = None) -> TraceInfo:
    """Read the header, then give ``feed`` the records, in order, in runs of
    whole records.  Raises :class:`TraceFileError` at the first chunk that is
    cut short or fails its checksum, or at a record that makes no sense,
    after everything before it was fed; also when the trailer is missing."""
    from construct import ConstructError

    from .binformat import EndBody
    if info is None:
        info = read_header(f, name)
    pos = info.header_size            # file offset of the next frame
    pending = b""                     # record bytes not fed yet
    chunks: list[tuple[int, int]] = []  # (stream offset, frame offset) of chunks in `pending`
    stream = 0                        # stream offset of pending[0]
    nrec = 0                          # records fed so far

    def chunk_at(off: int) -> int:
        """File offset of the chunk that holds stream offset ``off``."""
        best = pos
        for s_off, f_off in chunks:
            if s_off <= off:
                best = f_off
        return best

    def whole_records() -> None:
        """Feed the whole records at the start of `pending`."""
        nonlocal pending, stream, nrec, chunks
        buf = pending
        end = len(buf)
        p = 0
        n = 0
        unpack = R.HEADER.unpack_from
        bad = None
        while p + R.HEADER_SIZE <= end:
            size, rtype, arch, ncap = unpack(buf, p)[:4]
            if size < R.HEADER_SIZE or size % 8 or size > _MAX_RECORD or rtype not in _TYPES \
                    or ncap > 7:
                bad = f"size {size}, type {rtype}"
                break
            if p + size > end:
                break
            bad = _bad_body(buf, p, size, rtype, ncap)
            if bad is not None:
                break
            p += size
            n += 1
        if p:
            try:
                feed(buf[:p] if p < end else buf)
            except R.CorruptRecord as e:
                raise TraceFileError(
                    f"{name}: corrupt record after record {nrec} (chunk at byte "
                    f"{chunk_at(stream + e.offset)}): {e.args[0]}", chunk_at(stream + e.offset),
                    nrec + 1) from None
            nrec += n
            pending = buf[p:]
            stream += p
            keep = [c for c in chunks if c[0] <= stream]
            chunks = keep[-1:] + [c for c in chunks if c[0] > stream]
        if bad is not None:
            raise TraceFileError(f"{name}: corrupt record {nrec + 1} (chunk at byte "
                                 f"{chunk_at(stream)}): {bad}", chunk_at(stream), nrec + 1)

    def cut(what: str, offset: int) -> TraceFileError:
        """The error for a file that stops making sense at ``offset``."""
        if pending:
            return TraceFileError(f"{name}: {what} at byte {offset}, in record {nrec + 1} "
                                  f"(records 1-{nrec} shown)", offset, nrec + 1)
        if not nrec:
            return TraceFileError(f"{name}: {what} at byte {offset}, before record 1 (nothing shown)",
                                  offset, 1)
        return TraceFileError(f"{name}: {what} at byte {offset}, after record {nrec}",
                              offset, nrec + 1)

    max_stored = info.chunk_size + info.chunk_size // 8 + 64  # zlib's worst case and then some
    while True:
        fh = f.read(FRAME_SIZE)
        if len(fh) < FRAME_SIZE:
            whole_records()
            if not fh:
                raise cut("truncated: the file ends without its end marker", pos)
            raise cut("truncated in a frame header", pos)
        tag, length, crc = FRAME.unpack(fh)
        if tag in (TAG_CHUNK, TAG_ZCHUNK):
            if length > max_stored:
                whole_records()
                raise cut(f"corrupt frame (chunk length {length})", pos)
            data = f.read(length)
            short = len(data) < length
            if not short and zlib.crc32(data) != crc:
                whole_records()
                raise cut("corrupt chunk (checksum mismatch)", pos)
            if tag == TAG_ZCHUNK:
                d = zlib.decompressobj()
                try:
                    raw = d.decompress(data, info.chunk_size + 1)
                except zlib.error:
                    raw = None
                if raw is None or len(raw) > info.chunk_size or \
                        (not short and not d.eof):
                    whole_records()
                    raise cut("corrupt chunk (does not decompress)", pos)
            else:
                raw = data
            # a chunk cut short: its bytes are as written; show the records
            # they complete, then say where the file ends
            chunks.append((stream + len(pending), pos))
            pending += raw
            whole_records()
            if short:
                raise cut("truncated in a chunk", pos + FRAME_SIZE + len(data))
            pos += FRAME_SIZE + length
        elif tag == TAG_END:
            data = f.read(length)
            if len(data) < length or zlib.crc32(data) != crc:
                raise cut("corrupt or truncated end marker", pos)
            try:
                info.end = EndBody.parse(data)
            except ConstructError:
                raise cut("corrupt end marker", pos) from None
            if pending:
                raise cut("truncated record before the end marker", pos)
            info.records_read = nrec
            if f.read(1):
                raise cut("unexpected data after the end marker",
                          pos + FRAME_SIZE + length)
            return info
        else:
            whole_records()
            raise cut(f"corrupt frame header (tag {tag!r})", pos)
