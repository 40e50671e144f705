"""A syscall stop as hooks see it: decoded arguments, the process, its memory."""
from __future__ import annotations

import os

from . import engine as E
from .syscalls.lookup import BY_NR, call_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

# arguments a hook may name by the short name people expect
_ALIASES = {"path": ("pathname", "filename", "path"), "addr": ("addr", "uservaddr"),
            "fd": ("fd", "dirfd", "oldfd")}
_STRING_KINDS = ("path", "str")


class Args:
    """Arguments of a stopped call: ``args[i]`` is the raw register value,
    ``args.pathname`` (or ``args.path``) the decoded value -- a str for paths
    and strings (read from the tracee when first asked), an int otherwise."""

    __slots__ = ("_stop", "_raw", "_names", "_kinds", "_cache")

    def __init__(self, stop: Stop, raw: tuple[int, ...]):
        self._stop = stop
        self._raw = raw
        sc = BY_NR.get(stop.nr) if stop.arch == 0 else None
        self._names: list[str] = [n for n, _ in sc.args] if sc else []
        self._kinds: list[str] = [k for _, k in sc.args] if sc else []
        self._cache: dict[int, Any] = {}

    def __getitem__(self, i: int) -> int:
        return self._raw[i]

    def __len__(self) -> int:
        return len(self._raw)

    def __iter__(self) -> Iterator[int]:
        return iter(self._raw)

    def __eq__(self, other: object) -> bool:
        return tuple(self._raw) == tuple(other) if isinstance(other, (tuple, list, Args)) else NotImplemented

    def index_of(self, name: str) -> int:
        for candidate in _ALIASES.get(name, (name,)):
            if candidate in self._names:
                return self._names.index(candidate)
        if name.startswith("arg") and name[3:].isdigit() and int(name[3:]) < 6:
            return int(name[3:])
        raise AttributeError(f"{self._stop.name} has no argument {name!r} "
                             f"(it has {', '.join(self._names) or 'no named arguments'})")

    def kind_of(self, i: int) -> str:
        return self._kinds[i] if i < len(self._kinds) else "hex"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        i = self.index_of(name)
        if i not in self._cache:
            self._cache[i] = self._decode(i)
        return self._cache[i]

    def _decode(self, i: int) -> Any:
        value = self._raw[i]
        base = self.kind_of(i).partition(":")[0]
        if base in _STRING_KINDS:
            if value == 0:
                return None
            return os.fsdecode(self._stop.read_string(value))
        if base == "sockaddr" and value:
            size_arg = int(self.kind_of(i).partition(":")[2] or 0)
            return sockaddr_value(self._stop.read(value, min(self._raw[size_arg] & 0xFFFFFFFF, 128)))
        if base in ("int", "fd", "dirfd", "pid", "uid", "gid", "signal", "long", "off"):
            value &= 0xFFFFFFFFFFFFFFFF if base in ("long", "off") else 0xFFFFFFFF
            bits = 64 if base in ("long", "off") else 32
            return value - (1 << bits) if value >> (bits - 1) else value
        return value

    def __repr__(self) -> str:
        shown = []
        for i, raw in enumerate(self._raw[:len(self._names) or 6]):
            name = self._names[i] if i < len(self._names) else f"arg{i}"
            shown.append(f"{name}={raw:#x}")
        return "Args(" + ", ".join(shown) + ")"


def sockaddr_value(data: bytes):
    """A sockaddr as Python's socket module writes addresses: (host, port) for
    AF_INET/AF_INET6, the path (or "\0abstract") for AF_UNIX, else the bytes."""
    from .sockaddr import AF_UNIX, SockAddr  # loaded at the first address a hook reads
    sa = SockAddr.parse(data)
    if sa.inet is not None:
        return sa.inet
    if sa.family == AF_UNIX and sa.path is not None:
        if sa.abstract:
            return "\0" + sa.path.rstrip(b"\0").decode(errors="surrogateescape")
        return os.fsdecode(sa.path)
    return data


class Process:
    """What /proc says of the calling process, read when asked."""

    def __init__(self, pid: int):
        self.pid = pid

    @property
    def exe(self) -> str | None:
        try:
            return os.readlink(f"/proc/{self.pid}/exe")
        except OSError:
            return None

    @property
    def cwd(self) -> str | None:
        try:
            return os.readlink(f"/proc/{self.pid}/cwd")
        except OSError:
            return None

    @property
    def cmdline(self) -> list[str]:
        try:
            with open(f"/proc/{self.pid}/cmdline", "rb") as f:
                return [os.fsdecode(a) for a in f.read().split(b"\0")[:-1]]
        except OSError:
            return []

    def __repr__(self) -> str:
        return f"Process(pid={self.pid}, exe={self.exe!r})"


class Stop:
    """A syscall stop handed to Python; the thread stays stopped until resumed.

    ``phase`` is "enter" or "exit"; ``args`` (see :class:`Args`); ``result`` and
    ``errno`` at exit; ``process``; ``read``/``read_string``/``write`` on the
    tracee's memory (valid only while it is stopped)."""

    __slots__ = ("phase", "pid", "tid", "arch", "nr", "name", "result", "ts_ns", "sp", "scratch",
                 "args", "_process")

    def __init__(self, phase: str, pid: int, tid: int, arch: int, nr: int,
                 raw_args: tuple[int, ...], result: int | None, ts_ns: int, sp: int = 0,
                 scratch: int = 0):
        self.phase = phase
        self.pid = pid
        self.tid = tid
        self.arch = arch
        self.nr = nr
        self.name = call_name(arch, nr)
        self.result = result
        self.ts_ns = ts_ns
        self.sp = sp
        self.scratch = scratch or ((sp - 128) & ~0xF if sp else 0)  # rewrites go below this
        self.args = Args(self, raw_args)
        self._process: Process | None = None

    @property
    def errno(self) -> int | None:
        if self.result is not None and -4095 <= self.result < 0:   # the kernel's error range
            return -self.result
        return None

    @property
    def process(self) -> Process:
        if self._process is None:
            self._process = Process(self.pid)
        return self._process

    def read(self, addr: int, size: int) -> bytes:
        return E.read_memory(self.tid, addr, size)

    def read_string(self, addr: int, limit: int = 4096) -> bytes:
        return E.read_string(self.tid, addr, limit)

    def write(self, addr: int, data: bytes) -> int:
        return E.write_memory(self.tid, addr, data)

    def __repr__(self) -> str:
        res = "" if self.result is None else f" = {self.result}"
        return f"Stop({self.phase} {self.name}{self.args!r}{res} pid={self.pid} tid={self.tid})"
