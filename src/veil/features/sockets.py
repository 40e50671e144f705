"""The socket table as a Session feature: the calls it needs are recorded (read,
write, close... only on sockets, decided in C) while other observers still see
only the traced calls; with per-socket-fd filters (root), file I/O never stops."""
from __future__ import annotations

import os

from .. import engine as E
from .. import filter as bpf
from ..sockets import SOCKET_CALLS, SOCKFD_CALLS, SOCKFD_NEWFD, SocketTable, merge_captures
from ..sockets import captures as socket_captures
from ..syscalls.lookup import BY_NAME, BY_NR
from . import BaseFeature, RowTable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..engine_api import SocketFdEngine, TraceEngine
    from ..ruledb import RuleDB


class Sockets(BaseFeature):
    def __init__(self, traced: set[int], strsize: int, capture_bytes: int, seccomp: bool):
        self.table = SocketTable(capture_bytes)
        self.strsize = strsize
        self.capture_bytes = capture_bytes
        wanted = {**{n: -1 for n in SOCKET_CALLS}, **SOCKFD_CALLS}
        self.names = set(wanted)
        # nr -> the fd argument that must be a socket (-1: any call) of the calls
        # recorded for the table only (not traced)
        self.rows: dict[int, int] = {BY_NAME[n].nr: arg for n, arg in wanted.items()
                                     if n in BY_NAME and BY_NAME[n].nr not in traced}
        # socket fds get their own filters in the tracee (root can stack them)
        self.sockfd_filters = seccomp and os.geteuid() == 0

    def add_rows(self, rows: RowTable) -> None:
        for nr, arg in self.rows.items():
            row = rows.row(nr)
            row.flags |= E.F_STOP | E.F_RECORD
            row.caps = rows.captures(nr)
            row.fields["sockfd_arg"] = arg
        for name in self.names:
            sc = BY_NAME.get(name)
            if sc is not None and sc.nr in rows and rows[sc.nr].flags & E.F_RECORD:
                rows[sc.nr].caps = merge_captures(rows[sc.nr].caps, socket_captures(
                    sc, self.strsize, self.capture_bytes))

    def adjust(self, actions: dict[int, E.SysAction], filt: dict[int, object],
               ruledb: RuleDB) -> None:
        """With per-socket-fd filters, read/write/close... on files never stop:
        the base filter lets them pass when nothing else wants them."""
        for nr in self.rows:
            act = actions.get(nr)
            if act is None:
                continue
            name = BY_NR[nr].name
            if name in SOCKFD_NEWFD:
                act.flags |= E.F_NEWFD | E.F_EXIT
            only_table = act.flags & ~(E.F_STOP | E.F_RECORD | E.F_NEWFD | E.F_EXIT) == 0
            if (self.sockfd_filters and name in SOCKFD_CALLS and only_table
                    and not ruledb.rules.get(nr)):
                filt[nr] = bpf.allow()

    def install(self, eng: TraceEngine) -> None:
        if self.sockfd_filters:   # seccomp: the C engine
            filtering: SocketFdEngine = eng   # type: ignore[assignment]
            filtering.set_sockfd_calls([BY_NAME[n].nr for n in SOCKFD_CALLS if n in BY_NAME])

    def started(self, eng: TraceEngine) -> None:
        self.table.root_pid = eng.main_pid

    def result_fields(self) -> dict[str, Any]:
        return {"sockets": self.table.finish()}
