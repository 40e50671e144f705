"""What a hook answers: verdicts are values, not actions."""
from __future__ import annotations

import errno as _errno
from dataclasses import dataclass
from typing import Dict, Optional, Union


class Allow:
    """Let the call run (the default verdict)."""

    def __repr__(self) -> str:
        return "Allow()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Allow)

    def __hash__(self) -> int:
        return hash(Allow)


ALLOW = Allow()


@dataclass
class Deny:
    """Fail the call with -errno without running it."""

    errno: int = _errno.EPERM


@dataclass
class Emulate:
    """Skip the call (at entry) or replace its result (at exit): it returns ``retval``."""

    retval: int = 0


@dataclass
class Kill:
    """Kill every traced process (the caller first); ``reason`` is reported."""

    reason: str = ""


class Rewrite:
    """Run the call with changed arguments: ``Rewrite(path="/tmp/x", flags=0)``.

    Keys are argument names from the syscall table (``path`` also names
    ``pathname``/``filename``) or ``arg0``..``arg5``.  Strings (NUL-terminated)
    and bytes (as they are) are written into scratch memory of the tracee
    (below its stack, never over the caller's buffer); a ``(host, port)``
    tuple for a socket address becomes a sockaddr_in/in6 and sets the length
    argument too.  The caller's registers are put back at exit."""

    def __init__(self, **args: Union[int, str, bytes, tuple]):
        if not args:
            raise ValueError("Rewrite needs at least one argument")
        self.args: Dict[str, Union[int, str, bytes]] = args

    def __repr__(self) -> str:
        return "Rewrite(" + ", ".join(f"{k}={v!r}" for k, v in self.args.items()) + ")"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rewrite) and other.args == self.args


@dataclass
class Inject:
    """Deliver ``signal`` to the caller (the call itself runs, unless ``error`` or
    ``retval`` is given too, which skip it as Deny/Emulate do)."""

    signal: int = 0
    error: Optional[int] = None
    retval: Optional[int] = None


Verdict = Union[Allow, Deny, Emulate, Kill, Rewrite, Inject, None]
