"""``veil sockets FILE``: print a socket table written by ``veil run --sockets-out``."""
from __future__ import annotations

import json

from .argparser import VeilArgumentParser

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


def cmd_sockets(argv: Sequence[str]) -> int:
    from ..sockets import format_table, load_table
    p = VeilArgumentParser(prog="veil sockets",
                           description="Print a socket table written by veil run --sockets-out.")
    p.add_argument("file")
    p.add_argument("--format", choices=("table", "json"), default="table")
    a = p.parse_args(argv)
    doc = load_table(a.file)
    if a.format == "json":
        print(json.dumps(doc, indent=1))
    else:
        print(format_table(doc["sockets"]))
    return 0
