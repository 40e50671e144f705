"""PRoot's -q QEMU: the guest's programs of another architecture run under
qemu-user.  The mount engine registers a binfmt_misc rule in the program's user
namespace (csrc/mountns.c), so that the kernel starts every exec of an ELF file
of that architecture as ``QEMU PROGRAM ARGV0 ARGS`` (argv[0] kept), as PRoot
rewrites each execve; the program's own calls then go through qemu to the
guest's tree."""
from __future__ import annotations

import os
import shutil

from .spec.checks import SpecError

# qemu-user's name for an architecture -> (ELF class, data encoding, e_machine)
ELF64, ELF32, LSB, MSB = 2, 1, 1, 2
MACHINES: dict[str, tuple[int, int, int]] = {
    "aarch64": (ELF64, LSB, 183), "aarch64_be": (ELF64, MSB, 183),
    "arm": (ELF32, LSB, 40), "armeb": (ELF32, MSB, 40),
    "riscv64": (ELF64, LSB, 243), "riscv32": (ELF32, LSB, 243),
    "ppc": (ELF32, MSB, 20), "ppc64": (ELF64, MSB, 21), "ppc64le": (ELF64, LSB, 21),
    "s390x": (ELF64, MSB, 22), "mips": (ELF32, MSB, 8), "mipsel": (ELF32, LSB, 8),
    "mips64": (ELF64, MSB, 8), "mips64el": (ELF64, LSB, 8), "i386": (ELF32, LSB, 3),
    "loongarch64": (ELF64, LSB, 258), "sparc64": (ELF64, MSB, 43), "m68k": (ELF32, MSB, 4),
    "alpha": (ELF64, LSB, 0x9026), "sh4": (ELF32, LSB, 42), "hppa": (ELF32, MSB, 15),
}


def architecture(qemu: str) -> str:
    """qemu-user's architecture from its program's name: qemu-aarch64-static -> aarch64."""
    name = os.path.basename(qemu)
    if name.startswith("qemu-"):
        name = name[len("qemu-"):]
    return name[:-len("-static")] if name.endswith("-static") else name


def resolve(qemu: str) -> str:
    """The host path of the qemu-user program -q names (a path or a name in $PATH)."""
    if len(qemu.split()) > 1:
        raise SpecError("layout", "qemu", "options to qemu cannot be passed (qemu-user reads "
                        "them from the environment: QEMU_CPU=..., QEMU_STRACE=1)", value=qemu)
    path = shutil.which(qemu) if "/" not in qemu else qemu
    if path is None or not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise SpecError("layout", "qemu", "no such program (Debian: apt-get install "
                        "qemu-user-static)", value=qemu)
    if architecture(path) not in MACHINES:
        raise SpecError("layout", "qemu", "which architecture does it run? (name it "
                        "qemu-ARCH or qemu-ARCH-static, ARCH one of "
                        + ", ".join(sorted(MACHINES)) + ")", value=qemu)
    path = os.path.realpath(path)
    if ":" in path:
        raise SpecError("layout", "qemu", "its path may not hold ':'", value=qemu)
    return path


def _escaped(data: bytes) -> str:
    return "".join(f"\\x{b:02x}" for b in data)


def binfmt_rule(qemu_path: str) -> str:
    """The binfmt_misc rule that runs ELF executables (and shared objects, such as
    PIE programs) of qemu's architecture with it: F opens qemu now, in the host's
    tree; P passes argv[0] on, as PRoot's ``-0 ARGV0``."""
    arch = architecture(qemu_path)
    elf_class, data, machine = MACHINES[arch]
    order = "little" if data == LSB else "big"
    # e_ident (OS ABI byte ignored), then e_type 2 or 3 (ET_EXEC, ET_DYN), e_machine
    magic = (b"\x7fELF" + bytes([elf_class, data, 1, 0]) + bytes(8)
             + (2).to_bytes(2, order) + machine.to_bytes(2, order))
    mask = (b"\xff" * 7 + b"\x00" + b"\xff" * 8
            + (0xfffe).to_bytes(2, order) + b"\xff\xff")
    return f":veil-qemu-{arch}:M::{_escaped(magic)}:{_escaped(mask)}:{qemu_path}:FP"
