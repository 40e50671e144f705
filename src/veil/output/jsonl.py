"""JSON lines: one object per finished syscall and per process event.

Arguments are typed values built from the recorded registers and captured
memory, not strace's text: numbers are numbers, flag sets are lists of names,
paths and buffers are strings, sockaddrs and the common kernel structs are
objects.  docs/FORMATS.md is the schema.

Bytes become strings by decoding them as UTF-8 with ``surrogateescape``: a
byte that is not part of valid UTF-8 becomes the lone surrogate U+DC80+byte,
written ``"\\udcXX"`` (every non-ASCII character is written as a ``\\u``
escape, so the file is ASCII).  Python gets the exact bytes back with
``s.encode("utf-8", "surrogateescape")``.
"""
from __future__ import annotations

import json
import re
import struct as _struct

from .. import records as R
from ..abi import s32, s64
from ..decoders import Call, Ctx, fd_target, format_args, format_ret, load_all, registry
from ..decoders.common import errno_name, signal_name
from ..decoders.desc import EPOLL_EVENTS
from ..decoders.fs import RESOLVE_FLAGS, S_IFMT_NAMES
from ..decoders.kstructs import (
    CLONE_ARGS_V0,
    EPOLL_EVENT,
    INT_PAIR,
    KSIGACTION,
    OPEN_HOW,
    RLIMIT,
    STAT,
    STAT_TIMES,
    STATX,
    STATX_TIMES,
    TIMESPEC,
    TIMEVAL,
    UTSNAME,
)
from ..decoders.signals import SA_FLAGS
from ..observers import Observer
from ..sockaddr import AF, AF_INET, AF_INET6, AF_NETLINK, AF_UNIX, SockAddr

load_all()   # the JSON objects name flags, enums and structs straight from the registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TextIO

AT_FDCWD = -100
O_CREAT = 0o100
O_TMPFILE = 0o20200000
RLIM_INFINITY = (1 << 64) - 1


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _ptr(v: int) -> str | None:
    return None if v == 0 else f"{v:#x}"


def _names(text: str) -> list[Any]:
    """A flag set as strace writes it (A|B|0x40) as a list; "0" is the empty set."""
    if text in ("0", ""):
        return []
    out = []
    for part in text.split("|"):
        part = part.split(" /*", 1)[0].strip()
        if part and part != "0":
            out.append(part)
    return out


def _flag_list(set_name: str, v: int):
    fn = registry.FLAG_SETS.get(set_name)
    if fn is None:
        return v
    return _names(fn(v))


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _enum_value(set_name: str, v: int):
    """The name of an enum value; its number when it has no plain name."""
    fn = registry.ENUM_SETS.get(set_name)
    if fn is None:
        return s32(v)
    text = fn(v)
    return text if _NAME.match(text) else s32(v)


def _signal(v: int):
    v = s32(v)
    return signal_name(v) if v > 0 else v


def _sigset(data: bytes) -> list[str]:
    mask = int.from_bytes(data[:8], "little")
    return [signal_name(i + 1) for i in range(64) if mask >> i & 1]


# --- kernel structs (veil.decoders.kstructs) ---------------------------------------

_SA_FLAGS = sorted(SA_FLAGS)  # JSON lists the flags by value
_DT = {0: "DT_UNKNOWN", 1: "DT_FIFO", 2: "DT_CHR", 4: "DT_DIR", 6: "DT_BLK", 8: "DT_REG",
       10: "DT_LNK", 12: "DT_SOCK", 14: "DT_WHT"}


def _bits(v: int, table) -> list[str]:
    out = []
    for bit, name in table:
        if v & bit:
            out.append(name)
            v &= ~bit
    if v:
        out.append(f"{v:#x}")
    return out


def _ts(t) -> dict[str, int]:
    return {"tv_sec": t.tv_sec, "tv_nsec": t.tv_nsec}


def _stamp(fields: dict, name: str) -> dict[str, int]:
    return {"tv_sec": fields[name], "tv_nsec": fields[name + "_nsec"]}


def _stat(data: bytes) -> dict:
    s = STAT.parse(data)
    fields = s._asdict()
    return {"st_dev": s.st_dev, "st_ino": s.st_ino, "st_mode": s.st_mode,
            "st_type": S_IFMT_NAMES.get(s.st_mode & 0o170000), "st_nlink": s.st_nlink,
            "st_uid": s.st_uid, "st_gid": s.st_gid, "st_rdev": s.st_rdev, "st_size": s.st_size,
            "st_blksize": s.st_blksize, "st_blocks": s.st_blocks,
            **{name: _stamp(fields, name) for name in STAT_TIMES}}


def _statx(data: bytes) -> dict:
    fields = STATX.parse(data)._asdict()
    out = {k: v for k, v in fields.items() if not k.startswith(STATX_TIMES)}
    out["stx_mask"] = _flag_list("statx_mask", fields["stx_mask"])
    out["stx_type"] = S_IFMT_NAMES.get(fields["stx_mode"] & 0o170000)
    for name in STATX_TIMES:
        out[name] = _stamp(fields, name)
    return out


def _rlim(v: int):
    return "RLIM64_INFINITY" if v == RLIM_INFINITY else v


def _rlimit(data: bytes) -> dict:
    r = RLIMIT.parse(data)
    return {"rlim_cur": _rlim(r.rlim_cur), "rlim_max": _rlim(r.rlim_max)}


def _utsname(data: bytes) -> dict:
    u = UTSNAME.parse(data)
    return {k: _text(v.split(b"\0", 1)[0]) for k, v in u._asdict().items()}


def _open_how(data: bytes) -> dict:
    h = OPEN_HOW.parse(data)
    return {"flags": _flag_list("open", h.flags), "mode": h.mode,
            "resolve": _bits(h.resolve, RESOLVE_FLAGS)}


def _clone_args(data: bytes) -> dict:
    c = CLONE_ARGS_V0.parse(data)
    return {"flags": _flag_list("clone", c.flags & ~0xFF), "pidfd": _ptr(c.pidfd),
            "child_tid": _ptr(c.child_tid), "parent_tid": _ptr(c.parent_tid),
            "exit_signal": _signal(c.exit_signal), "stack": _ptr(c.stack),
            "stack_size": c.stack_size, "tls": _ptr(c.tls)}


def _sigaction(data: bytes) -> dict:
    a = KSIGACTION.parse(data)
    handler = {0: "SIG_DFL", 1: "SIG_IGN"}.get(a.sa_handler, f"{a.sa_handler:#x}")
    out = {"sa_handler": handler, "sa_mask": _sigset(a.sa_mask),
           "sa_flags": _bits(a.sa_flags, _SA_FLAGS)}
    if a.sa_flags & 0x04000000:
        out["sa_restorer"] = _ptr(a.sa_restorer)
    return out


def _epoll_event(data: bytes) -> dict:
    e = EPOLL_EVENT.parse(data)
    return {"events": _bits(e.events, EPOLL_EVENTS), "data": e.data}


def wait_status(st: int) -> dict:
    """A wait status as the <sys/wait.h> macros see it."""
    st &= 0xFFFFFFFF
    if st & 0x7F == 0:
        return {"WIFEXITED": True, "WEXITSTATUS": (st >> 8) & 0xFF}
    if st & 0xFF == 0x7F:
        return {"WIFSTOPPED": True, "WSTOPSIG": signal_name((st >> 8) & 0xFF)}
    if st == 0xFFFF:
        return {"WIFCONTINUED": True}
    return {"WIFSIGNALED": True, "WTERMSIG": signal_name(st & 0x7F), "WCOREDUMP": bool(st & 0x80)}


def sockaddr(data: bytes) -> dict:
    """``{"family", "addr", "port"}`` (AF_INET/AF_INET6), ``{"family", "addr"}``
    (AF_UNIX; an abstract name starts with "@"), ``{"family", "pid", "groups"}``
    (AF_NETLINK), else ``{"family", "data"}`` (hex)."""
    sa = SockAddr.parse(data)
    if sa.family is None:
        return {"family": "AF_UNSPEC"}
    name = AF.get(sa.family, sa.family)
    if sa.family == AF_INET and sa.ip is not None:
        return {"family": name, "addr": str(sa.ip), "port": sa.port}
    if sa.family == AF_INET6 and sa.ip is not None:
        return {"family": name, "addr": str(sa.ip), "port": sa.port,
                "flowinfo": sa.flowinfo, "scope_id": sa.scope_id or 0}
    if sa.family == AF_UNIX:
        if sa.abstract:
            return {"family": name, "addr": "@" + _text(sa.path.rstrip(b"\0")), "abstract": True}
        return {"family": name, "addr": _text(sa.path)}
    if sa.family == AF_NETLINK and sa.nl_groups is not None:
        return {"family": name, "pid": sa.nl_pid, "groups": sa.nl_groups}
    return {"family": name, "data": sa.raw[2:].hex()}


def _int(data: bytes) -> int:
    return _struct.unpack_from("<i", data)[0]


def _uint(data: bytes) -> int:
    return _struct.unpack_from("<I", data)[0]


# struct name (the table's struct:NAME / outstruct:NAME) -> bytes -> JSON value
STRUCTS: dict[str, Callable[[bytes], Any]] = {
    "stat": _stat, "statx": _statx, "rlimit": _rlimit, "utsname": _utsname,
    "utsname_full": _utsname, "open_how": _open_how, "clone_args": _clone_args,
    "sigaction": _sigaction, "epoll_event": _epoll_event,
    "timespec": lambda d: _ts(TIMESPEC.parse(d)),
    "timeval": lambda d: TIMEVAL.parse(d)._asdict(),
    "int": _int, "uint": _uint, "socklen": _uint, "int2": lambda d: list(INT_PAIR.parse(d)),
    "wstatus": lambda d: wait_status(_uint(d)), "wait_status": lambda d: wait_status(_uint(d)),
    "loff_t": lambda d: _struct.unpack_from("<q", d)[0],
    "uid": _uint, "gid": _uint, "pid": _int, "size": lambda d: _struct.unpack_from("<Q", d)[0],
    "sched_param": lambda d: {"sched_priority": _int(d)},
}


# --- strace notation -> JSON (for structs decoded only as text) ------------------------

class _NotationError(ValueError):
    pass


_C_ESCAPES = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, "\\": 92, '"': 34, "a": 7, "b": 8,
              "e": 27}


def parse_notation(text: str):
    """strace's ``{key=value, ...}`` / ``[a, b]`` / ``"str"`` notation as JSON
    values; raises ValueError when the text is something else."""
    p = _Notation(text)
    v = p.value()
    p.ws()
    if p.i != len(text):
        raise _NotationError(f"trailing text at {p.i}")
    return v


class _Notation:
    def __init__(self, text: str):
        self.s = text
        self.i = 0

    def ws(self):
        s = self.s
        while self.i < len(s) and s[self.i] == " ":
            self.i += 1

    def value(self):
        self.ws()
        s = self.s
        if self.i >= len(s):
            raise _NotationError("end of text")
        c = s[self.i]
        if c == "{":
            return self.obj()
        if c == "[":
            return self.arr("]")
        if c == '"':
            return self.string()
        return self.atom()

    def obj(self):
        self.i += 1
        out = {}
        s = self.s
        while True:
            self.ws()
            if s.startswith("}", self.i):
                self.i += 1
                return out
            if s.startswith("...", self.i):
                self.i += 3
                continue
            j = s.find("=", self.i)
            if j < 0:
                raise _NotationError("no =")
            key = s[self.i:j].strip()
            if not key or not key.replace("_", "").replace(".", "").isalnum():
                raise _NotationError(f"bad key {key!r}")
            self.i = j + 1
            out[key] = self.value()
            self.ws()
            if s.startswith(",", self.i):
                self.i += 1
            elif not s.startswith("}", self.i):
                raise _NotationError("expected , or }")

    def arr(self, close: str):
        self.i += 1
        out = []
        s = self.s
        while True:
            self.ws()
            if s.startswith(close, self.i):
                self.i += 1
                return out
            if s.startswith("...", self.i):
                self.i += 3
                continue
            out.append(self.value())
            self.ws()
            if s.startswith(",", self.i):
                self.i += 1
            elif not s.startswith(close, self.i):
                raise _NotationError("expected , or ]")

    def string(self):
        s = self.s
        i = self.i + 1
        out = bytearray()
        while True:
            if i >= len(s):
                raise _NotationError("unterminated string")
            c = s[i]
            if c == '"':
                i += 1
                break
            if c == "\\":
                n = s[i + 1:i + 2]
                if n in _C_ESCAPES:
                    out.append(_C_ESCAPES[n])
                    i += 2
                elif n == "x":
                    out.append(int(s[i + 2:i + 4], 16))
                    i += 4
                elif n.isdigit():
                    j = i + 1
                    while j < len(s) and j < i + 4 and s[j] in "01234567":
                        j += 1
                    out.append(int(s[i + 1:j], 8) & 0xFF)
                    i = j
                else:
                    raise _NotationError("bad escape")
            else:
                out += c.encode("utf-8", "surrogateescape")
                i += 1
        if s.startswith("...", i):
            i += 3
        self.i = i
        return _text(bytes(out))

    def atom(self):
        s = self.s
        start = self.i
        depth = 0
        while self.i < len(s):
            c = s[self.i]
            if c in "([{":
                depth += 1
            elif c in ")]}":
                if depth == 0:
                    break
                depth -= 1
            elif c == "," and depth == 0:
                break
            self.i += 1
        text = s[start:self.i].strip()
        if not text:
            raise _NotationError("empty value")
        if text.lstrip("-").isdigit():
            return int(text)
        if text == "NULL":
            return None
        if "|" in text and all(p.replace("_", "").isalnum() for p in text.split("|")):
            return text.split("|")
        return text


# --- arguments by kind -------------------------------------------------------------------

class _Out:
    """What one call's arguments collect besides their values."""

    __slots__ = ("truncated", "fd_paths")

    def __init__(self):
        self.truncated: list[str] = []
        self.fd_paths: dict[str, str] = {}


def _cap(call: Call, i: int) -> R.Capture | None:
    c = call.caps.get(i)
    return None if c is None or c.fault else c


def _string_arg(call, i, v, name, ctx, out, limited):
    if v == 0:
        return None
    c = _cap(call, i)
    if c is None or c.kind != R.CAP_CSTR:
        return _ptr(v)
    data = c.data
    cut = c.truncated
    if limited and len(data) > ctx.strsize:
        data, cut = data[:ctx.strsize], True
    if cut:
        out.truncated.append(name)
    return _text(data)


def _buffer(data: bytes, total: int, name: str, ctx, out) -> str:
    shown = data[:min(total, ctx.strsize)]
    if total > len(shown):
        out.truncated.append(name)
    return _text(shown)


def _struct_arg(call, i, v, p, name, ctx, out, at_exit):
    if v == 0:
        return None
    if at_exit and (call.ret is None or call.failed):
        return _ptr(v)
    c = _cap(call, i)
    if c is None or not c.data:
        return _ptr(v)
    fn = STRUCTS.get(p)
    if fn is not None:
        try:
            return fn(c.data)
        except Exception:  # short or odd data: the address
            return _ptr(v)
    entry = registry.STRUCTS.get(p)
    if entry is None:
        return _ptr(v)
    try:
        text = entry[1](c.data, call, ctx)
    except Exception:
        return _ptr(v)
    try:
        return parse_notation(text)
    except (ValueError, IndexError):
        return text


def _iovecs(call, i, v, name, ctx, out, total: int | None):
    c = _cap(call, i)
    if c is None:
        return _ptr(v)
    iovs, more = c.iovecs()
    left = total
    items = []
    for base, ln, data in iovs:
        n = ln if left is None else max(0, min(ln, left))
        if left is not None:
            left -= n
        items.append({"iov_base": _buffer(data, n, name, ctx, out), "iov_len": ln})
    if more and name not in out.truncated:
        out.truncated.append(name)
    return items


def typed_arg(call: Call, i: int, name: str, kind: str, ctx: Ctx, out: _Out):
    """The JSON value of argument ``i`` (called ``name``, of table kind ``kind``)."""
    v = call.args[i]
    base, _, p = kind.partition(":")
    if base in ("int", "pid", "uid", "gid"):
        return s32(v)
    if base == "uint":
        return v & 0xFFFFFFFF
    if base in ("long", "off"):
        return s64(v)
    if base in ("ulong", "size", "hex"):
        return v
    if base == "ptr":
        return _ptr(v)
    if base in ("fd", "dirfd"):
        fd = s32(v)
        if ctx.decorate_fds:
            c = call.caps.get(i)
            if c is not None and c.kind == R.CAP_FDPATH and not c.fault and c.data:
                out.fd_paths[name] = fd_target(c.data)
        return "AT_FDCWD" if fd == AT_FDCWD and base == "dirfd" else fd
    if base == "path":
        return _string_arg(call, i, v, name, ctx, out, False)
    if base == "str":
        return _string_arg(call, i, v, name, ctx, out, True)
    if base == "inbuf":
        c = _cap(call, i)
        return _ptr(v) if c is None else _buffer(c.data, c.count or len(c.data), name, ctx, out)
    if base == "outbuf":
        c = _cap(call, i)
        if call.ret is None or call.failed or c is None:
            return _ptr(v)
        return _buffer(c.data, call.ret, name, ctx, out)
    if base == "outstr":
        c = _cap(call, i)
        if call.ret is None or call.failed or c is None:
            return _ptr(v)
        data = c.data[:call.ret]
        return _text(data[:-1] if data.endswith(b"\0") else data)
    if base == "flags":
        return _flag_list(p, v)
    if base == "enum":
        return _enum_value(p, v)
    if base in ("mode", "umask"):
        return v & 0xFFFFFFFF
    if base == "signal":
        return _signal(v)
    if base == "argv":
        c = _cap(call, i)
        if c is None:
            return _ptr(v)
        items = []
        cut = c.count > len(c.strings())
        for s, t in c.strings():
            if t or len(s) > ctx.strsize:
                cut = True
            items.append(_text(s[:ctx.strsize]))
        if cut:
            out.truncated.append(name)
        return items
    if base == "envp":
        c = _cap(call, i)
        return _ptr(v) if c is None else {"count": c.count}
    if base in ("struct", "outstruct"):
        return _struct_arg(call, i, v, p, name, ctx, out, base == "outstruct")
    if base in ("sockaddr", "outsockaddr"):
        if v == 0:
            return None
        if base == "outsockaddr" and (call.ret is None or call.failed):
            return _ptr(v)
        c = _cap(call, i)
        return _ptr(v) if c is None else sockaddr(c.data)
    if base == "iovec":
        return _iovecs(call, i, v, name, ctx, out, None)
    if base == "outiovec":
        if call.ret is None or call.failed:
            return _ptr(v)
        return _iovecs(call, i, v, name, ctx, out, call.ret)
    if base in ("sigset", "outsigset"):
        if v == 0:
            return None
        if base == "outsigset" and (call.ret is None or call.failed):
            return _ptr(v)
        c = _cap(call, i)
        return _ptr(v) if c is None else _sigset(c.data)
    return v


# --- per-syscall refinements -------------------------------------------------------------

def _open_mode(call, args, ctx, out):
    flags = call.args[1 if call.name == "open" else 2]
    if not flags & (O_CREAT | O_TMPFILE):
        args.pop("mode", None)


_FCNTL_FD_FLAGS = {0: [], 1: ["FD_CLOEXEC"]}


def _fcntl(call, args, ctx, out):
    cmd = s32(call.args[1])
    arg = call.args[2]
    if cmd in (1, 3, 9, 1025, 1032, 1034):  # F_GETFD, F_GETFL, F_GETOWN, F_GETLEASE, F_GETPIPE_SZ, F_GET_SEALS
        args.pop("arg", None)
    elif cmd == 2:  # F_SETFD
        args["arg"] = _bits(arg & 0xFFFFFFFF, [(1, "FD_CLOEXEC")])
    elif cmd == 4:  # F_SETFL
        args["arg"] = _flag_list("open", arg & 0xFFFFFFFF)
    elif cmd in (0, 1030, 8, 1031, 1024):  # F_DUPFD(_CLOEXEC), F_SETOWN, F_SETPIPE_SZ, F_SETLEASE
        args["arg"] = s32(arg)


def _dirents(call, args, ctx, out):
    c = _cap(call, 1)
    if call.ret is None or call.failed or c is None:
        return
    data = c.data[:call.ret]
    entries = []
    pos = 0
    new = call.name == "getdents64"
    while pos + 19 <= len(data):
        if new:
            ino, off, reclen, dtype = _struct.unpack_from("<QqHB", data, pos)
            name = data[pos + 19:pos + reclen]
        else:
            ino, off, reclen = _struct.unpack_from("<QqH", data, pos)
            name = data[pos + 18:pos + reclen - 1]
            dtype = data[pos + reclen - 1] if reclen else 0
        if reclen == 0 or pos + reclen > len(data):
            break
        entries.append({"d_ino": ino, "d_type": _DT.get(dtype, dtype),
                        "d_name": _text(name.split(b"\0", 1)[0])})
        pos += reclen
    if call.ret > len(c.data) or pos < len(data):
        out.truncated.append("dirp")
    args["dirp"] = entries


def _cpu_mask(call, args, ctx, out):
    c = _cap(call, 2)
    if call.ret is None or call.failed or c is None:
        return
    getting = call.name == "sched_getaffinity"
    data = c.data[:call.ret] if getting else c.data[:call.args[1]]
    bits = int.from_bytes(data, "little")
    args["mask"] = [i for i in range(len(data) * 8) if bits >> i & 1]
    if "mask" in out.truncated:
        out.truncated.remove("mask")


def _wait4(call, args, ctx, out):
    if "wstatus" in args and isinstance(args["wstatus"], int):
        args["wstatus"] = wait_status(args["wstatus"])


REFINE: dict[str, Callable] = {
    "open": _open_mode, "openat": _open_mode, "fcntl": _fcntl,
    "getdents64": _dirents, "getdents": _dirents, "sched_getaffinity": _cpu_mask,
    "sched_setaffinity": _cpu_mask,
    "wait4": _wait4,
}


def call_object(call: Call, ctx: Ctx) -> dict:
    """The JSON object of one finished (or never-returning) call.  Never
    raises: a call that the typed decoding cannot handle gets its arguments
    as strace's text (one string per argument) and ``"decode_error"``."""
    try:
        return _call_object(call, ctx)
    except Exception as e:  # an observer must not kill the trace
        obj = _base_object(call, ctx)
        try:
            texts = format_args(call, ctx)
        except Exception:
            texts = [f"{a:#x}" for a in (call.args or ())]
        names = ([n for n, _ in call.sc.args if n[0] != "_"] if call.sc is not None else [])
        obj["args"] = {(names[i] if i < len(names) else f"arg{i}"): t for i, t in enumerate(texts)}
        obj["decode_error"] = f"{type(e).__name__}: {e}"
        return obj


def _base_object(call: Call, ctx: Ctx) -> dict:
    err = call.errno
    try:
        retval = format_ret(call, ctx) if call.ret is not None and err is None else None
    except Exception:
        retval = str(call.ret)
    return {
        "pid": call.pid, "tid": call.tid, "syscall": call.name, "args": {},
        "result": None if call.ret is None else (call.ret if err is None else -1),
        "errno": errno_name(err) if err is not None else None,
        "retval": retval,
        "start": call.ts_enter / 1e9,
        "duration": (None if call.ts_exit is None or call.ret is None
                     else (call.ts_exit - call.ts_enter) / 1e9),
    }


def _call_object(call: Call, ctx: Ctx) -> dict:
    sc = call.sc
    out = _Out()
    args: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if sc is None:
        # an i386/x32 call or an unknown number: raw values
        texts = format_args(call, ctx)
        for i, t in enumerate(texts):
            args[f"arg{i}"] = int(t, 0)
        if call.arch:
            extra["arch"] = {R.ARCH_I386: "i386", R.ARCH_X32: "x32"}.get(call.arch, call.arch)
    elif call.nr in ctx.raw:
        # -e raw=: the registers, unsigned (nothing was read from the tracee)
        names = [n for n, _ in sc.args]
        for i, v in enumerate(call.args[:sc.nargs]):
            args[names[i].lstrip("_") if i < len(names) else f"arg{i}"] = v & 0xFFFFFFFFFFFFFFFF
    else:
        for i, (name, kind) in enumerate(sc.args):
            if name[0] == "_":
                continue
            args[name] = typed_arg(call, i, name, kind, ctx, out)
        refine = REFINE.get(sc.name)
        if refine is not None:
            refine(call, args, ctx, out)
        if ctx.decorate_fds and sc.ret == "fd" and call.ret is not None and not call.failed:
            c = call.caps.get(R.CAP_RESULT)
            if c is not None and c.kind == R.CAP_FDPATH_RET and not c.fault and c.data:
                out.fd_paths["result"] = fd_target(c.data)
    obj = _base_object(call, ctx)
    obj["args"] = args
    obj.update(extra)
    if out.truncated:
        obj["truncated"] = out.truncated
    if out.fd_paths:
        obj["fd_paths"] = out.fd_paths
    return obj


def _siginfo(info: bytes):
    if len(info) < 16:
        return None
    try:
        from ..decoders.signals import siginfo
        text = siginfo(info)
    except Exception:
        return None
    try:
        return parse_notation(text)
    except (ValueError, IndexError):
        return text


class JsonWriter(Observer):
    """One JSON object per line: a call (``"syscall"`` key) or a process
    event (``"event"`` key).  Calls are written when they return, or when
    their thread is gone (``exit_group``, a call cut by a kill: ``result``
    null)."""

    def __init__(self, out: TextIO, ctx: Ctx | None = None, status: str | None = None,
                 stacks: dict | None = None):
        """``stacks``: -k, (tid, entry time) -> the call's stack frames
        (veil.output.stack), written as the call's ``frames`` array."""
        self.out = out
        self.ctx = ctx or Ctx()
        self.status = status
        self.stacks = stacks
        self._pending: dict[int, Call] = {}
        self._dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True,
                                       check_circular=False).encode

    def _emit(self, obj) -> None:
        self.out.write(self._dumps(obj) + "\n")

    def enter(self, call: Call) -> None:
        self._pending[call.tid] = call

    def exit(self, call: Call) -> None:
        if self._pending.get(call.tid) is call:
            del self._pending[call.tid]
        if (self.status == "successful" and call.failed) or \
                (self.status == "failed" and not call.failed):
            return
        self._emit(self._object(call))

    def _object(self, call: Call) -> dict:
        obj = call_object(call, self.ctx)
        if self.stacks is not None:
            obj["frames"] = self.stacks.pop((call.tid, call.ts_enter), [])
        return obj

    def _unreturned(self, tid: int) -> None:
        call = self._pending.pop(tid, None)
        if call is not None and self.status is None:
            call.ret = None
            self._emit(self._object(call))

    def signal(self, pid, tid, sig, info, ts):
        obj = {"event": "signal", "pid": pid, "tid": tid, "signal": signal_name(sig),
               "time": ts / 1e9}
        si = _siginfo(info)
        if si is not None:
            obj["siginfo"] = si
        self._emit(obj)

    def exited(self, pid, tid, code, ts):
        self._unreturned(tid)
        self._emit({"event": "exited", "pid": pid, "tid": tid, "code": code, "time": ts / 1e9})

    def killed(self, pid, tid, sig, core, ts):
        self._unreturned(tid)
        self._emit({"event": "killed", "pid": pid, "tid": tid, "signal": signal_name(sig),
                    "core_dumped": core, "time": ts / 1e9})

    def new_task(self, parent_tid, child_tid, child_pid, how, ts):
        self._emit({"event": how, "tid": parent_tid, "child_tid": child_tid,
                    "child_pid": child_pid, "time": ts / 1e9})

    def exec(self, pid, tid, former_tid, ts):
        if former_tid != tid:
            # a thread exec'd: the leader's pending call never returns; the
            # execve goes on under the leader's tid
            self._unreturned(tid)
            call = self._pending.pop(former_tid, None)
            if call is not None:
                self._pending[tid] = call
        self._emit({"event": "exec", "pid": pid, "tid": tid, "former_tid": former_tid,
                    "time": ts / 1e9})

    def stopped(self, pid, tid, sig, ts):
        self._emit({"event": "stopped", "pid": pid, "tid": tid, "signal": signal_name(sig),
                    "time": ts / 1e9})

    def attached(self, pid, tid, ts):
        self._emit({"event": "attached", "pid": pid, "tid": tid, "time": ts / 1e9})

    def detached(self, pid, tid, ts):
        self._pending.pop(tid, None)
        self._emit({"event": "detached", "pid": pid, "tid": tid, "time": ts / 1e9})

    def close(self) -> None:
        for tid in list(self._pending):
            self._unreturned(tid)
        self.out.flush()
