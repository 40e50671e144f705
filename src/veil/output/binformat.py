"""The binary trace file's structures as construct definitions.

This is the normative description of the format (docs/FORMATS.md explains
it); :mod:`veil.output.binary` reads files with these and writes the same
bytes with ``struct`` (so that ``veil trace`` does not pay construct's import
time).  Integers are little-endian.
"""
from __future__ import annotations

import zlib

from construct import (
                       Bytes,
                       Checksum,
                       Const,
                       FlagsEnum,
                       GreedyBytes,
                       Int8ul,
                       Int16ul,
                       Int32sl,
                       Int32ul,
                       Int64ul,
                       Optional,
                       PascalString,
                       Prefixed,
                       PrefixedArray,
                       RawCopy,
                       Struct,
                       this,
)

from .binconst import MAGIC, NR_BITMAP_BYTES

_Str16 = PascalString(Int16ul, "utf8")

HeaderBody = Struct(
    "record_version" / Int16ul,
    "arch" / Int8ul,
    "flags" / FlagsEnum(Int8ul, follow=1, decorate_fds=2, seccomp=4, attach=8),
    "strsize" / Int32ul,
    "chunk_size" / Int32ul,
    "start_ns" / Int64ul,                       # CLOCK_REALTIME when recording began
    "table_fingerprint" / Bytes(16),            # syscall_table_fingerprint()
    "traced" / Bytes(NR_BITMAP_BYTES),          # bit nr set: syscall nr was traced
    "trace_expr" / _Str16,                      # the -e trace= expression as given
    "veil_version" / _Str16,
    "kernel" / _Str16,                          # uname: sysname release machine
    "hostname" / _Str16,
    "cwd" / Prefixed(Int32ul, GreedyBytes),
    "argv" / PrefixedArray(Int32ul, Prefixed(Int32ul, GreedyBytes)),
    "attach_pids" / PrefixedArray(Int32ul, Int32sl),
    # fields added by later versions of format 1 go here; readers skip what
    # they do not know (the body is length-prefixed)
    "raw" / Optional(Bytes(NR_BITMAP_BYTES)),   # bit nr set: -e raw= (no memory read); 0.x+
)

Header = Struct(
    "magic" / Const(MAGIC),
    "version" / Int16ul,
    "body" / RawCopy(Prefixed(Int32ul, HeaderBody)),
    "crc" / Checksum(Int32ul, zlib.crc32, this.body.data),   # of length + body
)

EndBody = Struct(
    "end_ns" / Int64ul,
    "exit_code" / Int32sl,          # veil's exit status (the tracee's, 128+N on signal)
    "status" / Int32sl,             # raw wait status of the main process, -1 if unknown
    "interrupted" / Int8ul,         # 1: veil was interrupted and detached
    "stops" / Int64ul,
    "syscall_stops" / Int64ul,
    "tasks_seen" / Int64ul,
    "records" / Int64ul,
    "ring_drains" / Int64ul,
)

# what follows the header: a sequence of frames (documentation and the reader's
# tests; the writer packs FRAME by hand on the hot path)
Frame = Struct(
    "tag" / Bytes(4),
    "length" / Int32ul,
    "crc" / Int32ul,
    "data" / Bytes(this.length),
)


