"""One syscall argument as text, by its kind in the syscall table.

``format_arg(call, i, kind, ctx)`` formats argument ``i`` of a call as its
kind says (``fd``, ``path``, ``flags:NAME``, ``struct:NAME``, ``iovec:N``,
...); ``Ctx`` holds the formatting options.  The families (fs, desc, net,
...) use these for the arguments of their special cases, ``fmt_fd`` and
``fd_decoration`` for fds, ``iov_text`` for iovec arrays; the package
(``veil.decoders``) re-exports them.
"""
from __future__ import annotations

from .. import records as R
from . import capture, registry
from .common import (
    DecodeError,
    escape_bytes,
    hex_number,
    octal,
    ptr,
    quote,
    quote_limited,
    s32,
    s64,
    signal_name,
    sigset,
    styled,
    u32,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from . import Call

__all__ = ["Ctx", "fmt_fd", "fd_decoration", "fd_target", "format_arg", "iov_text", "formatter"]


class Ctx:
    """Formatting options: strace's -s, -x, -y and -e raw=.

    ``hex_all`` is the -x level: 0, 1 (-x: non-printable strings in hex) or
    2 (-xx: every string in hex); True counts as 1.  ``raw``: the x86_64
    syscall numbers whose arguments are shown undecoded, in hex."""

    __slots__ = ("strsize", "hex_all", "decorate_fds", "raw", "pid_comm", "xlat", "verbose",
                 "abbrev", "restarts")

    def __init__(self, strsize: int = 32, hex_all: bool = False, decorate_fds: bool = False,
                 raw: Iterable[int] = (), pid_comm: Callable[[int], str | None] | None = None,
                 xlat: str = "abbrev", verbose: Iterable[int] | None = None,
                 abbrev: Iterable[int] | None = None):
        self.strsize = strsize
        self.hex_all = hex_all
        self.decorate_fds = decorate_fds
        self.raw = frozenset(raw)
        # -Y: pid -> its command name (None if unknown), for pid arguments
        self.pid_comm = pid_comm
        # -X: "abbrev" (names), "raw" (numbers), "verbose" (both)
        self.xlat = xlat
        # -e verbose=SET: the syscalls whose structures are read (None: all);
        # -e abbrev=SET: those whose structures and environments are shortened (None: all)
        self.verbose = None if verbose is None else frozenset(verbose)
        self.abbrev = None if abbrev is None else frozenset(abbrev)
        # tid -> name of its last call interrupted with ERESTART_RESTARTBLOCK: the
        # restart_syscall that follows says what it resumes (strace's notation)
        self.restarts: dict[int, str] = {}

    def note_restart(self, tid: int, name: str) -> None:
        if len(self.restarts) > 4096:
            self.restarts.clear()
        self.restarts[tid] = name

    def dereferenced(self, call: Call) -> bool:
        return self.verbose is None or call.nr in self.verbose

    def abbreviated(self, call: Call) -> bool:
        return self.abbrev is None or call.nr in self.abbrev


def fmt_fd(value: int, call: Call, ctx: Ctx, slot: int = 0) -> str:
    """An fd, with -y the file it named when the call was made (captured by C then)."""
    fd = s32(value)
    text = styled(str(fd), lambda: "AT_FDCWD") if fd == -100 else str(fd)
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
    from .sockaddr import socket_description
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


def _k_pid(call, i, v, p, ctx):
    pid = s32(v)
    comm = ctx.pid_comm(pid) if ctx.pid_comm is not None and pid > 0 else None
    return f"{pid}<{comm}>" if comm is not None else str(pid)


def _k_path(call, i, v, p, ctx):
    return _fmt_string_cap(call, i, v, ctx, False)


def _k_str(call, i, v, p, ctx):
    return _fmt_string_cap(call, i, v, ctx, True)


def _k_inbuf(call, i, v, p, ctx):
    c = call.caps.get(i)
    if c is None or c.fault:
        return ptr(v)
    return netlink_data(call, c.data, c.count, ctx) or \
        quote_limited(c.data, c.count, ctx.strsize, ctx.hex_all)


def _k_outbuf(call, i, v, p, ctx):
    c = call.caps.get(i)
    if call.ret is None or call.failed or c is None or c.fault:
        return ptr(v)
    return netlink_data(call, c.data, call.ret, ctx) or \
        quote_limited(c.data, call.ret, ctx.strsize, ctx.hex_all)


NETLINK_CALLS = ("sendto", "recvfrom", "sendmsg", "recvmsg")


def netlink_data(call: Call, data: bytes, total: int, ctx: Ctx) -> str | None:
    """The data of a send/recv call on a netlink socket as messages, else None."""
    if call.name not in NETLINK_CALLS:
        return None
    from . import netlink
    protocol = netlink.protocol_of(call.pid, s32(call.args[0]))
    return None if protocol is None else netlink.messages(data, total, protocol, ctx)


def _k_outstr(call, i, v, p, ctx):
    c = call.caps.get(i)
    if call.ret is None or call.failed or c is None or c.fault:
        return ptr(v)
    data = c.data[:call.ret]
    if data.endswith(b"\0"):  # getcwd's length counts the NUL
        data = data[:-1]
    return quote(data, False, ctx.hex_all)


def _registered(table: dict, name: str):   # noqa: ANN202
    """A set or struct the registry does not hold yet: every family is imported
    (a call formatted without load_for() of its syscall), then it is looked up
    again.  Callers look up first: this is the miss path only."""
    registry.load_all()
    return table.get(name)


def _k_flags(call, i, v, p, ctx):
    f = registry.FLAG_SETS.get(p) or _registered(registry.FLAG_SETS, p)
    if f is not None:
        return f(v)
    return hex_number(v)


def _k_enum(call, i, v, p, ctx):
    f = registry.ENUM_SETS.get(p) or _registered(registry.ENUM_SETS, p)
    return f(v) if f else str(s32(v))


def _k_mode(call, i, v, p, ctx):
    return octal(u32(v))


def _k_signal(call, i, v, p, ctx):
    sig = s32(v)
    return styled(str(sig), lambda: signal_name(sig)) if sig > 0 else str(sig)


def _k_id(call, i, v, p, ctx):
    return str(s32(v))


def _k_argv(call, i, v, p, ctx):
    c = call.caps.get(i)
    if c is None or c.fault or c.kind != R.CAP_STRV or not ctx.dereferenced(call):
        return ptr(v)
    items = [quote(s[:ctx.strsize], t or len(s) > ctx.strsize, ctx.hex_all) for s, t in c.strings()]
    more = c.count - len(items)
    if more > 0:
        items.append(f"... /* {more} more */")
    return "[" + ", ".join(items) + "]"


def _k_envp(call, i, v, p, ctx):
    c = call.caps.get(i)
    if c is None or c.fault or not ctx.dereferenced(call):
        return ptr(v)
    if c.kind == R.CAP_STRV and not ctx.abbreviated(call):  # -v
        return _k_argv(call, i, v, p, ctx)
    n = c.count
    return f"{ptr(v)} /* {n} var{'' if n == 1 else 's'} */"


def _k_struct(call, i, v, p, ctx):
    c = call.caps.get(i)
    entry = registry.STRUCTS.get(p) or _registered(registry.STRUCTS, p)
    if v == 0:
        return "NULL"
    if c is None or c.fault or entry is None or not c.data or not ctx.dereferenced(call):
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
    c = call.caps.get(i)
    if v == 0:
        return "NULL"
    if c is None or c.fault:
        return ptr(v)
    from .sockaddr import sockaddr_or_addr
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


def iov_text(iovs, more: bool, ctx: Ctx,
             decode: Callable[[bytes, int], str | None] | None = None) -> str:
    """[{iov_base="...", iov_len=N}, ...] from capture.iovecs() elements;
    ``decode(data, length)``: the element's data as something else than a string
    (netlink messages), or None."""
    parts = []
    for n, (base, ln, data, avail) in enumerate(iovs):
        if n >= max(ctx.strsize, 1):
            more = True
            break
        base_text = "NULL" if base == 0 else (
            decode is not None and decode(data, avail)
            or quote_limited(data, avail, ctx.strsize, ctx.hex_all))
        parts.append(f"{{iov_base={base_text}, iov_len={ln}}}")
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


_KIND_FORMATTERS: dict[str, Callable] = {
    "int": _k_int, "uint": _k_uint, "long": _k_long, "ulong": _k_ulong, "size": _k_ulong,
    "off": _k_long, "hex": _k_hex, "ptr": _k_ptr, "fd": _k_fd, "dirfd": _k_dirfd,
    "path": _k_path, "str": _k_str, "inbuf": _k_inbuf, "outbuf": _k_outbuf,
    "outstr": _k_outstr, "flags": _k_flags, "enum": _k_enum, "mode": _k_mode, "umask": _k_mode,
    "signal": _k_signal, "pid": _k_pid, "uid": _k_id, "gid": _k_id, "argv": _k_argv,
    "envp": _k_envp, "struct": _k_struct, "outstruct": _k_outstruct,
    "sockaddr": _k_sockaddr, "outsockaddr": _k_outsockaddr, "iovec": _k_iovec,
    "outiovec": _k_outiovec, "sigset": _k_sigset, "outsigset": _k_outsigset,
}


def formatter(base: str) -> Callable:
    """The formatter of an argument kind (the part before ":"), hex if the kind is unknown."""
    return _KIND_FORMATTERS.get(base, _k_hex)
