"""Named tuples without the collections package.

``collections`` (with operator, reprlib, heapq and keyword) is a millisecond
and a half of every start-up; veil's named tuples (a syscall table row, a
socket address) need only a tuple subclass whose fields are properties.
What is made here behaves as ``collections.namedtuple``'s classes do for
veil's uses: construction by position or keyword with defaults, ``_make``,
``_replace``, ``_asdict``, ``_fields``, ``_field_defaults``, the same repr,
pickling, ``match`` patterns.
"""
from __future__ import annotations

from _operator import itemgetter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def named_tuple(typename: str, field_names: str, defaults: tuple = ()) -> Any:
    """A tuple subclass called ``typename`` with the space-separated
    ``field_names``; ``defaults`` are those of the last fields."""
    fields = tuple(field_names.split())
    nfields = len(fields)
    field_defaults = dict(zip(fields[nfields - len(defaults):], defaults))
    index = {name: i for i, name in enumerate(fields)}
    tuple_new = tuple.__new__

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if not kwargs and len(args) == nfields:
            return tuple_new(cls, args)
        if len(args) > nfields:
            raise TypeError(f"{typename}() takes {nfields} positional arguments "
                            f"but {len(args)} were given")
        values = list(args) + [_MISSING] * (nfields - len(args))
        for name, value in kwargs.items():
            i = index.get(name)
            if i is None:
                raise TypeError(f"{typename}() got an unexpected keyword argument {name!r}")
            if values[i] is not _MISSING:
                raise TypeError(f"{typename}() got multiple values for argument {name!r}")
            values[i] = value
        for i, value in enumerate(values):
            if value is _MISSING:
                if fields[i] not in field_defaults:
                    raise TypeError(f"{typename}() missing required argument {fields[i]!r}")
                values[i] = field_defaults[fields[i]]
        return tuple_new(cls, values)

    def _make(cls, iterable: Any) -> Any:
        made = tuple_new(cls, iterable)
        if len(made) != nfields:
            raise TypeError(f"expected {nfields} arguments, got {len(made)}")
        return made

    def _replace(self, **kwargs: Any) -> Any:
        values = list(self)
        for name, value in kwargs.items():
            i = index.get(name)
            if i is None:
                raise ValueError(f"got unexpected field names: {[name]!r}")
            values[i] = value
        return tuple_new(type(self), values)

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={value!r}" for name, value in zip(fields, self))
        return f"{type(self).__name__}({inner})"

    def _asdict(self) -> dict:
        return dict(zip(fields, self))

    def __getnewargs__(self) -> tuple:
        return tuple(self)

    namespace: dict[str, Any] = {
        "__slots__": (), "__doc__": f"{typename}({', '.join(fields)})",
        "_fields": fields, "_field_defaults": field_defaults, "__match_args__": fields,
        "__new__": __new__, "_make": classmethod(_make), "_replace": _replace,
        "__repr__": __repr__, "_asdict": _asdict, "__getnewargs__": __getnewargs__}
    for i, name in enumerate(fields):
        namespace[name] = property(itemgetter(i), doc=f"Alias for field number {i}")
    return type(typename, (tuple,), namespace)


_MISSING = object()
