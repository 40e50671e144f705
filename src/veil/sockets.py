"""The socket table (the seed's socket table 4800): one entry per socket the
traced programs hold, kept from their syscalls and checked against the
kernel's own view when a snapshot is taken.

The C loop records the calls that create, name, connect and move data on
sockets, and read/write/close only when their fd is a socket; this observer
turns them into entries.  Which fds hold a socket, its queues and its TCP
state are read from the kernel at a snapshot (/proc/PID/fd, pidfd_getfd).
"""
from __future__ import annotations

import base64
import errno as _errno
import ipaddress
import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import abi
from . import engine as E
from .observers import Observer
from .sockaddr import AF_INET, AF_INET6, AF_NETLINK, AF_UNIX, SockAddr
from .syscalls.lookup import BY_NAME, with_prop

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .decoders import Call

# always recorded when the table is on (@socket_table in the syscall table)
SOCKET_CALLS: tuple[str, ...] = tuple(with_prop("socket_table"))
# recorded only when this fd argument is a socket (decided in C at the stop)
SOCKFD_CALLS: dict[str, int] = with_prop("sockfd")
# calls whose new fd, if a socket, gets a filter of its own in the tracee
SOCKFD_NEWFD = frozenset(with_prop("new_sockfd"))


# the calls that move one flat buffer: with capture_bytes, its tail is kept
TAIL_CALLS = frozenset(n for n in with_prop("moves") if BY_NAME[n].args_of_kind("inbuf", "outbuf"))


def captures(sc, strsize: int, capture_bytes: int = 0) -> list[tuple[int, int, int, int]]:
    """The captures of a call recorded for the table: every fd named (the socket's
    inode), a close's socket described by the kernel (its final addresses)."""
    from .decoders import captures_for
    caps = {c[0]: c for c in captures_for(sc, strsize, True)}
    if sc.name == "close":
        caps = {0: (0, abi.CAP_FDPATH, abi.FDPATH_DESCRIBE, 4096)}
    elif sc.name in ("accept", "accept4"):
        # the new socket's own addresses, as the kernel has them at the exit
        slot = abi.CAP_RESULT
        caps[slot] = (slot, abi.CAP_FDPATH_RET, abi.FDPATH_DESCRIBE, 4096)
    elif sc.name == "getsockopt":
        caps[3] = (3, abi.CAP_LEN_OUT, 4, 64)
    elif sc.name == "connect":
        # the local address exists once connect has run
        caps[0] = (0, abi.CAP_FDPATH_EXIT, abi.FDPATH_DESCRIBE, 4096)
    if capture_bytes and sc.name in TAIL_CALLS:
        # the result slot (these return a size): the tail of what moved, at exit
        slot = abi.CAP_RESULT
        caps[slot] = (slot, abi.CAP_BUF_TAIL, 1, min(capture_bytes, 65535))
    return [caps[i] for i in sorted(caps)]


def merge_captures(regular, table) -> list[tuple[int, int, int, int]]:
    """A traced call's captures with the table's added (the table's win a slot)."""
    caps = {c[0]: c for c in regular}
    caps.update({c[0]: c for c in table})
    return [caps[i] for i in sorted(caps)]


SENDS = set(with_prop("moves", "send"))
SOCK_NONBLOCK = 0o4000
TCP_STATES = {1: "connected", 2: "connecting", 3: "connecting", 4: "shutdown", 5: "shutdown",
              6: "disconnected", 7: "disconnected", 8: "disconnected", 9: "disconnected",
              10: "listening", 11: "shutdown"}
BROKEN = {_errno.EPIPE, _errno.ECONNRESET, _errno.ECONNREFUSED, _errno.ETIMEDOUT,
          _errno.ECONNABORTED, _errno.EHOSTUNREACH, _errno.ENETUNREACH}


def address_text(raw: bytes) -> str | None:
    """127.0.0.1:80, [::1]:53, /path, @abstract, netlink:PID (None: no address)."""
    sa = SockAddr.parse(raw)
    if sa.family == AF_INET and sa.ip is not None:
        return f"{sa.ip}:{sa.port}"
    if sa.family == AF_INET6 and isinstance(sa.ip, ipaddress.IPv6Address):
        mapped = sa.ip.ipv4_mapped
        return f"[{f'::ffff:{mapped}' if mapped else sa.ip.compressed}]:{sa.port}"
    if sa.family == AF_UNIX and sa.path is not None:
        if sa.abstract:
            return "@" + sa.path.decode("utf-8", "backslashreplace")
        return sa.path.decode("utf-8", "backslashreplace") if len(sa.raw) > 2 else None
    if sa.family == AF_NETLINK and sa.nl_pid is not None:
        return f"netlink:{sa.nl_pid}"
    return None


def _inode(data: bytes | None) -> int | None:
    if not data or not data.startswith(b"socket:["):
        return None
    try:
        return int(data[8:data.index(b"]")])
    except ValueError:
        return None


@dataclass
class SocketEntry:
    id: int
    inode: int
    family: str | None = None
    type: str | None = None
    protocol: int | None = None
    local: str | None = None
    remote: str | None = None
    state: str = "unconnected"
    shutdown: str | None = None
    error: str | None = None
    nonblocking: bool = False
    interest: list[dict[str, object]] = field(default_factory=list)
    holders: list[dict[str, int]] = field(default_factory=list)
    options: list[dict[str, object]] = field(default_factory=list)
    sent: int = 0
    received: int = 0
    send_queue: int | None = None
    recv_queue: int | None = None
    backlog: int | None = None
    accepted: int = 0
    pending: int | None = None
    last_sent: str | None = None
    last_received: str | None = None
    created_ns: int | None = None
    closed_ns: int | None = None
    last_state: str | None = None  # the state it was in when it was closed
    last_peer: str | None = None   # datagrams: the address of the last sendto/recvfrom

    def terminate(self, ts: int) -> None:
        if self.state != "terminated":
            self.last_state, self.state = self.state, "terminated"
            self.closed_ns = self.closed_ns or ts

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def descendants(root: int) -> set[int]:
    """``root`` and every process below it now, from each process's parent in
    /proc/PID/stat (empty if ``root`` is gone)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:        # it ended meanwhile
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])   # after "(comm) STATE"
        children.setdefault(ppid, []).append(int(name))
    if not os.path.isdir(f"/proc/{root}"):
        return set()
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


class SocketTable(Observer):
    """Live socket table; ``entries()`` returns copies, ``snapshot()`` first
    asks the kernel who holds each socket and what is queued.

    Closed sockets stay in the table, the ``KEEP_CLOSED`` most recently closed
    ones: a server that runs for days does not make the table (veil's memory)
    grow without bound; ``dropped`` counts the older ones let go."""

    KEEP_CLOSED = 10000

    def __init__(self, capture_bytes: int = 0) -> None:
        self.capture_bytes = capture_bytes
        self._by_inode: dict[int, SocketEntry] = {}
        self._closed: dict[int, None] = {}  # inodes of closed sockets, oldest close first
        self.dropped = 0
        self._next_id = 1
        self._pids: set[int] = set()
        self._epoll: dict[tuple[int, int, int], int] = {}  # (pid, epfd, inode) -> events
        self._polled: dict[tuple[int, int], tuple[str, str]] = {}  # (pid, fd) -> (via, events)
        self.root_pid: int | None = None  # the program veil started (its tree is scanned)
        self._lock = threading.RLock()  # a SIGUSR1 snapshot may interrupt an update
        self._last_ns = 0
        # kernel-reported addresses as the program sees them (--net-map sets it)
        self.address_view: Callable[[str | None], str | None] = lambda a: a

    # --- entries ------------------------------------------------------------
    def _entry(self, inode: int, ts: int) -> SocketEntry:
        e = self._by_inode.get(inode)
        if e is None:
            e = self._by_inode[inode] = SocketEntry(self._next_id, inode, created_ns=ts)
            self._next_id += 1
        return e

    def _by_cap(self, call: Call, slot: int) -> SocketEntry | None:
        c = call.cap(slot)
        ino = _inode(c.data) if c is not None else None
        if ino is None:
            return None
        self._closed.pop(ino, None)  # in use again (another fd held it): not to be dropped
        return self._entry(ino, call.ts_exit)

    def _let_go_of_old_closed(self) -> None:
        while len(self._closed) > self.KEEP_CLOSED:
            ino = next(iter(self._closed))
            del self._closed[ino]
            if self._by_inode.pop(ino, None) is not None:
                self.dropped += 1

    # --- observer -----------------------------------------------------------
    def enter(self, call: Call) -> None:
        # what a poll/select watches matters while it waits: taken at entry
        handler = _ENTER_HANDLERS.get(call.name)
        if handler is not None:
            with self._lock:
                handler(self, call)

    def exit(self, call: Call) -> None:
        handler = _HANDLERS.get(call.name)
        if handler is None:
            return
        self._pids.add(call.pid)
        with self._lock:
            self._last_ns = call.ts_exit
            handler(self, call)

    def new_task(self, parent_tid: int, child_tid: int, child_pid: int, how: str, ts: int) -> None:
        self._pids.add(child_pid)

    def exited(self, pid: int, tid: int, code: int, ts: int) -> None:
        if pid == tid:
            self._pids.discard(pid)

    def killed(self, pid: int, tid: int, sig: int, core: bool, ts: int) -> None:
        self.exited(pid, tid, 0, ts)

    # --- the calls ----------------------------------------------------------
    def _created(self, call: Call, e: SocketEntry, domain: int, stype: int, proto: int) -> None:
        from .decoders.net import socket_domain, socket_type
        e.family = socket_domain(domain)
        e.type = socket_type(stype & 0xF)
        e.protocol = proto
        e.nonblocking = bool(stype & SOCK_NONBLOCK)

    def _socket(self, call: Call) -> None:
        e = self._by_cap(call, abi.CAP_RESULT) if not call.failed else None
        if e is not None:
            self._created(call, e, call.args[0], call.args[1], call.args[2])

    def _socketpair(self, call: Call) -> None:
        c = call.cap(3)
        if call.failed or c is None or len(c.data) < 8:
            return
        inodes, pos = [], 8
        for _ in range(2):
            if pos + 4 > len(c.data):
                return
            n = struct.unpack_from("<I", c.data, pos)[0]
            inodes.append(_inode(c.data[pos + 4:pos + 4 + n]))
            pos += 4 + n
        pair = [self._entry(i, call.ts_exit) for i in inodes if i is not None]
        for e in pair:
            self._created(call, e, call.args[0], call.args[1], call.args[2])
            e.state = "connected"
        if len(pair) == 2:
            pair[0].remote, pair[1].remote = f"socket:{pair[1].id}", f"socket:{pair[0].id}"

    def _bind(self, call: Call) -> None:
        e = self._by_cap(call, 0)
        c = call.cap(1)
        if e is not None and not call.failed:
            e.local = address_text(c.data) if c is not None else e.local
            if e.state == "unconnected":
                e.state = "bound"

    def _listen(self, call: Call) -> None:
        e = self._by_cap(call, 0)
        if e is not None and not call.failed:
            e.state = "listening"
            e.backlog = int(call.args[1] & 0x7FFFFFFF)

    def _connect(self, call: Call) -> None:
        e = self._by_cap(call, 0)
        if e is None:
            return
        self._described(e, call.cap(0).data)
        c = call.cap(1)
        if c is not None:
            e.remote = address_text(c.data) or e.remote
        err = call.errno
        if err is None or err == _errno.EISCONN:
            e.state = "connected"
        elif err in (_errno.EINPROGRESS, _errno.EALREADY):
            e.state = "connecting"
        elif err in BROKEN:
            e.state, e.error = "disconnected", _errno.errorcode.get(err)

    def _accept(self, call: Call) -> None:
        lst = self._by_cap(call, 0)
        new = self._by_cap(call, abi.CAP_RESULT) if not call.failed else None
        if lst is None or new is None:
            return
        lst.accepted += 1
        new.family, new.type, new.protocol = lst.family, lst.type, lst.protocol
        new.local = lst.local
        c = call.cap(1)
        if c is not None:
            new.remote = self.address_view(address_text(c.data)) or new.remote
        new.state = "connected"
        self._described(new, call.cap(abi.CAP_RESULT).data)
        flags = call.args[3] if call.name == "accept4" else 0
        new.nonblocking = bool(flags & SOCK_NONBLOCK)

    def _shutdown(self, call: Call) -> None:
        e = self._by_cap(call, 0)
        if e is None or call.failed:
            return
        how = {0: {"read"}, 1: {"write"}, 2: {"read", "write"}}.get(call.args[1], set())
        now = how | ({"read", "write"} if e.shutdown == "both" else {e.shutdown} - {None})
        e.shutdown = "both" if now >= {"read", "write"} else next(iter(now), None)
        e.state = "shutdown"

    def _setsockopt(self, call: Call) -> None:
        e = self._by_cap(call, 0)
        if e is None or call.failed:
            return
        level, name = call.args[1] & 0xFFFFFFFF, call.args[2] & 0xFFFFFFFF
        c = call.cap(3)
        value: object = None
        if c is not None:
            value = (struct.unpack("<i", c.data)[0] if len(c.data) == 4
                     else base64.b64encode(c.data).decode())
        from .decoders.net import sockopt_level, sockopt_name
        e.options.append({"level": sockopt_level(level), "name": sockopt_name(level, name, False),
                          "value": value})

    def _data(self, call: Call, slot: int = 0, sending: bool | None = None) -> None:
        e = self._by_cap(call, slot)
        if e is None:
            return
        name = call.name
        sending = name in SENDS if sending is None else sending
        if call.failed:
            if call.errno in BROKEN:
                e.state, e.error = "disconnected", _errno.errorcode.get(call.errno)
            return
        n = call.ret
        if sending:
            e.sent += n
        else:
            e.received += n
            if n == 0 and e.type in ("SOCK_STREAM", "SOCK_SEQPACKET") and call.args[2]:
                e.state = "disconnected"  # the peer closed
                return
        if e.state in ("connected", "sending", "receiving", "bound", "unconnected"):
            e.state = "sending" if sending else "receiving"
        addr_slot = {"sendto": 4, "recvfrom": 4}.get(name)
        if addr_slot is not None and call.args[addr_slot]:
            c = call.cap(addr_slot)
            if c is not None:
                # sendto's is the program's own; recvfrom's the kernel wrote
                text = address_text(c.data)
                e.last_peer = (text if name == "sendto" else self.address_view(text)) or e.last_peer
        if self.capture_bytes and name in TAIL_CALLS:
            c = call.cap(abi.CAP_RESULT)
            if c is not None:
                data = c.data[-self.capture_bytes:]
                key = "last_sent" if sending else "last_received"
                old = base64.b64decode(getattr(e, key) or "")
                setattr(e, key, base64.b64encode((old + data)[-self.capture_bytes:]).decode())

    def _getsockopt(self, call: Call) -> None:
        e = self._by_cap(call, 0)
        c = call.cap(3)
        if e is None or call.failed or c is None or len(c.data) < 4:
            return
        if call.args[1] == 1 and call.args[2] == 4:  # SOL_SOCKET, SO_ERROR
            err = struct.unpack_from("<i", c.data)[0]
            if err:
                e.state, e.error = "disconnected", _errno.errorcode.get(err, str(err))
            elif e.state == "connecting":
                e.state = "connected"

    def _poll(self, call: Call) -> None:
        c = call.cap(0)
        if c is None:
            return
        n = min(call.args[1] & 0xFFFFFFFF, len(c.data) // 8)
        for i in range(n):
            fd, events, _ = struct.unpack_from("<ihh", c.data, 8 * i)
            if fd >= 0:
                self._polled[(call.pid, fd)] = ("poll", _poll_events(events & 0xFFFF))

    def _select(self, call: Call) -> None:
        nfds = min(call.args[0] & 0xFFFFFFFF, 1024)
        sets = [(slot, name) for slot, name in ((1, "POLLIN"), (2, "POLLOUT"), (3, "POLLPRI"))
                if call.args[slot] and call.cap(slot) is not None]
        wanted: dict[int, list[str]] = {}
        for slot, name in sets:
            bits = int.from_bytes(call.cap(slot).data, "little")
            for fd in range(nfds):
                if bits >> fd & 1:
                    wanted.setdefault(fd, []).append(name)
        for fd, names in wanted.items():
            self._polled[(call.pid, fd)] = ("select", "|".join(names))

    def _splice(self, call: Call) -> None:
        if not call.failed and call.ret > 0:
            for slot, sending in ((0, False), (2, True)):
                if self._by_cap(call, slot) is not None:
                    self._data(call, slot, sending)

    def _close(self, call: Call) -> None:
        e = self._by_cap(call, 0)
        if e is None or call.failed:
            return
        e.closed_ns = call.ts_exit
        self._described(e, call.cap(0).data)
        self._closed[e.inode] = None
        self._let_go_of_old_closed()

    def _described(self, e: SocketEntry, data: bytes) -> None:
        """Addresses from an fd capture C described (-yy form)."""
        parts = data.split(b"\0")  # socket:[N] PROTO LOCAL,REMOTE PEER NAME
        if len(parts) >= 3 and b"," in parts[2]:
            local, _, remote = parts[2].partition(b",")
            for attr, hexed in (("local", local), ("remote", remote)):
                try:
                    text = address_text(bytes.fromhex(hexed.decode()))
                except ValueError:
                    text = None
                if text:
                    setattr(e, attr, self.address_view(text))
        elif len(parts) >= 5 and parts[4]:
            e.local = parts[4].decode("utf-8", "backslashreplace")

    def _sockname(self, call: Call) -> None:
        e = self._by_cap(call, 0)
        c = call.cap(1)
        if e is not None and not call.failed and c is not None:
            text = self.address_view(address_text(c.data))
            if text:
                setattr(e, "local" if call.name == "getsockname" else "remote", text)

    def _fcntl(self, call: Call) -> None:
        e = self._by_cap(call, 0)
        if e is not None and not call.failed and call.args[1] == 4:  # F_SETFL
            e.nonblocking = bool(call.args[2] & SOCK_NONBLOCK)

    def _epoll_ctl(self, call: Call) -> None:
        c = call.cap(2)
        ino = _inode(c.data) if c is not None else None
        if ino is None or call.failed:
            return
        self._entry(ino, call.ts_exit)
        key = (call.pid, call.args[0] & 0xFFFFFFFF, ino)
        if call.args[1] == 2:  # EPOLL_CTL_DEL
            self._epoll.pop(key, None)
        else:
            ev = call.cap(3)
            self._epoll[key] = struct.unpack_from("<I", ev.data)[0] if ev and len(ev.data) >= 4 else 0

    # --- the kernel's view --------------------------------------------------
    def snapshot(self) -> list[dict[str, object]]:
        """Ask the kernel who holds each socket now and what is queued; the entries."""
        held: dict[int, list[tuple[int, int]]] = {}
        for pid in sorted(self._pids | self._tree()):
            try:
                names = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for name in names:
                try:
                    ino = _inode(os.readlink(f"/proc/{pid}/fd/{name}").encode())
                except OSError:
                    continue
                if ino is not None:
                    held.setdefault(ino, []).append((pid, int(name)))
        with self._lock:
            for ino, holders in held.items():
                e = self._entry(ino, time.time_ns())
                e.holders = [{"pid": p, "fd": fd} for p, fd in sorted(holders)]
                self._ask_kernel(e, *holders[0])
            for e in self._by_inode.values():
                if e.inode not in held:
                    e.holders = []
                    e.terminate(self._last_ns or time.time_ns())
            return self.entries_locked()

    def _tree(self) -> set[int]:
        """The program and its descendants now (the calls that name them may not
        have reached the table yet)."""
        if self.root_pid is None:
            return set()
        return descendants(self.root_pid)

    def _ask_kernel(self, e: SocketEntry, pid: int, fd: int) -> None:
        from .decoders.net import socket_domain, socket_type
        q = E.sock_query(pid, fd)
        if q is None:
            return
        e.family = e.family or socket_domain(q["domain"])
        e.type = e.type or socket_type(q["type"] & 0xF)
        e.protocol = q["protocol"] if e.protocol is None else e.protocol
        e.local = self.address_view(address_text(q["local"])) or e.local
        e.remote = self.address_view(address_text(q["remote"])) or e.remote
        if q["inq"] >= 0:
            e.recv_queue = q["inq"]
        if q["outq"] >= 0:
            e.send_queue = q["outq"]
        if q["listening"]:
            e.state = "listening"
            if q["tcp_state"] >= 0:
                e.pending = q["tcp_unacked"]
        elif q["tcp_state"] in (2, 3) and e.state in ("unconnected", "bound", "connecting"):
            e.state = "connecting"
        elif q["tcp_state"] == 1 and e.state in ("connecting", "unconnected", "bound"):
            e.state = "connected"
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("flags:"):
                        e.nonblocking = bool(int(line.split()[1], 8) & SOCK_NONBLOCK)
        except OSError:
            pass
        e.interest = [{"pid": p, "via": "epoll", "epfd": epfd, "events": _epoll_events(ev)}
                      for (p, epfd, ino), ev in self._epoll.items() if ino == e.inode]
        for h in e.holders:
            polled = self._polled.get((h["pid"], h["fd"]))
            if polled:
                e.interest.append({"pid": h["pid"], "via": polled[0], "events": polled[1]})

    def newer_than(self, last_id: int) -> list[SocketEntry]:
        """The entries numbered above ``last_id`` (the live objects, not copies)."""
        if self._next_id - 1 <= last_id:
            return []
        return sorted((e for e in self._by_inode.values() if e.id > last_id), key=lambda e: e.id)

    def entries_locked(self) -> list[dict[str, object]]:
        return [e.as_dict() for e in sorted(self._by_inode.values(), key=lambda e: e.id)]

    def entries(self) -> list[dict[str, object]]:
        with self._lock:
            return self.entries_locked()

    def finish(self) -> list[dict[str, object]]:
        """The table once every process is gone: every socket is terminated."""
        with self._lock:
            for e in self._by_inode.values():
                e.holders = []
                e.terminate(self._last_ns)
            return self.entries_locked()

    def write(self, path: str, entries: list[dict[str, object]] | None = None) -> None:
        doc = {"version": 1, "taken_ns": time.time_ns(), "dropped": self.dropped,
               "sockets": entries if entries is not None else self.entries()}
        tmp = path + ".tmp"
        import json  # here: json's import is a start-up cost of every run
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        os.replace(tmp, path)


def _poll_events(mask: int) -> str:
    names = [(0x001, "POLLIN"), (0x002, "POLLPRI"), (0x004, "POLLOUT"), (0x2000, "POLLRDHUP")]
    return "|".join(n for bit, n in names if mask & bit) or "0"


def _epoll_events(mask: int) -> str:
    names = [(0x001, "EPOLLIN"), (0x004, "EPOLLOUT"), (0x008, "EPOLLERR"), (0x010, "EPOLLHUP"),
             (0x002, "EPOLLPRI"), (0x2000, "EPOLLRDHUP"), (1 << 31, "EPOLLET"),
             (1 << 30, "EPOLLONESHOT"), (1 << 28, "EPOLLEXCLUSIVE")]
    return "|".join(n for bit, n in names if mask & bit) or "0"


_HANDLERS = {
    "socket": SocketTable._socket, "socketpair": SocketTable._socketpair,
    "bind": SocketTable._bind, "listen": SocketTable._listen, "connect": SocketTable._connect,
    "accept": SocketTable._accept, "accept4": SocketTable._accept,
    "shutdown": SocketTable._shutdown, "setsockopt": SocketTable._setsockopt,
    "close": SocketTable._close, "fcntl": SocketTable._fcntl, "epoll_ctl": SocketTable._epoll_ctl,
    "splice": SocketTable._splice, "getsockname": SocketTable._sockname,
    "getpeername": SocketTable._sockname, "getsockopt": SocketTable._getsockopt,
    **{n: SocketTable._data for n in ("sendto", "recvfrom", "sendmsg", "recvmsg", "read", "write",
                                      "readv", "writev", "sendfile")},
}


# --- `veil sockets FILE` --------------------------------------------------------

COLUMNS = (("ID", "id"), ("FAMILY", "family"), ("TYPE", "type"), ("STATE", "state"),
           ("LOCAL", "local"), ("REMOTE", "remote"), ("SENT", "sent"), ("RECV", "received"),
           ("HOLDERS", "holders"))


def load_table(path: str) -> dict[str, object]:
    """A table file written by --sockets-out; UsageError with one line if it is not one."""
    import json

    from .errors import UsageError
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as e:
        raise UsageError(f"{path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}:{e.lineno}: not a socket table ({e.msg})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sockets"), list):
        raise UsageError(f"{path}: not a socket table (no \"sockets\" list)")
    for i, e in enumerate(doc["sockets"]):
        if not isinstance(e, dict) or not isinstance(e.get("holders", []), list):
            raise UsageError(f"{path}: not a socket table (entry {i} is not a socket)")
    return doc


def format_table(entries: list[dict[str, object]]) -> str:
    def cell(e: dict[str, object], key: str) -> str:
        v = e.get(key)
        if key == "holders":
            return ",".join(f"{h.get('pid')}:{h.get('fd')}" if isinstance(h, dict) else str(h)
                            for h in v or []) or "-"
        if key == "type" and isinstance(v, str):
            v = v.replace("SOCK_", "")
        if key == "family" and isinstance(v, str):
            v = v.replace("AF_", "")
        if key == "state" and e.get("state") == "terminated" and e.get("last_state"):
            v = f"terminated ({e['last_state']})"
        return "-" if v is None else str(v)
    rows = [[h for h, _ in COLUMNS]] + [[cell(e, k) for _, k in COLUMNS] for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


_ENTER_HANDLERS = {"poll": SocketTable._poll, "ppoll": SocketTable._poll,
                   "select": SocketTable._select, "pselect6": SocketTable._select}
