"""veil: run, trace and virtualize Linux programs under ptrace + seccomp interception."""
from __future__ import annotations

from .api import trace
from .errors import CommandNotFound, UsageError, VeilError
from .observers import Observer, SyscallStats
from .session import ALLOW, Allow, Deny, Emulate, Kill, Result, Session, Stop

__all__ = ["trace", "Session", "Stop", "Result", "Observer", "SyscallStats", "Allow", "ALLOW",
           "Deny", "Emulate", "Kill", "VeilError", "UsageError", "CommandNotFound"]
__version__ = "0.1.0"
