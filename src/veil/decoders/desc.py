"""Descriptor family: fcntl, ioctl, pipes, dup, getdents, eventfd, epoll, poll, select."""
from __future__ import annotations

import struct as _struct

from .. import records as R
from . import capture
from .common import DecodeError, array, flags, ptr, s32, signal_name, sigset, u32, unpack, xval
from .fs import open_flags, seek_whence
from .kinds import fd_decoration, fmt_fd, format_arg
from .kstructs import EPOLL_EVENT
from .registry import EXTRA_CAPTURES, enum_set, flag_set, special, special_ret, struct

# --- fcntl -------------------------------------------------------------------

F_CMDS = {0: "F_DUPFD", 1: "F_GETFD", 2: "F_SETFD", 3: "F_GETFL", 4: "F_SETFL", 5: "F_GETLK",
          6: "F_SETLK", 7: "F_SETLKW", 8: "F_SETOWN", 9: "F_GETOWN", 10: "F_SETSIG",
          11: "F_GETSIG", 15: "F_SETOWN_EX", 16: "F_GETOWN_EX", 17: "F_GETOWNER_UIDS",
          36: "F_OFD_GETLK", 37: "F_OFD_SETLK", 38: "F_OFD_SETLKW", 1024: "F_SETLEASE",
          1025: "F_GETLEASE", 1026: "F_NOTIFY", 1027: "F_DUPFD_QUERY", 1030: "F_DUPFD_CLOEXEC",
          1031: "F_SETPIPE_SZ", 1032: "F_GETPIPE_SZ", 1033: "F_ADD_SEALS", 1034: "F_GET_SEALS",
          1035: "F_GET_RW_HINT", 1036: "F_SET_RW_HINT", 1037: "F_GET_FILE_RW_HINT",
          1038: "F_SET_FILE_RW_HINT"}


@enum_set("fcntl_cmd")
def fcntl_cmd(v: int) -> str:
    return xval(u32(v), F_CMDS, "F_???")


def fd_flags(v: int) -> str:
    return flags(u32(v), [(1, "FD_CLOEXEC")], dflt="FD_???")


SEALS = [(1, "F_SEAL_SEAL"), (2, "F_SEAL_SHRINK"), (4, "F_SEAL_GROW"), (8, "F_SEAL_WRITE"),
         (16, "F_SEAL_FUTURE_WRITE"), (32, "F_SEAL_EXEC")]
LOCK_TYPES = {0: "F_RDLCK", 1: "F_WRLCK", 2: "F_UNLCK", 4: "F_EXLCK", 8: "F_SHLCK"}
OWNER_TYPES = {0: "F_OWNER_TID", 1: "F_OWNER_PID", 2: "F_OWNER_PGRP"}
DN_FLAGS = [(1, "DN_ACCESS"), (2, "DN_MODIFY"), (4, "DN_CREATE"), (8, "DN_DELETE"),
            (0x10, "DN_RENAME"), (0x20, "DN_ATTRIB"), (0x80000000, "DN_MULTISHOT")]

_FLOCK = _struct.Struct("<hh4xqqi4x")


@struct("flock", 32)
def flock(data: bytes, call, ctx, getlk: bool = False) -> str:
    ltype, whence, start, length, pid = unpack(_FLOCK, data)
    text = (f"{{l_type={xval(ltype & 0xFFFF, LOCK_TYPES, 'F_???')}, "
            f"l_whence={seek_whence(whence)}, l_start={start}, l_len={length}")
    if getlk:
        text += f", l_pid={pid}"
    return text + "}"


def f_owner_ex(data: bytes) -> str:
    typ, pid = unpack("<ii", data)
    return f"{{type={xval(u32(typ), OWNER_TYPES, 'F_OWNER_???')}, pid={pid}}}"


# the struct argument of the lock and owner commands: at exit (the getters
# fill it in; the setters leave it as it was), and at entry too where C can
EXTRA_CAPTURES["fcntl"] = {2: capture.inout(32)}
_FCNTL_GETTERS = {5, 36, 16}   # F_GETLK, F_OFD_GETLK, F_GETOWN_EX: printed at exit
_FCNTL_NOARG = {1, 3, 9, 11, 1025, 1032, 1034, 17, 1035, 1037}


@special("fcntl")
def _fcntl(call, ctx):
    cmd = u32(call.args[1])
    out = [fmt_fd(call.args[0], call, ctx), fcntl_cmd(cmd)]
    arg = call.args[2]
    if cmd in _FCNTL_NOARG:
        return out
    if cmd == 2:
        out.append(fd_flags(arg))
    elif cmd == 4:
        out.append(open_flags(arg))
    elif cmd in (0, 1030, 1031):
        out.append(str(s32(arg)))
    elif cmd == 8:
        out.append(str(s32(arg)))
    elif cmd == 1027:
        out.append(fmt_fd(arg, call, ctx, -1))
    elif cmd == 1033:
        out.append(flags(arg, SEALS, dflt="F_SEAL_???"))
    elif cmd == 1024:
        out.append(xval(arg, LOCK_TYPES, "F_???"))
    elif cmd == 1026:
        out.append(flags(arg, DN_FLAGS, dflt="DN_???"))
    elif cmd == 10:
        out.append(signal_name(s32(arg)) if s32(arg) > 0 else str(s32(arg)))
    elif cmd in (6, 7, 37, 38, 15):
        d = capture.stable_data(call, 2)
        try:
            out.append(ptr(arg) if d is None else
                       (f_owner_ex(d) if cmd == 15 else flock(d, call, ctx)))
        except DecodeError:
            out.append(ptr(arg))
    elif cmd in _FCNTL_GETTERS:
        d = capture.exit_data(call, 2)
        if call.ret is None or call.failed or d is None:
            out.append(ptr(arg))
        else:
            try:
                out.append(f_owner_ex(d) if cmd == 16 else flock(d, call, ctx, True))
            except DecodeError:
                out.append(ptr(arg))
    else:
        out.append(f"{arg:#x}" if arg else "0")
    return out


@special_ret("fcntl")
def _fcntl_ret(call, ctx):
    cmd = u32(call.args[1])
    ret = call.ret
    if cmd == 1:
        return f"{ret:#x} (flags {fd_flags(ret)})" if ret else "0"
    if cmd == 3:
        return f"{ret:#x} (flags {open_flags(ret)})" if ret else "0 (flags O_RDONLY)"
    if cmd == 1034:
        return f"{ret:#x} (seals {flags(ret, SEALS, dflt='F_SEAL_???')})" if ret else "0"
    if cmd == 1025:
        name = LOCK_TYPES.get(ret)
        return f"{ret:#x} ({name})" if name else f"{ret:#x}"
    if cmd == 11:
        return f"{ret} ({signal_name(ret)})" if ret else "0"
    if cmd in (0, 1030):
        return fmt_fd(ret, call, ctx, R.CAP_RESULT)
    return None


# --- ioctl -------------------------------------------------------------------

# code -> name; codes strace knows under two names print as "A or B"
IOCTLS = {0x5401: "TCGETS", 0x5402: "SNDCTL_TMR_START or TCSETS",
          0x5403: "SNDCTL_TMR_STOP or TCSETSW", 0x5404: "SNDCTL_TMR_CONTINUE or TCSETSF",
          0x5405: "TCGETA", 0x5406: "TCSETA", 0x5407: "TCSETAW", 0x5408: "TCSETAF",
          0x5409: "TCSBRK", 0x540A: "TCXONC", 0x540B: "TCFLSH", 0x540C: "TIOCEXCL",
          0x540D: "TIOCNXCL", 0x540E: "TIOCSCTTY", 0x540F: "TIOCGPGRP", 0x5410: "TIOCSPGRP",
          0x5411: "TIOCOUTQ", 0x5412: "TIOCSTI", 0x5413: "TIOCGWINSZ", 0x5414: "TIOCSWINSZ",
          0x5415: "TIOCMGET", 0x5416: "TIOCMBIS", 0x5417: "TIOCMBIC", 0x5418: "TIOCMSET",
          0x5419: "TIOCGSOFTCAR", 0x541A: "TIOCSSOFTCAR", 0x541B: "FIONREAD",
          0x541C: "TIOCLINUX", 0x541D: "TIOCCONS", 0x541E: "TIOCGSERIAL",
          0x541F: "TIOCSSERIAL", 0x5420: "TIOCPKT", 0x5421: "FIONBIO", 0x5422: "TIOCNOTTY",
          0x5423: "TIOCSETD", 0x5424: "TIOCGETD", 0x5425: "TCSBRKP", 0x5427: "TIOCSBRK",
          0x5428: "TIOCCBRK", 0x5429: "TIOCGSID", 0x802C542A: "TCGETS2",
          0x402C542B: "TCSETS2", 0x402C542C: "TCSETSW2", 0x402C542D: "TCSETSF2",
          0x80045430: "TIOCGPTN", 0x40045431: "TIOCSPTLCK", 0x80045432: "TIOCGDEV",
          0x5436: "TIOCVHANGUP", 0x80045438: "TIOCGPKT", 0x80045439: "TIOCGPTLCK",
          0x80045440: "TIOCGEXCL", 0x5441: "TIOCGPTPEER", 0x5450: "FIONCLEX",
          0x5451: "FIOCLEX", 0x5452: "FIOASYNC", 0x5453: "TIOCSERCONFIG",
          0x5454: "TIOCSERGWILD", 0x5455: "TIOCSERSWILD", 0x5456: "TIOCGLCKTRMIOS",
          0x5457: "TIOCSLCKTRMIOS", 0x5458: "TIOCSERGSTRUCT", 0x5459: "TIOCSERGETLSR",
          0x545A: "TIOCSERGETMULTI", 0x545B: "TIOCSERSETMULTI", 0x545C: "TIOCMIWAIT",
          0x545D: "TIOCGICOUNT", 0x5460: "FIOQSIZE",
          0x8901: "FIOSETOWN", 0x8902: "SIOCSPGRP", 0x8903: "FIOGETOWN", 0x8904: "SIOCGPGRP",
          0x8905: "SIOCATMARK", 0x8910: "SIOCGIFNAME", 0x8912: "SIOCGIFCONF",
          0x8913: "SIOCGIFFLAGS", 0x8914: "SIOCSIFFLAGS", 0x8915: "SIOCGIFADDR",
          0x8921: "SIOCGIFMTU", 0x8927: "SIOCGIFHWADDR", 0x8933: "SIOCGIFINDEX",
          0x40086602: "FS_IOC_SETFLAGS", 0x80086601: "FS_IOC_GETFLAGS",
          0x40049409: "BTRFS_IOC_CLONE or FICLONE", 0x80081272: "BLKGETSIZE64",
          0x4020940D: "BTRFS_IOC_CLONE_RANGE or FICLONERANGE",
          0x1260: "BLKGETSIZE", 0x127B: "BLKPBSZGET", 0x1268: "BLKSSZGET",
          0xC020660B: "FS_IOC_FIEMAP"}

_IOC_DIRS = {0: "_IOC_NONE", 1: "_IOC_WRITE", 2: "_IOC_READ", 3: "_IOC_READ|_IOC_WRITE"}


@enum_set("ioctl_cmd")
def ioctl_cmd(v: int) -> str:
    v = u32(v)
    name = IOCTLS.get(v)
    if name is not None:
        return name
    d, size, typ, nr = v >> 30, (v >> 16) & 0x3FFF, (v >> 8) & 0xFF, v & 0xFF
    if d == 0 and size == 0:
        return f"_IOC(_IOC_NONE, {typ:#x}, {nr:#x}, 0)"
    return f"_IOC({_IOC_DIRS[d]}, {typ:#x}, {nr:#x}, {size:#x})"


IFLAGS = [(0o1, "IGNBRK"), (0o2, "BRKINT"), (0o4, "IGNPAR"), (0o10, "PARMRK"), (0o20, "INPCK"),
          (0o40, "ISTRIP"), (0o100, "INLCR"), (0o200, "IGNCR"), (0o400, "ICRNL"),
          (0o1000, "IUCLC"), (0o2000, "IXON"), (0o4000, "IXANY"), (0o10000, "IXOFF"),
          (0o20000, "IMAXBEL"), (0o40000, "IUTF8")]
OFLAGS = [(0o1, "OPOST"), (0o2, "OLCUC"), (0o4, "ONLCR"), (0o10, "OCRNL"), (0o20, "ONOCR"),
          (0o40, "ONLRET"), (0o100, "OFILL"), (0o200, "OFDEL")]
_ODELAYS = [(0o400, {0: "NL0", 0o400: "NL1"}, "NL?"),
            (0o3000, {0: "CR0", 0o1000: "CR1", 0o2000: "CR2", 0o3000: "CR3"}, "CR?"),
            (0o14000, {0: "TAB0", 0o4000: "TAB1", 0o10000: "TAB2", 0o14000: "TAB3"}, "TAB?"),
            (0o20000, {0: "BS0", 0o20000: "BS1"}, "BS?"),
            (0o40000, {0: "VT0", 0o40000: "VT1"}, "VT?"),
            (0o100000, {0: "FF0", 0o100000: "FF1"}, "FF?")]
BAUDS = {0: "B0", 1: "B50", 2: "B75", 3: "B110", 4: "B134", 5: "B150", 6: "B200", 7: "B300",
         0o10: "B600", 0o11: "B1200", 0o12: "B1800", 0o13: "B2400", 0o14: "B4800",
         0o15: "B9600", 0o16: "B19200", 0o17: "B38400", 0o10000: "BOTHER",
         0o10001: "B57600", 0o10002: "B115200", 0o10003: "B230400", 0o10004: "B460800",
         0o10005: "B500000", 0o10006: "B576000", 0o10007: "B921600", 0o10010: "B1000000",
         0o10011: "B1152000", 0o10012: "B1500000", 0o10013: "B2000000",
         0o10014: "B2500000", 0o10015: "B3000000", 0o10016: "B3500000", 0o10017: "B4000000"}
CSIZES = {0: "CS5", 0o20: "CS6", 0o40: "CS7", 0o60: "CS8"}
CFLAGS = [(0o100, "CSTOPB"), (0o200, "CREAD"), (0o400, "PARENB"), (0o1000, "PARODD"),
          (0o2000, "HUPCL"), (0o4000, "CLOCAL"), (0o10000000000, "CMSPAR"),
          (0o20000000000, "CRTSCTS")]
LFLAGS = [(0o1, "ISIG"), (0o2, "ICANON"), (0o4, "XCASE"), (0o10, "ECHO"), (0o20, "ECHOE"),
          (0o40, "ECHOK"), (0o100, "ECHONL"), (0o200, "NOFLSH"), (0o100000, "IEXTEN"),
          (0o1000, "ECHOCTL"), (0o2000, "ECHOPRT"), (0o4000, "ECHOKE"), (0o10000, "FLUSHO"),
          (0o40000, "PENDIN"), (0o400, "TOSTOP"), (0o200000, "EXTPROC")]


def _oflag(v: int) -> str:
    parts = []
    for mask, names, dflt in _ODELAYS:
        f = v & mask
        parts.append(names.get(f, f"{f:#x} /* {dflt} */"))
        v &= ~mask
    parts.append(flags(v, OFLAGS))
    return "|".join(parts)


def _cflag(v: int) -> str:
    cbaud, cibaud = 0o10017, 0o2003600000
    parts = [xval(v & cbaud, BAUDS, "B???")]
    if v & cibaud:
        parts.append(f"{xval((v & cibaud) >> 16, BAUDS, 'B???')}<<IBSHIFT")
    parts.append(CSIZES[v & 0o60])
    parts.append(flags(v & ~(cbaud | cibaud | 0o60), CFLAGS))
    return "|".join(parts)


@struct("termios", 36)
def termios(data: bytes, call=None, ctx=None) -> str:
    i, o, c, lf = unpack("<IIII", data)
    return (f"{{c_iflag={flags(i, IFLAGS)}, c_oflag={_oflag(o)}, c_cflag={_cflag(c)}, "
            f"c_lflag={flags(lf, LFLAGS)}, ...}}")


@struct("winsize", 8)
def winsize(data: bytes, call=None, ctx=None) -> str:
    row, col, xp, yp = unpack("<HHHH", data)
    return f"{{ws_row={row}, ws_col={col}, ws_xpixel={xp}, ws_ypixel={yp}}}"


TCFLSH = {0: "TCIFLUSH", 1: "TCOFLUSH", 2: "TCIOFLUSH"}
TCXONC = {0: "TCOOFF", 1: "TCOON", 2: "TCIOFF", 3: "TCION"}
MODEM = [(0x1, "TIOCM_LE"), (0x2, "TIOCM_DTR"), (0x4, "TIOCM_RTS"), (0x8, "TIOCM_ST"),
         (0x10, "TIOCM_SR"), (0x20, "TIOCM_CTS"), (0x40, "TIOCM_CAR"), (0x80, "TIOCM_RNG"),
         (0x100, "TIOCM_DSR"), (0x2000, "TIOCM_OUT1"), (0x4000, "TIOCM_OUT2"),
         (0x8000, "TIOCM_LOOP")]

# how the argument of each known request is printed: (printer, at exit?)
#   "termios"/"winsize": struct; "int": [N] through the pointer; "modem": [flags];
#   "none": no argument; "dint": the value in decimal; "flsh"/"xonc": named value
_IOCTL_ARGS = {
    0x40049409: ("fd", False), 0x4020940D: ("clone_range", False),
    0x5401: ("termios", True), 0x5456: ("termios", True),
    0x5402: ("termios", False), 0x5403: ("termios", False), 0x5404: ("termios", False),
    0x5457: ("termios", False),
    0x5413: ("winsize", True), 0x5414: ("winsize", False),
    0x540A: ("xonc", False), 0x540B: ("flsh", False),
    0x5409: ("dint", False), 0x5425: ("dint", False), 0x540E: ("dint", False),
    0x5415: ("modem", True), 0x5416: ("modem", False), 0x5417: ("modem", False),
    0x5418: ("modem", False),
    0x540F: ("int", True), 0x5429: ("int", True), 0x5424: ("int", True),
    0x5419: ("int", True), 0x80045430: ("int", True), 0x541B: ("int", True),
    0x5411: ("int", True), 0x80045440: ("int", True), 0x80045432: ("int", True),
    0x5410: ("int", False), 0x5423: ("int", False), 0x5421: ("int", False),
    0x5452: ("int", False), 0x5420: ("int", False), 0x541A: ("int", False),
    0x40045431: ("int", False),
    0x5427: ("none", False), 0x5428: ("none", False), 0x541D: ("none", False),
    0x5422: ("none", False), 0x540C: ("none", False), 0x540D: ("none", False),
    0x5450: ("none", False), 0x5451: ("none", False), 0x5436: ("none", False),
    0x541F: ("none", False),
}

# the argument's memory at exit (the getters fill it in, the setters leave it),
# and at entry too where C can
EXTRA_CAPTURES["ioctl"] = {2: capture.inout(64)}


@special("ioctl")
def _ioctl(call, ctx):
    req = u32(call.args[1])
    out = [fmt_fd(call.args[0], call, ctx), ioctl_cmd(req)]
    arg = call.args[2]
    how = _IOCTL_ARGS.get(req)
    if how is None:
        out.append(f"{arg:#x}" if arg else "0")
        return out
    kind, at_exit = how
    if kind == "none":
        return out
    if kind == "dint":
        out.append(str(s32(arg)))
        return out
    if kind == "fd":  # FICLONE: the file to clone from
        out.append(fmt_fd(arg, call, ctx, 2))
        return out
    if kind == "flsh":
        out.append(xval(arg, TCFLSH, "TC???"))
        return out
    if kind == "xonc":
        out.append(xval(arg, TCXONC, "TC???"))
        return out
    if at_exit:
        if call.ret is None or call.failed:
            out.append(ptr(arg))
            return out
        d = capture.exit_data(call, 2)
    else:
        d = capture.stable_data(call, 2)
    if arg == 0 or d is None:
        out.append(ptr(arg))
        return out
    try:
        if kind == "termios":
            out.append(termios(d))
        elif kind == "winsize":
            out.append(winsize(d))
        elif kind == "clone_range":
            src_fd, src_offset, src_length, dest_offset = unpack("<qQQQ", d)
            out.append(f"{{src_fd={src_fd}, src_offset={src_offset}, "
                       f"src_length={src_length}, dest_offset={dest_offset}}}")
        elif kind == "modem":
            out.append(f"[{flags(unpack('<I', d)[0], MODEM, dflt='TIOCM_???')}]")
        else:
            out.append(f"[{unpack('<i', d)[0]}]")
    except DecodeError:
        out.append(ptr(arg))
    return out


# --- pipes, dup, fd pairs ------------------------------------------------------

@flag_set("pipe_flags")
def pipe_flags(v: int) -> str:
    return open_flags(v) if u32(v) & 3 else flags(u32(v), [
        (0o4000, "O_NONBLOCK"), (0o40000, "O_DIRECT"), (0o2000000, "O_CLOEXEC"),
        (0o200000, "O_NOTIFICATION_PIPE")], dflt="O_???")


@flag_set("dup3_flags")
def dup3_flags(v: int) -> str:
    return flags(u32(v), [(0o2000000, "O_CLOEXEC")], dflt="O_???")


@struct("int2", 8)
def int_pair(data: bytes, call, ctx) -> str:
    """[3, 4]; with -y the files the two fds name, when C captured them (FDPAIR)."""
    a, b = unpack("<ii", data[:8])
    if len(data) <= 8 or not ctx.decorate_fds:
        return f"[{a}, {b}]"
    texts, pos = [], 8
    for fd in (a, b):
        n = int.from_bytes(data[pos:pos + 4], "little")
        target = data[pos + 4:pos + 4 + n]
        pos += 4 + n
        texts.append(fd_decoration(str(fd), target) if target else str(fd))
    return "[" + ", ".join(texts) + "]"


@struct("int", 4)
def int_ref(data: bytes, call, ctx) -> str:
    return f"[{unpack('<i', data)[0]}]"


@struct("uint", 4)
def uint_ref(data: bytes, call, ctx) -> str:
    return f"[{unpack('<I', data)[0]}]"


# --- getdents --------------------------------------------------------------------

@special("getdents64", "getdents")
def _getdents(call, ctx):
    buf = ptr(call.args[1])
    if call.ret is not None and call.ret == 0:
        buf += " /* 0 entries */"
    elif call.ret is not None and call.ret > 0:
        c = call.caps.get(1)
        n = _count_dirents(c.data, call.ret) if c is not None and not c.fault else None
        if n is not None:
            buf += f" /* {n} entries */"
    return [fmt_fd(call.args[0], call, ctx), buf, str(u32(call.args[2]))]


def _count_dirents(data: bytes, total: int):
    n = 0
    pos = 0
    # d_reclen follows d_ino and d_off (8 bytes each) in both dirent layouts
    while pos + 18 <= len(data):
        reclen = _struct.unpack_from("<H", data, pos + 16)[0]
        if reclen == 0:
            return None
        n += 1
        pos += reclen
    return n if pos == len(data) == total else None


# the whole dirent buffer is needed to count entries
EXTRA_CAPTURES["getdents64"] = {1: (R.CAP_BUF_RET, 0, 65535)}
EXTRA_CAPTURES["getdents"] = {1: (R.CAP_BUF_RET, 0, 65535)}


@flag_set("close_range_flags")
def close_range_flags(v: int) -> str:
    return flags(u32(v), [(2, "CLOSE_RANGE_UNSHARE"), (4, "CLOSE_RANGE_CLOEXEC")],
                 dflt="CLOSE_RANGE_???")


@flag_set("eventfd_flags")
def eventfd_flags(v: int) -> str:
    return flags(u32(v), [(1, "EFD_SEMAPHORE"), (0o2000000, "EFD_CLOEXEC"),
                          (0o4000, "EFD_NONBLOCK")], dflt="EFD_???")


# --- epoll -------------------------------------------------------------------------

@flag_set("epoll_flags")
def epoll_flags(v: int) -> str:
    return flags(u32(v), [(0o2000000, "EPOLL_CLOEXEC")], dflt="EPOLL_???")


@enum_set("epoll_ctl_op")
def epoll_ctl_op(v: int) -> str:
    return xval(u32(v), {1: "EPOLL_CTL_ADD", 2: "EPOLL_CTL_DEL", 3: "EPOLL_CTL_MOD"},
                "EPOLL_CTL_???")


EPOLL_EVENTS = [(0x1, "EPOLLIN"), (0x2, "EPOLLPRI"), (0x4, "EPOLLOUT"), (0x8, "EPOLLERR"),
                (0x10, "EPOLLHUP"), (0x20, "EPOLLNVAL"), (0x40, "EPOLLRDNORM"),
                (0x80, "EPOLLRDBAND"), (0x100, "EPOLLWRNORM"), (0x200, "EPOLLWRBAND"),
                (0x400, "EPOLLMSG"), (0x2000, "EPOLLRDHUP"), (1 << 28, "EPOLLEXCLUSIVE"),
                (1 << 29, "EPOLLWAKEUP"), (1 << 30, "EPOLLONESHOT"), (1 << 31, "EPOLLET")]


def _epoll_item(data: bytes, off: int = 0) -> str:
    ev, u64 = EPOLL_EVENT.parse(data, off)
    return (f"{{events={flags(ev, EPOLL_EVENTS, dflt='EPOLL???')}, "
            f"data={{u32={u64 & 0xFFFFFFFF}, u64={u64}}}}}")


@struct("epoll_event", 12)
def epoll_event(data: bytes, call, ctx) -> str:
    return _epoll_item(data)


def _epoll_events(call, ctx, slot: int) -> str:
    v = call.args[slot]
    c = call.cap(slot)
    if call.ret is None or call.failed or c is None or v == 0:
        return ptr(v)
    n = call.ret
    if n == 0:
        return "[]"
    have = len(c.data) // 12
    items = [_epoll_item(c.data, 12 * k) for k in range(min(n, have))]
    return array(items, max(ctx.strsize, 1), more=n > have and have < ctx.strsize)


for _n in ("epoll_wait", "epoll_pwait", "epoll_pwait2"):
    EXTRA_CAPTURES[_n] = {1: (R.CAP_FIXED_OUT, 0, 12 * 32)}


@special("epoll_wait")
def _epoll_wait(call, ctx):
    a = call.args
    return [fmt_fd(a[0], call, ctx), _epoll_events(call, ctx, 1), str(s32(a[2])), str(s32(a[3]))]


@special("epoll_pwait", "epoll_pwait2")
def _epoll_pwait(call, ctx):
    a = call.args
    sc = call.sc
    out = [fmt_fd(a[0], call, ctx), _epoll_events(call, ctx, 1), str(s32(a[2]))]
    out.append(format_arg(call, 3, sc.args[3][1], ctx))
    out.append(format_arg(call, 4, sc.args[4][1], ctx))
    out.append(str(a[5]))
    return out


# --- poll -----------------------------------------------------------------------

POLL_EVENTS = [(0x1, "POLLIN"), (0x2, "POLLPRI"), (0x4, "POLLOUT"), (0x8, "POLLERR"),
               (0x10, "POLLHUP"), (0x20, "POLLNVAL"), (0x40, "POLLRDNORM"),
               (0x80, "POLLRDBAND"), (0x100, "POLLWRNORM"), (0x200, "POLLWRBAND"),
               (0x400, "POLLMSG"), (0x1000, "POLLREMOVE"), (0x2000, "POLLRDHUP")]

EXTRA_CAPTURES["poll"] = {0: capture.inout(8 * 64)}
EXTRA_CAPTURES["ppoll"] = {0: capture.inout(8 * 64), 2: capture.inout_or_entry(16),
                           3: (R.CAP_FIXED_IN, 0, 8)}


def _pollfds_in(call, ctx) -> str:
    v, n = call.args[0], u32(call.args[1])
    if v == 0:
        return "NULL"
    d = capture.stable_data(call, 0)
    if d is None:
        return ptr(v)
    items = []
    limit = max(ctx.strsize, 1)
    have = len(d) // 8
    for k in range(min(n, have, limit)):
        fd, ev, _ = _struct.unpack_from("<ihh", d, 8 * k)
        if fd < 0:
            items.append(f"{{fd={fd}}}")
        else:
            items.append(f"{{fd={fd}, events={flags(ev & 0xFFFF, POLL_EVENTS, dflt='POLL???')}}}")
    return "[" + ", ".join(items + (["..."] if n > len(items) else [])) + "]"


def _pollfds_out(call, ctx):
    """The ([{fd=N, revents=...}, ...]) part of poll's result, or None."""
    d = capture.exit_data(call, 0)
    if d is None:
        return None
    n = u32(call.args[1])
    items = []
    for k in range(min(n, len(d) // 8)):
        fd, _, rev = _struct.unpack_from("<ihh", d, 8 * k)
        if rev:
            items.append(f"{{fd={fd}, revents={flags(rev & 0xFFFF, POLL_EVENTS, dflt='POLL???')}}}")
    limit = max(ctx.strsize, 1)
    more = len(items) > limit
    return array(items[:limit], limit, more)


@special("poll")
def _poll(call, ctx):
    return [_pollfds_in(call, ctx), str(u32(call.args[1])), str(s32(call.args[2]))]


@special("ppoll")
def _ppoll(call, ctx):
    a = call.args
    return [_pollfds_in(call, ctx), str(u32(a[1])), _timeout_in(call, 2, ctx, "timespec"),
            format_arg(call, 3, "sigset:4", ctx), str(a[4])]


@special_ret("poll", "ppoll")
def _poll_ret(call, ctx):
    if call.ret == 0:
        return "0 (Timeout)"
    out = _pollfds_out(call, ctx)
    if out is None:
        return None
    extra = ""
    if call.name == "ppoll" and call.args[2]:
        left = _timeout_out(call, 2, "timespec")
        if left:
            extra = f", left {left}"
    return f"{call.ret} ({out}{extra})"


# --- select -------------------------------------------------------------------

# fd_sets and the timeout change in place: both halves are needed; without
# FIXED_INOUT the arguments (entry) are printed and the result detail is not
for _n in ("select", "pselect6"):
    EXTRA_CAPTURES[_n] = {1: capture.inout_or_entry(128), 2: capture.inout_or_entry(128),
                          3: capture.inout_or_entry(128), 4: capture.inout_or_entry(16)}
EXTRA_CAPTURES["pselect6"][5] = (R.CAP_FIXED_IN, 0, 16)
if capture.CAP_DEREF_IN is not None:  # the sigset that pselect6's 6th argument points to
    EXTRA_CAPTURES["pselect6"][0] = (capture.CAP_DEREF_IN, 5 << 5, 8)


def fd_set(data: bytes, nfds: int, ctx) -> str:
    bits = int.from_bytes(data, "little")
    fds = [str(k) for k in range(min(nfds, len(data) * 8)) if bits >> k & 1]
    return "[" + " ".join(fds) + "]"


def _fdset_arg(call, i: int, ctx) -> str:
    v = call.args[i]
    if v == 0:
        return "NULL"
    d = capture.entry_data(call, i)
    if d is None:
        return ptr(v)
    return fd_set(d, max(0, s32(call.args[0])), ctx)


def _timeout_in(call, i: int, ctx, kind: str) -> str:
    from .time import timespec_text, timeval_text
    v = call.args[i]
    if v == 0:
        return "NULL"
    d = capture.entry_data(call, i)
    if d is None:
        return ptr(v)
    try:
        return timespec_text(d) if kind == "timespec" else timeval_text(d)
    except DecodeError:
        return ptr(v)


def _timeout_out(call, i: int, kind: str):
    from .time import timespec_text, timeval_text
    d = capture.exit_data(call, i)
    if d is None or capture.entry_data(call, i) is None:
        return None
    try:
        return timespec_text(d) if kind == "timespec" else timeval_text(d)
    except DecodeError:
        return None


@special("select")
def _select(call, ctx):
    return [str(s32(call.args[0]))] + [_fdset_arg(call, i, ctx) for i in (1, 2, 3)] + \
        [_timeout_in(call, 4, ctx, "timeval")]


@special("pselect6")
def _pselect6(call, ctx):
    out = [str(s32(call.args[0]))] + [_fdset_arg(call, i, ctx) for i in (1, 2, 3)] + \
        [_timeout_in(call, 4, ctx, "timespec")]
    v = call.args[5]
    d = capture.entry_data(call, 5)
    if v == 0:
        out.append("NULL")
    elif d is None or len(d) < 16:
        out.append(ptr(v))
    else:
        mask_ptr, size = _struct.unpack_from("<QQ", d)
        m = call.cap(0)  # the sigset the struct points to, where C can follow it
        if mask_ptr == 0:
            mask = "NULL"
        elif m is not None and m.kind == capture.KIND_DEREF_IN and len(m.data) >= 8:
            mask = sigset(m.data, min(size, 8) or 8)
        else:
            mask = ptr(mask_ptr)
        out.append(f"{{sigmask={mask}, sigsetsize={size}}}")
    return out


@special_ret("select", "pselect6")
def _select_ret(call, ctx):
    if call.ret == 0:
        return "0 (Timeout)"
    nfds = max(0, s32(call.args[0]))
    parts = []
    for i, label in ((1, "in"), (2, "out"), (3, "except")):
        if not call.args[i]:
            continue
        d = capture.exit_data(call, i)
        if d is None or capture.entry_data(call, i) is None:
            return None
        text = fd_set(d, nfds, ctx)
        if text != "[]":
            parts.append(f"{label} {text}")
    if call.args[4]:
        left = _timeout_out(call, 4, "timeval" if call.name == "select" else "timespec")
        if left:
            parts.append(f"left {left}")
    return f"{call.ret} ({', '.join(parts)})" if parts else None




# --- fd-creating calls' flags --------------------------------------------------------

@flag_set("timerfd_flags")
def timerfd_flags(v: int) -> str:
    return flags(u32(v), [(1, "TFD_TIMER_ABSTIME"), (2, "TFD_TIMER_CANCEL_ON_SET"),
                          (0o2000000, "TFD_CLOEXEC"), (0o4000, "TFD_NONBLOCK")],
                 dflt="TFD_???")


@flag_set("signalfd_flags")
def signalfd_flags(v: int) -> str:
    return flags(u32(v), [(0o2000000, "SFD_CLOEXEC"), (0o4000, "SFD_NONBLOCK")], dflt="SFD_???")


@flag_set("memfd_flags")
def memfd_flags(v: int) -> str:
    v = u32(v)
    hugetlb = v & 4
    out = flags(v & ~(0x3F << 26 if hugetlb else 0),
                [(1, "MFD_CLOEXEC"), (2, "MFD_ALLOW_SEALING"), (4, "MFD_HUGETLB"),
                 (8, "MFD_NOEXEC_SEAL"), (16, "MFD_EXEC")], dflt="MFD_???")
    if hugetlb and v >> 26:
        out += f"|{v >> 26}<<MFD_HUGE_SHIFT"
    return out


@flag_set("inotify_flags")
def inotify_flags(v: int) -> str:
    return flags(u32(v), [(0o4000, "IN_NONBLOCK"), (0o2000000, "IN_CLOEXEC")], dflt="IN_???")


@flag_set("inotify_mask")
def inotify_mask(v: int) -> str:
    return flags(u32(v), [(1, "IN_ACCESS"), (2, "IN_MODIFY"), (4, "IN_ATTRIB"),
                          (8, "IN_CLOSE_WRITE"), (0x10, "IN_CLOSE_NOWRITE"), (0x20, "IN_OPEN"),
                          (0x40, "IN_MOVED_FROM"), (0x80, "IN_MOVED_TO"), (0x100, "IN_CREATE"),
                          (0x200, "IN_DELETE"), (0x400, "IN_DELETE_SELF"),
                          (0x800, "IN_MOVE_SELF"), (0x2000, "IN_UNMOUNT"),
                          (0x4000, "IN_Q_OVERFLOW"), (0x8000, "IN_IGNORED"),
                          (0x1000000, "IN_ONLYDIR"), (0x2000000, "IN_DONT_FOLLOW"),
                          (0x4000000, "IN_EXCL_UNLINK"), (0x10000000, "IN_MASK_CREATE"),
                          (0x20000000, "IN_MASK_ADD"), (0x40000000, "IN_ISDIR"),
                          (0x80000000, "IN_ONESHOT")], dflt="IN_???")


@flag_set("splice_flags")
def splice_flags(v: int) -> str:
    return flags(u32(v), [(1, "SPLICE_F_MOVE"), (2, "SPLICE_F_NONBLOCK"), (4, "SPLICE_F_MORE"),
                          (8, "SPLICE_F_GIFT")], dflt="SPLICE_F_???")


@flag_set("fallocate_mode")
def fallocate_mode(v: int) -> str:
    return flags(u32(v), [(1, "FALLOC_FL_KEEP_SIZE"), (2, "FALLOC_FL_PUNCH_HOLE"),
                          (4, "FALLOC_FL_NO_HIDE_STALE"), (8, "FALLOC_FL_COLLAPSE_RANGE"),
                          (0x10, "FALLOC_FL_ZERO_RANGE"), (0x20, "FALLOC_FL_INSERT_RANGE"),
                          (0x40, "FALLOC_FL_UNSHARE_RANGE")], dflt="FALLOC_FL_???")

