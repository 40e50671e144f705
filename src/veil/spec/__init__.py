"""A run's whole description (RunSpec), its one validation, its profile form
and the builder that turns it into a Session.

The names load on first use (PEP 562): ``veil.spec.checks`` (SpecError, which
a bare trace needs) comes without the model's records."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..layout import Bind
    from .checks import SpecError
    from .model import Environment, Layout, Network, Observation, RunSpec, Security, System

__all__ = ["RunSpec", "Environment", "Layout", "System", "Network", "Security", "Observation",
           "Bind", "SpecError"]

_WHERE = {"Bind": "veil.layout", "SpecError": "veil.spec.checks",
          **{name: "veil.spec.model" for name in __all__[:7]}}


def __getattr__(name: str) -> object:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(__import__(where, fromlist=[name]), name)  # as veil/__init__.py
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
