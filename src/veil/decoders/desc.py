"""Descriptor family: fcntl, ioctl, pipes, dup, getdents, eventfd, epoll, poll."""
from __future__ import annotations

import struct as _struct

from .. import records as R
from .common import enum, flags, ptr, s32, u32
from .fs import open_flags
from .registry import EXTRA_CAPTURES, enum_set, flag_set, special, special_ret, struct

F_CMDS = {0: "F_DUPFD", 1: "F_GETFD", 2: "F_SETFD", 3: "F_GETFL", 4: "F_SETFL", 5: "F_GETLK",
          6: "F_SETLK", 7: "F_SETLKW", 8: "F_SETOWN", 9: "F_GETOWN", 10: "F_SETSIG",
          11: "F_GETSIG", 15: "F_SETOWN_EX", 16: "F_GETOWN_EX", 36: "F_OFD_GETLK",
          37: "F_OFD_SETLK", 38: "F_OFD_SETLKW", 1024: "F_SETLEASE", 1025: "F_GETLEASE",
          1026: "F_NOTIFY", 1030: "F_DUPFD_CLOEXEC", 1031: "F_SETPIPE_SZ", 1032: "F_GETPIPE_SZ",
          1033: "F_ADD_SEALS", 1034: "F_GET_SEALS"}


@enum_set("fcntl_cmd")
def fcntl_cmd(v: int) -> str:
    return enum(s32(v), F_CMDS)


def _fd_flags(v: int) -> str:
    return flags(u32(v), [(1, "FD_CLOEXEC")])


SEALS = [(1, "F_SEAL_SEAL"), (2, "F_SEAL_SHRINK"), (4, "F_SEAL_GROW"), (8, "F_SEAL_WRITE"),
         (16, "F_SEAL_FUTURE_WRITE")]


@special("fcntl")
def _fcntl(call, ctx):
    from . import fmt_fd
    cmd = s32(call.args[1])
    out = [fmt_fd(call.args[0], call, ctx), fcntl_cmd(cmd)]
    arg = call.args[2]
    if cmd in (1, 3, 9, 11, 1025, 1032, 1034):  # getters take no argument
        return out
    if cmd == 2:
        out.append(_fd_flags(arg))
    elif cmd == 4:
        out.append(open_flags(arg))
    elif cmd in (0, 1030, 8, 10, 1031, 1024, 1026):
        out.append(str(s32(arg)))
    elif cmd == 1033:
        out.append(flags(u32(arg), SEALS))
    else:
        out.append(ptr(arg))
    return out


@special_ret("fcntl")
def _fcntl_ret(call, ctx):
    cmd = s32(call.args[1])
    if cmd == 1:
        return f"{call.ret:#x} (flags {_fd_flags(call.ret)})" if call.ret else "0"
    if cmd == 3:
        return f"{call.ret:#x} (flags {open_flags(call.ret)})"
    if cmd == 1034:
        return f"{call.ret:#x} (seals {flags(call.ret, SEALS)})" if call.ret else "0"
    if cmd in (0, 1030):
        from . import fmt_fd
        return fmt_fd(call.ret, call, ctx, R.CAP_RESULT)
    return None


IOCTLS = {0x5401: "TCGETS", 0x5402: "TCSETS", 0x5403: "TCSETSW", 0x5404: "TCSETSF",
          0x5409: "TCSBRK", 0x540B: "TCFLSH", 0x540E: "TIOCSCTTY", 0x540F: "TIOCGPGRP",
          0x5410: "TIOCSPGRP", 0x5413: "TIOCGWINSZ", 0x5414: "TIOCSWINSZ", 0x541B: "FIONREAD",
          0x5421: "FIONBIO", 0x5422: "TIOCNOTTY", 0x5450: "FIONCLEX", 0x5451: "FIOCLEX",
          0x5452: "FIOASYNC", 0x80045430: "TIOCGPTN", 0x40045431: "TIOCSPTLCK",
          0x5429: "TIOCGSID", 0x541C: "TIOCLINUX", 0x8910: "SIOCGIFNAME",
          0x8933: "SIOCGIFINDEX", 0x8913: "SIOCGIFFLAGS", 0x5460: "FIONBIO?"}
IOCTLS.pop(0x5460)


@enum_set("ioctl_cmd")
def ioctl_cmd(v: int) -> str:
    v = u32(v)
    return IOCTLS.get(v, f"{v:#x}")


# FIONREAD and friends write an int; capture it at exit
EXTRA_CAPTURES["ioctl"] = {2: (R.CAP_FIXED_OUT, 0, 8)}


@special("ioctl")
def _ioctl(call, ctx):
    from . import fmt_fd
    req = u32(call.args[1])
    out = [fmt_fd(call.args[0], call, ctx), ioctl_cmd(req)]
    arg = call.args[2]
    c = call.cap(2)
    if req in (0x5422, 0x5450, 0x5451):
        return out
    if req in (0x541B, 0x80045430, 0x540F, 0x5429) and c and not call.failed and c.data:
        out.append(f"[{s32(int.from_bytes(c.data[:4], 'little'))}]")
    elif req == 0x5421 and arg:
        out.append(ptr(arg))
    elif req == 0x5413 and c and not call.failed and len(c.data) >= 8:
        row, col, xp, yp = _struct.unpack_from("<HHHH", c.data)
        out.append(f"{{ws_row={row}, ws_col={col}, ws_xpixel={xp}, ws_ypixel={yp}}}")
    else:
        out.append(ptr(arg))
    return out


@flag_set("pipe_flags")
def pipe_flags(v: int) -> str:
    return flags(u32(v), [(0o2000000, "O_CLOEXEC"), (0o4000, "O_NONBLOCK"), (0o40000, "O_DIRECT"),
                          (0o200000, "O_NOTIFICATION_PIPE")])


@flag_set("dup3_flags")
def dup3_flags(v: int) -> str:
    return flags(u32(v), [(0o2000000, "O_CLOEXEC")])


@struct("int2", 8)
def int_pair(data: bytes, call, ctx) -> str:
    a, b = _struct.unpack_from("<ii", data)
    return f"[{a}, {b}]"


@struct("int", 4)
def int_ref(data: bytes, call, ctx) -> str:
    return f"[{_struct.unpack_from('<i', data)[0]}]"


@special("getdents64", "getdents")
def _getdents(call, ctx):
    from . import fmt_fd
    buf = ptr(call.args[1])
    if call.ret is not None and call.ret == 0:
        buf += " /* 0 entries */"
    elif call.ret is not None and call.ret > 0:
        c = call.caps.get(1)
        n = _count_dirents(c.data) if c is not None and not c.fault else None
        if n is not None:
            buf += f" /* {n} entries */"
    return [fmt_fd(call.args[0], call, ctx), buf, str(u32(call.args[2]))]


def _count_dirents(data: bytes):
    n = 0
    pos = 0
    while pos + 19 <= len(data):
        reclen = _struct.unpack_from("<H", data, pos + 16)[0]
        if reclen == 0:
            return None
        n += 1
        pos += reclen
    return n if pos == len(data) else None


# the whole dirent buffer is needed to count entries
EXTRA_CAPTURES["getdents64"] = {1: (R.CAP_BUF_RET, 0, 65535)}


@flag_set("close_range_flags")
def close_range_flags(v: int) -> str:
    return flags(u32(v), [(2, "CLOSE_RANGE_UNSHARE"), (4, "CLOSE_RANGE_CLOEXEC")])


@flag_set("eventfd_flags")
def eventfd_flags(v: int) -> str:
    return flags(u32(v), [(0o2000000, "EFD_CLOEXEC"), (0o4000, "EFD_NONBLOCK"), (1, "EFD_SEMAPHORE")])


@flag_set("epoll_flags")
def epoll_flags(v: int) -> str:
    return flags(u32(v), [(0o2000000, "EPOLL_CLOEXEC")])


@enum_set("epoll_ctl_op")
def epoll_ctl_op(v: int) -> str:
    return enum(s32(v), {1: "EPOLL_CTL_ADD", 2: "EPOLL_CTL_DEL", 3: "EPOLL_CTL_MOD"})


EPOLL_EVENTS = [(0x1, "EPOLLIN"), (0x2, "EPOLLPRI"), (0x4, "EPOLLOUT"), (0x8, "EPOLLERR"),
                (0x10, "EPOLLHUP"), (0x20, "EPOLLNVAL"), (0x40, "EPOLLRDNORM"),
                (0x80, "EPOLLRDBAND"), (0x100, "EPOLLWRNORM"), (0x200, "EPOLLWRBAND"),
                (0x400, "EPOLLMSG"), (0x2000, "EPOLLRDHUP"), (1 << 28, "EPOLLEXCLUSIVE"),
                (1 << 29, "EPOLLWAKEUP"), (1 << 30, "EPOLLONESHOT"), (1 << 31, "EPOLLET")]


@struct("epoll_event", 12)
def epoll_event(data: bytes, call, ctx) -> str:
    ev, u64 = _struct.unpack_from("<IQ", data)
    return f"{{events={flags(ev, EPOLL_EVENTS)}, data={{u32={u64 & 0xFFFFFFFF}, u64={u64}}}}}"


@flag_set("timerfd_flags")
def timerfd_flags(v: int) -> str:
    return flags(u32(v), [(0o2000000, "TFD_CLOEXEC"), (0o4000, "TFD_NONBLOCK"),
                          (1, "TFD_TIMER_ABSTIME"), (2, "TFD_TIMER_CANCEL_ON_SET")])


@flag_set("signalfd_flags")
def signalfd_flags(v: int) -> str:
    return flags(u32(v), [(0o2000000, "SFD_CLOEXEC"), (0o4000, "SFD_NONBLOCK")])


@flag_set("memfd_flags")
def memfd_flags(v: int) -> str:
    return flags(u32(v), [(1, "MFD_CLOEXEC"), (2, "MFD_ALLOW_SEALING"), (4, "MFD_HUGETLB"),
                          (8, "MFD_NOEXEC_SEAL"), (16, "MFD_EXEC")])


@flag_set("inotify_flags")
def inotify_flags(v: int) -> str:
    return flags(u32(v), [(0o2000000, "IN_CLOEXEC"), (0o4000, "IN_NONBLOCK")])
