"""In-place edits of an ELF file that need no room: nothing moves, so nothing can break.

lief rewrites a file to grow it (a longer PT_INTERP, a new dynamic entry) by
shifting its contents; that is needed for programs, but some large shared
libraries do not survive it (a shifted libpython crashed on load).  Removing
dynamic entries only compacts the dynamic array and pads it with DT_NULL, as
patchelf does.
"""
from __future__ import annotations

import struct

from .elfheader import ELFCLASS64, ElfError, read_ident

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

PT_DYNAMIC = 2
DT_NULL = 0
DT_RPATH = 15
DT_RUNPATH = 29


def remove_dynamic_tags(path: str, tags: Iterable[int]) -> int:
    """Remove every dynamic entry of PATH whose tag is in TAGS; how many were removed."""
    ident = read_ident(path)
    if ident is None:
        raise ElfError("not an ELF file")
    drop = set(tags)
    wide = ident.elf_class == ELFCLASS64
    ph = ident.endian + ("IIQQQQQQ" if wide else "IIIIIIII")
    entry = struct.Struct(ident.endian + ("qQ" if wide else "iI"))
    with open(path, "r+b") as f:
        f.seek(ident.phoff)
        table = f.read(ident.phentsize * ident.phnum)
        for i in range(ident.phnum):
            fields = struct.unpack_from(ph, table, i * ident.phentsize)
            if fields[0] != PT_DYNAMIC:
                continue
            offset, size = (fields[2], fields[5]) if wide else (fields[1], fields[4])
            f.seek(offset)
            raw = f.read(size)
            entries = [entry.unpack_from(raw, k) for k in range(0, len(raw) - entry.size + 1,
                                                                  entry.size)]
            kept, removed = [], 0
            for tag, value in entries:
                if tag == DT_NULL:
                    break
                if tag in drop:
                    removed += 1
                else:
                    kept.append((tag, value))
            if not removed:
                return 0
            kept += [(DT_NULL, 0)] * (len(entries) - len(kept))
            f.seek(offset)
            f.write(b"".join(entry.pack(tag, value) for tag, value in kept))
            return removed
    return 0
