"""Syscall decoders: from recorded registers and captured memory to strace's notation.

``captures_for(syscall)`` tells the C loop which tracee memory to copy for a
syscall (derived from the argument kinds of the syscall table);
``format_args(call, ctx)`` and ``format_ret(call, ctx)`` turn a finished
call into text.  Families (fs, desc, proc, mem, signal, net) register flag
sets, structs and per-syscall special cases in ``registry``.
"""
from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Optional, Tuple

from .. import records as R
from ..syscalls.lookup import BY_NAME, BY_NR, I386_NAMES, X32_NAMES, Syscall
from . import capture, registry
from .common import (RESTART_QUESTION, DecodeError, errno_name, errno_text, escape_bytes,
                     is_error_return, octal, ptr, quote, quote_limited, s32, s64, signal_name, sigset,
                     u32)

__all__ = ["Call", "Ctx", "captures_for", "format_args", "format_ret", "call_name", "DecodeError",
           "raw_hex"]


class Ctx:
    """Formatting options: strace's -s, -x, -y and -e raw=.

    ``hex_all`` is the -x level: 0, 1 (-x: non-printable strings in hex) or
    2 (-xx: every string in hex); True counts as 1.  ``raw``: the x86_64
    syscall numbers whose arguments are shown undecoded, in hex."""

    __slots__ = ("strsize", "hex_all", "decorate_fds", "raw")

    def __init__(self, strsize: int = 32, hex_all: bool = False, decorate_fds: bool = False,
                 raw: Iterable[int] = ()):
        self.strsize = strsize
        self.hex_all = hex_all
        self.decorate_fds = decorate_fds
        self.raw = frozenset(raw)


class Call:
    """One syscall as recorded: registers at entry, captures, result."""

    __slots__ = ("pid", "tid", "arch", "nr", "sc", "args", "caps", "ret", "ts_enter", "ts_exit",
                 "finished")

    def __init__(self, pid: int, tid: int, arch: int, nr: int, args, caps, ts_enter: int):
        self.pid = pid
        self.tid = tid
        self.arch = arch
        self.nr = nr
        self.sc: Optional[Syscall] = BY_NR.get(nr) if arch == R.ARCH_X86_64 else None
        self.args = args
        self.caps = caps if caps is not None else {}
        self.ret: Optional[int] = None
        self.ts_enter = ts_enter
        self.ts_exit: Optional[int] = None
        self.finished = False

    @property
    def name(self) -> str:
        return call_name(self.arch, self.nr)

    @property
    def failed(self) -> bool:
        return self.ret is not None and is_error_return(self.ret)

    @property
    def errno(self) -> Optional[int]:
        return -self.ret if self.failed else None

    def cap(self, i: int) -> Optional[R.Capture]:
        c = self.caps.get(i)
        return None if c is None or c.fault else c


def call_name(arch: int, nr: int) -> str:
    if arch == R.ARCH_X86_64:
        sc = BY_NR.get(nr)
        return sc.name if sc else f"syscall_{nr:#x}"
    if arch == R.ARCH_I386:
        return f"{I386_NAMES.get(nr, f'syscall_{nr:#x}')}[i386]"
    return f"{X32_NAMES.get(nr, f'syscall_{nr:#x}')}[x32]"


# --- what to capture ---------------------------------------------------------

def _capture_for_kind(i: int, kind: str, strsize: int) -> Optional[Tuple[int, int, int, int]]:
    base, _, param = kind.partition(":")
    if base == "path":
        return (i, R.CAP_CSTR, 0, 4096)
    if base == "str":
        return (i, R.CAP_CSTR, 0, max(strsize, 1))
    if base == "inbuf":
        return (i, R.CAP_BUF_ARG, int(param), strsize)
    if base == "outbuf":
        return (i, R.CAP_BUF_RET, 0, strsize)
    if base == "outstr":
        return (i, R.CAP_BUF_RET, 0, 4096)
    if base == "argv":
        return (i, R.CAP_STRV, 0, strsize)
    if base == "envp":
        return (i, R.CAP_PTRV_LEN, 0, 0)
    if base in ("struct", "outstruct"):
        entry = registry.STRUCTS.get(param)
        if entry is None:
            return None
        return (i, R.CAP_FIXED_IN if base == "struct" else R.CAP_FIXED_OUT, 0, entry[0])
    if base == "sockaddr":
        return (i, R.CAP_BUF_ARG, int(param), 128)
    if base == "outsockaddr":
        return (i, R.CAP_LEN_OUT, int(param), 128)
    if base == "iovec":
        return (i, R.CAP_IOV_IN, int(param), strsize)
    if base == "outiovec":
        return (i, R.CAP_IOV_OUT, int(param), strsize)
    if base == "sigset":
        return (i, R.CAP_FIXED_IN, 0, 8)
    if base == "outsigset":
        return (i, R.CAP_FIXED_OUT, 0, 8)
    return None


def captures_for(sc: Syscall, strsize: int, decorate_fds: bool = False
                 ) -> List[Tuple[int, int, int, int]]:
    """(slot, capture kind, param, limit) for each argument worth copying; slot 6 is the result."""
    out: Dict[int, Tuple[int, int, int, int]] = {}
    for i, (_, kind) in enumerate(sc.args):
        c = _capture_for_kind(i, kind, strsize)
        if decorate_fds and kind == "outstruct:int2":  # pipe, pipe2, socketpair
            out[i] = (i, R.CAP_FDPAIR, 0, 0)
        elif c:
            out[i] = c
        elif decorate_fds and kind in ("fd", "dirfd"):
            out[i] = (i, R.CAP_FDPATH, 0, 4096)
    if decorate_fds and (sc.ret == "fd" or sc.name in registry.FD_RESULT):
        out[R.CAP_RESULT] = (R.CAP_RESULT, R.CAP_FDPATH_RET, 0, 4096)
    for i, (kind, param, limit) in registry.EXTRA_CAPTURES.get(sc.name, {}).items():
        out[i] = (i, kind, param, limit if limit else strsize)
    return [out[i] for i in sorted(out)]


# --- formatting ----------------------------------------------------------------

def fmt_fd(value: int, call: Call, ctx: Ctx, slot: int = 0) -> str:
    """An fd, with -y the file it named when the call was made (captured by C then)."""
    fd = s32(value)
    text = "AT_FDCWD" if fd == -100 else str(fd)
    if ctx.decorate_fds:
        c = call.caps.get(slot)
        if c is not None and c.kind in (R.CAP_FDPATH, R.CAP_FDPATH_RET) and not c.fault and c.data:
            return fd_decoration(text, c.data)
    return text


def fd_decoration(text: str, path: bytes) -> str:
    """N<path> as strace's -y prints it: a deleted file is N</path>(deleted);
    with -yy a socket is N<TCP:[1.2.3.4:5->6.7.8.9:10]>, N<UNIX-STREAM:[ino->peer]>."""
    if b"\0" in path:
        return f"{text}<{fd_target(path)}>"
    if path.endswith(b" (deleted)"):
        return f"{text}<{escape_bytes(path[:-10])}>(deleted)"
    return f"{text}<{escape_bytes(path)}>"


def fd_target(data: bytes) -> str:
    """What an fd capture names, as text (the -yy socket form when C described it)."""
    if b"\0" not in data:
        return escape_bytes(data)
    from .net import socket_description
    return socket_description(data)


def _fmt_string_cap(call: Call, i: int, value: int, ctx: Ctx, limited: bool) -> str:
    c = call.caps.get(i)
    if c is None or c.fault:
        return ptr(value)
    if limited:
        shown = c.data[:ctx.strsize]
        return quote(shown, c.truncated or len(c.data) > len(shown), ctx.hex_all)
    return quote(c.data, c.truncated, ctx.hex_all)


def format_arg(call: Call, i: int, kind: str, ctx: Ctx) -> str:
    value = call.args[i]
    base, _, param = kind.partition(":")
    f = _KIND_FORMATTERS.get(base)
    if f is not None:
        return f(call, i, value, param, ctx)
    return f"{value:#x}" if value else "0"


def _k_int(call, i, v, p, ctx):
    return str(s32(v))


def _k_uint(call, i, v, p, ctx):
    return str(u32(v))


def _k_long(call, i, v, p, ctx):
    return str(s64(v))


def _k_ulong(call, i, v, p, ctx):
    return str(v)


def _k_hex(call, i, v, p, ctx):
    return f"{v:#x}" if v else "0"  # C's %#x prints zero as "0"


def _k_ptr(call, i, v, p, ctx):
    return ptr(v)


def _k_fd(call, i, v, p, ctx):
    return fmt_fd(v, call, ctx, i)


def _k_dirfd(call, i, v, p, ctx):
    return fmt_fd(v, call, ctx, i)


def _k_path(call, i, v, p, ctx):
    return _fmt_string_cap(call, i, v, ctx, False)


def _k_str(call, i, v, p, ctx):
    return _fmt_string_cap(call, i, v, ctx, True)


def _k_inbuf(call, i, v, p, ctx):
    c = call.caps.get(i)
    if c is None or c.fault:
        return ptr(v)
    return quote_limited(c.data, c.count, ctx.strsize, ctx.hex_all)


def _k_outbuf(call, i, v, p, ctx):
    c = call.caps.get(i)
    if call.ret is None or call.failed or c is None or c.fault:
        return ptr(v)
    return quote_limited(c.data, call.ret, ctx.strsize, ctx.hex_all)


def _k_outstr(call, i, v, p, ctx):
    c = call.caps.get(i)
    if call.ret is None or call.failed or c is None or c.fault:
        return ptr(v)
    data = c.data[:call.ret]
    if data.endswith(b"\0"):  # getcwd's length counts the NUL
        data = data[:-1]
    return quote(data, False, ctx.hex_all)


def _k_flags(call, i, v, p, ctx):
    f = registry.FLAG_SETS.get(p)
    if f is not None:
        return f(v)
    return f"{v:#x}" if v else "0"


def _k_enum(call, i, v, p, ctx):
    f = registry.ENUM_SETS.get(p)
    return f(v) if f else str(s32(v))


def _k_mode(call, i, v, p, ctx):
    return octal(u32(v))


def _k_signal(call, i, v, p, ctx):
    return signal_name(s32(v)) if s32(v) > 0 else str(s32(v))


def _k_id(call, i, v, p, ctx):
    return str(s32(v))


def _k_argv(call, i, v, p, ctx):
    c = call.caps.get(i)
    if c is None or c.fault:
        return ptr(v)
    items = [quote(s[:ctx.strsize], t or len(s) > ctx.strsize, ctx.hex_all) for s, t in c.strings()]
    more = c.count - len(items)
    if more > 0:
        items.append(f"... /* {more} more */")
    return "[" + ", ".join(items) + "]"


def _k_envp(call, i, v, p, ctx):
    c = call.caps.get(i)
    if c is None or c.fault:
        return ptr(v)
    n = c.count
    return f"{ptr(v)} /* {n} var{'' if n == 1 else 's'} */"


def _k_struct(call, i, v, p, ctx):
    c = call.caps.get(i)
    entry = registry.STRUCTS.get(p)
    if v == 0:
        return "NULL"
    if c is None or c.fault or entry is None or not c.data:
        return ptr(v)
    try:
        return entry[1](c.data, call, ctx)
    except DecodeError:  # a short or odd struct prints as its address
        return ptr(v)


def _k_outstruct(call, i, v, p, ctx):
    if v != 0 and (call.ret is None or call.failed):
        return ptr(v)
    return _k_struct(call, i, v, p, ctx)


def _k_sockaddr(call, i, v, p, ctx):
    from .net import sockaddr_or_addr
    c = call.caps.get(i)
    if v == 0:
        return "NULL"
    if c is None or c.fault:
        return ptr(v)
    return sockaddr_or_addr(c.data, len(c.data), v, ctx.hex_all)


def _k_outsockaddr(call, i, v, p, ctx):
    if v != 0 and (call.ret is None or call.failed):
        return ptr(v)
    return _k_sockaddr(call, i, v, p, ctx)


def _fmt_iov(call, i, v, ctx, total):
    c = call.caps.get(i)
    if c is None or c.fault:
        return ptr(v)
    iovs, more = capture.iovecs(c.data)
    if not iovs and (c.data is None or len(c.data) < 8):
        return ptr(v)
    return iov_text(iovs, more, ctx)


def iov_text(iovs, more: bool, ctx: "Ctx") -> str:
    """[{iov_base="...", iov_len=N}, ...] from capture.iovecs() elements."""
    parts = []
    for n, (base, ln, data, avail) in enumerate(iovs):
        if n >= max(ctx.strsize, 1):
            more = True
            break
        parts.append("{iov_base=" + quote_limited(data, avail, ctx.strsize, ctx.hex_all)
                     + f", iov_len={ln}}}")
    if more:
        parts.append("...")
    return "[" + ", ".join(parts) + "]"


def _k_iovec(call, i, v, p, ctx):
    return _fmt_iov(call, i, v, ctx, None)


def _k_outiovec(call, i, v, p, ctx):
    if call.ret is None or call.failed:
        return ptr(v)
    return _fmt_iov(call, i, v, ctx, call.ret)


def _k_sigset(call, i, v, p, ctx):
    c = call.caps.get(i)
    if v == 0:
        return "NULL"
    if c is None or c.fault:
        return ptr(v)
    return sigset(c.data)


def _k_outsigset(call, i, v, p, ctx):
    if v != 0 and (call.ret is None or call.failed):
        return ptr(v)
    return _k_sigset(call, i, v, p, ctx)


_KIND_FORMATTERS: Dict[str, Callable] = {
    "int": _k_int, "uint": _k_uint, "long": _k_long, "ulong": _k_ulong, "size": _k_ulong,
    "off": _k_long, "hex": _k_hex, "ptr": _k_ptr, "fd": _k_fd, "dirfd": _k_dirfd,
    "path": _k_path, "str": _k_str, "inbuf": _k_inbuf, "outbuf": _k_outbuf,
    "outstr": _k_outstr, "flags": _k_flags, "enum": _k_enum, "mode": _k_mode, "umask": _k_mode,
    "signal": _k_signal, "pid": _k_id, "uid": _k_id, "gid": _k_id, "argv": _k_argv,
    "envp": _k_envp, "struct": _k_struct, "outstruct": _k_outstruct,
    "sockaddr": _k_sockaddr, "outsockaddr": _k_outsockaddr, "iovec": _k_iovec,
    "outiovec": _k_outiovec, "sigset": _k_sigset, "outsigset": _k_outsigset,
}


_PLANS: Dict[int, Tuple[Optional[Callable], Tuple[Tuple[int, Callable, str], ...]]] = {}


def _plan(sc: Syscall):
    """The special decoder (if any) and the per-argument formatters of a syscall, once."""
    steps = []
    for i, (name, kind) in enumerate(sc.args):
        if name[0] == "_":
            continue
        base, _, param = kind.partition(":")
        steps.append((i, _KIND_FORMATTERS.get(base, _k_hex), param))
    plan = (registry.SPECIAL.get(sc.name), tuple(steps))
    _PLANS[sc.nr] = plan
    return plan


def _foreign_args(call: Call) -> List[str]:
    """An i386/x32 call (or an unknown number): raw values, as many as the
    x86_64 call of the same name takes (all six if there is none)."""
    names = I386_NAMES if call.arch == R.ARCH_I386 else X32_NAMES if call.arch == R.ARCH_X32 else {}
    twin = BY_NAME.get(names.get(call.nr, ""))
    n = twin.nargs if twin is not None else 6
    mask = 0xFFFFFFFF if call.arch == R.ARCH_I386 else 0xFFFFFFFFFFFFFFFF
    return [f"{a & mask:#x}" if a & mask else "0" for a in call.args[:n]]


def raw_hex(v: int) -> str:
    """-e raw=: a register as strace prints it undecoded."""
    v &= 0xFFFFFFFFFFFFFFFF
    return f"{v:#x}" if v else "0"


def format_args(call: Call, ctx: Ctx) -> List[str]:
    sc = call.sc
    if sc is None:
        return _foreign_args(call)
    if call.nr in ctx.raw:
        return [raw_hex(a) for a in call.args[:sc.nargs]]
    plan = _PLANS.get(sc.nr) or _plan(sc)
    if plan[0] is not None:
        out = plan[0](call, ctx)
        if out is not None:
            return out
    args = call.args
    return [fn(call, i, args[i], param, ctx) for i, fn, param in plan[1]]


def format_ret(call: Call, ctx: Ctx) -> str:
    ret = call.ret
    if ret is None:
        return "?"
    if is_error_return(ret):
        err = -ret
        if err in RESTART_QUESTION:
            if err == 516 and call.sc is not None:  # restart_syscall will name it
                registry.note_restart(call.tid, call.sc.name)
            return f"? {errno_name(err)} ({errno_text(err)})"
        return f"-1 {errno_name(err)} ({errno_text(err)})"
    sc = call.sc
    if sc is None:
        return str(ret)
    if call.nr in ctx.raw:
        return raw_hex(ret)
    sp = registry.SPECIAL_RET.get(sc.name)
    if sp is not None:
        out = sp(call, ctx)
        if out is not None:
            return out
    kind = sc.ret
    if kind == "hex":
        return f"{ret & 0xFFFFFFFFFFFFFFFF:#x}"
    if kind == "fd":
        return fmt_fd(ret, call, ctx, R.CAP_RESULT)
    if kind == "none":
        return "?"
    return str(ret)


# families register themselves on import
from . import desc, fs, ipc, mem, net, proc, signals, time  # noqa: E402,F401
