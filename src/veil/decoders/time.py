"""Time family: timespec/timeval and their pairs, itimers, clocks, sleeps, timerfd."""
from __future__ import annotations

import time as _time

from .. import records as R
from .common import DecodeError, ptr, s32, u32, unpack, xval
from .kinds import format_arg
from .kstructs import TIMESPEC
from .registry import EXTRA_CAPTURES, enum_set, flag_set, special, special_ret, struct

_TS = TIMESPEC.struct  # timeval has the same layout
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2


def timespec_text(data: bytes, off: int = 0) -> str:
    sec, nsec = unpack(_TS, data, off)
    return f"{{tv_sec={sec}, tv_nsec={nsec}}}"


def timeval_text(data: bytes, off: int = 0) -> str:
    sec, usec = unpack(_TS, data, off)
    return f"{{tv_sec={sec}, tv_usec={usec}}}"


def time_comment(sec: int, part: int, max_part: int, width: int) -> str | None:
    """strace's sprinttime_ex: 2001-09-09T01:46:40.000000005+0000, local time."""
    if (sec == 0 and part == 0) or part > max_part or part < 0:
        return None
    try:
        tm = _time.localtime(sec)
        text = _time.strftime("%Y-%m-%dT%H:%M:%S", tm)
        if part > 0:
            text += f".{part:0{width}d}"
        return text + _time.strftime("%z", tm)
    except (OverflowError, OSError, ValueError):
        return None


@struct("timespec", 16)
def timespec(data: bytes, call=None, ctx=None) -> str:
    return timespec_text(data)


@struct("timeval", 16)
def timeval(data: bytes, call=None, ctx=None) -> str:
    return timeval_text(data)


def _utime_ts(data: bytes, off: int) -> str:
    sec, nsec = unpack(_TS, data, off)
    if nsec == UTIME_NOW:
        return "UTIME_NOW"
    if nsec == UTIME_OMIT:
        return "UTIME_OMIT"
    text = f"{{tv_sec={sec}, tv_nsec={nsec}}}"
    c = time_comment(sec, nsec, 999999999, 9)
    return f"{text} /* {c} */" if c else text


@struct("timespec2", 32)
def timespec_pair(data: bytes, call=None, ctx=None) -> str:
    return f"[{_utime_ts(data, 0)}, {_utime_ts(data, 16)}]"


def _utime_tv(data: bytes, off: int) -> str:
    sec, usec = unpack(_TS, data, off)
    text = f"{{tv_sec={sec}, tv_usec={usec}}}"
    c = time_comment(sec, usec, 999999, 6)
    return f"{text} /* {c} */" if c else text


@struct("timeval2", 32)
def timeval_pair(data: bytes, call=None, ctx=None) -> str:
    return f"[{_utime_tv(data, 0)}, {_utime_tv(data, 16)}]"


@struct("utimbuf", 16)
def utimbuf(data: bytes, call=None, ctx=None) -> str:
    a, m = unpack(_TS, data)
    parts = []
    for name, v in (("actime", a), ("modtime", m)):
        c = time_comment(v, 0, 0, 0)
        parts.append(f"{name}={v}" + (f" /* {c} */" if c else ""))
    return "{" + ", ".join(parts) + "}"


@struct("timezone", 8)
def timezone(data: bytes, call=None, ctx=None) -> str:
    west, dst = unpack("<ii", data)
    return f"{{tz_minuteswest={west}, tz_dsttime={dst}}}"


@struct("itimerspec", 32)
def itimerspec(data: bytes, call=None, ctx=None) -> str:
    return f"{{it_interval={timespec_text(data, 0)}, it_value={timespec_text(data, 16)}}}"


@struct("itimerval", 32)
def itimerval(data: bytes, call=None, ctx=None) -> str:
    return f"{{it_interval={timeval_text(data, 0)}, it_value={timeval_text(data, 16)}}}"


@struct("time_t", 8)
def time_t(data: bytes, call=None, ctx=None) -> str:
    v = unpack("<q", data)[0]
    c = time_comment(v, 0, 0, 0)
    return f"[{v}" + (f" /* {c} */]" if c else "]")


@special_ret("time")
def _time_ret(call, ctx):
    ret = call.ret
    c = time_comment(ret, 0, 0, 0)
    return f"{ret} ({c})" if c else None


CLOCKS = {0: "CLOCK_REALTIME", 1: "CLOCK_MONOTONIC", 2: "CLOCK_PROCESS_CPUTIME_ID",
          3: "CLOCK_THREAD_CPUTIME_ID", 4: "CLOCK_MONOTONIC_RAW", 5: "CLOCK_REALTIME_COARSE",
          6: "CLOCK_MONOTONIC_COARSE", 7: "CLOCK_BOOTTIME", 8: "CLOCK_REALTIME_ALARM",
          9: "CLOCK_BOOTTIME_ALARM", 10: "CLOCK_SGI_CYCLE", 11: "CLOCK_TAI"}
_CPUCLOCK = {0: "CPUCLOCK_PROF", 1: "CPUCLOCK_VIRT", 2: "CPUCLOCK_SCHED"}


@enum_set("clock_id")
def clock_id(v: int) -> str:
    v = s32(v)
    if v < 0:  # a dynamic clock: a process or thread CPU clock, or an fd
        if v & 7 == 3:
            return f"FD_TO_CLOCKID({~(v >> 3)})"
        which = xval(v & 3, _CPUCLOCK, "CPUCLOCK_???")
        pid = ~(v >> 3)
        macro = "MAKE_THREAD_CPUCLOCK" if v & 4 else "MAKE_PROCESS_CPUCLOCK"
        return f"{macro}({pid}, {which})"
    return xval(v, CLOCKS, "CLOCK_???")


@flag_set("timer_flags")
def timer_flags(v: int) -> str:
    from .common import flags
    return flags(u32(v), [(1, "TIMER_ABSTIME")], dflt="TIMER_???")


@enum_set("itimer_which")
def itimer_which(v: int) -> str:
    return xval(u32(v), {0: "ITIMER_REAL", 1: "ITIMER_VIRTUAL", 2: "ITIMER_PROF"},
                "ITIMER_???")


# the remaining time is written only when a signal interrupts the sleep
EXTRA_CAPTURES["nanosleep"] = {1: (R.CAP_FIXED_ANY, 0, 16)}
EXTRA_CAPTURES["clock_nanosleep"] = {3: (R.CAP_FIXED_ANY, 0, 16)}


@special("nanosleep", "clock_nanosleep")
def _nanosleep(call, ctx):
    sc = call.sc
    out = [format_arg(call, i, kind, ctx) for i, (_, kind) in enumerate(sc.args)]
    last = len(sc.args) - 1
    remain = call.args[last]
    if remain == 0:
        out[last] = "NULL"
    elif call.ret is not None and call.ret == -4:  # EINTR: the kernel wrote the rest
        c = call.caps.get(last)
        try:
            out[last] = timespec_text(c.data) if c is not None and not c.fault else ptr(remain)
        except DecodeError:
            out[last] = ptr(remain)
    else:
        out[last] = ptr(remain)
    return out


__all__ = ["timespec_text", "timeval_text", "time_comment", "clock_id"]


SIGEV_NOTIFY = {0: "SIGEV_SIGNAL", 1: "SIGEV_NONE", 2: "SIGEV_THREAD", 4: "SIGEV_THREAD_ID"}


@struct("sigevent", 64)
def sigevent(data: bytes, call=None, ctx=None) -> str:
    from .common import signal_name
    sival, signo, notify, tid = unpack("<Qiii", data)
    parts = []
    if notify != 1:  # SIGEV_NONE carries no value
        parts.append(f"sigev_value={{sival_int={s32(sival)}, sival_ptr={ptr(sival)}}}")
    if notify in (0, 2, 4):
        parts.append(f"sigev_signo={signal_name(signo) if signo > 0 else signo}")
    else:
        parts.append(f"sigev_signo={u32(signo)}")
    parts.append(f"sigev_notify={xval(u32(notify), SIGEV_NOTIFY, 'SIGEV_???')}")
    if notify == 4:
        parts.append(f"sigev_notify_thread_id={tid}")
    elif notify == 2:
        fn, attr = unpack("<QQ", data, 16)
        parts.append(f"sigev_notify_function={ptr(fn)}")
        parts.append(f"sigev_notify_attributes={ptr(attr)}")
    return "{" + ", ".join(parts) + "}"
