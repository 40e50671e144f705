"""The dynamic loader's cache, /etc/ld.so.cache (glibc's "glibc-ld.so.cache1.1" format).

Parsed directly; when the file is missing or in a format we do not know,
``ldconfig -p`` is asked instead.  ``lookup`` picks the entry the loader
would: the right ABI flags, a glibc-hwcaps subdirectory the CPU supports
first (best first), else the plain entry.
"""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
from dataclasses import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

CACHE_PATH = "/etc/ld.so.cache"
MAGIC_NEW = b"glibc-ld.so.cache1.1"
HEADER_NEW = struct.Struct("<20sIIB3xI12x")      # magic+version, nlibs, len_strings, flags, ext offset
ENTRY_NEW = struct.Struct("<iIIIQ")               # flags, key, value, osversion, hwcap
EXTENSION_MAGIC = 0xEAA42174
EXT_TAG_GLIBC_HWCAPS = 1
HWCAP_EXTENSION = 1 << 62

# ld.so.cache flags (glibc's ldconfig.h): type FLAG_ELF_LIBC6 plus an ABI marker.
FLAG_ELF_LIBC6 = 0x0003
ABI_FLAGS = {("ELF64", "x86_64"): 0x0300, ("ELF32", "x86_64"): 0x0800,  # x32
             ("ELF64", "aarch64"): 0x0a00, ("ELF64", "ppc64"): 0x0500,
             ("ELF64", "s390"): 0x0400, ("ELF64", "sparcv9"): 0x0700,
             ("ELF32", "i386"): 0x0000, ("ELF32", "arm"): 0x0900}
LDCONFIG_ABI = {0x0303: "libc6,x86-64", 0x0803: "libc6,x32", 0x0003: "libc6",
                0x0a03: "libc6,AArch64", 0x0503: "libc6,64bit", 0x0403: "libc6,64bit",
                0x0703: "libc6,64bit", 0x0903: "libc6,hard-float"}


@dataclass(frozen=True)
class CacheEntry:
    flags: int
    path: str
    hwcaps: str | None = None      # glibc-hwcaps subdirectory name, e.g. "x86-64-v3"
    legacy_hwcap: bool = False        # old-style hwcap bits (not used by glibc >= 2.37)


@dataclass
class LdCache:
    entries: dict[str, list[CacheEntry]] = field(default_factory=dict)
    source: str = CACHE_PATH

    def lookup(self, name: str, wanted_flags: int | None,
               hwcaps_priority: Sequence[str] = ()) -> str | None:
        """The path the loader takes from the cache for NAME, or None."""
        best: CacheEntry | None = None
        best_rank = len(hwcaps_priority)
        for entry in self.entries.get(name, ()):
            if wanted_flags is not None and entry.flags != wanted_flags:
                continue
            if entry.hwcaps is not None:
                if entry.hwcaps in hwcaps_priority:
                    rank = hwcaps_priority.index(entry.hwcaps)
                    if rank < best_rank:
                        best, best_rank = entry, rank
            elif entry.legacy_hwcap:
                continue
            elif best is None:
                best = entry
        return best.path if best else None


def _cstring(data: bytes, offset: int) -> str:
    end = data.index(b"\0", offset)
    return data[offset:end].decode("utf-8", "surrogateescape")


def parse_cache(data: bytes) -> dict[str, list[CacheEntry]]:
    """Parse the new-format cache (possibly behind an old "ld.so-1.7.0" table)."""
    base = data.find(MAGIC_NEW)
    if base < 0:
        raise ValueError("no glibc-ld.so.cache1.1 header")
    view = data[base:]
    _magic, nlibs, _len_strings, _flags, ext_offset = HEADER_NEW.unpack_from(view, 0)
    hwcaps = _hwcaps_names(view, ext_offset)
    entries: dict[str, list[CacheEntry]] = {}
    for i in range(nlibs):
        flags, key, value, _osv, hwcap = ENTRY_NEW.unpack_from(view, HEADER_NEW.size
                                                               + i * ENTRY_NEW.size)
        subdir: str | None = None
        legacy = False
        if (hwcap >> 32) == (HWCAP_EXTENSION >> 32):
            index = hwcap & 0xFFFFFFFF
            subdir = hwcaps[index] if index < len(hwcaps) else "?"
        elif hwcap:
            legacy = True
        name = _cstring(view, key)
        entries.setdefault(name, []).append(CacheEntry(flags, _cstring(view, value), subdir, legacy))
    return entries


def _hwcaps_names(view: bytes, ext_offset: int) -> list[str]:
    if not ext_offset or ext_offset + 8 > len(view):
        return []
    magic, count = struct.unpack_from("<II", view, ext_offset)
    if magic != EXTENSION_MAGIC:
        return []
    for i in range(count):
        tag, _flags, offset, size = struct.unpack_from("<IIII", view, ext_offset + 8 + 16 * i)
        if tag == EXT_TAG_GLIBC_HWCAPS:
            offsets = struct.unpack_from(f"<{size // 4}I", view, offset)
            return [_cstring(view, o) for o in offsets]
    return []


_LDCONFIG_LINE = re.compile(r"^\s+(\S+) \(([^)]*)\) => (.+)$")


def parse_ldconfig_p(text: str) -> dict[str, list[CacheEntry]]:
    """Entries from ``ldconfig -p`` output (the fallback when the cache cannot be read)."""
    by_abi = {v: k for k, v in LDCONFIG_ABI.items()}
    entries: dict[str, list[CacheEntry]] = {}
    for line in text.splitlines():
        m = _LDCONFIG_LINE.match(line)
        if not m:
            continue
        name, desc, path = m.groups()
        abi, _, hw = desc.partition(", hwcap: ")
        subdir = None
        if hw:
            subdir = hw.strip('"').rsplit("/", 1)[-1]
        flags = by_abi.get(abi, -1)
        entries.setdefault(name, []).append(CacheEntry(flags, path, subdir))
    return entries


def wanted_flags(elf_class: str, machine: str) -> int | None:
    """The cache flags the loader for this class and machine accepts (None: unknown ABI)."""
    abi = ABI_FLAGS.get((elf_class, machine))
    return None if abi is None else FLAG_ELF_LIBC6 | abi


def load_cache(path: str = CACHE_PATH) -> LdCache:
    try:
        with open(path, "rb") as f:
            return LdCache(parse_cache(f.read()), path)
    except (OSError, ValueError, struct.error):
        pass
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    try:
        out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return LdCache({}, "none")
    return LdCache(parse_ldconfig_p(out), "ldconfig -p")
