"""``veil syscalls [SET]``: the syscalls a -e trace= set selects, and how a layout
handles the calls that take a path."""
from __future__ import annotations

import sys

from .argparser import VeilArgumentParser
from .common import syscall_set

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def cmd_syscalls(argv: Sequence[str]) -> int:
    from .. import engine as E
    from ..syscalls.lookup import BY_NAME, BY_NR
    p = VeilArgumentParser(prog="veil syscalls",
                           description="List the syscalls a -e trace= set selects.")
    p.add_argument("set", nargs="?", default="all")
    p.add_argument("--untranslated", action="store_true",
                   help="calls that take a path but that a layout (-r/-b) neither translates "
                        "nor denies")
    p.add_argument("--layout", action="store_true",
                   help="how a layout handles each call that takes or returns a path")
    a = p.parse_args(argv)
    if a.untranslated or a.layout:
        from ..translations import DENIED, translated_calls, untranslated_calls
        if a.untranslated:
            left = untranslated_calls()
            for name in left:
                print(name)
            if not left:
                print("veil: every call that takes a path is translated or denied",
                      file=sys.stderr)
            return 0
        ops = {E.L_PATHS: "translated", E.L_EXEC: "translated (exec)",
               E.L_GETCWD: "answered", E.L_READLINK: "translated (magic links answered)",
               E.L_CHROOT: "emulated", E.L_SOCK_IN: "translated (AF_UNIX)",
               E.L_SOCK_OUT: "translated back (AF_UNIX)", E.L_MSG_IN: "translated (AF_UNIX)",
               E.L_MSG_OUT: "translated back (AF_UNIX)"}
        rows = {n: ops[t.op] for n, t in translated_calls().items()}
        rows.update({n: "denied (EPERM)" for n in DENIED if n in BY_NAME})
        for name in sorted(rows, key=lambda n: BY_NAME[n].nr):
            print(f"{BY_NAME[name].nr:4d} {name:24s} {rows[name]}")
        return 0
    nrs = syscall_set(a.set)
    for nr in sorted(nrs):
        sc = BY_NR.get(nr)
        if sc is not None:
            print(f"{nr:4d} {sc.name:24s} {' '.join(sc.class_names)}")
    return 0
