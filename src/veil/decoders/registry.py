"""Where decoder families register what they know.

Every family module (fs, desc, proc, mem, net, signal) fills these tables at
import (``load_for`` imports those a syscall needs, ``load_all`` every one);
the argument kinds of the syscall table name the entries:
``flags:open`` looks up FLAG_SETS["open"], ``outstruct:stat`` STRUCTS["stat"].
"""
from __future__ import annotations

import sys

from ..syscalls.lookup import with_prop
from .common import hex_number, s32, styled

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, Tuple

# name -> function(value) -> str
FLAG_SETS: Dict[str, Callable[[int], str]] = {}
ENUM_SETS: Dict[str, Callable[[int], str]] = {}
# name -> (size in bytes, function(data: bytes, call, ctx) -> str)
STRUCTS: Dict[str, Tuple[int, Callable]] = {}
# syscall name -> function(call, ctx) -> list of argument strings (or None: use generic)
SPECIAL: Dict[str, Callable] = {}
# syscall name -> function(call, ctx) -> return value string (or None: generic)
SPECIAL_RET: Dict[str, Callable] = {}
# syscall name -> {argument index: (capture kind, param, limit)} overriding the kind-derived capture
EXTRA_CAPTURES: Dict[str, Dict[int, Tuple[int, int, int]]] = {}


def flag_set(name: str):
    """Registers a flag set; its function (also under its own name) prints as -X says."""
    def deco(fn):
        def shown(v: int) -> str:
            return styled(hex_number(v), lambda: fn(v))
        shown.__name__, shown.__doc__ = fn.__name__, fn.__doc__
        FLAG_SETS[name] = shown
        return shown
    return deco


def enum_set(name: str):
    """Registers a set of named values; its function prints as -X says."""
    def deco(fn):
        def shown(v: int) -> str:
            return styled(hex_number(v) if s32(v) >= 0 else str(s32(v)), lambda: fn(v))
        shown.__name__, shown.__doc__ = fn.__name__, fn.__doc__
        ENUM_SETS[name] = shown
        return shown
    return deco


def struct(name: str, size: int):
    def deco(fn):
        STRUCTS[name] = (size, fn)
        return fn
    return deco


def special(*names: str):
    def deco(fn):
        for n in names:
            SPECIAL[n] = fn
        return fn
    return deco


def special_ret(*names: str):
    def deco(fn):
        for n in names:
            SPECIAL_RET[n] = fn
        return fn
    return deco

# calls whose result is sometimes a new fd (their SPECIAL_RET decides): -y captures it
FD_RESULT = {"fcntl"}

# syscall name -> index of the first argument only known at exit (for <unfinished ...>
# lines), where the argument kinds alone do not tell (@split in the syscall table)
SPLIT: Dict[str, int] = with_prop("split")
# the argument kinds a call fills in: known at its exit
EXIT_KINDS = ("outbuf", "outstr", "outstruct", "outsockaddr", "outiovec", "outsigset")


def split_of(sc) -> int:
    """A syscall's arguments before this index are known at entry: what the entry
    half of a cut line (``name(..., <unfinished ...>``) shows."""
    if sc.name in SPLIT:
        return SPLIT[sc.name]
    for i, (_, kind) in enumerate(sc.args):
        if kind.partition(":")[0] in EXIT_KINDS:
            return i
    return len(sc.args)


# calls whose resumed half starts with ", " (their entry half ends without a comma)
RESUME_WITH_COMMA = {"clone"}
# syscall name -> function(call, ctx) -> the text between "<... NAME resumed>" and ")"
# where it is not the arguments from SPLIT on (clone3's " => {parent_tid=[N]}, 88")
RESUMED: Dict[str, Callable] = {}


def _restart_syscall(call, ctx):
    name = ctx.restarts.get(call.tid)
    return [f"<... resuming interrupted {name or 'call'} ...>"]


SPECIAL["restart_syscall"] = _restart_syscall


# --- the families that fill these tables -------------------------------------

_PACKAGE = __name__.rpartition(".")[0]
# in the order the index is made in (a family that imports another comes after it)
FAMILIES = ("fs", "mem", "ipc", "signals", "time", "proc", "net", "desc")


def load_for(name: str) -> None:
    """Import the families that decode the syscall ``name`` (its special cases,
    flag sets, enums and structs), as veil.decoders.index says."""
    from .index import FAMILIES_OF
    for family in FAMILIES_OF.get(name, ()):
        if f"{_PACKAGE}.{family}" not in sys.modules:
            __import__(f"{_PACKAGE}.{family}")


def load_all() -> None:
    """Import every family: the tables complete."""
    for family in FAMILIES:
        if f"{_PACKAGE}.{family}" not in sys.modules:
            __import__(f"{_PACKAGE}.{family}")
