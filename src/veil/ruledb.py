"""The rule database and its compilation, apart from the Session (as libseccomp
keeps db.c apart from gen_bpf.c).

Rules (allow, deny, refuse, kill, each with argument conditions) are kept per
syscall number in the order added.  ``RuleDB.compile`` turns them, with the
rows the rest of veil asks for (a stop to record a traced call, a hook, a path
check, ...), into the C loop's action table (``engine.SysAction`` per number)
and the filter's entry per number; ``build_filter`` makes the seccomp program.
"""
from __future__ import annotations

from _collections_abc import Iterable  # collections.abc's, without collections (start-up)

from . import engine as E
from . import filter as bpf
from .syscalls.lookup import resolve_set
from .valueclass import ValueClass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

Action = tuple[str, int]                      # ("allow" | "deny" | "refuse" | "kill", errno)
Rule = tuple[tuple[bpf.Cond, ...], Action]    # (conditions that must all hold, action)
Names = str | int | Iterable[str | int]

NOT_A_SYSCALL = "is not a syscall: give names ('openat'), classes ('%file') or numbers"


def syscall_numbers(names: Names) -> set[int]:
    """The numbers of ``names``: a -e trace= expression ("openat", "%file"), a
    number, or an iterable of both.  UnknownSyscallError for an unknown name,
    TypeError (naming the item) for anything else."""
    if isinstance(names, str):
        return resolve_set(names)
    if isinstance(names, int) and not isinstance(names, bool):
        names = [names]
    try:
        items = list(names)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{names!r} {NOT_A_SYSCALL}") from None
    out: set[int] = set()
    for n in items:
        if isinstance(n, str):
            out |= resolve_set(n)
        elif isinstance(n, int) and not isinstance(n, bool) and n >= 0:
            out.add(int(n))
        else:
            raise TypeError(f"{n!r} {NOT_A_SYSCALL}")
    return out


class Row(ValueClass):
    """What veil wants of one syscall besides its rules: the C loop's flags and
    captures, fields of its SysAction, flags added after the rules decided the
    row, and (only where nothing else stops the call) its own filter entry."""

    __slots__ = _fields = ("flags", "caps", "fields", "post_flags", "filter")

    def __init__(self, flags: int = 0, caps: list[tuple[int, int, int, int]] | None = None,
                 fields: dict[str, int] | None = None, post_flags: int = 0,
                 filter: object | None = None):
        self.flags = flags
        self.caps: list[tuple[int, int, int, int]] = [] if caps is None else caps
        self.fields: dict[str, int] = {} if fields is None else fields
        self.post_flags = post_flags
        self.filter = filter


class RuleDB:
    """Rules per syscall number, the i386/x32 rule, and the reasons refused calls
    are reported with."""

    def __init__(self) -> None:
        self.rules: dict[int, list[Rule]] = {}
        self.foreign: Action | None = None     # for i386/x32 calls
        # reasons of refused calls: (nr, or -1 for i386/x32, errno) -> why
        self.reasons: dict[tuple[int, int], str] = {}

    def add(self, nrs: Iterable[int], action: Action,
            where: bpf.Cond | Sequence[bpf.Cond] = ()) -> None:
        """Rules of one syscall are tried in the order added; the first whose
        conditions all hold decides."""
        conds = (where,) if isinstance(where, bpf.Cond) else tuple(where)
        for nr in nrs:
            self.rules.setdefault(nr, []).append((conds, action))

    def add_reason(self, nr: int, errno: int, reason: str) -> None:
        """Why ``nr`` failing with ``errno`` was refused (the first reason given stays)."""
        self.reasons.setdefault((nr, errno), reason)

    def names(self, nrs: Iterable[int]) -> bool:
        """Whether a rule names one of these numbers."""
        return any(nr in self.rules for nr in nrs)

    def conditional_hooks(self) -> dict[int, Callable]:
        """Without seccomp, argument conditions are checked by a hook at entry
        instead: nr -> hook(stop) -> verdict."""
        hooks: dict[int, Callable] = {}
        for nr, rules in self.rules.items():
            conditional = [r for r in rules if r[0]]
            if not conditional:
                continue
            from .verdicts import ALLOW, Deny, Kill

            def check(stop, conditional=conditional):
                for conds, (kind, err) in conditional:
                    if all(c.holds(stop.args) for c in conds):
                        if kind == "allow":
                            return ALLOW
                        return Kill("rule") if kind == "kill" else Deny(err)
                return None
            hooks[nr] = check
        return hooks

    def compile(self, rows: dict[int, Row]) -> tuple[dict[int, E.SysAction], dict[int, object]]:
        """The action table and the filter's entries (nr -> seccomp return or
        bpf.Conditional) of these rows and the rules."""
        actions: dict[int, E.SysAction] = {}
        filt: dict[int, object] = {}
        for nr in sorted(n for n in set(rows) | set(self.rules) if 0 <= n < E.NR_MAX):
            row = rows.get(nr) or Row()
            rules = self.rules.get(nr)
            if row.filter is not None and not rules:
                actions[nr] = E.SysAction(row.flags, 0, row.caps)
                filt[nr] = row.filter
            elif rules:
                actions[nr], filt[nr] = compile_rules(rules, row.flags, row.caps)
            elif row.flags:
                actions[nr] = E.SysAction(row.flags, 0, row.caps)
                filt[nr] = bpf.trace()
            else:
                continue
            for key, value in row.fields.items():
                setattr(actions[nr], key, value)
            actions[nr].flags |= row.post_flags
        return actions, filt

    def compile_foreign(self, traced: bool) -> tuple[E.SysAction, int]:
        """The row and filter return of i386/x32 calls: shown as such when calls
        are traced (never mis-named), else let through, unless a rule says otherwise."""
        row = E.SysAction(E.F_STOP | E.F_RECORD) if traced else E.SysAction()
        ret = bpf.trace() if traced else bpf.allow()
        if self.foreign is not None and self.foreign[0] != "allow":
            kind, err = self.foreign
            row = E.SysAction(E.F_STOP | (E.F_KILL if kind == "kill" else E.F_DENY), err)
            ret = {"kill": bpf.kill(), "refuse": bpf.refuse(err)}.get(kind, bpf.errno_ret(err))
        return row, ret


def compile_rules(rules: Sequence[Rule], flags: int,
                  caps: list[tuple[int, int, int, int]]) -> tuple[E.SysAction, object]:
    """The C row and the filter entry of a syscall with allow/deny/refuse/kill
    rules (``flags``: what else wants the call to stop): the first rule whose
    conditions hold decides."""
    go_on = bpf.trace() if flags else bpf.allow()

    def action(kind: str, err: int) -> int:
        return ({"allow": go_on, "kill": bpf.kill()}.get(kind)
                or (bpf.refuse(err) if kind == "refuse" else bpf.errno_ret(err)))

    unconditional = next((i for i, (conds, _) in enumerate(rules) if not conds), None)
    conditional = rules[:unconditional] if unconditional is not None else rules
    otherwise = go_on
    row = E.SysAction(flags, 0, caps)
    if unconditional is not None:
        kind, err = rules[unconditional][1]
        if kind == "kill":
            # the kernel kills (SIGSYS, uncatchable); C kills without seccomp
            row = E.SysAction(E.F_STOP | E.F_KILL)
            otherwise = bpf.kill()
        elif kind == "deny":
            # denied in the filter unless the call stops anyway (traced or
            # hooked): then C denies it at the stop and the trace shows it
            row = E.SysAction(flags | E.F_STOP | E.F_DENY, err, caps)
            otherwise = bpf.trace() if flags else bpf.errno_ret(err)
        elif kind == "refuse":
            row = E.SysAction(flags | E.F_STOP | E.F_DENY, err, caps)
            otherwise = bpf.refuse(err)
    if not conditional:
        return row, otherwise
    return row, bpf.Conditional([(conds, action(kind, err))
                                 for conds, (kind, err) in conditional], otherwise)


def build_filter(filt: dict[int, object], foreign: int) -> list:
    """The seccomp program: each number's entry, the rest allowed."""
    return bpf.compile_filter(filt, bpf.allow(), foreign)
