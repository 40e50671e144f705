"""``==`` and ``repr`` for veil's small record classes (SysAction, StopEvent, Row,
Refusal, Result), as ``@dataclass`` wrote them: importing dataclasses (with
inspect, ast, dis and tokenize) was a fifth of ``veil trace``'s start-up."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar


class ValueClass:
    """A subclass names its fields in ``_fields``, in constructor order; equal
    when of the same class with equal fields.  Mutable, so not hashable."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({fields})"
