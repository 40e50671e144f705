"""The python-ptrace reference backend: the Session protocol of
:class:`veil.engine.Engine`, run in Python on python-ptrace.

Every task stops at every syscall entry and exit (PTRACE_SYSCALL, no
seccomp); ``PTRACE_GET_SYSCALL_INFO`` tells entry from exit.  The action
table compiled by the Session decides, as in csrc/loop.c, what is recorded
into the ring (the byte layout of :mod:`veil.records`), what is denied and
which stops are handed to Python.  Waiting is ``os.waitpid(-1, WALL)``:
python-ptrace's ``waitProcessEvent`` polls with sleeps when it traces more
than one process, so it is not used; its ``PtraceDebugger`` keeps the
process objects (registers, options) and its bindings make the ptrace calls.

Not supported here: path rules and layouts (the C engine's path code),
socket-fd filters, placement, attach-time group-stop handling (no SEIZE),
and the capture kinds other than CSTR, BUF_ARG, BUF_RET, FIXED_IN/OUT/ANY/
INOUT, STRV and PTRV_LEN (their arguments are shown as pointers).
"""
from __future__ import annotations

import ctypes
import errno as _errno
import os
import resource
import signal
import struct
import time

from ..extras import require

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

require("ptrace", "ptrace")
from ptrace.binding import func as PF  # noqa: E402
from ptrace.debugger import PtraceDebugger, PtraceProcess  # noqa: E402
from ptrace.error import PtraceError  # noqa: E402

from .. import abi
from .. import engine as E
from .. import records as R
from ..errors import VeilError

__all__ = ["PtraceEngine"]

WALL = 0x40000000
PTRACE_GETSIGINFO = 0x4202
PTRACE_GET_SYSCALL_INFO = 0x420E
PTRACE_O_EXITKILL = 0x100000
PTRACE_EVENT_FORK, PTRACE_EVENT_VFORK, PTRACE_EVENT_CLONE, PTRACE_EVENT_EXEC = 1, 2, 3, 4
SYSCALL_TRAP = signal.SIGTRAP | 0x80

OP_ENTRY, OP_EXIT, OP_SECCOMP = 1, 2, 3
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
X32_BIT = 0x40000000

ARG_REGS = ("rdi", "rsi", "rdx", "r10", "r8", "r9")

RING_SOFT_MAX = 1 << 20      # drain past this many bytes
FLUSH_S = 0.1                # ... or when records are this old
CSTR_DEFAULT = 4096
CAP_HARD_MAX = 65536
STRV_MAX_ELEMS = 4096

_ENTRY_KINDS = {R.CAP_CSTR, R.CAP_BUF_ARG, R.CAP_FIXED_IN, R.CAP_STRV, R.CAP_PTRV_LEN,
                R.CAP_IOV_IN, R.CAP_LEN_IN, R.CAP_FDPATH, R.CAP_SP_FIXED, abi.CAP_FIXED_INOUT,
                abi.CAP_MSGHDR_IN, abi.CAP_DEREF_IN}
CAP_FIXED_INOUT = abi.CAP_FIXED_INOUT
CAP_EXIT_SLOT = abi.CAP_EXIT_SLOT
_SUPPORTED = {R.CAP_CSTR, R.CAP_BUF_ARG, R.CAP_BUF_RET, R.CAP_FIXED_IN, R.CAP_FIXED_OUT,
              R.CAP_FIXED_ANY, CAP_FIXED_INOUT, R.CAP_STRV, R.CAP_PTRV_LEN}

_INFO = struct.Struct("<B3xIQQ")          # op, arch, ip, sp; the union follows at 24
_ENTRY = struct.Struct("<Q6Q")            # nr, args
_EXIT = struct.Struct("<qB")              # rval, is_error



def _caps_dropper(keep: int):
    """A function for the forked child: drop every capability not in ``keep``
    (bounding set when the caller has CAP_SETPCAP, ambient, then capset) and set
    no_new_privs, as csrc/caps.c does; OSError on failure.  Everything it needs
    is made here, before the fork."""
    if keep == E.ALL_CAPS:
        return lambda: None
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except (OSError, ValueError):
        last = max(E.CAPABILITIES.values())
    hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = (ctypes.c_uint32 * 6)()               # 2 x {effective, permitted, inheritable}
    pr_capbset_read, pr_capbset_drop, pr_cap_ambient, pr_set_nnp = 23, 24, 47, 38
    sys_capget, sys_capset, cap_setpcap = 125, 126, 8

    def fail() -> None:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))

    def drop() -> None:
        if libc.syscall(sys_capget, hdr, data) < 0:
            fail()
        if data[0] & (1 << cap_setpcap):  # effective: CAP_SETPCAP
            for cap in range(last + 1):
                if keep >> cap & 1:
                    continue
                held = libc.prctl(pr_capbset_read, cap, 0, 0, 0)
                if held < 0 or (held and libc.prctl(pr_capbset_drop, cap, 0, 0, 0) < 0):
                    fail()
        if (libc.prctl(pr_cap_ambient, 4, 0, 0, 0) < 0  # PR_CAP_AMBIENT_CLEAR_ALL
                and ctypes.get_errno() != _errno.EINVAL):
            fail()
        for i in range(6):
            data[i] &= keep >> (32 * (i // 3)) & 0xFFFFFFFF
        hdr[0], hdr[1] = 0x20080522, 0
        if libc.syscall(sys_capset, hdr, data) < 0 or libc.prctl(pr_set_nnp, 1, 0, 0, 0) < 0:
            fail()
    return drop


class Unsupported(VeilError, NotImplementedError):
    """A feature only the C engine has (a one-line error in the CLI)."""


def _pad8(n: int) -> int:
    return (n + 7) & ~7


def _clamp(limit: int, default: int) -> int:
    if limit == 0:
        limit = default
    return min(limit, CAP_HARD_MAX)


def _tgid_of(tid: int) -> int:
    try:
        with open(f"/proc/{tid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return tid


class _Task:
    __slots__ = ("tid", "pid", "proc", "fresh", "in_syscall", "recording", "held", "deny",
                 "exit_value", "nr", "arch", "args", "sp", "saved", "mem_fd", "silent")

    def __init__(self, tid: int, pid: int, proc: PtraceProcess, fresh: bool):
        self.tid = tid
        self.pid = pid
        self.proc = proc
        self.fresh = fresh          # its first (SIGSTOP) stop is still to come
        self.in_syscall = False     # an entry of a call we act on was seen
        self.recording = False
        self.held = False
        self.deny = False           # DENY or EMULATE: exit_value replaces the result
        self.exit_value = 0
        self.nr = -1
        self.arch = R.ARCH_X86_64
        self.args: tuple[int, ...] = (0,) * 6
        self.sp = 0
        self.saved: dict[int, int] = {}  # set_arg: original values, restored at exit
        self.mem_fd = -1
        self.silent = False         # not followed (no -f): traced, never recorded


class PtraceEngine:
    """:class:`veil.engine.Engine`'s API on python-ptrace (see the module doc)."""

    backend = "python"
    # no seccomp, no path rules, layout, identity or socket fd filters: those need
    # the C engine (veil.engine_api); its optional methods raise Unsupported
    supports: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.dbg = PtraceDebugger()
        self.dbg.traceFork()
        self.dbg.traceExec()
        self.dbg.traceClone()
        self.main_pid: int | None = None
        self._tasks: dict[int, _Task] = {}
        self._table: dict[int, E.SysAction] = {}
        self._foreign = E.SysAction()
        self._ring = bytearray()
        self._last_drain = time.monotonic()
        self._ev: E.StopEvent | None = None
        self._main_status = -1
        self._spawn_err_fd = -1
        self._spawn_err = 0
        self._follow = True
        self._strsize = 32
        self._stdio = (-1, -1, -1)
        self._umask: int | None = None
        self._rlimits: list[tuple[int, int, int]] = []
        self._keep_caps = E.ALL_CAPS
        self._info = ctypes.create_string_buffer(88)
        self._stats = {"stops": 0, "syscall_stops": 0, "tasks_seen": 0, "records": 0,
                       "ring_drains": 0}

    # --- configuration ---------------------------------------------------
    def set_options(self, *, seccomp: bool, follow: bool, affinity: int, strsize: int) -> None:
        # no seccomp here; placement is the C engine's
        self._follow = follow
        self._strsize = strsize

    def set_actions(self, actions: dict[int, E.SysAction], foreign: E.SysAction) -> None:
        self._table = dict(actions)
        self._foreign = foreign

    def set_decorate(self, level: int) -> None:
        pass  # FDPATH captures are not implemented: fds print as numbers

    def add_path_rule(self, pattern: str, match: int, err: int, flags: int,
                      why: str | None = None) -> None:
        raise Unsupported("path rules need the C engine (--backend c)")

    def set_sockfd_calls(self, nrs: Sequence[int]) -> None:
        raise Unsupported("socket fd filters need seccomp and the C engine")

    def set_layout_root(self, host_root: str) -> None:
        raise Unsupported("layouts need the C engine (--backend c)")

    add_layout_bind = layout_resolve = set_layout_root  # type: ignore[assignment]

    def set_umask(self, mask: int) -> None:
        self._umask = mask

    def add_rlimit(self, resource_: int, soft: int, hard: int) -> None:
        self._rlimits.append((resource_, soft, hard))

    def set_caps(self, keep: int) -> None:
        """As the C engine's: the child keeps only the capabilities in ``keep``
        and gets no_new_privs (E.ALL_CAPS: untouched)."""
        self._keep_caps = keep & E.ALL_CAPS

    def set_stdio(self, stdin: int = -1, stdout: int = -1, stderr: int = -1) -> None:
        self._stdio = (stdin, stdout, stderr)

    def install_signals(self, forward: bool) -> None:
        pass

    def restore_signals(self) -> None:
        pass

    # --- processes -------------------------------------------------------
    def spawn(self, path: str, argv: Sequence[str], env: dict[str, str],
              cwd: str | None, bpf: bytes | None) -> int:
        """Fork, PTRACE_TRACEME, stop, exec ``path`` (``bpf`` is ignored: no seccomp)."""
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        c_path = os.fsencode(path)
        c_argv = [os.fsencode(a) for a in argv]
        c_env = {os.fsencode(k): os.fsencode(v) for k, v in env.items()}
        stdio, umask, limits = self._stdio, self._umask, self._rlimits
        drop_caps = _caps_dropper(self._keep_caps)
        traceme = PF.ptrace_traceme
        pid = os.fork()
        if pid == 0:  # the child: nothing here may take a lock another thread held
            code = _errno.EINVAL
            try:
                os.close(err_r)
                for sig in (signal.SIGPIPE, signal.SIGXFSZ):
                    try:
                        signal.signal(sig, signal.SIG_DFL)
                    except (ValueError, OSError):
                        pass
                for i, fd in enumerate(stdio):
                    if fd >= 0 and fd != i:
                        os.dup2(fd, i)
                if cwd:
                    os.chdir(cwd)
                if umask is not None:
                    os.umask(umask)
                for res, soft, hard in limits:
                    resource.setrlimit(res, (soft, hard))
                drop_caps()
                traceme()
                os.kill(os.getpid(), signal.SIGSTOP)
                os.execve(c_path, c_argv, c_env)
            except OSError as e:
                code = e.errno or _errno.EINVAL
            except BaseException:
                pass
            try:
                os.write(err_w, struct.pack("<i", code))
            finally:
                os._exit(127)
        os.close(err_w)
        self._spawn_err_fd = err_r
        self.main_pid = pid
        _, status = os.waitpid(pid, WALL)
        self._stats["stops"] += 1
        if not os.WIFSTOPPED(status):  # failed before it could stop
            self._main_status = status
            return pid
        t = self._track(pid, pid, fresh=False)
        t.proc.setoptions(self.dbg.options | PTRACE_O_EXITKILL)
        self._resume(t, 0)
        return pid

    def spawn_error(self) -> int:
        """errno of a failed exec in the child, 0 if it exec'd."""
        if self._spawn_err_fd >= 0:
            os.set_blocking(self._spawn_err_fd, False)
            try:
                data = os.read(self._spawn_err_fd, 4)
            except BlockingIOError:
                data = b""
            if len(data) == 4:
                self._spawn_err = struct.unpack("<i", data)[0]
            if data or self._main_status != -1:
                os.close(self._spawn_err_fd)
                self._spawn_err_fd = -1
        return self._spawn_err

    def attach(self, pid: int) -> None:
        raise Unsupported("attaching needs the C engine (--backend c)")

    def _track(self, tid: int, pid: int, fresh: bool) -> _Task:
        proc = PtraceProcess(self.dbg, tid, True, is_thread=tid != pid)
        if tid in self.dbg.dict:
            self.dbg.deleteProcess(pid=tid)
        self.dbg.dict[tid] = proc
        self.dbg.list.append(proc)
        t = self._tasks[tid] = _Task(tid, pid, proc, fresh)
        self._stats["tasks_seen"] += 1
        return t

    def _untrack(self, tid: int) -> None:
        t = self._tasks.pop(tid, None)
        if t is not None and t.mem_fd >= 0:
            os.close(t.mem_fd)
        self.dbg.deleteProcess(pid=tid)

    def kill_all(self) -> None:
        for pid in {t.pid for t in self._tasks.values()}:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def detach_all(self) -> None:
        """Let every tracee go on untraced (each is stopped first: no SEIZE, no INTERRUPT)."""
        libc = ctypes.CDLL(None, use_errno=True)
        for tid, t in list(self._tasks.items()):
            if tid not in self._tasks:
                continue
            if not t.held:
                libc.syscall(234, t.pid, tid, signal.SIGSTOP)  # tgkill
                while True:
                    try:
                        _, status = os.waitpid(tid, WALL)
                    except ChildProcessError:
                        status = None
                        break
                    if not os.WIFSTOPPED(status):
                        break
                    if os.WSTOPSIG(status) == signal.SIGSTOP and status >> 16 == 0:
                        break
                    self._resume(t)  # another stop came first: the SIGSTOP is pending
                if status is None or not os.WIFSTOPPED(status):
                    if status is not None:
                        self._gone(tid, status)
                    continue
            try:
                PF.ptrace_detach(tid, 0)
            except PtraceError:
                pass
            self._event(R.R_DETACHED, t.pid, tid, 0)
            self._untrack(tid)
            try:
                libc.syscall(234, t.pid, tid, signal.SIGCONT)
            except OSError:
                pass

    # --- the ring --------------------------------------------------------
    def _event(self, rtype: int, pid: int, tid: int, value: int, aux: int = 0,
               payload: bytes = b"") -> None:
        size = _pad8(R.HEADER_SIZE + len(payload))
        self._ring += R.HEADER.pack(size, rtype, 0, 0, pid, tid, time.time_ns(), -1, value, aux)
        self._ring += payload.ljust(size - R.HEADER_SIZE, b"\0")
        self._stats["records"] += 1

    def _record(self, t: _Task, rtype: int, ret: int, ts: int, at_entry: bool) -> None:
        act = self._action(t)
        body = bytearray()
        if rtype == R.R_ENTER:
            body += R.ARGS.pack(*t.args)
        ncap = 0
        for slot, kind, param, limit in sorted(act.captures if act else ()):
            if kind not in _SUPPORTED:
                continue
            inout = kind == CAP_FIXED_INOUT
            if not inout and (kind in _ENTRY_KINDS) != at_entry:
                continue
            data, trunc, fault, count = self._capture(t, slot, kind, param, limit, ret)
            arg = slot + CAP_EXIT_SLOT if inout and not at_entry else slot
            body += R.CAPHDR.pack(arg, kind, int(trunc), int(fault), len(data), count)
            body += data
            body += b"\0" * (_pad8(len(data)) - len(data))
            ncap += 1
        size = R.HEADER_SIZE + len(body)
        self._ring += R.HEADER.pack(size, rtype, t.arch, ncap, t.pid, t.tid, ts, t.nr,
                                    ret if rtype == R.R_EXIT else 0, 0)
        self._ring += body
        self._stats["records"] += 1

    def _capture(self, t: _Task, slot: int, kind: int, param: int, limit: int, ret: int):
        """(data, truncated, fault, count) of one capture, as csrc/capture.c makes it."""
        a = ret if slot == R.CAP_RESULT else t.args[slot]
        if kind == R.CAP_CSTR:
            if a == 0:
                return b"", False, True, 0
            s = self._read_cstr(t, a, _clamp(limit, CSTR_DEFAULT))
            if s is None:
                return b"", False, True, 0
            return s[0], s[1], False, len(s[0])
        if kind == R.CAP_STRV:
            return self._strv(t, a, _clamp(limit, self._strsize))
        if kind == R.CAP_PTRV_LEN:
            return self._strv(t, a, 0, count_only=True)
        if kind == R.CAP_BUF_ARG:
            return self._buffer(t, a, t.args[param % 6], _clamp(limit, self._strsize))
        if kind == R.CAP_BUF_RET:
            if ret <= 0:
                return b"", False, False, 0
            return self._buffer(t, a, ret, _clamp(limit, self._strsize))
        # FIXED_IN / FIXED_OUT / FIXED_ANY / FIXED_INOUT
        if kind == R.CAP_FIXED_OUT and ret < 0:
            return b"", False, False, 0
        return self._buffer(t, a, limit, _clamp(limit, limit))

    def _buffer(self, t: _Task, addr: int, length: int, limit: int):
        want = min(length, limit)
        if addr == 0 or want == 0:
            return b"", False, addr == 0 and length != 0, length
        data = self._read(t, addr, want)
        if not data:
            return b"", False, True, length
        return data, len(data) < length, False, length

    def _strv(self, t: _Task, addr: int, limit: int, count_only: bool = False):
        if addr == 0:
            return b"", False, True, 0
        out = bytearray()
        trunc = fault = False
        n = 0
        while n < STRV_MAX_ELEMS * (16 if count_only else 1):
            word = self._read(t, addr + 8 * n, 8)
            if len(word) != 8:
                fault = True
                break
            ptr = struct.unpack("<Q", word)[0]
            if ptr == 0:
                break
            n += 1
            if count_only:
                continue
            if len(out) + 4 + limit + 1 > 256 * 1024:
                trunc = True
                continue
            s = self._read_cstr(t, ptr, limit)
            if s is None:
                out += b"\0\0\0\1"
                continue
            data, el_trunc = s
            out += struct.pack("<HBB", len(data), int(el_trunc), 0) + data
        return bytes(out), trunc, fault, n

    # --- tracee memory (/proc/TID/mem, page by page) ---------------------
    def _mem(self, t: _Task) -> int:
        if t.mem_fd < 0:
            t.mem_fd = os.open(f"/proc/{t.tid}/mem", os.O_RDONLY | os.O_CLOEXEC)
        return t.mem_fd

    def _read(self, t: _Task, addr: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``addr``: what is readable before the first fault."""
        out = bytearray()
        try:
            fd = self._mem(t)
        except OSError:
            return b""
        while len(out) < size:
            cur = addr + len(out)
            want = min(size - len(out), 4096 - (cur & 4095))
            try:
                chunk = os.pread(fd, want, cur)
            except (OSError, OverflowError):
                break
            out += chunk
            if len(chunk) < want:
                break
        return bytes(out)

    def _read_cstr(self, t: _Task, addr: int, limit: int) -> tuple[bytes, bool] | None:
        """(string, truncated) of at most ``limit`` bytes; None if nothing is readable."""
        out = bytearray()
        while len(out) < limit:
            cur = addr + len(out)
            chunk = self._read(t, cur, min(limit - len(out), 4096 - (cur & 4095)))
            if not chunk:
                if not out:
                    return None
                break
            nul = chunk.find(b"\0")
            if nul >= 0:
                return bytes(out + chunk[:nul]), False
            out += chunk
        return bytes(out[:limit]), True

    # --- the loop --------------------------------------------------------
    def _action(self, t: _Task) -> E.SysAction | None:
        if t.arch == R.ARCH_X86_64:
            return self._table.get(t.nr)
        return self._foreign

    def _resume(self, t: _Task, sig: int = 0) -> None:
        try:
            PF.ptrace_syscall(t.tid, sig)
        except PtraceError as e:
            if e.errno != _errno.ESRCH:  # killed while stopped: its exit follows
                raise

    def next(self) -> int:
        """Run until something needs Python; returns an EV_* code."""
        while True:
            if self._ring and (len(self._ring) > RING_SOFT_MAX or
                               time.monotonic() - self._last_drain > FLUSH_S):
                return E.EV_DRAIN
            if not self._tasks:
                return E.EV_DRAIN if self._ring else E.EV_NONE
            try:
                tid, status = os.waitpid(-1, WALL)
            except ChildProcessError:
                for tid in list(self._tasks):
                    self._untrack(tid)
                continue
            self._stats["stops"] += 1
            if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                self._gone(tid, status)
                continue
            if not os.WIFSTOPPED(status):
                continue
            t = self._tasks.get(tid)
            if t is None:  # a new child reporting before its parent's fork event
                t = self._track(tid, _tgid_of(tid), fresh=True)
            sig = os.WSTOPSIG(status)
            event = status >> 16
            if sig == SYSCALL_TRAP:
                kind = self._on_syscall(t)
                if kind:
                    return kind
            elif event:
                self._on_event(t, event)
            else:
                self._on_signal(t, sig)

    def _on_syscall(self, t: _Task) -> int:
        self._stats["syscall_stops"] += 1
        try:
            PF.ptrace(PTRACE_GET_SYSCALL_INFO, t.tid, ctypes.sizeof(self._info),
                      ctypes.addressof(self._info))
        except PtraceError as e:
            if e.errno == _errno.ESRCH:
                return 0
            raise
        op, arch, _ip, sp = _INFO.unpack_from(self._info, 0)
        if op in (OP_ENTRY, OP_SECCOMP):
            nr, *args = _ENTRY.unpack_from(self._info, 24)
            return self._on_entry(t, arch, nr, tuple(args), sp)
        if op == OP_EXIT:
            rval, _ = _EXIT.unpack_from(self._info, 24)
            return self._on_exit(t, rval)
        self._resume(t)
        return 0

    def _on_entry(self, t: _Task, arch: int, nr: int, args: tuple[int, ...], sp: int) -> int:
        ts = time.time_ns()
        if arch == AUDIT_ARCH_I386:
            t.arch = R.ARCH_I386
        elif nr & X32_BIT and nr != 0xFFFFFFFFFFFFFFFF:
            t.arch, nr = R.ARCH_X32, nr & ~X32_BIT
        else:
            t.arch = R.ARCH_X86_64
        t.nr = nr if nr < 1 << 63 else nr - (1 << 64)
        t.args = args
        t.sp = sp
        t.in_syscall = t.recording = t.deny = False
        d = self._action(t)
        if d is None or not d.flags & E.F_STOP:
            self._resume(t)
            return 0
        t.in_syscall = True
        if d.flags & E.F_KILL:
            self._event(R.R_DENIED, t.pid, t.tid, -1, t.nr)
            os.kill(t.pid, signal.SIGKILL)
            return 0
        if d.flags & E.F_RECORD and not t.silent:
            self._record(t, R.R_ENTER, 0, ts, True)
            t.recording = True
        if d.flags & E.F_DENY:
            self._skip(t, -d.deny_errno)
        if d.flags & E.F_PY_ENTER:
            t.held = True
            self._ev = self._stop_event(E.EV_ENTER, t, 0, ts)
            return E.EV_ENTER
        self._resume(t)
        return 0

    def _on_exit(self, t: _Task, ret: int) -> int:
        ts = time.time_ns()
        if not t.in_syscall:
            self._resume(t)
            return 0
        d = self._action(t)
        if t.saved or t.deny:
            regs = t.proc.getregs()
            for i, value in t.saved.items():
                setattr(regs, ARG_REGS[i], value)
            if t.deny:
                ret = t.exit_value
                regs.rax = ret & 0xFFFFFFFFFFFFFFFF
            t.proc.setregs(regs)
            t.saved.clear()
        if t.recording:
            self._record(t, R.R_EXIT, ret, ts, False)
        t.in_syscall = t.recording = t.deny = False
        if d is not None and d.flags & E.F_PY_EXIT:
            t.held = True
            self._ev = self._stop_event(E.EV_EXIT, t, ret, ts)
            return E.EV_EXIT
        self._resume(t)
        return 0

    def _skip(self, t: _Task, value: int) -> None:
        """Skip the call the thread is entering; it returns ``value`` (set at exit)."""
        regs = t.proc.getregs()
        regs.orig_rax = 0xFFFFFFFFFFFFFFFF
        t.proc.setregs(regs)
        t.deny = True
        t.exit_value = value

    def _stop_event(self, kind: int, t: _Task, ret: int, ts: int) -> E.StopEvent:
        args = list(t.args)
        for i, value in t.saved.items():  # hooks see the call as the program made it
            args[i] = value
        return E.StopEvent(kind, t.pid, t.tid, t.arch, t.nr, tuple(args), ret, ts, t.sp,
                           (t.sp - 128) & ~15)

    def _on_event(self, t: _Task, event: int) -> None:
        if event in (PTRACE_EVENT_FORK, PTRACE_EVENT_VFORK, PTRACE_EVENT_CLONE):
            try:
                child = PF.ptrace_geteventmsg(t.tid)
            except PtraceError:
                return
            child_pid = _tgid_of(child) if event == PTRACE_EVENT_CLONE else child
            c = self._tasks.get(child)
            if c is not None:
                c.pid = child_pid
            else:
                c = self._track(child, child_pid, fresh=True)
            c.silent = t.silent or not self._follow
            if self._follow and not t.silent:
                self._event(R.R_NEWTASK, t.pid, t.tid, child, event,
                            struct.pack("<i", child_pid))
        elif event == PTRACE_EVENT_EXEC:
            try:
                former = PF.ptrace_geteventmsg(t.tid)
            except PtraceError:
                return
            if former != t.tid:
                # a non-leader exec'd: it now has the leader's tid, the other threads are gone
                old = self._tasks.get(former)
                if old is not None:
                    for attr in ("in_syscall", "recording", "deny", "exit_value", "nr", "arch",
                                 "args", "sp", "saved"):
                        setattr(t, attr, getattr(old, attr))
                for o in [o for o in self._tasks.values() if o.pid == t.pid and o is not t]:
                    self._untrack(o.tid)
            if t.mem_fd >= 0:  # a new address space
                os.close(t.mem_fd)
                t.mem_fd = -1
            if not t.silent:
                self._event(R.R_EXEC, t.pid, t.tid, former)
        self._resume(t)

    def _on_signal(self, t: _Task, sig: int) -> None:
        if t.fresh and sig == signal.SIGSTOP:  # a new task's first stop
            t.fresh = False
            self._resume(t)
            return
        info = ctypes.create_string_buffer(128)
        try:
            PF.ptrace(PTRACE_GETSIGINFO, t.tid, 0, ctypes.addressof(info))
        except PtraceError as e:
            if e.errno == _errno.ESRCH:
                return
            # EINVAL: a group-stop (no SEIZE here); let it go on
            self._resume(t)
            return
        if not t.silent:
            self._event(R.R_SIGNAL, t.pid, t.tid, sig, 0, info.raw)
        self._resume(t, sig)

    def _gone(self, tid: int, status: int) -> None:
        t = self._tasks.get(tid)
        pid = t.pid if t else tid
        if t is not None and t.silent:
            pass
        elif os.WIFEXITED(status):
            self._event(R.R_EXITED, pid, tid, os.WEXITSTATUS(status))
        else:
            self._event(R.R_KILLED, pid, tid,
                        os.WTERMSIG(status) | (0x80 if os.WCOREDUMP(status) else 0))
        if tid == self.main_pid:
            self._main_status = status
        if t is not None:
            self._untrack(tid)

    def event(self) -> E.StopEvent:
        return self._ev

    def resume(self, tid: int, verdict: int = E.V_ALLOW, value: int = 0) -> None:
        t = self._tasks.get(tid)
        if t is None or not t.held:
            raise OSError(_errno.ESRCH, f"resume {tid}: {os.strerror(_errno.ESRCH)}")
        t.held = False
        at_entry = t.in_syscall
        if verdict in (E.V_DENY, E.V_EMULATE):
            if not at_entry:
                raise OSError(_errno.EINVAL, f"resume {tid}: deny/emulate at an exit")
            self._skip(t, -value if verdict == E.V_DENY else value)
        elif verdict == E.V_SETRET:
            if at_entry:
                raise OSError(_errno.EINVAL, f"resume {tid}: a result at an entry")
            regs = t.proc.getregs()
            regs.rax = value & 0xFFFFFFFFFFFFFFFF
            t.proc.setregs(regs)
        elif verdict == E.V_KILL:
            os.kill(t.pid, signal.SIGKILL)
            return
        elif verdict != E.V_ALLOW:
            raise OSError(_errno.EINVAL, f"resume {tid}: unknown verdict {verdict}")
        self._resume(t)

    def set_arg(self, tid: int, index: int, value: int) -> None:
        """Change an argument of a thread held at entry (restored for the caller at exit)."""
        t = self._tasks.get(tid)
        if t is None or not t.held or not t.in_syscall or not 0 <= index < 6:
            raise OSError(_errno.EINVAL, f"set arg of {tid}: {os.strerror(_errno.EINVAL)}")
        regs = t.proc.getregs()
        setattr(regs, ARG_REGS[index], value & 0xFFFFFFFFFFFFFFFF)
        t.proc.setregs(regs)
        t.saved.setdefault(index, t.args[index])
        args = list(t.args)
        args[index] = value & 0xFFFFFFFFFFFFFFFF
        t.args = tuple(args)

    def take_ring(self) -> bytes:
        """The undrained records; the ring is empty afterwards."""
        data = bytes(self._ring)
        self._ring.clear()
        self._last_drain = time.monotonic()
        if data:
            self._stats["ring_drains"] += 1
        return data

    def main_status(self) -> int:
        return self._main_status

    def stats(self) -> dict[str, int]:
        return dict(self._stats)
