"""Where glibc's dynamic loader looks for a library: per-machine defaults ($LIB,
$PLATFORM, system directories), glibc-hwcaps subdirectories, dynamic string
tokens and the decomposition of RPATH / RUNPATH / LD_LIBRARY_PATH strings.
The order of the search is in resolve.py.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .elfheader import ElfIdent, read_ident
from .ldcache import LdCache, load_cache

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

# Per machine: $LIB, $PLATFORM, the system search directories (Debian multiarch, as
# `LD_DEBUG=libs` prints them) and the default interpreter for objects without PT_INTERP.
ARCH = {
    ("ELF64", "x86_64"): ("lib/x86_64-linux-gnu", "x86_64",
                          ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib"],
                          "/lib64/ld-linux-x86-64.so.2"),
    ("ELF32", "i386"): ("lib/i386-linux-gnu", "i686",
                        ["/lib/i386-linux-gnu", "/usr/lib/i386-linux-gnu", "/lib", "/usr/lib"],
                        "/lib/ld-linux.so.2"),
    ("ELF64", "aarch64"): ("lib/aarch64-linux-gnu", "aarch64",
                           ["/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib",
                            "/usr/lib"], "/lib/ld-linux-aarch64.so.1"),
}
GENERIC_ARCH = ("lib", "", ["/lib64", "/usr/lib64", "/lib", "/usr/lib"], None)

# x86-64 micro-architecture levels -> /proc/cpuinfo flags (glibc-hwcaps subdirectories).
X86_64_LEVELS = [
    ("x86-64-v4", {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}),
    ("x86-64-v3", {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"}),
    ("x86-64-v2", {"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"}),
]
DST = re.compile(r"\$(ORIGIN|LIB|PLATFORM)\b|\$\{(ORIGIN|LIB|PLATFORM)\}")


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _glibc_version() -> tuple[int, ...]:
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION") or ""
        return tuple(int(p) for p in text.split()[-1].split("."))
    except (ValueError, OSError, IndexError):
        return (2, 37)


def hwcaps_levels(machine: str) -> list[str]:
    """glibc-hwcaps subdirectories the loader would try on this CPU, best first."""
    if machine != "x86_64":
        return []
    flags = _cpu_flags()
    levels: list[str] = []
    for name, needs in reversed(X86_64_LEVELS):        # v2, v3, v4: each needs the one below
        if not needs <= flags:
            break
        levels.insert(0, name)
    return levels


@dataclass
class SearchContext:
    ident: ElfIdent
    ld_library_path: str | None
    cache: LdCache
    lib: str
    platform: str
    system_dirs: list[str]
    default_interp: str | None
    hwcaps: list[str]
    legacy_subdirs: list[str]

    @classmethod
    def for_binary(cls, ident: ElfIdent, env: Mapping[str, str]) -> SearchContext:
        lib, platform, dirs, interp = ARCH.get((ident.class_name, ident.machine_name),
                                               GENERIC_ARCH)
        hwcaps = hwcaps_levels(ident.machine_name)
        legacy: list[str] = []
        if platform and _glibc_version() < (2, 37):     # legacy hwcaps: gone in glibc 2.37
            legacy = [f"tls/{platform}/{platform}", f"tls/{platform}", "tls",
                      f"{platform}/{platform}", platform]
        return cls(ident, env.get("LD_LIBRARY_PATH"), load_cache(), lib, platform, dirs,
                   interp, hwcaps, legacy)

    def subdirs(self, directory: str) -> Iterator[str]:
        """DIRECTORY's hwcaps subdirectories then DIRECTORY itself, each with a trailing '/'."""
        for level in self.hwcaps:
            yield f"{directory}glibc-hwcaps/{level}/"
        for sub in self.legacy_subdirs:
            yield f"{directory}{sub}/"
        yield directory

    def compatible(self, path: str) -> bool:
        ident = read_ident(path)
        return (ident is not None and ident.elf_class == self.ident.elf_class
                and ident.e_machine == self.ident.e_machine and ident.e_type == 3)


def expand_dst(text: str, origin: str, ctx: SearchContext) -> str:
    values = {"ORIGIN": origin, "LIB": ctx.lib, "PLATFORM": ctx.platform}
    return DST.sub(lambda m: values[m.group(1) or m.group(2)], text)


def split_path(text: str | None, origin: str, ctx: SearchContext,
               separators: str = ":") -> list[str]:
    """A search path as the loader decomposes it: DSTs expanded, one trailing '/', no repeats."""
    if not text:
        return []
    dirs: list[str] = []
    for element in re.split(f"[{re.escape(separators)}]", text):
        if element:
            element = expand_dst(element, origin, ctx)
            if not element:
                continue
            element = element.rstrip("/") + "/" if element.strip("/") else "/"
        if element not in dirs:       # "" is the current directory
            dirs.append(element)
    return dirs


