"""The learning run of ``veil prep pack``: an observer that records every path
the traced programs opened, executed, stat'ed, listed or changed.

Paths are made absolute with the process's working directory (followed
through chdir/fchdir and inherited across fork) or with the directory an
``*at`` call's dirfd was opened on (a table of the fds each process opened).

It also keeps which process touched which path (``by_process``), the process
tree with each process's execs (``processes``), and the internet addresses the
run connected to, bound or sent to (``peers``), for ``veil prep graph``,
``files`` and the network rules of the bundle.
"""
from __future__ import annotations

import os

from ..decoders import Call
from ..observers import Observer
from ..syscalls.lookup import resolve_set, with_prop
from .progress import Progress

AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
O_ACCMODE = 0o3
O_CREAT = 0o100
O_TRUNC = 0o1000
O_EXCL = 0o200

# what the learning run traces: every path-taking call, the process calls (exec, fork,
# chdir) and the fd calls that name an opened directory
TRACE_SET = "%file,%process,getdents,getdents64,fchdir"

# calls that change the file their path names (not mount, chroot, ...)
WRITING = frozenset(with_prop("mutates", "file"))
EXECS = frozenset(("execve", "execveat"))
OPENS = {"open": 1, "openat": 2, "creat": -1}      # call -> index of its flags argument
LISTS = frozenset(("getdents", "getdents64"))
PEER_CALLS = {"connect": 1, "bind": 1, "sendto": 4}     # call -> index of its sockaddr
ARGV_SHOWN = 8                                          # exec arguments kept per exec


def _int(value: int) -> int:
    """A register argument as the C int the kernel reads (dirfds, fds)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


class Learner(Observer):
    """Records ``paths[path] = {"read", "write", "exec", "stat", "list", "create"}``
    (successful calls only) for every process of the run; "create" is a path the run made
    (mkdir, open with O_CREAT|O_EXCL), so it did not exist before."""

    def __init__(self, cwd: str | None = None) -> None:
        self.start_cwd = cwd or os.getcwd()
        self.paths: dict[str, set[str]] = {}
        self.cwd: dict[int, str] = {}                  # pid -> its working directory
        self.fds: dict[int, dict[int, str]] = {}       # pid -> fd -> path it was opened on
        self.tid_pid: dict[int, int] = {}
        self.traced = resolve_set(TRACE_SET + "," + ",".join(PEER_CALLS))
        # pid -> {"parent": pid or None, "execs": [[path, [argv...]], ...]}
        self.processes: dict[int, dict[str, object]] = {}
        self.by_process: dict[str, dict[int, set[str]]] = {}   # path -> pid -> what
        self.peers: set[tuple[str, str, int]] = set()         # (call, ip, port)
        self.first_pid: int | None = None
        self.progress: Progress | None = None              # a line on a terminal

    # --- state per process ---------------------------------------------------

    def _cwd(self, pid: int) -> str:
        return self.cwd.setdefault(pid, self.start_cwd)

    def _fds(self, pid: int) -> dict[int, str]:
        return self.fds.setdefault(pid, {})

    def _base(self, pid: int, dirfd: int) -> str | None:
        if dirfd == AT_FDCWD:
            return self._cwd(pid)
        return self._fds(pid).get(dirfd)

    def _abs(self, pid: int, path: str, dirfd: int = AT_FDCWD) -> str | None:
        if path.startswith("/"):
            return path
        base = self._base(pid, dirfd)
        return None if base is None else os.path.join(base, path)

    def note(self, path: str | None, what: str, pid: int | None = None) -> None:
        if path:
            if self.progress is not None and path not in self.paths:
                self.progress.count(f"learning: {len(self.paths) + 1} paths, "
                                    f"{len(self.processes)} processes")
            self.paths.setdefault(path, set()).add(what)
            if pid is not None:
                self.by_process.setdefault(path, {}).setdefault(pid, set()).add(what)

    def _process(self, pid: int, parent: int | None = None) -> dict[str, object]:
        if self.first_pid is None:
            self.first_pid = pid
        return self.processes.setdefault(pid, {"parent": parent, "execs": []})

    def _peer(self, call: Call) -> None:
        from ..netmap import inet_address
        cap = call.cap(PEER_CALLS[call.sc.name])
        addr = inet_address(cap.data) if cap is not None else None
        if addr is not None:
            self.peers.add((call.sc.name, addr[0], addr[1]))

    # --- observer -------------------------------------------------------------

    def new_task(self, parent_tid: int, child_tid: int, child_pid: int, how: str, ts: int) -> None:
        parent = self.tid_pid.get(parent_tid, parent_tid)
        self.tid_pid[child_tid] = child_pid
        if child_pid != parent:
            self._process(parent)
            self._process(child_pid, parent)
            self.cwd[child_pid] = self._cwd(parent)
            self.fds[child_pid] = dict(self._fds(parent))

    def exit(self, call: Call) -> None:
        sc = call.sc
        if sc is None or call.ret is None or sc.nr not in self.traced:
            return          # the run may trace more (e.g. every call, for the seccomp profile)
        if sc.name in PEER_CALLS:
            self._peer(call)            # tried, whatever came of it (a refused connect too)
            return
        if call.failed:
            return
        pid, name = call.pid, sc.name
        self.tid_pid[call.tid] = pid
        self._process(pid)
        paths = []          # (index of the path argument, absolute path)
        for i, (_arg, kind) in enumerate(sc.args):
            if kind.partition(":")[0] != "path":
                continue
            cap = call.cap(i)
            if cap is None:
                continue
            text = os.fsdecode(cap.data)
            dirfd = AT_FDCWD
            if i > 0 and sc.args[i - 1][1] == "dirfd":
                dirfd = _int(call.args[i - 1])
            if not text:
                if dirfd != AT_FDCWD:           # AT_EMPTY_PATH: the fd itself
                    fd_path = self._fds(pid).get(dirfd)
                    if fd_path:
                        paths.append((i, fd_path))
                continue
            full = self._abs(pid, text, dirfd)
            if full:
                paths.append((i, full))
        if name in OPENS:
            if not paths:
                return
            path = paths[0][1]
            flags_at = OPENS[name]
            flags = O_CREAT | 1 if flags_at < 0 else call.args[flags_at]
            acc = flags & O_ACCMODE
            if acc in (0, 2):
                self.note(path, "read", pid)
            if acc in (1, 2) or flags & (O_CREAT | O_TRUNC):
                self.note(path, "write", pid)
            if flags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL:
                self.note(path, "create", pid)
            self._fds(pid)[_int(call.ret)] = path
        elif name in EXECS:
            for _, path in paths:
                self.note(path, "exec", pid)
            if paths:
                argv = call.cap(2 if name == "execveat" else 1)
                words = [os.fsdecode(w) for w, _ in argv.strings()] if argv is not None else []
                execs: list[object] = self._process(pid)["execs"]  # type: ignore[assignment]
                execs.append([paths[0][1], words[:ARGV_SHOWN]])
            self.fds[pid] = {}          # O_CLOEXEC ones are gone; the rest rarely name dirs
        elif name == "chdir":
            if paths:
                self.cwd[pid] = os.path.normpath(paths[0][1])
                self.note(paths[0][1], "stat", pid)
        elif name == "fchdir":
            where = self._fds(pid).get(_int(call.args[0]))
            if where:
                self.cwd[pid] = where
        elif name in LISTS:
            self.note(self._fds(pid).get(_int(call.args[0])), "list", pid)
        elif name in WRITING:
            for _, path in paths:
                self.note(path, "write", pid)
            if name in ("mkdir", "mkdirat") and paths:
                self.note(paths[0][1], "create", pid)
        elif name == "openat2":
            # flags live in struct open_how (not captured): count it as a read
            for _, path in paths:
                self.note(path, "read", pid)
            if paths:
                self._fds(pid)[_int(call.ret)] = paths[0][1]
        else:
            for _, path in paths:
                self.note(path, "stat", pid)
