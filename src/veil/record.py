"""Records declared by their annotations, as ``@dataclass(frozen=True)`` makes
them: veil.spec's sections and RunSpec, a layout's Bind, the verdicts (and, not
frozen, a policy's inject rules and the fake ids' credentials).

Importing dataclasses (with inspect, ast, dis, tokenize and re) and making eight
frozen dataclasses was a third of ``veil run``'s start-up (20-35 ms), and as much
again of a run with an identity (the verdicts and fake ids).  A Record
subclass gets, from its class annotations in order (its bases' first):
construction by position or keyword with defaults (``field(default_factory=...)``
for mutable ones, ``field(compare=False)`` for a field left out of ``==`` and the
hash), ``__post_init__``, ``==``, a hash, a repr, immutability, and what the
dataclasses module asks of a dataclass, made on first use: ``dataclasses.fields``,
``replace``, ``asdict`` and ``is_dataclass`` work on records as on dataclasses.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, ClassVar

    from typing_extensions import dataclass_transform  # typing's from Python 3.11
else:
    def dataclass_transform(**_kwargs):   # typing's, for type checkers only
        return lambda cls: cls

_MISSING: Any = object()


class FrozenInstanceError(AttributeError):
    """A field of a record was assigned (dataclasses' error of the same name)."""


class Field:
    """What ``field()`` declares of one field."""

    MISSING: ClassVar[Any] = _MISSING   # value_when_missing(): no default

    __slots__ = ("name", "type", "default", "default_factory", "compare")

    def __init__(self, default: Any = _MISSING, default_factory: Any = _MISSING,
                 compare: bool = True):
        self.name = ""
        self.type = ""
        self.default = default
        self.default_factory = default_factory
        self.compare = compare

    def value_when_missing(self) -> Any:
        if self.default is not _MISSING:
            return self.default
        if self.default_factory is not _MISSING:
            return self.default_factory()
        return _MISSING


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | Any = _MISSING,
          compare: bool = True) -> Any:
    """A field's default made by ``default_factory`` at each construction, or one that
    ``==`` and the hash leave out (``compare=False``)."""
    return Field(default, default_factory, compare)


class _DataclassFields:
    """``__dataclass_fields__``, made the first time the dataclasses module asks a
    record class for it: dataclasses' Field objects for the record's fields."""

    def __init__(self) -> None:
        self._made: dict[type, dict[str, Any]] = {}

    def __get__(self, _instance: object, owner: type) -> dict[str, Any]:
        made = self._made.get(owner)
        if made is None:
            made = self._made[owner] = _as_dataclass_fields(owner._record_fields)  # type: ignore[attr-defined]
        return made


def _as_dataclass_fields(fields: dict[str, Field]) -> dict[str, Any]:
    import dataclasses
    made = {}
    for f in fields.values():
        kw: dict[str, Any] = {"compare": f.compare}
        if f.default is not _MISSING:
            kw["default"] = f.default
        if f.default_factory is not _MISSING:
            kw["default_factory"] = f.default_factory
        d = dataclasses.field(**kw)
        d.name, d.type = f.name, f.type
        d._field_type = dataclasses._FIELD  # type: ignore[attr-defined]  # what fields() lists
        made[f.name] = d
    return made


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
class Record:
    """Subclass it and annotate the fields (``name: type = default``); a record whose
    fields may change: ``class C(Record, frozen=False)``."""

    __slots__ = ()
    _record_fields: ClassVar[dict[str, Field]] = {}
    __dataclass_fields__: ClassVar[Any] = _DataclassFields()

    def __init_subclass__(cls, frozen: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not frozen:   # fields may be assigned; not hashable then (as a dataclass)
            cls.__setattr__ = object.__setattr__  # type: ignore[method-assign,assignment]
            cls.__delattr__ = object.__delattr__  # type: ignore[method-assign,assignment]
            setattr(cls, "__hash__", None)
        fields = {name: f for base in reversed(cls.__mro__[1:])
                  for name, f in getattr(base, "_record_fields", {}).items()}
        for name, kind in cls.__dict__.get("__annotations__", {}).items():
            if str(kind).startswith(("ClassVar", "typing.ClassVar")):
                continue
            value = cls.__dict__.get(name, _MISSING)
            f = value if isinstance(value, Field) else Field(value)
            f.name, f.type = name, kind
            if isinstance(value, Field):   # the class keeps its default, not the Field
                if f.default is _MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, f.default)
            fields[name] = f
        cls._record_fields = fields
        setattr(cls, "__match_args__", tuple(fields))

    if not TYPE_CHECKING:   # type checkers make each record's own from its fields
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            fields = self._record_fields
            if len(args) > len(fields):
                raise TypeError(f"{type(self).__name__}() takes {len(fields)} arguments, "
                                f"{len(args)} given")
            values = dict(zip(fields, args))
            for name, value in kwargs.items():
                if name not in fields:
                    raise TypeError(f"{type(self).__name__}() got an unexpected keyword "
                                    f"argument {name!r}")
                if name in values:
                    raise TypeError(f"{type(self).__name__}() got multiple values for "
                                    f"argument {name!r}")
                values[name] = value
            for name, f in fields.items():
                if name not in values:
                    value = f.value_when_missing()
                    if value is _MISSING:
                        raise TypeError(f"{type(self).__name__}() missing argument {name!r}")
                    values[name] = value
                object.__setattr__(self, name, values[name])
            post_init = getattr(self, "__post_init__", None)
            if post_init is not None:
                post_init()

    def _compared(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in self._record_fields.values() if f.compare)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._compared() == other._compared()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._compared())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._record_fields)
        return f"{type(self).__qualname__}({shown})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")


def record_fields(record: Record | type[Record]) -> tuple[Field, ...]:
    """The fields of a record (or record class), in order: dataclasses.fields' answer."""
    return tuple(record._record_fields.values())


def replace(record: Any, **changes: Any) -> Any:
    """A copy of ``record`` with these fields changed (dataclasses.replace's)."""
    values = {name: getattr(record, name) for name in record._record_fields}
    values.update(changes)
    return type(record)(**values)
