"""Which fds of the traced programs are netlink sockets (for the netlink decoder)."""
from __future__ import annotations

from ..decoders.common import NETLINK_SOCKETS as SOCKETS
from ..decoders.common import s32
from ..observers import Observer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..decoders import Call

AF_NETLINK = 16


class NetlinkSockets(Observer):
    """Fills veil.decoders.common.NETLINK_SOCKETS from the socket() and close() calls seen
    (a forked process inherits its parent's)."""

    def __init__(self) -> None:
        self._pid_of: dict[int, int] = {}  # tid -> pid

    def exit(self, call: Call) -> None:
        self._pid_of[call.tid] = call.pid
        name = call.name
        if call.failed or call.ret is None or name not in ("socket", "close"):
            return
        if name == "close":
            SOCKETS.pop((call.pid, s32(call.args[0])), None)
        elif s32(call.args[0]) == AF_NETLINK:
            SOCKETS[(call.pid, call.ret)] = s32(call.args[2])
        else:
            SOCKETS.pop((call.pid, call.ret), None)

    def new_task(self, parent_tid: int, child_tid: int, child_pid: int, how: str, ts: int) -> None:
        parent = self._pid_of.get(parent_tid, parent_tid)
        self._pid_of[child_tid] = child_pid
        if child_pid != parent:
            for (pid, fd), protocol in list(SOCKETS.items()):
                if pid == parent:
                    SOCKETS[(child_pid, fd)] = protocol
