"""Syscall decoders: from recorded registers and captured memory to strace's notation.

``captures_for(syscall)`` tells the C loop which tracee memory to copy for a
syscall (derived from the argument kinds of the syscall table);
``format_args(call, ctx)`` and ``format_ret(call, ctx)`` turn a finished
call into text.  Families (fs, desc, proc, mem, signal, net) register flag
sets, structs and per-syscall special cases in ``registry``; they format
arguments with ``kinds`` (one argument by its kind, fds, iovecs; re-exported
here), never with this package.

A family is imported when a syscall it decodes is first planned
(``load_for``), as the generated ``veil.decoders.index`` says; ``load_all()``
imports every one.  The index also holds what each syscall captures, so that
a trace's start (its action table: every syscall) needs no family.
"""
from __future__ import annotations

from .. import abi
from .. import records as R
from ..syscalls.lookup import BY_NAME, BY_NR, Syscall, call_name
from . import capture, registry  # noqa: F401  (veil.decoders.capture: part of the package API)
from .common import RESTART_QUESTION, XLAT, DecodeError, errno_name, errno_text, is_error_return
from .kinds import Ctx, fd_decoration, fd_target, fmt_fd, format_arg, formatter, iov_text
from .registry import FAMILIES, load_all, load_for

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, Iterable, List, Optional, Tuple

__all__ = ["Call", "Ctx", "captures_for", "captures_of", "format_args", "format_ret", "call_name", "DecodeError",
           "raw_hex", "capture_environments", "fmt_fd", "fd_decoration", "fd_target", "format_arg", "iov_text",
           "load_for", "load_all", "FAMILIES", "capture_template"]


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


# --- the families ------------------------------------------------------------

def __getattr__(name: str) -> object:
    if name in FAMILIES:   # veil.decoders.fs and the others, imported when named
        return __import__(f"{__name__}.{name}", fromlist=["_"])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _index():   # noqa: ANN202
    global _INDEX
    if _INDEX is None:
        from . import index as _INDEX
    return _INDEX


_INDEX = None


# --- what to capture ---------------------------------------------------------

# the -s size in a capture template (veil.decoders.index): the size itself, or at least 1
STRSIZE, STRSIZE_AT_LEAST_1 = -1, -2


def _kind_capture(kind: str) -> Optional[Tuple[int, int, int]]:
    """(capture kind, param, limit) of an argument of ``kind`` (limit maybe STRSIZE)."""
    base, _, param = kind.partition(":")
    if base == "path":
        return (R.CAP_CSTR, 0, 4096)
    if base == "str":
        return (R.CAP_CSTR, 0, STRSIZE_AT_LEAST_1)
    if base == "inbuf":
        return (R.CAP_BUF_ARG, int(param), STRSIZE)
    if base == "outbuf":
        return (R.CAP_BUF_RET, 0, STRSIZE)
    if base == "outstr":
        return (R.CAP_BUF_RET, 0, 4096)
    if base == "argv":
        return (R.CAP_STRV, 0, STRSIZE)
    if base == "envp":
        return (R.CAP_PTRV_LEN, 0, 0)
    if base in ("struct", "outstruct"):
        entry = registry.STRUCTS.get(param)
        if entry is None:
            return None
        return (R.CAP_FIXED_IN if base == "struct" else R.CAP_FIXED_OUT, 0, entry[0])
    if base == "sockaddr":
        return (R.CAP_BUF_ARG, int(param), 128)
    if base == "outsockaddr":
        return (R.CAP_LEN_OUT, int(param), 128)
    if base == "iovec":
        return (R.CAP_IOV_IN, int(param), STRSIZE)
    if base == "outiovec":
        return (R.CAP_IOV_OUT, int(param), STRSIZE)
    if base == "sigset":
        return (R.CAP_FIXED_IN, 0, 8)
    if base == "outsigset":
        return (R.CAP_FIXED_OUT, 0, 8)
    return None


if TYPE_CHECKING:
    Capture = tuple[int, int, int, int]
    Template = tuple[tuple[Capture, ...], tuple[Capture, ...]]


def capture_template(sc: Syscall) -> Template:
    """What recording ``sc`` captures without -y, for any -s: (slot, kind, param,
    limit) of its arguments by their kinds, then its family's extra captures
    (which win); a limit may be STRSIZE or STRSIZE_AT_LEAST_1.  Worked out from
    the families (imported for it); veil.decoders.index holds the two merged."""
    load_for(sc.name)
    by_kind = []
    for i, (_, kind) in enumerate(sc.args):
        how = _kind_capture(kind)
        if how is not None:
            by_kind.append((i, *how))
    extra = [(i, kind, param, limit if limit else STRSIZE)
             for i, (kind, param, limit) in sorted(registry.EXTRA_CAPTURES.get(sc.name, {}).items())]
    return tuple(by_kind), tuple(extra)


def merged(template: Template) -> tuple[Capture, ...]:
    """A template's captures in slot order, the extra ones winning."""
    by_slot = {c[0]: c for c in template[0]}
    by_slot.update((c[0], c) for c in template[1])
    return tuple(by_slot[i] for i in sorted(by_slot))


# capture_environments()'s: syscall name -> {slot: (kind, param, limit)}
_ENVIRONMENTS: Dict[str, Dict[int, Tuple[int, int, int]]] = {}


def captures_for(sc: Syscall, strsize: int, decorate_fds: bool = False
                 ) -> List[Tuple[int, int, int, int]]:
    """(slot, capture kind, param, limit) for each argument worth copying; slot 6 is the result."""
    if not decorate_fds and sc.name not in _ENVIRONMENTS and abi.C_BUILT \
            and BY_NR.get(sc.nr) is sc:   # the index was made with the C module's kinds
        return [c if c[3] >= 0 else _sized(c, strsize)
                for c in (_INDEX or _index()).CAPTURES.get(sc.nr, ())]
    by_kind, extra = capture_template(sc)
    out = {c[0]: _sized(c, strsize) for c in by_kind}
    if decorate_fds:
        for i, (_, kind) in enumerate(sc.args):
            if kind == "outstruct:int2":   # pipe, pipe2, socketpair
                out[i] = (i, R.CAP_FDPAIR, 0, 0)
            elif kind in ("fd", "dirfd") and i not in out:
                out[i] = (i, R.CAP_FDPATH, 0, 4096)
        if sc.ret == "fd" or sc.name in registry.FD_RESULT:
            out[R.CAP_RESULT] = (R.CAP_RESULT, R.CAP_FDPATH_RET, 0, 4096)
    for c in extra:
        out[c[0]] = _sized(c, strsize)
    for i, (kind, param, limit) in _ENVIRONMENTS.get(sc.name, {}).items():
        out[i] = (i, kind, param, limit if limit else strsize)
    return [out[i] for i in sorted(out)]


def captures_of(nrs: Iterable[int], strsize: int, decorate_fds: bool = False
                ) -> Dict[int, List[Tuple[int, int, int, int]]]:
    """captures_for() of each x86_64 syscall number in ``nrs`` (unknown ones: none),
    at once: the index's templates read in one pass where they apply."""
    plain = not decorate_fds and abi.C_BUILT
    templates = (_INDEX or _index()).CAPTURES
    out: Dict[int, List[Tuple[int, int, int, int]]] = {}
    for nr in nrs:
        sc = BY_NR.get(nr)
        if sc is None:
            out[nr] = []
        elif plain and sc.name not in _ENVIRONMENTS:
            out[nr] = [c if c[3] >= 0 else _sized(c, strsize) for c in templates.get(nr, ())]
        else:
            out[nr] = captures_for(sc, strsize, decorate_fds)
    return out


def _sized(c: Capture, strsize: int) -> Capture:
    limit = c[3]
    if limit >= 0:
        return c
    return (c[0], c[1], c[2], strsize if limit == STRSIZE else max(strsize, 1))


def capture_environments(on: bool = True) -> None:
    """Copy execve's environment strings, not only their number (strace's -v
    prints them): asked before a session starts."""
    for name, slot in (("execve", 2), ("execveat", 3)):
        extra = _ENVIRONMENTS.setdefault(name, {})
        if on:
            extra[slot] = (R.CAP_STRV, 0, 0)
        else:
            extra.pop(slot, None)


# --- formatting ----------------------------------------------------------------

_PLANS: Dict[int, Tuple[Optional[Callable], Tuple[Tuple[int, Callable, str], ...]]] = {}


_LOADED_FOR: set = set()   # the syscalls whose families format_ret has seen to


def _plan(sc: Syscall):
    """The special decoder (if any) and the per-argument formatters of a syscall, once."""
    load_for(sc.name)
    steps = []
    for i, (name, kind) in enumerate(sc.args):
        if name[0] == "_":
            continue
        base, _, param = kind.partition(":")
        steps.append((i, formatter(base), param))
    plan = (registry.SPECIAL.get(sc.name), tuple(steps))
    _PLANS[sc.nr] = plan
    return plan


def _foreign_args(call: Call) -> List[str]:
    """An i386/x32 call (or an unknown number): raw values, as many as the
    x86_64 call of the same name takes (all six if there is none)."""
    from ..syscalls import lookup  # its i386 and x32 tables load when first named
    names = (lookup.I386_NAMES if call.arch == R.ARCH_I386 else
             lookup.X32_NAMES if call.arch == R.ARCH_X32 else {})
    twin = BY_NAME.get(names.get(call.nr, ""))
    n = twin.nargs if twin is not None else 6
    mask = 0xFFFFFFFF if call.arch == R.ARCH_I386 else 0xFFFFFFFFFFFFFFFF
    return [f"{a & mask:#x}" if a & mask else "0" for a in call.args[:n]]


def raw_hex(v: int) -> str:
    """-e raw=: a register as strace prints it undecoded."""
    v &= 0xFFFFFFFFFFFFFFFF
    return f"{v:#x}" if v else "0"


def format_args(call: Call, ctx: Ctx) -> List[str]:
    XLAT.style = ctx.xlat
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
    XLAT.depth += 1  # strace's -X leaves a result's "(flags O_RDWR)" named
    try:
        return _format_ret(call, ctx)
    finally:
        XLAT.depth -= 1


def _format_ret(call: Call, ctx: Ctx) -> str:
    ret = call.ret
    if ret is None:
        return "?"
    if is_error_return(ret):
        err = -ret
        if err in RESTART_QUESTION:
            if err == 516 and call.sc is not None:  # restart_syscall will name it
                ctx.note_restart(call.tid, call.sc.name)
            return f"? {errno_name(err)} ({errno_text(err)})"
        return f"-1 {errno_name(err)} ({errno_text(err)})"
    sc = call.sc
    if sc is None:
        return str(ret)
    if call.nr in ctx.raw:
        return raw_hex(ret)
    if sc.nr not in _LOADED_FOR:
        load_for(sc.name)
        _LOADED_FOR.add(sc.nr)
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

