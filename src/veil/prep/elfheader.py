"""Read and check an ELF file's header tables without lief.

lief parses truncated files leniently, so ``veil prep analyze`` checks first
that the header, the program header table, every segment's file bytes and the
section header table lie inside the file.  The resolver also uses
:func:`read_ident` to reject libraries of the wrong class or machine, as the
dynamic loader does.
"""
from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass

ELF_MAGIC = b"\x7fELF"
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB, ELFDATA2MSB = 1, 2

MACHINES = {2: "sparc", 3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390",
            40: "arm", 42: "sh", 43: "sparcv9", 50: "ia64", 62: "x86_64", 183: "aarch64",
            243: "riscv", 258: "loongarch"}


class ElfError(Exception):
    """The file is not a usable ELF file; the message says why."""


@dataclass(frozen=True)
class ElfIdent:
    elf_class: int          # 1 = ELF32, 2 = ELF64
    endian: str             # "<" or ">"
    e_type: int
    e_machine: int
    phoff: int
    phentsize: int
    phnum: int
    shoff: int
    shentsize: int
    shnum: int

    @property
    def class_name(self) -> str:
        return "ELF64" if self.elf_class == ELFCLASS64 else "ELF32"

    @property
    def machine_name(self) -> str:
        return MACHINES.get(self.e_machine, f"machine {self.e_machine}")


def _parse_ident(head: bytes) -> ElfIdent:
    if len(head) < 4 or head[:4] != ELF_MAGIC:
        raise ElfError("not an ELF file")
    if len(head) < 16:
        raise ElfError("truncated ELF file (header)")
    elf_class, data = head[4], head[5]
    if elf_class not in (ELFCLASS32, ELFCLASS64) or data not in (ELFDATA2LSB, ELFDATA2MSB):
        raise ElfError("not a valid ELF file (bad class or byte order)")
    end = "<" if data == ELFDATA2LSB else ">"
    if elf_class == ELFCLASS64:
        fmt, size = end + "HHIQQQIHHHHHH", 64
    else:
        fmt, size = end + "HHIIIIIHHHHHH", 52
    if len(head) < size:
        raise ElfError("truncated ELF file (header)")
    (e_type, e_machine, _ver, _entry, phoff, shoff, _flags, _ehsize, phentsize, phnum,
     shentsize, shnum, _shstrndx) = struct.unpack_from(fmt, head, 16)
    return ElfIdent(elf_class, end, e_type, e_machine, phoff, phentsize, phnum,
                    shoff, shentsize, shnum)


def read_ident(path: str) -> ElfIdent | None:
    """The ELF header of PATH, or None when PATH is not a readable ELF file."""
    try:
        with open(path, "rb") as f:
            return _parse_ident(f.read(64))
    except (OSError, ElfError):
        return None


def check_elf(path: str) -> ElfIdent:
    """Check PATH thoroughly; raise ElfError (or OSError) with the reason it cannot be analyzed."""
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        raise ElfError("is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise ElfError("not a regular file")
    size = st.st_size
    if size == 0:
        raise ElfError("empty file, not an ELF file")
    with open(path, "rb") as f:
        ident = _parse_ident(f.read(64))
        if ident.phnum:
            table_end = ident.phoff + ident.phnum * ident.phentsize
            if table_end > size:
                raise ElfError(f"truncated ELF file (program headers end past byte {size})")
            f.seek(ident.phoff)
            _check_segments(ident, f.read(table_end - ident.phoff), size)
    if ident.shnum and ident.shoff + ident.shnum * ident.shentsize > size:
        raise ElfError(f"truncated ELF file (section headers end past byte {size})")
    return ident


def _check_segments(ident: ElfIdent, table: bytes, size: int) -> None:
    if ident.elf_class == ELFCLASS64:
        fmt = ident.endian + "IIQQQQ"       # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz
    else:
        fmt = ident.endian + "IIIIIII"      # p_type, p_offset, p_vaddr, p_paddr, p_filesz, ...
    if ident.phentsize < struct.calcsize(fmt):
        raise ElfError(f"not a valid ELF file (program header entry size {ident.phentsize})")
    for i in range(ident.phnum):
        fields = struct.unpack_from(fmt, table, i * ident.phentsize)
        if ident.elf_class == ELFCLASS64:
            offset, filesz = fields[2], fields[5]
        else:
            offset, filesz = fields[1], fields[4]
        if fields[0] != 0 and offset + filesz > size:   # PT_NULL entries carry nothing
            raise ElfError(f"truncated ELF file (segment {i} ends at byte {offset + filesz}, "
                           f"the file has {size})")
