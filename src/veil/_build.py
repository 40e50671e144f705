"""cffi build script (out-of-line API mode) for the C accelerator in csrc/.

setup.py names this file in ``cffi_modules``; ``pip install .`` compiles
csrc/*.c into ``veil._veil_c`` with -Wall -Wextra -Werror.
"""
from __future__ import annotations

import re
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"


def _cdef_from_header(text: str) -> str:
    """The part of engine.h that cffi's parser accepts: declarations and integer #defines."""
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            m = re.match(r"#define\s+(VEIL_\w+)\s+(\(?-?[0-9a-fA-Fx]+\)?)\s*(/\*.*)?$", stripped)
            if m:
                out.append(f"#define {m.group(1)} {m.group(2).strip('()')}")
            continue
        out.append(line)
    return "\n".join(out)


ffibuilder = FFI()
for _header in ("engine.h", "textfmt.h"):
    ffibuilder.cdef(_cdef_from_header((CSRC / _header).read_text()))
ffibuilder.set_source(
    "veil._veil_c",
    '#include "engine.h"\n#include "textfmt.h"',
    sources=[str(p.relative_to(ROOT)) for p in sorted(CSRC.glob("*.c"))],
    include_dirs=[str(CSRC.relative_to(ROOT))],
    extra_compile_args=["-Wall", "-Wextra", "-Werror", "-O2", "-std=gnu11", "-D_GNU_SOURCE"],
    libraries=["rt"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
