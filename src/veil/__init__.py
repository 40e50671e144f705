"""veil: run, trace and virtualize Linux programs under ptrace + seccomp interception.

The public names below are imported on first use (PEP 562): ``import veil``
itself loads nothing but the version, so the command line (and ``veil -V``)
pay only for what a command uses.
"""
from __future__ import annotations

TYPE_CHECKING = False   # typing itself is not imported: `import veil` stays this cheap
if TYPE_CHECKING:   # what type checkers and IDEs see: the same names, eagerly
    from .api import run, trace
    from .errors import CommandNotFound, UsageError, VeilError, VerdictError
    from .observers import Observer, SyscallStats
    from .policy import Arg, Policy
    from .session import Result, Session
    from .spec import Bind, Environment, Layout, Network, Observation, RunSpec, Security, SpecError, System
    from .stop import Stop
    from .verdicts import ALLOW, Allow, Deny, Detach, Emulate, Hold, Inject, Kill, Rewrite, Verdict

# public name -> the module (relative to veil) that defines it
_PUBLIC: dict[str, str] = {
    "run": "api", "trace": "api",
    "CommandNotFound": "errors", "UsageError": "errors", "VeilError": "errors",
    "VerdictError": "errors",
    "Observer": "observers", "SyscallStats": "observers",
    "Arg": "policy", "Policy": "policy",
    "Result": "session", "Session": "session",
    **{name: "spec" for name in ("Bind", "Environment", "Layout", "Network", "Observation",
                                 "RunSpec", "Security", "SpecError", "System")},
    "Stop": "stop",
    **{name: "verdicts" for name in ("ALLOW", "Allow", "Deny", "Detach", "Emulate", "Hold",
                                     "Inject", "Kill", "Rewrite", "Verdict")},
}

__all__ = ["trace", "run", "Policy", "Arg", "Session", "Stop", "Result", "Observer", "SyscallStats", "Allow", "ALLOW",
           "Deny", "Emulate", "Kill", "Detach", "Hold", "Rewrite", "Inject", "Verdict", "VeilError", "UsageError", "VerdictError",
           "CommandNotFound", "RunSpec", "Environment", "Layout", "System", "Network", "Security",
           "Observation", "Bind", "SpecError"]

def __getattr__(name: str) -> object:
    if name == "__version__":
        from .version import VERSION
        return VERSION
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # __import__, not importlib.import_module: importlib's package costs a
    # millisecond of every command's start-up
    value = getattr(__import__(f"{__name__}.{module}", fromlist=[name]), name)
    globals()[name] = value      # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
