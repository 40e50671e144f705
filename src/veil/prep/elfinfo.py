"""What veil needs from an ELF file, read once with lief into plain Python values.

lief objects (dynamic entries, segments) point into their Binary and must not
outlive it, so everything is copied out inside :func:`read_elf`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..extras import require

lief = require("lief", "prep")

lief.logging.disable()

TAG = lief.ELF.DynamicEntry.TAG
SEG = lief.ELF.Segment.TYPE
PF_X = 1
DF_BIND_NOW = 0x8
DF_1_NOW = 0x1
DF_1_NODEFLIB = 0x800
DF_1_PIE = 0x08000000
FORTIFIED = re.compile(r"^__\w+_chk$")
CANARY_SYMBOLS = {"__stack_chk_fail", "__stack_chk_guard", "__intel_security_cookie"}


class LiefError(Exception):
    """lief could not parse the file."""


@dataclass
class ElfInfo:
    path: str
    file_type: str                      # lief's name: EXEC, DYN, REL, CORE
    interpreter: str | None = None
    needed: list[str] = field(default_factory=list)
    soname: str | None = None
    rpath: str | None = None         # raw DT_RPATH string (colon separated)
    runpath: str | None = None       # raw DT_RUNPATH string
    flags: int = 0                      # DT_FLAGS
    flags_1: int = 0                    # DT_FLAGS_1
    bind_now: bool = False              # DT_BIND_NOW present
    has_dynamic: bool = False
    has_relro: bool = False             # PT_GNU_RELRO present
    gnu_stack_flags: int | None = None   # PF_* of PT_GNU_STACK, None when absent
    symbols: list[str] = field(default_factory=list)   # imported (dynamic) or all (static)
    versions_needed: dict[str, list[str]] = field(default_factory=dict)

    @property
    def nodeflib(self) -> bool:
        return bool(self.flags_1 & DF_1_NODEFLIB)


def _parser_config(full: bool) -> lief.ELF.ParserConfig:
    config = lief.ELF.ParserConfig()
    config.parse_relocations = False
    config.parse_notes = False
    config.parse_overlay = False
    if not full:
        config.parse_dyn_symbols = False
        config.parse_symtab_symbols = False
        config.parse_symbol_versions = False
    return config


def read_elf(path: str, full: bool = True) -> ElfInfo:
    """Parse PATH; FULL also reads symbols and version requirements (slower)."""
    try:
        binary = lief.ELF.parse(path, _parser_config(full))
    except Exception as e:   # lief raises its own types on malformed input
        raise LiefError(f"lief could not parse it: {e}") from None
    if binary is None:
        raise LiefError("lief could not parse it as ELF")
    info = ElfInfo(path=path, file_type=binary.header.file_type.name)
    if binary.has_interpreter:
        info.interpreter = binary.interpreter
    for entry in binary.dynamic_entries:
        info.has_dynamic = True
        tag = entry.tag
        if tag == TAG.NEEDED:
            info.needed.append(entry.name)
        elif tag == TAG.SONAME:
            info.soname = entry.name
        elif tag == TAG.RPATH:
            info.rpath = entry.rpath
        elif tag == TAG.RUNPATH:
            info.runpath = entry.runpath
        elif tag == TAG.FLAGS:
            info.flags = entry.value
        elif tag == TAG.FLAGS_1:
            info.flags_1 = entry.value
        elif tag == TAG.BIND_NOW:
            info.bind_now = True
    for segment in binary.segments:
        if segment.type == SEG.GNU_RELRO:
            info.has_relro = True
        elif segment.type == SEG.GNU_STACK:
            info.gnu_stack_flags = int(segment.flags)
    if full:
        symbols = binary.imported_symbols if info.needed else binary.symbols
        info.symbols = sorted({s.name for s in symbols if s.name})
        for requirement in binary.symbols_version_requirement:
            names = [aux.name for aux in requirement.get_auxiliary_symbols()]
            info.versions_needed.setdefault(requirement.name, []).extend(names)
    return info
