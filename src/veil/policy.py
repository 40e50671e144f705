"""Scripted syscall policies: hooks that return verdicts, and declarative rules
that compile to the seccomp filter (no Python at run time).

    policy = veil.Policy()

    @policy.on_enter("openat", "open")
    def no_shadow(call):
        if call.args.path == "/etc/shadow":
            return veil.Deny(errno.EACCES)

    policy.deny("ptrace")                                   # in the filter
    policy.deny("socket", errno="EAFNOSUPPORT", where=veil.Arg(0) == AF_INET6)
    policy.inject("write", error="ENOSPC", when="3..4")     # strace's -e inject=
    veil.run(["prog"], policy=policy)

Every rule method checks its values when it is called (errnos as numbers or
names, signals as numbers or names) and raises UsageError, one line, if one
is wrong.
"""
from __future__ import annotations

import errno as _errno
import os
import time
from _collections_abc import Callable, Iterable  # collections.abc's, without collections (start-up)

from .errors import UsageError
from .filter import Cond
from .record import Record, field
from .ruledb import syscall_numbers
from .stop import Stop
from .syscalls.lookup import UnknownSyscallError
from .verdicts import Inject, Verdict, errno_number, register_value, signal_number

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

Names = str | Iterable[str | int]
MAX_DELAY = 86400.0 * 365  # seconds; time.sleep() overflows time_t far above this
Hook = Callable[[Stop], Verdict]


class Arg:
    """A syscall argument in a rule: ``Arg(0) == 3``, ``Arg(1) >= 4096``,
    ``Arg(2).masked(0o3) == os.O_WRONLY`` (compared as unsigned 64-bit values,
    as libseccomp and the OCI runtime spec do)."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, index: int, mask: int | None = None):
        if not 0 <= index < 6:
            raise ValueError(f"argument index must be 0..5, not {index}")
        self.index = index
        self.mask = mask

    def masked(self, mask: int) -> Arg:
        return Arg(self.index, mask)

    def _cond(self, op: str, value: int) -> Cond:
        if self.mask is not None:
            if op != "EQ":
                raise ValueError("a masked argument can only be compared with ==")
            return Cond(self.index, "MASKED_EQ", value, self.mask)
        return Cond(self.index, op, value)

    def __eq__(self, v):  # type: ignore[override]
        return self._cond("EQ", v)

    def __ne__(self, v):  # type: ignore[override]
        return self._cond("NE", v)

    def __lt__(self, v):
        return self._cond("LT", v)

    def __le__(self, v):
        return self._cond("LE", v)

    def __gt__(self, v):
        return self._cond("GT", v)

    def __ge__(self, v):
        return self._cond("GE", v)


def _conds(where) -> tuple[Cond, ...]:
    if where is None:
        return ()
    if isinstance(where, Cond):
        return (where,)
    try:
        out = tuple(where)
    except TypeError:
        out = (where,)
    if not all(isinstance(c, Cond) for c in out):
        raise UsageError("where= takes conditions such as veil.Arg(0) == 3, "
                         f"not {where!r}")
    return out


def _nrs(names: Names) -> list[int]:
    """The numbers of ``names`` (veil.ruledb.syscall_numbers), a UsageError if bad."""
    try:
        return sorted(syscall_numbers(names))
    except (UnknownSyscallError, TypeError) as e:
        raise UsageError(str(e)) from None


class When:
    """strace's ``when=FIRST[..LAST][+[STEP]]``: which invocations (1-based) match."""

    _FORM = r"^(\d+)(?:\.\.(\d+))?(?:\+(\d*))?$"

    def __init__(self, spec: str | None):
        self.spec = spec
        if spec is None:
            self.first, self.last, self.step = 1, None, 1
            return
        import re  # re (with enum) only where a when= is given
        m = re.match(self._FORM, spec)
        if not m or int(m.group(1)) < 1:
            raise UsageError(f"invalid when={spec!r}: use FIRST, FIRST..LAST, FIRST+STEP "
                             f"or FIRST..LAST+STEP (counting from 1)")
        self.first = int(m.group(1))
        self.last = int(m.group(2)) if m.group(2) else None
        plus = m.group(3)
        if plus is None:
            self.step = 0 if self.last is None else 1  # "N": only the Nth
        else:
            self.step = int(plus) if plus else 1
        if self.last is not None and self.last < self.first:
            raise UsageError(f"invalid when={spec!r}: LAST is before FIRST")

    def matches(self, n: int) -> bool:
        if n < self.first or (self.last is not None and n > self.last):
            return False
        if self.step == 0:
            return n == self.first
        return (n - self.first) % self.step == 0


class InjectRule(Record, frozen=False):
    """One fault-injection rule (see Policy.inject)."""

    nrs: list[int]
    error: int | None = None
    retval: int | None = None
    signal: int = 0
    delay_enter: float = 0.0  # seconds
    delay_exit: float = 0.0
    when: When = field(default_factory=lambda: When(None))
    path: str | None = None
    fd: int | None = None
    counts: dict[tuple[int, int], int] = field(default_factory=dict)

    def needs_python(self) -> bool:
        return bool(self.when.spec is not None or self.path is not None or self.fd is not None
                    or self.signal != 0 or self.delay_enter or self.delay_exit
                    or self.retval is not None)

    def _selects(self, stop: Stop) -> bool:
        if self.path is not None:
            path = path_of(stop)
            from fnmatch import fnmatchcase  # with re: only for inject's path=
            if path is None or not fnmatchcase(path, self.path):
                return False
        if self.fd is not None:
            try:
                if stop.args.fd != self.fd:
                    return False
            except AttributeError:
                return False
        key = (stop.pid, stop.nr)
        n = self.counts.get(key, 0) + 1
        self.counts[key] = n
        return self.when.matches(n)

    def on_enter(self, stop: Stop) -> Verdict:
        if not self._selects(stop):
            return None
        if self.delay_enter:
            time.sleep(self.delay_enter)
        if self.error is not None or self.retval is not None or self.signal:
            return Inject(signal=self.signal, error=self.error, retval=self.retval)
        return None


class Policy:
    """Hooks and rules; apply to a Session with ``policy.apply(session)`` or pass
    to ``veil.run(..., policy=...)``.  Several policies compose in order: the
    first verdict that is not Allow wins."""

    def __init__(self) -> None:
        self.hooks: list[tuple[list[int], str, Hook]] = []
        # (syscalls, (kind, errno), conditions); kind: "allow", "deny", "kill"
        self.rules: list[tuple[list[int], tuple[str, int], tuple[Cond, ...]]] = []
        self.injects: list[InjectRule] = []
        self.foreign: tuple[str, int] | None = None  # i386/x32 calls, if ruled
        self.path_rules: list[tuple[str, int, bool]] = []  # (pattern, errno, writes only)

    # --- hooks -------------------------------------------------------------
    def on_enter(self, *names: str | int) -> Callable[[Hook], Hook]:
        return self._hook(names, "enter")

    def on_exit(self, *names: str | int) -> Callable[[Hook], Hook]:
        return self._hook(names, "exit")

    def _hook(self, names, phase):
        if not names:
            raise UsageError(f"on_{phase}(): name at least one syscall or class, "
                             f"e.g. @policy.on_{phase}('openat')")
        if any(callable(n) for n in names):
            raise UsageError(f"on_{phase} takes syscall names: @policy.on_{phase}('openat'), "
                             f"not @policy.on_{phase}")
        nrs = _nrs(names)

        def register(fn: Hook) -> Hook:
            if not callable(fn):
                raise UsageError(f"on_{phase}(...) decorates a function (the hook), "
                                 f"not {type(fn).__name__}")
            self.hooks.append((nrs, phase, fn))
            return fn
        return register

    # --- rules (settled without Python) ------------------------------------
    def deny(self, names: Names, errno: int | str = _errno.EPERM, where=None) -> Policy:
        """Fail these calls with ``errno`` (a number 0..4095 or a name such as
        "EACCES"; 0 makes them return 0 without running), in the filter."""
        err = parse_errno(errno, "errno", lowest=0)
        self.rules.append((_nrs(names), ("deny", err), _conds(where)))
        return self

    def kill(self, names: Names, where=None) -> Policy:
        self.rules.append((_nrs(names), ("kill", 0), _conds(where)))
        return self

    def allow(self, names: Names, where=None) -> Policy:
        """Let these calls through, ending the rules for them (for allowlists)."""
        self.rules.append((_nrs(names), ("allow", 0), _conds(where)))
        return self

    def inject(self, names: Names, *, error: int | str | None = None,
               retval: int | None = None, signal: int | str | None = None,
               delay_enter: float = 0.0, delay_exit: float = 0.0, when: str | None = None,
               path: str | None = None, fd: int | None = None) -> Policy:
        """Fault injection, as strace's ``-e inject=``: fail with ``error`` (errno
        number 1..4095 or name), return ``retval`` without running, deliver
        ``signal`` (number 1..64 or name: "SIGUSR1", "USR1"), or delay
        entry/exit (seconds); on the invocations ``when`` selects, optionally
        only where the path (or the file of the fd argument) matches the glob
        ``path``, or the fd is ``fd``."""
        err = parse_errno(error, "error") if error is not None else None
        sig = parse_signal(signal, "signal") if signal is not None else 0
        if err is not None and retval is not None:
            raise UsageError("inject: give error= or retval=, not both")
        if retval is not None:
            try:
                retval = register_value(retval)  # signed, as the register holds it
            except ValueError as e:
                raise UsageError(f"inject: invalid retval={retval!r}: {e}") from None
        delays = []
        for what, delay in (("delay_enter", delay_enter), ("delay_exit", delay_exit)):
            if isinstance(delay, bool) or not isinstance(delay, (int, float)):
                raise UsageError(f"inject: {what} is a number of seconds, not {delay!r}")
            if not 0 <= delay <= MAX_DELAY:  # NaN fails too
                raise UsageError(f"inject: {what} must be 0..{MAX_DELAY:.0f} seconds, not {delay}")
            delays.append(float(delay))
        if err is None and retval is None and not sig and not any(delays):
            raise UsageError("inject: give error=, retval=, signal=, delay_enter= or delay_exit=")
        for what, value, kind in (("when", when, str), ("path", path, str), ("fd", fd, int)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
                raise UsageError(f"inject: {what} must be {'an int' if kind is int else 'a str'}, "
                                 f"not {value!r}")
        self.injects.append(InjectRule(_nrs(names), err, retval, sig, delays[0], delays[1],
                                       When(when), path, fd))
        return self

    def deny_paths(self, patterns: str | Sequence[str],
                   errno: int | str = _errno.EACCES) -> Policy:
        """Any call naming one of these paths fails with ``errno`` (a number
        1..4095 or a name).  Patterns are absolute globs; ``/dir/**`` is the
        directory and everything below it.  Checked in C at the stop, on the
        path made absolute against the caller's cwd or dirfd with symlinks
        resolved."""
        err = parse_errno(errno, "errno")
        self.path_rules.extend((p, err, False) for p in _patterns(patterns, "deny_paths"))
        return self

    def readonly_paths(self, patterns: str | Sequence[str]) -> Policy:
        """Writes under these paths (opens for writing, creating or truncating,
        unlink, rename, mkdir, chmod/chown, ...) fail with EROFS; reads work."""
        self.path_rules.extend((p, _errno.EROFS, True)
                               for p in _patterns(patterns, "readonly_paths"))
        return self

    # --- applying ------------------------------------------------------------
    def apply(self, session) -> None:
        for nrs, action, conds in self.rules:
            session.add_rule(nrs, action, conds)
        if self.foreign is not None:
            session.foreign_rule = self.foreign
        for pattern, errno, writes_only in self.path_rules:
            session.add_path_rule(pattern, errno, writes_only)
        for rule in self.injects:
            if not rule.needs_python() and rule.error is not None:
                session.add_rule(rule.nrs, ("deny", rule.error), ())
                continue
            session.watch(rule.nrs, rule.on_enter, "enter")
            if rule.delay_exit:
                session.watch(rule.nrs, _sleeper(rule.delay_exit), "exit")
        for nrs, phase, fn in self.hooks:
            session.watch(nrs, fn, phase)


def path_of(stop: Stop) -> str | None:
    """The path a call names, or the file its fd argument refers to (read
    from /proc while the caller is stopped, so it is the fd's file now)."""
    try:
        return stop.args.path
    except AttributeError:
        pass
    try:
        fd = stop.args.fd
    except AttributeError:
        return None
    try:
        return os.readlink(f"/proc/{stop.pid}/fd/{fd}")
    except OSError:
        return None


def _sleeper(seconds: float) -> Hook:
    def sleep_at_exit(stop: Stop) -> Verdict:
        time.sleep(seconds)
        return None
    return sleep_at_exit


def _patterns(patterns: str | Sequence[str], method: str) -> list[str]:
    out = [patterns] if isinstance(patterns, str) else list(patterns)
    for p in out:
        if not isinstance(p, str) or not p.startswith("/"):
            raise UsageError(f"{method}: {p!r} is not an absolute path or glob")
    return out


def parse_errno(e: int | str, key: str = "error", lowest: int = 1) -> int:
    """An errno from a number or a name, as strace's ``error=`` takes it:
    28, "28", "ENOSPC", "enospc" -> 28 (lowest..4095); UsageError naming ``key``."""
    try:
        return errno_number(e, lowest)
    except ValueError as reason:
        raise UsageError(f"invalid {key}={e!r}: {reason}") from None


def parse_signal(s: int | str, key: str = "signal") -> int:
    """A signal from a number 1..64 or a name: 10, "10", "SIGUSR1", "USR1",
    "usr1" -> 10; UsageError naming ``key``."""
    try:
        return signal_number(s)
    except ValueError as reason:
        raise UsageError(f"invalid {key}={s!r}: {reason}") from None


def parse_inject(spec: str) -> tuple[str, dict[str, object]]:
    """strace's ``SET:error=E|retval=N|signal=S|delay_enter=US|delay_exit=US[:when=W]``
    (plus veil's ``path=GLOB`` and ``fd=N``) -> (set, keyword arguments of Policy.inject)."""
    parts = spec.split(":")
    sset, opts = parts[0], parts[1:]
    if not sset or not opts:
        raise UsageError(f"invalid -e inject={spec!r}: use SET:error=ERRNO[:when=EXPR]")
    kw: dict[str, object] = {}
    for opt in opts:
        key, eq, value = opt.partition("=")
        if not eq or not value:
            raise UsageError(f"invalid inject option {opt!r} in {spec!r}")
        if key == "error":
            kw["error"] = value
        elif key == "retval":
            try:
                kw["retval"] = int(value, 0)
            except ValueError:
                raise UsageError(f"invalid retval={value!r}: not a number") from None
        elif key == "signal":
            kw["signal"] = value
        elif key in ("delay_enter", "delay_exit"):
            if not (value.isascii() and value.isdigit()):
                raise UsageError(f"invalid {key}={value!r}: microseconds expected")
            kw[key] = int(value) / 1e6
        elif key == "when":
            kw["when"] = value
        elif key == "path":
            kw["path"] = value
        elif key == "fd":
            if not (value.removeprefix("-").isascii() and value.removeprefix("-").isdigit()):
                raise UsageError(f"invalid fd={value!r}")
            kw["fd"] = int(value)
        else:
            raise UsageError(f"unknown inject option {key!r} in {spec!r}")
    return sset, kw
