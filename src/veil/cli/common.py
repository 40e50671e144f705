"""What several commands share: strace's ``-e`` expressions, the ``-e inject=``
policy, the leading ``--`` of a command, and ``-o FILE``.  (Their argparse
parser: veil.cli.argparser; the options of trace and run: veil.cli.options.)"""
from __future__ import annotations

from ..errors import UsageError, VeilError
from ..output import parse_signal_set

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["parse_exprs", "raw_set", "inject_policy", "parse_signal_set",
           "syscall_set", "strip_dashes", "open_output", "EXPR_KEYS"]

EXPR_KEYS = ("trace", "status", "signal", "inject", "raw")


def strip_dashes(command: Sequence[str]) -> list[str]:
    """The command after the options, without the ``--`` that may begin it."""
    command = list(command)
    return command[1:] if command[:1] == ["--"] else command


def parse_exprs(exprs: Sequence[str], allowed: Sequence[str] = EXPR_KEYS
                ) -> tuple[str, str | None, set[int] | None]:
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


def syscall_set(spec: str, what: str = "") -> set[int]:
    """The syscall numbers a -e trace= style SET names; a UsageError (prefixed
    with ``what: `` if given) names what is unknown."""
    from ..syscalls.lookup import UnknownSyscallError, resolve_set
    try:
        return resolve_set(spec)
    except UnknownSyscallError as e:
        raise UsageError(f"{what}: {e}" if what else str(e)) from None


def raw_set(exprs: Sequence[str]) -> set[int]:
    """-e raw=SET (strace's): the syscalls shown undecoded, whose memory veil
    does not read; the last -e raw= wins."""
    raw: set[int] = set()
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
