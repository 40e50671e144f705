"""What several commands share: the argument parser whose usage errors are one
line, strace's ``-e`` expressions, the ``-e inject=`` policy, the leading
``--`` of a command, and ``-o FILE``."""
from __future__ import annotations

import argparse
from typing import List, NoReturn, Optional, Sequence, Set, Tuple

from ..errors import UsageError, VeilError
from ..output import parse_signal_set

__all__ = ["VeilArgumentParser", "parse_exprs", "raw_set", "inject_policy", "parse_signal_set",
           "syscall_set", "strip_dashes", "open_output", "EXPR_KEYS"]

EXPR_KEYS = ("trace", "status", "signal", "inject", "raw")

# argparse asks gettext for each of its own words ("options", "usage: ") as a parser
# is made, and gettext imports locale to expand $LANG before it finds that Python
# ships no catalog for them; veil's help is English, argparse's words with it
argparse._ = str  # type: ignore[attr-defined]


class VeilArgumentParser(argparse.ArgumentParser):
    """A usage error is one line, ``veil: PROG: MESSAGE (veil PROG --help for usage)``,
    exit status 2 (a UsageError that main() prints), never argparse's usage block.
    ``prog`` is the command as typed: "veil trace", "veil prep pack"."""

    _width: Optional[int] = None   # the help's width, from the terminal's, asked once

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


def strip_dashes(command: Sequence[str]) -> List[str]:
    """The command after the options, without the ``--`` that may begin it."""
    command = list(command)
    return command[1:] if command[:1] == ["--"] else command


def parse_exprs(exprs: Sequence[str], allowed: Sequence[str] = EXPR_KEYS
                ) -> Tuple[str, Optional[str], Optional[Set[int]]]:
    """-e EXPR...: (trace set, status filter, signal set or None); qualifiers
    outside ``allowed`` are refused.  inject= is read by inject_policy, raw= by raw_set."""
    trace = "all"
    status = None
    signals = None
    for e in exprs:
        key, eq, value = e.partition("=")
        if not eq:
            key, value = "trace", e
        key = key.strip()
        if key == "t":
            key = "trace"
        if key not in allowed:
            raise UsageError(f"unsupported -e qualifier {key!r}: use "
                             + ", ".join(f"{k}=" for k in allowed))
        if key == "trace":
            trace = value
        elif key == "status":
            if value not in ("successful", "failed"):
                raise UsageError(f"invalid -e status value {value!r}: use successful or failed")
            status = value
        elif key == "signal":
            signals = parse_signal_set(value)
    return trace, status, signals


def syscall_set(spec: str, what: str = "") -> Set[int]:
    """The syscall numbers a -e trace= style SET names; a UsageError (prefixed
    with ``what: `` if given) names what is unknown."""
    from ..syscalls.lookup import UnknownSyscallError, resolve_set
    try:
        return resolve_set(spec)
    except UnknownSyscallError as e:
        raise UsageError(f"{what}: {e}" if what else str(e)) from None


def raw_set(exprs: Sequence[str]) -> Set[int]:
    """-e raw=SET (strace's): the syscalls shown undecoded, whose memory veil
    does not read; the last -e raw= wins."""
    raw: Set[int] = set()
    for e in exprs:
        key, eq, value = e.partition("=")
        if eq and key.strip() == "raw":
            raw = syscall_set(value, "-e raw=")
    return raw


def inject_policy(exprs: Sequence[str]):
    """-e inject=SET:error=E|retval=N|signal=S|delay_enter=US|delay_exit=US[:when=W][:path=G][:fd=N]:
    a Policy (empty without inject=) to apply to the session."""
    injects = [value for key, eq, value in (e.partition("=") for e in exprs)
               if key.strip() == "inject" and eq]
    if not injects:
        return _NO_POLICY
    from ..policy import Policy, parse_inject
    policy = Policy()
    for value in injects:
        sset, kw = parse_inject(value)
        policy.inject(sset, **kw)
    return policy


class _NoPolicy:
    """inject_policy() without inject=: nothing to apply, and no veil.policy loaded."""

    def apply(self, session) -> None:
        pass


_NO_POLICY = _NoPolicy()


def open_output(path: str, binary: bool = False, guard: bool = True, append: bool = False):
    """-o FILE opened for writing (``append``: at its end, strace's -A).  ``guard``: wrapped in a GuardedStream, so that a
    write error (disk full) keeps the traced program running and is reported once
    at the end (``stream.report()``).  VeilError ("cannot write FILE: REASON") if
    it cannot be opened."""
    from ..output.guard import GuardedStream
    try:
        f = open(path, ("a" if append else "w") + ("b" if binary else ""))
    except OSError as e:
        raise VeilError(f"cannot write {path}: {e.strerror}") from None
    return GuardedStream(f, path) if guard else f
