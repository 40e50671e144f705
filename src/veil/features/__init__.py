"""What a Session feature plugs in (sockets, placement, refusals, ...): rows it adds
to the action table, what it installs in the engine, its cleanup, and the fields
it gives the Result.  The Session calls each in turn instead of knowing them.

    add_rows(rows)        before the rules are compiled (veil.ruledb.Row per syscall)
    adjust(actions, filt, ruledb)   after: the compiled rows and filter entries
    install(eng)          before the program starts (or is attached to)
    started(eng)          once it runs
    cleanup()             when run() ends, however it ends
    result_fields()       {Result attribute: value} once run() has ended well
"""
from __future__ import annotations

from ..ruledb import Row

TYPE_CHECKING = False   # typing is not imported at run time: start-up (issue 22)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol

    from ..engine import SysAction
    from ..engine_api import TraceEngine
    from ..ruledb import RuleDB

    class Feature(Protocol):   # what the Session calls (BaseFeature: each a no-op)
        def add_rows(self, rows: RowTable) -> None: ...
        def adjust(self, actions: dict[int, SysAction], filt: dict[int, object],
                   ruledb: RuleDB) -> None: ...
        def install(self, eng: TraceEngine) -> None: ...
        def started(self, eng: TraceEngine) -> None: ...
        def cleanup(self) -> None: ...
        def result_fields(self) -> dict[str, Any]: ...


Captures = list[tuple[int, int, int, int]]


class RowTable(dict[int, Row]):
    """Rows by syscall number; ``captures(nr)``: what tracing the call would capture
    (its arguments as the decoders read them); ``path_fields(sc)``: the SysAction
    fields that name its path arguments (for path checks in C)."""

    def __init__(self, captures: Callable[[int], Captures],
                 path_fields: Callable[[Any], dict[str, int]]):
        super().__init__()
        self.captures = captures
        self.path_fields = path_fields

    def row(self, nr: int) -> Row:
        return self.setdefault(nr, Row())


class BaseFeature:
    """A Feature that does nothing where it has nothing to do."""

    def add_rows(self, rows: RowTable) -> None:
        pass

    def adjust(self, actions: dict[int, SysAction], filt: dict[int, object],
               ruledb: RuleDB) -> None:
        pass

    def install(self, eng: TraceEngine) -> None:
        pass

    def started(self, eng: TraceEngine) -> None:
        pass

    def cleanup(self) -> None:
        pass

    def result_fields(self) -> dict[str, Any]:
        return {}
