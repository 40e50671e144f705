"""Look syscalls up by number, name or class; resolve strace-style sets.

This is the public face of the generated table (:mod:`veil.syscalls.table`).
Everything here is plain data built once at import time.

``resolve_set`` implements the value syntax of strace's ``-e trace=``::

    read,write          names
    %file  file         classes (with "%", or the legacy names strace accepts)
    /^(get|set)uid$     a regular expression searched in every name
    39                  a syscall number
    ?name  ?%class      no error if the name / class / regex is unknown
    all  none           everything / nothing
    !expr               the complement of the whole expression
"""

from ..tuples import named_tuple
from . import table
from .classes import CLASS_NAMES, class_names

__all__ = [
    "Syscall", "UnknownSyscallError",
    "SYSCALLS", "BY_NR", "BY_NAME", "MAX_NR",
    "I386_NAMES", "X32_NAMES", "I386_BY_NAME", "X32_BY_NAME",  # noqa: F822 (__getattr__)
    "X32_SYSCALL_BIT",
    "ARCHES", "get", "classes_of", "resolve_set", "names_of", "parse_kind",
    "is_known_name", "call_name", "with_prop",
]


class UnknownSyscallError(ValueError):
    """A syscall name, number, class or set expression that cannot be resolved."""


TYPE_CHECKING = False   # typing is not imported at run time: start-up (issue 22)
if TYPE_CHECKING:
    from typing import NamedTuple

    class _Fields(NamedTuple):
        nr: int
        name: str
        args: tuple          # ((argname, kind), ...)
        nargs: int
        classes: int         # bitmask of veil.syscalls.classes constants
        ret: str             # return kind
        support: str         # "decoded" or "passed"
        props: tuple = ()    # ((property, value), ...): the `@` tokens of its line
else:   # the same fields, without typing.NamedTuple's import (nor collections')
    _Fields = named_tuple("Syscall", "nr name args nargs classes ret support props", defaults=((),))


class Syscall(_Fields):
    """One row of the x86_64 table."""

    __slots__ = ()

    def prop(self, key, default=None):
        """The value of property *key* (True for a flag), or *default*."""
        for k, value in self.props:
            if k == key:
                return value
        return default

    def has_class(self, bits):
        """True if the call is in any of the classes in *bits*."""
        return bool(self.classes & bits)

    @property
    def class_names(self):
        """Canonical strace names of the call's classes, e.g. ['%file', '%desc']."""
        return class_names(self.classes)

    def arg_index(self, argname):
        """0-based index of the argument called *argname* (KeyError if none)."""
        for i, (name, _kind) in enumerate(self.args):
            if name == argname:
                return i
        raise KeyError(f"{self.name} has no argument {argname!r}")

    def args_of_kind(self, *bases):
        """Indices of the arguments whose kind (before any ':') is in *bases*."""
        return tuple(i for i, (_n, kind) in enumerate(self.args)
                     if kind.partition(":")[0] in bases)

    def signature(self):
        """Human-readable signature, e.g. 'read(fd: fd, buf: outbuf:2, count: size) -> size'."""
        text = f"{self.name}({', '.join(f'{n}: {k}' for n, k in self.args)})"
        return text if self.ret == "int" else f"{text} -> {self.ret}"


_new = tuple.__new__   # Syscall(...) without its argument checks: the table is generated
SYSCALLS = tuple(
    _new(Syscall, (nr, name, args, len(args), bits, ret, support, props))
    for nr, name, args, bits, ret, support, props in table.X86_64
)
BY_NR = {sc.nr: sc for sc in SYSCALLS}
BY_NAME = {sc.name: sc for sc in SYSCALLS}
MAX_NR = max(BY_NR) + 1

X32_SYSCALL_BIT = table.X32_SYSCALL_BIT
ARCHES = ("x86_64", "i386", "x32")


class _Foreign:
    """The i386 and x32 tables (veil.syscalls.foreign), made on first use: a trace
    of x86_64 programs never needs them (start-up)."""

    def __init__(self) -> None:
        from . import foreign
        self.I386_NAMES = dict(foreign.I386)   # i386 nr -> name
        self.X32_NAMES = dict(foreign.X32)     # x32 nr (without X32_SYSCALL_BIT) -> name
        self.I386_BY_NAME = {name: nr for nr, name in self.I386_NAMES.items()}
        self.X32_BY_NAME = {name: nr for nr, name in self.X32_NAMES.items()}
        self.all_names = frozenset(BY_NAME) | frozenset(self.I386_BY_NAME) \
            | frozenset(self.X32_BY_NAME)


_foreign_tables = None
_FOREIGN_NAMES = ("I386_NAMES", "X32_NAMES", "I386_BY_NAME", "X32_BY_NAME")


def _foreign():
    global _foreign_tables
    if _foreign_tables is None:
        _foreign_tables = _Foreign()
    return _foreign_tables


def __getattr__(name):   # I386_NAMES and the others, made when first named (PEP 562)
    if name in _FOREIGN_NAMES:
        return getattr(_foreign(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_X86_64_NRS = {sc.name: sc.nr for sc in SYSCALLS}


def _name_to_nr(arch):
    if arch == "x86_64":
        return _X86_64_NRS
    if arch == "i386":
        return _foreign().I386_BY_NAME
    if arch == "x32":
        return _foreign().X32_BY_NAME
    return None


def with_prop(key, value=None, rows=None):
    """{name: value} of the calls that have property *key* (only those whose value
    is *value* when it is given): the one way veil's per-call sets are made."""
    if key not in table.PROPS:
        raise KeyError(f"unknown syscall property {key!r}")
    out = {}
    for sc in SYSCALLS if rows is None else rows:
        v = sc.prop(key)
        if v is not None and (value is None or v == value):
            out[sc.name] = v
    return out


def is_known_name(name):
    """True if *name* is a syscall on x86_64, i386 or x32."""
    return name in BY_NAME or name in _foreign().all_names


def get(name_or_nr):
    """The x86_64 :class:`Syscall` for a name or number."""
    try:
        if isinstance(name_or_nr, int):
            return BY_NR[name_or_nr]
        return BY_NAME[name_or_nr]
    except KeyError:
        if isinstance(name_or_nr, int):
            raise UnknownSyscallError(f"unknown syscall number: {name_or_nr}") from None
        raise UnknownSyscallError(f"unknown syscall name: {name_or_nr!r}") from None


def classes_of(name):
    """Class bitmask of a syscall (by x86_64 name or number).

    An i386/x32 name that x86_64 also has gets the x86_64 call's classes;
    a name only i386 has (``stat64``, ``socketcall``, ...) has none (0).
    """
    if isinstance(name, int):
        return get(name).classes
    sc = BY_NAME.get(name)
    if sc is not None:
        return sc.classes
    if name in _foreign().all_names:
        return 0
    raise UnknownSyscallError(f"unknown syscall name: {name!r}")


def names_of(nrs, arch="x86_64"):
    """Sorted names of the syscall numbers *nrs* on *arch* (unknown numbers skipped)."""
    table_ = _nr_to_name(arch)
    return [table_[nr] for nr in sorted(nrs) if nr in table_]


def _nr_to_name(arch):
    if arch == "x86_64":
        return {sc.nr: sc.name for sc in SYSCALLS}
    if arch == "i386":
        return _foreign().I386_NAMES
    if arch == "x32":
        return _foreign().X32_NAMES
    raise ValueError(f"unknown arch {arch!r} (expected one of {', '.join(ARCHES)})")


def resolve_set(spec, arch="x86_64"):
    """Syscall numbers on *arch* selected by a strace ``-e trace=`` expression.

    Returns a set of ints (for x32, numbers without ``X32_SYSCALL_BIT``).
    Raises :class:`UnknownSyscallError` for an unknown name, class or number
    (unless written with a leading ``?``), a regex matching no name, a bad
    regex, or an empty expression.  A name that exists only on another arch
    (e.g. ``stat64`` when resolving for x86_64) is accepted and selects
    nothing, as in strace.
    """
    if not isinstance(spec, str):
        raise TypeError(f"syscall set must be a string, not {type(spec).__name__}")
    name_to_nr = _name_to_nr(arch)
    if name_to_nr is None:
        raise ValueError(f"unknown arch {arch!r} (expected one of {', '.join(ARCHES)})")
    text = spec.strip()
    negate = False
    while text.startswith("!"):
        negate = not negate
        text = text[1:].strip()
    tokens = [t.strip() for t in text.split(",")]
    tokens = [t for t in tokens if t]
    if not tokens:
        raise UnknownSyscallError(f"empty syscall set: {spec!r}")
    selected = set()
    for tok in tokens:
        selected |= _resolve_token(tok, arch, name_to_nr)
    if negate:
        selected = set(name_to_nr.values()) - selected
    return selected


def _resolve_token(tok, arch, name_to_nr):
    optional = tok.startswith("?")
    if optional:
        tok = tok[1:]
        if not tok:
            raise UnknownSyscallError("'?' must be followed by a name, class or regex")
    if tok == "all":
        return set(name_to_nr.values())
    if tok == "none":
        return set()
    if tok.startswith("/"):
        import re  # a regex in a set: re is not imported at start-up
        try:
            rx = re.compile(tok[1:])
        except re.error as e:
            raise UnknownSyscallError(f"invalid regular expression {tok!r}: {e}") from None
        matched = [name for name in _foreign().all_names if rx.search(name)]
        if not matched and not optional:
            raise UnknownSyscallError(f"no syscall name matches regex: {tok!r}")
        return {name_to_nr[n] for n in matched if n in name_to_nr}
    bits = CLASS_NAMES.get(tok)
    if bits is not None:
        return {nr for name, nr in name_to_nr.items() if classes_of(name) & bits}
    if tok.startswith("%"):
        if optional:
            return set()
        raise UnknownSyscallError(f"unknown syscall class: {tok!r}")
    if tok.isascii() and tok.isdigit():
        nr = int(tok)
        if nr in _nr_to_name(arch):
            return {nr}
        if optional:
            return set()
        raise UnknownSyscallError(f"unknown syscall number: {tok}")
    if tok in name_to_nr:
        return {name_to_nr[tok]}
    if optional or tok in _foreign().all_names:
        return set()
    raise UnknownSyscallError(f"unknown syscall name: {tok!r}")


_INDEXED = frozenset(table.INDEXED_KINDS)
_STRUCTS = frozenset(table.STRUCT_KINDS)
_FLAG_SETS = frozenset(table.FLAG_SETS)
_ENUM_SETS = frozenset(table.ENUM_SETS)
_SCALARS = frozenset(table.SCALAR_KINDS)


def parse_kind(kind):
    """Split an argument kind into ``(base, param)``.

    ``"fd"`` -> ``("fd", None)``; ``"outbuf:2"`` -> ``("outbuf", 2)``;
    ``"flags:open"`` -> ``("flags", "open")``; ``"struct:stat"`` ->
    ``("struct", "stat")``.  Raises ValueError for a kind outside the
    vocabulary.
    """
    base, sep, param = kind.partition(":")
    if not sep:
        if base in _SCALARS:
            return base, None
    elif base in _INDEXED:
        if param.isdigit():
            return base, int(param)
    elif base in _STRUCTS:
        if param.isascii() and param.isidentifier():
            return base, param
    elif base == "flags":
        if param in _FLAG_SETS:
            return base, param
    elif base == "enum":
        if param in _ENUM_SETS:
            return base, param
    raise ValueError(f"not a syscall argument kind: {kind!r}")


def call_name(arch, nr):
    """What a trace calls syscall ``nr`` of ABI ``arch`` (its index in ARCHES, as
    the records carry it): ``openat``, ``open[i386]``, ``syscall_0x1ff``."""
    if arch == 0:
        sc = BY_NR.get(nr)
        return sc.name if sc else f"syscall_{nr:#x}"
    names = _foreign().I386_NAMES if arch == 1 else _foreign().X32_NAMES
    return f"{names.get(nr, f'syscall_{nr:#x}')}[{ARCHES[1 if arch == 1 else 2]}]"
