"""What a program is and what it needs to run (``veil prep analyze BINARY [--json]``,
veil.cli.prep, prints it)."""
from __future__ import annotations

import os
import re
import stat

from ..errors import UsageError
from .elfheader import ElfError, ElfIdent, check_elf
from .elfinfo import CANARY_SYMBOLS, DF_1_NOW, DF_1_PIE, DF_BIND_NOW, FORTIFIED, PF_X, ElfInfo, LiefError, read_elf
from .resolve import Library, resolve_closure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

GLIBC_VERSION = re.compile(r"^GLIBC_(\d+(?:\.\d+)+)$")


def version_key(version: str) -> tuple:
    """Sort key for symbol versions: GLIBC_2.2.5 < GLIBC_2.14 < GLIBC_2.34 < GLIBC_PRIVATE."""
    prefix, _, rest = version.rpartition("_")
    parts = rest.split(".")
    if all(p.isdigit() for p in parts):
        return (prefix, 0, tuple(int(p) for p in parts))
    return (prefix, 1, (), rest)


def min_glibc(versions_needed: dict[str, list[str]]) -> str | None:
    """The highest GLIBC_x.y the program asks for: the oldest glibc it runs with."""
    found = [m.group(1) for names in versions_needed.values() for v in names
             if (m := GLIBC_VERSION.match(v))]
    return max(found, key=lambda v: tuple(int(p) for p in v.split("."))) if found else None


def file_type(ident: ElfIdent, info: ElfInfo) -> str:
    if ident.e_type == 2:
        return "executable"
    if ident.e_type == 3:
        if info.flags_1 & DF_1_PIE or (info.interpreter and not info.soname):
            return "pie"
        return "shared library"
    return {1: "relocatable", 4: "core"}.get(ident.e_type, f"type {ident.e_type}")


def hardening(kind: str, info: ElfInfo) -> dict[str, Any]:
    if not info.has_relro:
        relro = "none"
    elif info.bind_now or info.flags & DF_BIND_NOW or info.flags_1 & DF_1_NOW:
        relro = "full"
    else:
        relro = "partial"
    symbols = set(info.symbols)
    return {
        "relro": relro,
        "nx": info.gnu_stack_flags is not None and not info.gnu_stack_flags & PF_X,
        "canary": bool(symbols & CANARY_SYMBOLS),
        "pie": kind == "pie",
        "fortify": any(FORTIFIED.match(s) and s not in CANARY_SYMBOLS for s in symbols),
    }


def _library_json(lib: Library) -> dict[str, Any]:
    return {"name": lib.name, "path": lib.path, "needed_by": list(lib.needed_by)}


def analyze(path: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The analysis of PATH as the object ``--json`` prints (see docs/PREP.md).

    Raises UsageError("prep analyze PATH: reason") for anything that is not an ELF file.
    """
    def fail(reason: str) -> UsageError:
        return UsageError(f"prep analyze {path}: {reason}")

    try:
        ident = check_elf(path)
        info = read_elf(path)
        st = os.stat(path)
    except ElfError as e:
        raise fail(str(e)) from None
    except LiefError as e:
        raise fail(str(e)) from None
    except OSError as e:
        raise fail(e.strerror or str(e)) from None
    kind = file_type(ident, info)
    libraries = resolve_closure(path, info, ident, env) if info.needed else []
    versions = {lib: sorted(set(v), key=version_key) for lib, v in info.versions_needed.items()}
    return {
        "path": path,
        "class": ident.class_name,
        "machine": ident.machine_name,
        "type": kind,
        "static": info.interpreter is None and not info.needed,
        "interpreter": info.interpreter,
        "needed": list(info.needed),
        "rpath": info.rpath,
        "runpath": info.runpath,
        "libraries": [_library_json(lib) for lib in libraries],
        "versions_needed": versions,
        "min_glibc": min_glibc(versions),
        "setuid": bool(st.st_mode & stat.S_ISUID),
        "setgid": bool(st.st_mode & stat.S_ISGID),
        "hardening": hardening(kind, info),
    }


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def format_text(result: dict[str, Any]) -> str:
    """The human summary."""
    kind = {"pie": "PIE executable"}.get(result["type"], result["type"])
    linking = "statically linked" if result["static"] else "dynamically linked"
    lines = [f"{result['path']}: {result['class']} {result['machine']}, {kind}, {linking}"]
    if result["interpreter"]:
        lines.append(f"  interpreter:   {result['interpreter']}")
    for key in ("rpath", "runpath"):
        if result[key]:
            lines.append(f"  {key.upper() + ':':14s} {result[key]}")
    if result["needed"]:
        lines.append(f"  needed:        {', '.join(result['needed'])}")
    if result["libraries"]:
        lines.append("  libraries (load order):")
        width = max(len(lib["name"]) for lib in result["libraries"])
        for lib in result["libraries"]:
            where = lib["path"] or "NOT FOUND"
            lines.append(f"    {lib['name']:{width}s} => {where}   "
                         f"(needed by {', '.join(lib['needed_by'])})")
    if result["versions_needed"]:
        lines.append("  versions needed:")
        for lib, versions in result["versions_needed"].items():
            lines.append(f"    {lib}: {' '.join(versions)}")
    if result["min_glibc"]:
        lines.append(f"  minimal glibc: {result['min_glibc']}")
    lines.append(f"  setuid: {_yes(result['setuid'])}, setgid: {_yes(result['setgid'])}")
    h = result["hardening"]
    lines.append(f"  hardening:     RELRO {h['relro']}, NX {_yes(h['nx'])}, "
                 f"canary {_yes(h['canary'])}, PIE {_yes(h['pie'])}, "
                 f"FORTIFY {_yes(h['fortify'])}")
    return "\n".join(lines)
