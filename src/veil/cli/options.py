"""A command's options, declared once, read two ways.

``Options`` takes argparse's ``add_argument`` calls and records them.  A command
line made only of options it knows exactly (no abbreviation, no value that looks
like an option, no help) is read here, in a few microseconds and without
importing argparse, re and enum (a seventh of ``veil trace``'s start-up).  Any
other command line, and every error and help text, goes to the argparse parser
built from the same calls, so the two can only differ where argparse would have
read the line the same way; tests/test_cli_options.py checks that they agree.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

SUPPRESS = "==SUPPRESS=="       # argparse.SUPPRESS: no help line, no default
REMAINDER = "..."               # argparse.REMAINDER: the command and its arguments
_VALUE_ACTIONS = ("store", "append", "qualifier", "ordered")
_NO_VALUE = {"store_true": True, "store_false": False}


class Namespace:
    """The parsed options, as attributes (argparse.Namespace's use)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __eq__(self, other: object) -> bool:
        return vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"Namespace({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class _Declared:
    """One add_argument call: its flags, its keywords and what the quick reader needs."""

    def __init__(self, flags: Sequence[str], kw: dict[str, Any], group: str | None):
        self.flags = tuple(flags)
        self.kw = kw
        self.group = group
        self.action = kw.get("action", "store")
        self.nargs = kw.get("nargs")
        if flags and flags[0].startswith("-"):
            longs = [f for f in flags if f.startswith("--")]
            self.dest = kw.get("dest") or (longs or flags)[0].lstrip("-").replace("-", "_")
        else:
            self.dest = kw.get("dest") or flags[0]
        # store_true's default is False, store_false's True
        self.default = kw.get("default", {"store_true": False, "store_false": True}.get(
            self.action) if isinstance(self.action, str) else None)
        # what the quick reader cannot do as argparse does: argparse reads the line
        self.quick = (isinstance(self.action, str) and self.action in (
            "store", "store_true", "store_false", "store_const", "count", "append",
            "append_const", "qualifier")
            and self.nargs in (None, "?", REMAINDER) and not kw.get("required"))

    @property
    def has_value(self) -> bool:
        """It reads a value (an optional one with nargs="?")."""
        return self.action in _VALUE_ACTIONS or self.nargs is not None


class _Group:
    """add_argument_group()'s result: its options are the parser's, shown under a title."""

    def __init__(self, options: Options, title: str, description: str | None):
        self._options = options
        self.title = title
        self.description = description

    def add_argument(self, *flags: str, **kw: Any) -> None:
        self._options._declare(flags, kw, self)


class Options:
    """An argparse-like parser: ``add_argument``/``add_argument_group`` as argparse's
    (plus ``action="qualifier"``: ``--trace=SET`` appends ``trace=SET`` to dest,
    its const being the key, and ``action="ordered"``: (option, [values]) appended
    to dest, for options whose order matters); ``parse_args`` reads the line."""

    def __init__(self, prog: str, description: str | None = None):
        self.prog = prog
        self.description = description
        self._declared: list[_Declared] = []
        self._groups: list[_Group] = []
        self._by_flag: dict[str, _Declared] = {}
        self._positional: _Declared | None = None
        self._long_single_dash = False

    def add_argument(self, *flags: str, **kw: Any) -> None:
        self._declare(flags, kw, None)

    def add_argument_group(self, title: str, description: str | None = None) -> _Group:
        group = _Group(self, title, description)
        self._groups.append(group)
        return group

    def _declare(self, flags: Sequence[str], kw: dict[str, Any], group: _Group | None) -> None:
        d = _Declared(flags, kw, group.title if group else None)
        self._declared.append(d)
        if flags[0].startswith("-"):
            for flag in flags:
                self._by_flag[flag] = d
                self._long_single_dash |= len(flag) > 2 and flag[1] != "-"
        else:
            self._positional = d

    def value_counts(self) -> dict[str, int]:
        """How many words each option reads after it (an optional value: 1)."""
        return {flag: d.nargs if isinstance(d.nargs, int) else 1 if d.has_value else 0
                for flag, d in self._by_flag.items()}

    # --- reading ---------------------------------------------------------------
    def parse_args(self, argv: Sequence[str]) -> Any:
        args = self.quick_parse(argv)
        return args if args is not None else self.argparser().parse_args(argv)

    def quick_parse(self, argv: Sequence[str]) -> Namespace | None:
        """The options of ``argv`` as argparse reads them, or None where this reader
        is not sure to (argparse then reads it, and says what is wrong)."""
        values: dict[str, Any] = {}
        i, n = 0, len(argv)
        while i < n:
            arg = argv[i]
            if arg == "--" or not _looks_like_option(arg):
                break                                   # the command from here on
            i += 1
            if arg.startswith("--"):                    # --name, --name=VALUE, --name VALUE
                flag, eq, attached = arg.partition("=")
                d = self._by_flag.get(flag)
                if d is None or (eq and not d.has_value):
                    return None
                i = self._read(d, flag, attached if eq else None, argv, i, values)
                if i is None:
                    return None
                continue
            if self._long_single_dash and len(arg) > 2:
                return None     # argparse may read "-abc" as the option "-ab" and its value
            for j in range(1, len(arg)):                # -fqq, -s100, -fo FILE
                flag = "-" + arg[j]
                d = self._by_flag.get(flag)
                if d is None:
                    return None
                rest = arg[j + 1:] if d.has_value and j + 1 < len(arg) else None
                i = self._read(d, flag, rest, argv, i, values)
                if i is None:
                    return None
                if d.has_value:
                    break
        pos = self._positional
        if pos is not None and pos.nargs == REMAINDER:
            values[pos.dest] = list(argv[i:])
        elif pos is not None:
            return None
        elif i < n:
            return None
        return self._with_defaults(values)

    def _read(self, d: _Declared, flag: str, attached: str | None, argv: Sequence[str], i: int,
              values: dict[str, Any]) -> int | None:
        """Read option ``d`` (its value attached to its word, else the next word, if it
        takes one): where the line goes on, or None where argparse must decide."""
        value: Any = attached
        if attached is None and d.has_value:
            value, i = _value_after(d, argv, i)
        if value is _REFUSED or not self._apply(d, flag, value, values):
            return None
        return i

    def _apply(self, d: _Declared, flag: str, value: str | None,
               values: dict[str, Any]) -> bool:
        """Do what the option's action does; False where argparse must decide."""
        if not d.quick or flag in ("-h", "--help"):
            return False
        typed = _typed(d, value)
        if typed is _REFUSED:
            return False
        action, const = d.action, d.kw.get("const")
        if action == "store":
            values[d.dest] = typed if value is not None else const
        elif action in _NO_VALUE:
            values[d.dest] = _NO_VALUE[action]
        elif action == "store_const":
            values[d.dest] = const
        elif action == "count":
            values[d.dest] = (values.get(d.dest, self._first_default(d.dest)) or 0) + 1
        else:
            item = typed if action == "append" else const if action == "append_const" \
                else f"{const}={typed}"
            values[d.dest] = [*(values.get(d.dest, self._first_default(d.dest)) or []), item]
        return True

    def _first_default(self, dest: str) -> Any:
        """A destination's value before any option sets it: its first option's default."""
        return next(d.default for d in self._declared if d.dest == dest)

    def _with_defaults(self, values: dict[str, Any]) -> Namespace:
        out: dict[str, Any] = {}
        for d in self._declared:
            if d.dest in out or d.default == SUPPRESS:
                continue
            if d.dest in values:
                out[d.dest] = values[d.dest]
            elif isinstance(d.default, str) and "type" in d.kw:
                out[d.dest] = d.kw["type"](d.default)   # as argparse reads a string default
            else:
                out[d.dest] = d.default
        return Namespace(**out)

    # --- argparse --------------------------------------------------------------
    def argparser(self) -> Any:
        """The argparse parser of the same declarations: help, errors, and any line
        the quick reader leaves to it."""
        import argparse

        from .argparser import Ordered, VeilArgumentParser, qualifier_action
        p = VeilArgumentParser(prog=self.prog, description=self.description)
        groups = {g.title: p.add_argument_group(g.title, g.description) for g in self._groups}
        for d in self._declared:
            kw = {k: (argparse.SUPPRESS if v == SUPPRESS and k in ("help", "default") else v)
                  for k, v in d.kw.items()}
            if kw.get("nargs") == REMAINDER:
                kw["nargs"] = argparse.REMAINDER
            if kw.get("action") == "qualifier":
                kw["action"] = qualifier_action()
            elif kw.get("action") == "ordered":
                kw["action"] = Ordered
            (groups[d.group] if d.group else p).add_argument(*d.flags, **kw)
        return p


_REFUSED = object()


def _looks_like_option(arg: str) -> bool:
    return arg.startswith("-") and arg != "-"


def _value_after(d: _Declared, argv: Sequence[str], i: int) -> tuple[Any, int]:
    """The value of option ``d`` that is the next word ``argv[i]`` (None if the
    option's value is optional and absent) and where the line goes on."""
    word = argv[i] if i < len(argv) else None
    if word == "--":
        return _REFUSED, i      # argparse reads an option's value past "--"
    if word is None or _looks_like_option(word):
        return (None, i) if d.nargs == "?" else (_REFUSED, i)
    return word, i + 1


def _typed(d: _Declared, value: str | None) -> Any:
    """The value as the option's type and choices take it, or _REFUSED."""
    if value is None:
        return None
    if value == "--":
        return _REFUSED     # argparse drops a value "--", even "--name=--"
    convert: Callable[[str], Any] | None = d.kw.get("type")
    if convert is not None:
        try:
            value = convert(value)
        except (TypeError, ValueError):
            return _REFUSED
    choices = d.kw.get("choices")
    if choices is not None and value not in choices:
        return _REFUSED
    return value
