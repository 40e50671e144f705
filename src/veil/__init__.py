"""veil: run, trace and virtualize Linux programs under ptrace + seccomp interception."""
from __future__ import annotations

from .api import run, trace
from .version import VERSION
from .errors import CommandNotFound, UsageError, VeilError, VerdictError
from .policy import Arg, Policy
from .observers import Observer, SyscallStats
from .session import Result, Session
from .spec import (Bind, Environment, Layout, Network, Observation, RunSpec, Security, SpecError,
                   System)
from .stop import Stop
from .verdicts import ALLOW, Allow, Deny, Detach, Emulate, Inject, Kill, Rewrite, Verdict

__all__ = ["trace", "run", "Policy", "Arg", "Session", "Stop", "Result", "Observer", "SyscallStats", "Allow", "ALLOW",
           "Deny", "Emulate", "Kill", "Detach", "Rewrite", "Inject", "Verdict", "VeilError", "UsageError", "VerdictError",
           "CommandNotFound", "RunSpec", "Environment", "Layout", "System", "Network", "Security",
           "Observation", "Bind", "SpecError"]
__version__ = VERSION
