"""argparse as veil's commands use it: a usage error is one line.  Imported only
where a command line is read by argparse (veil.cli.options reads the usual ones)."""
from __future__ import annotations

import argparse

from ..errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

# argparse asks gettext for each of its own words ("options", "usage: ") as a parser
# is made, and gettext imports locale to expand $LANG before it finds that Python
# ships no catalog for them; veil's help is English, argparse's words with it
argparse._ = str  # type: ignore[attr-defined]


class VeilArgumentParser(argparse.ArgumentParser):
    """A usage error is one line, ``veil: PROG: MESSAGE (veil PROG --help for usage)``,
    exit status 2 (a UsageError that main() prints), never argparse's usage block.
    ``prog`` is the command as typed: "veil trace", "veil prep pack"."""

    _width: int | None = None   # the help's width, from the terminal's, asked once

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes a formatter at every add_argument, only to check the metavar,
        # and each asked the terminal its size (a tenth of veil run's start-up, and
        # shutil's import): the size is asked once, when a help or usage is formatted
        return self.formatter_class(prog=self.prog, width=VeilArgumentParser._width or 78)

    def format_help(self) -> str:
        self._ask_width()
        return super().format_help()

    def format_usage(self) -> str:
        self._ask_width()
        return super().format_usage()

    @staticmethod
    def _ask_width() -> None:
        if VeilArgumentParser._width is None:
            import shutil
            VeilArgumentParser._width = shutil.get_terminal_size().columns - 2  # as argparse

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog.removeprefix('veil ')}: {message} "
                         f"({self.prog} --help for usage)")


def qualifier_action() -> type:
    """options' ``action="qualifier"``: ``--trace=SET`` appends ``trace=SET`` (the
    option's const, "=", its value) to the list at dest, as ``-e trace=SET`` does."""
    class Qualifier(argparse.Action):
        def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                     values: Any, option_string: str | None = None) -> None:
            items = list(getattr(namespace, self.dest, None) or [])
            items.append(f"{self.const}={values}")
            setattr(namespace, self.dest, items)
    return Qualifier


class Ordered(argparse.Action):
    """options' ``action="ordered"``: bubblewrap's filesystem operations, kept in the
    order given, as (option, [values]) at dest."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        ops = list(getattr(namespace, self.dest) or [])
        ops.append((option_string, list(values) if isinstance(values, list) else [values]))
        setattr(namespace, self.dest, ops)
