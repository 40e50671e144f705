"""Alternative engines with the Session-facing API of :class:`veil.engine.Engine`
(the Protocols of veil.engine_api; what each has besides, its ``supports`` set).

``python_ptrace.PtraceEngine`` is the pure-Python reference backend
(``--backend python``): no seccomp, no C fast path, a stop at every syscall
entry and exit.  It writes the same ring records as the C loop, so observers
and hooks cannot tell the two apart (except by speed).
"""



TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..engine_api import TraceEngine


def get_engine(backend: str) -> "TraceEngine":
    """A fresh engine for ``backend`` ("c" or "python")."""
    if backend == "python":
        from .python_ptrace import PtraceEngine
        return PtraceEngine()
    if backend == "c":
        from ..engine import Engine
        return Engine()
    raise ValueError(f"unknown backend {backend!r}: use 'c' or 'python'")
