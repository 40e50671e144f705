"""What a hook answers: verdicts are values, not actions.

Verdicts check their values when they are made: ``Deny("ECONNREFUSED")`` is
``Deny(errno=111)``, and ``Deny("EFOO")`` raises VerdictError there, in the
hook (whose name the Session adds to the error), not later in the engine.
They are immutable and compare (and hash) by value.
"""
from __future__ import annotations

import _signal  # the signal module without its enums (start-up)
import errno as _errno
from _operator import index as _index

from .errors import VerdictError
from .record import Record

_MappingProxy = type(type.__dict__)   # types.MappingProxyType, without the types module

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Allow", "ALLOW", "Deny", "Emulate", "Kill", "Detach", "Hold", "Rewrite", "Inject",
           "Verdict",
           "VerdictError", "MAX_ERRNO", "errno_number", "signal_number", "register_value"]

MAX_ERRNO = 4095  # the kernel's (and seccomp's) largest errno
MAX_SIGNAL = 64
ERRNO_NAMES: Mapping[str, int] = _MappingProxy(
    {n: v for n, v in vars(_errno).items() if n.startswith("E") and isinstance(v, int)})

# signal names (with their aliases) as the signal module's Signals has them
_SIGNALS = {name: number for name, number in vars(_signal).items()
            if name.startswith("SIG") and not name.startswith("SIG_")}
ErrnoLike = int | str
SignalLike = int | str


# --- value checks: each returns the number or raises ValueError(reason) ------
def _integer(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an int, not a bool")
    try:
        return _index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{what} must be an int, not {type(value).__name__}") from None


def errno_number(value: ErrnoLike, lowest: int = 1) -> int:
    """An errno from a number or a name: 111, "111", "ECONNREFUSED" or
    "econnrefused" (as strace's ``error=``) -> 111, within lowest..4095."""
    if isinstance(value, str):
        if value.isascii() and value.isdigit():
            value = int(value)
        else:
            number = ERRNO_NAMES.get(value.upper())
            if number is None:
                raise ValueError("unknown errno name (use e.g. 'EACCES' or a number "
                                 f"{lowest}..{MAX_ERRNO})")
            return number
    elif not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"errno must be an int or a name such as 'EACCES', "
                         f"not {type(value).__name__}")
    number = _index(value)
    if not lowest <= number <= MAX_ERRNO:
        raise ValueError(f"errno must be {lowest}..{MAX_ERRNO}")
    return number


def signal_number(value: SignalLike, lowest: int = 1) -> int:
    """A signal from a number or a name: 10, "10", "SIGUSR1", "USR1", "usr1" -> 10,
    within lowest..64."""
    if isinstance(value, str):
        if value.isascii() and value.isdigit():
            value = int(value)
        else:
            name = value.upper()
            try:
                return _SIGNALS[name if name.startswith("SIG") else "SIG" + name]
            except KeyError:
                raise ValueError("unknown signal name (use e.g. 'SIGUSR1', 'USR1' or a "
                                 f"number {lowest}..{MAX_SIGNAL})") from None
    elif not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"signal must be an int or a name such as 'SIGUSR1', "
                         f"not {type(value).__name__}")
    number = _index(value)
    if not lowest <= number <= MAX_SIGNAL:
        raise ValueError(f"signal must be {lowest}..{MAX_SIGNAL}")
    return number


def register_value(value: int, what: str = "retval") -> int:
    """A 64-bit register value: -2**63..2**64-1, returned signed (as the
    register is read back: 2**64-1 is -1)."""
    number = _integer(value, what)
    if not -2**63 <= number < 2**64:
        raise ValueError(f"{what} does not fit in a 64-bit register")
    return number - 2**64 if number >= 2**63 else number


def _call(name: str, *args: object, **kw: object) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kw.items()]
    return f"{name}({', '.join(parts)})"


def _refuse(call: str, reason: str) -> VerdictError:
    return VerdictError(f"{call}: {reason}")


# --- the verdicts ------------------------------------------------------------
class Allow:
    """Let the call run (the default verdict)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Allow()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Allow)

    def __hash__(self) -> int:
        return hash(Allow)


ALLOW = Allow()


class Deny(Record):
    """Fail the call with -errno without running it (at entry only).

    ``errno``: a number or a name, ``Deny(errno.EACCES)``, ``Deny("EACCES")``,
    ``Deny("eacces")``.  0..4095; 0 skips the call and returns 0, as
    ``Policy.deny(..., errno=0)`` and seccomp's ``SCMP_ACT_ERRNO(0)`` do."""

    errno: int = _errno.EPERM

    def __post_init__(self) -> None:
        try:
            number = errno_number(self.errno, lowest=0)
        except ValueError as e:
            raise _refuse(_call("Deny", self.errno), str(e)) from None
        object.__setattr__(self, "errno", number)


class Emulate(Record):
    """Skip the call (at entry) or replace its result (at exit): it returns ``retval``,
    an int of -2**63..2**64-1, kept as the signed value the register reads back."""

    retval: int = 0

    def __post_init__(self) -> None:
        try:
            number = register_value(self.retval)
        except ValueError as e:
            raise _refuse(_call("Emulate", self.retval), str(e)) from None
        object.__setattr__(self, "retval", number)


class Kill(Record):
    """Kill every traced process (the caller first); ``reason`` (a str) is reported."""

    reason: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.reason, str):
            raise _refuse(_call("Kill", self.reason),
                          f"reason must be a str, not {type(self.reason).__name__}")


class Detach(Record):
    """Stop tracing the calling thread: the call and everything after it run
    untraced (strace's -b execve).  Needs a session without the seccomp filter:
    a filtered call of a thread nobody traces fails with ENOSYS."""


class Hold(Record):
    """Keep the thread stopped: the hook's owner resumes it later with
    ``session.resume(stop, verdict)`` (a guest tracer held in wait4 until its
    tracee stops, veil.guest_ptrace)."""


RewriteValue = int | str | bytes | tuple[str, int]


def _rewrite_value(key: str, value: object) -> RewriteValue:
    if isinstance(value, str):
        if "\0" in value:
            raise ValueError("a str is written NUL-terminated and cannot hold NUL; "
                             "give bytes for raw data")
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ValueError("a socket address is a (host, port) tuple")
        host, port = value
        if not isinstance(host, str):
            raise ValueError("the host of (host, port) must be an IP address as a str")
        import ipaddress
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv4 or IPv6 address") from None
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError("the port of (host, port) must be an int 0..65535")
        return (host, int(port))
    if isinstance(value, int) and not isinstance(value, bool):
        if not -2**63 <= value < 2**64:
            raise ValueError("does not fit in a 64-bit register")
        return int(value)
    raise ValueError(f"takes an int, str, bytes or (host, port), not {type(value).__name__}")


class Rewrite:
    """Run the call with changed arguments: ``Rewrite(path="/tmp/x", flags=0)``.

    Keys are argument names from the syscall table (``path`` also names
    ``pathname``/``filename``) or ``arg0``..``arg5``.  Strings (NUL-terminated)
    and bytes (as they are) are written into scratch memory of the tracee
    (below its stack, never over the caller's buffer); a ``(host, port)``
    tuple for a socket address becomes a sockaddr_in/in6 and sets the length
    argument too.  The caller's registers are put back at exit.  At entry only.

    The values are checked here (ints fit a register, hosts are IP addresses,
    ports 0..65535); whether the call has an argument of that name is known
    only at the stop."""

    __slots__ = ("args",)
    args: Mapping[str, RewriteValue]

    def __init__(self, **args: object):
        if not args:
            raise VerdictError("Rewrite(): give at least one argument, e.g. Rewrite(path='/tmp/x')")
        checked: dict[str, RewriteValue] = {}
        for key, value in args.items():
            n = key[3:] if key.startswith("arg") else ""
            if n.isascii() and n.isdigit() and int(n) > 5:
                raise _refuse(_call("Rewrite", **{key: value}), "arguments are arg0..arg5")
            try:
                checked[key] = _rewrite_value(key, value)
            except ValueError as e:
                raise _refuse(_call("Rewrite", **{key: value}), str(e)) from None
        object.__setattr__(self, "args", _MappingProxy(checked))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Rewrite is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Rewrite is immutable: cannot delete {name!r}")

    def __repr__(self) -> str:
        return "Rewrite(" + ", ".join(f"{k}={v!r}" for k, v in self.args.items()) + ")"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rewrite):
            return NotImplemented
        return dict(other.args) == dict(self.args)

    def __hash__(self) -> int:
        return hash((Rewrite, frozenset(self.args.items())))

    def __reduce__(self):
        return (_rebuild_rewrite, (dict(self.args),))


def _rebuild_rewrite(args: dict[str, RewriteValue]) -> Rewrite:
    return Rewrite(**args)


class Inject(Record):
    """Deliver ``signal`` to the caller (the call itself runs, unless ``error`` or
    ``retval`` is given too, which skip it as Deny/Emulate do).

    ``signal``: a number 1..64 or a name ("SIGUSR1", "USR1"), 0 for none;
    ``error``: as Deny's errno; ``retval``: as Emulate's; not both."""

    signal: int = 0
    error: int | None = None
    retval: int | None = None

    def __post_init__(self) -> None:
        given = {k: getattr(self, k) for k in ("signal", "error", "retval")
                 if getattr(self, k) != Inject._record_fields[k].default}
        call = _call("Inject", **given)
        try:
            sig = signal_number(self.signal, lowest=0)
            error = None if self.error is None else errno_number(self.error, lowest=0)
            retval = None if self.retval is None else register_value(self.retval)
        except ValueError as e:
            raise _refuse(call, str(e)) from None
        if error is not None and retval is not None:
            raise _refuse(call, "give error= or retval=, not both")
        object.__setattr__(self, "signal", sig)
        object.__setattr__(self, "error", error)
        object.__setattr__(self, "retval", retval)


Verdict = Allow | Deny | Emulate | Kill | Detach | Hold | Rewrite | Inject | None
