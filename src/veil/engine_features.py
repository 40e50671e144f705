"""The optional features an engine declares in its ``supports`` set; the methods
each brings are the matching Protocol of veil.engine_api (which the engines do not
import: typing costs start-up)."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .engine_api import TraceEngine

# optional features an engine may declare in ``supports``
SECCOMP = "seccomp"            # the filter: rules settled by the kernel, stops only where asked
PATH_RULES = "path_rules"      # add_path_rule: paths checked in C at the stop
LAYOUT = "layout"              # LayoutEngine: a guest directory tree translated per call
PIN_PATHS = "pin_paths"        # PinningEngine: path calls walk from fds veil opened
MOUNTNS = "mountns"            # the kernel makes the guest's tree (veil.mountns)
IDENTITY = "identity"          # the fake identity answered in C (csrc/identity.c)
SOCKFD_FILTERS = "sockfd_filters"  # per-socket-fd filters (set_sockfd_calls)
GUEST_TRACE = "guest_trace"    # a traced program may trace its own children (veil.guest_ptrace)
RUN_AS = "run_as"              # set_ids: the program runs as another user
FEATURES = frozenset((SECCOMP, PATH_RULES, LAYOUT, PIN_PATHS, MOUNTNS, IDENTITY,
                      SOCKFD_FILTERS, GUEST_TRACE, RUN_AS))


def supports(engine: TraceEngine, feature: str) -> bool:
    """Whether ``engine`` declares ``feature`` (one of FEATURES)."""
    if feature not in FEATURES:
        raise ValueError(f"unknown engine feature {feature!r}")
    return feature in engine.supports
