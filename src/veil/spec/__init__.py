"""A run's whole description (RunSpec), its one validation, its profile form
and the builder that turns it into a Session."""
from __future__ import annotations

from ..layout import Bind
from .checks import SpecError
from .model import Environment, Layout, Network, Observation, RunSpec, Security, System

__all__ = ["RunSpec", "Environment", "Layout", "System", "Network", "Security", "Observation",
           "Bind", "SpecError"]
