"""``veil prep``: preprocessing a program for packaging (``analyze``, ``pack``)."""
from __future__ import annotations

import argparse
from typing import NoReturn, Sequence

from ..errors import UsageError

USAGE = ("veil prep analyze BINARY [--json]\n"
         "       veil prep pack -o BUNDLE [--config PATH]... [--data PATH]... "
         "[--share PATH,...]\n"
         "                      [--rewrite OLD=NEW]... [--standalone] [--progress] [-q] -- CMD ARGS")
SUBCOMMANDS = ("analyze", "pack")


class OneLineParser(argparse.ArgumentParser):
    """A bad option is one line (``veil: PROG: MESSAGE``, exit status 2), no usage block."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog.removeprefix('veil ')}: {message}")


def main(argv: Sequence[str]) -> int:
    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: {USAGE}")
        return 0 if argv else 2
    sub, rest = argv[0], argv[1:]
    if sub == "analyze":
        from .analyze import cmd_analyze
        return cmd_analyze(rest)
    if sub == "pack":
        from .pack import cmd_pack
        return cmd_pack(rest)
    raise UsageError(f"prep: unknown subcommand {sub!r}; subcommands: {', '.join(SUBCOMMANDS)}")
