"""What the learning run learned, enforced: ``veil run BUNDLE`` with ``[security]
enforce = true`` (learn, then enforce, as AppArmor's genprof/logprof do).

- ``paths_read``: a path call that reads (open for reading, exec, stat,
  access, readlink, ...) succeeds only on a path the learning run read,
  executed, listed or wrote, a directory on the way to one, or one a rule's
  glob covers (``/srv/app/**``: the directory and everything below; ``*`` and
  ``?`` as in fnmatch);
- ``paths_written``: a call that writes (open for writing, creating or
  truncating, mkdir, unlink, rename, chmod, ...) succeeds only where the
  learning run wrote or created;
- ``peers``: connect, bind and sendto reach only the internet addresses the
  learning run used (rules as ``--net-allow``: CIDR[:PORTS]); other families
  (AF_UNIX) are not ruled.

/proc, /dev and /sys (bound from the host) are not ruled.  Paths are matched
as the program names them, made absolute against its
working directory or the dirfd (guest paths, symlinks not followed), which is
how the learning run recorded them.  A path that does not exist in the guest
is not refused for reading: the call fails as it would anyway.  A refused call
fails with EACCES and is reported, one line per call, naming the path or
address and the rule.  ``--set security.enforce=false`` records only.
"""
from __future__ import annotations

import errno as _errno
import fnmatch
import os
from typing import Callable, List, Optional, Sequence, Set, Tuple

from ..layout import Bind
from ..netmap import inet_address, msg_name
from ..netrules import parse_rule
from ..stop import Stop
from ..syscalls.lookup import BY_NR
from ..verdicts import Deny, Verdict
from .learn import AT_FDCWD, EXECS, O_ACCMODE, O_CREAT, O_TRUNC, OPENS, WRITING

ERRNO = _errno.EACCES
HINT = "widen it in the plan, or --set security.enforce=false"
# the kernel's trees a bundle binds from the host (/dev/null, /proc/PID/...): their paths
# change from run to run; they are not ruled
KERNEL_TREES = ("/proc", "/dev", "/sys")
READING = ("%file", "getxattr", "lgetxattr", "listxattr", "llistxattr")
NET_CALLS = {"connect": (1, 2), "bind": (1, 2), "sendto": (4, 5)}


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


class Rules:
    """Exact paths, directory prefixes (``DIR/**``) and fnmatch globs."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.exact: Set[str] = set()
        self.prefixes: List[str] = []
        self.globs: List[str] = []
        for p in patterns:
            if p.endswith("/**"):
                self.prefixes.append(os.path.normpath(p[:-3] or "/"))
            elif any(c in p for c in "*?["):
                self.globs.append(p)
            else:
                self.exact.add(os.path.normpath(p))

    def match(self, path: str) -> bool:
        return (path in self.exact or any(_under(path, p) for p in self.prefixes)
                or any(fnmatch.fnmatchcase(path, g) for g in self.globs))


class Enforcer:
    """The hooks that apply a bundle's learned rules to a session."""

    def __init__(self, paths_read: Sequence[str], paths_written: Sequence[str],
                 peers: Sequence[str], root: Optional[str] = None,
                 binds: Sequence[Bind] = ()) -> None:
        kernel = [p + "/**" for p in KERNEL_TREES]
        self.read = Rules([*paths_read, *paths_written, *kernel])
        for path in list(self.read.exact):       # the directories on the way are read too
            while path != "/":
                path = os.path.dirname(path)
                self.read.exact.add(path)
        self.write = Rules([*paths_written, *kernel])
        self.peers = [parse_rule(p, True) for p in peers]
        self.root = os.path.realpath(root) if root else None
        # host -> guest for the cwd and fds /proc shows (longest first), and back
        shown = [(os.path.realpath(b.host), b.guest) for b in binds]
        if self.root:
            shown.append((self.root, "/"))
        self.shown = sorted(shown, key=lambda hg: -len(hg[0]))
        self.session = None

    # --- paths -------------------------------------------------------------------------

    def _guest(self, host: str) -> Optional[str]:
        """The guest path of what /proc shows of a process's cwd or fd."""
        engine = getattr(self.session, "layout_engine", None)
        if not self.shown or engine and engine[0] == "mount":
            return host     # no layout, or the kernel shows the path in the guest's tree
        for h, g in self.shown:
            if _under(host, h):
                return os.path.normpath(g + "/" + host[len(h):])
        return None

    def _host(self, guest: str) -> str:
        if not self.shown:
            return guest
        for h, g in sorted(((h, g) for h, g in self.shown), key=lambda hg: -len(hg[1])):
            if _under(guest, g):
                return os.path.normpath(h + "/" + guest[len(g):])
        return guest

    def _absolute(self, stop: Stop, text: str, dirfd: int) -> Optional[str]:
        if text.startswith("/"):
            return os.path.normpath(text)
        where = f"/proc/{stop.pid}/cwd" if dirfd == AT_FDCWD else f"/proc/{stop.pid}/fd/{dirfd}"
        try:
            base = self._guest(os.readlink(where))
        except OSError:
            return None
        return os.path.normpath(os.path.join(base, text)) if base else None

    def _paths(self, stop: Stop) -> List[str]:
        sc = BY_NR.get(stop.nr)
        out: List[str] = []
        if sc is None:
            return out
        for i, (_name, kind) in enumerate(sc.args):
            if kind.partition(":")[0] != "path" or not stop.args[i]:
                continue
            text = os.fsdecode(stop.read_string(stop.args[i]))
            dirfd = AT_FDCWD
            if i > 0 and sc.args[i - 1][1] == "dirfd":
                dirfd = stop.args[i - 1] & 0xFFFFFFFF
                dirfd = dirfd - (1 << 32) if dirfd & 0x80000000 else dirfd
            if not text:
                continue            # AT_EMPTY_PATH: the fd, opened (and checked) before
            path = self._absolute(stop, text, dirfd)
            if path:
                out.append(path)
        return out

    def _writes(self, stop: Stop) -> bool:
        if stop.name in WRITING:
            return True
        at = OPENS.get(stop.name)
        if at is None:
            return False
        flags = O_CREAT | 1 if at < 0 else stop.args[at]
        return bool(flags & O_ACCMODE in (1, 2) or flags & (O_CREAT | O_TRUNC))

    def _refuse(self, stop: Stop, what: str, rule: str) -> Verdict:
        if self.session is not None:
            self.session.note_refusal(stop.pid, stop.tid, stop.name, ERRNO,
                                      f"{what} (rule: [security] {rule}; {HINT})")
        return Deny(ERRNO)

    def on_path(self, stop: Stop) -> Verdict:
        writes = self._writes(stop)
        for path in self._paths(stop):
            if writes:
                if not self.write.match(path):
                    return self._refuse(stop, f"{path}: the learning run did not write there",
                                        "paths_written")
            elif not self.read.match(path) and os.path.lexists(self._host(path)):
                return self._refuse(stop, f"{path}: the learning run did not read it",
                                    "paths_read")
        return None

    # --- addresses ---------------------------------------------------------------------

    def _address(self, stop: Stop, raw: bytes) -> Verdict:
        addr = inet_address(raw)
        if addr is None or any(rule.matches(*addr) for rule in self.peers):
            return None
        ip, port = addr
        shown = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        return self._refuse(stop, f"{shown}: an address the learning run did not use", "peers")

    def on_sockaddr(self, stop: Stop) -> Verdict:
        ptr_at, len_at = NET_CALLS[stop.name]
        ptr, length = stop.args[ptr_at], stop.args[len_at]
        if not ptr or not 8 <= length <= 128:
            return None
        return self._address(stop, stop.read(ptr, length))

    def on_sendmsg(self, stop: Stop) -> Verdict:
        name, length = msg_name(stop)
        if not name or not 8 <= length <= 128:
            return None
        return self._address(stop, stop.read(name, length))

    def apply(self, session) -> None:
        self.session = session
        hooks: List[Tuple[Sequence[str], Callable[[Stop], Verdict]]] = [
            ((*READING, *EXECS), self.on_path),
            (tuple(NET_CALLS), self.on_sockaddr), (("sendmsg",), self.on_sendmsg)]
        for names, hook in hooks:
            session.watch(names, hook, "enter")


def enforcer(spec) -> Enforcer:
    """The Enforcer of a RunSpec whose ``[security] enforce`` is true."""
    security, layout = spec.security, spec.layout
    return Enforcer(security.paths_read, security.paths_written, security.peers,
                    layout.root, layout.binds)
