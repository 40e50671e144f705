"""ptrace emulated for tracers inside the guest (strace, gdb, a test harness).

veil is already every guest thread's tracer, so a guest's PTRACE_TRACEME,
ATTACH or SEIZE would fail.  As PRoot's ptrace extension does, veil keeps who
traces whom in the guest and what it asked for; the C loop holds a guest-traced
thread at each of its stops (csrc/guest.c) and hands it here; a stop the guest
tracer asked for is answered to its wait4/waitid (with SIGCHLD, as the kernel
sends it), and its ptrace requests are done by veil, the real tracer, on the
held thread.  The guest tracer sees the call before veil's own filter stop
(guest paths in registers and memory) and its result after veil's verdict.

A guest tracer gets no more than the kernel would give it: only threads of the
traced tree (never veil's, never a host process), with the credentials check
and Yama's scope of ptrace_may_access().
"""
from __future__ import annotations

import errno
import functools
import os
import signal
import struct
import threading
from dataclasses import dataclass, field

from . import engine as E
from .abi import s32
from .stop import Stop
from .verdicts import ALLOW, Deny, Emulate, Hold, Verdict

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .session import Session

# requests (linux/ptrace.h, asm/ptrace-abi.h for x86_64)
TRACEME, PEEKTEXT, PEEKDATA, PEEKUSER, POKETEXT, POKEDATA, POKEUSER = 0, 1, 2, 3, 4, 5, 6
CONT, KILL, SINGLESTEP = 7, 8, 9
GETREGS, SETREGS, GETFPREGS, SETFPREGS, ATTACH, DETACH = 12, 13, 14, 15, 16, 17
SYSCALL, GET_THREAD_AREA, ARCH_PRCTL, SYSEMU, SYSEMU_SINGLESTEP = 24, 25, 30, 31, 32
SETOPTIONS, GETEVENTMSG, GETSIGINFO, SETSIGINFO = 0x4200, 0x4201, 0x4202, 0x4203
GETREGSET, SETREGSET, SEIZE, INTERRUPT, LISTEN = 0x4204, 0x4205, 0x4206, 0x4207, 0x4208
PEEKSIGINFO, GETSIGMASK, SETSIGMASK, GET_SYSCALL_INFO = 0x4209, 0x420a, 0x420b, 0x420e
SECCOMP_GET_FILTER = 0x420c
PEEKSIGINFO_SHARED = 1
GROUP_STOP_SIGNALS = (signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)

O_TRACESYSGOOD, O_TRACEFORK, O_TRACEVFORK, O_TRACECLONE = 1, 2, 4, 8
O_TRACEEXEC, O_TRACEEXIT, O_TRACESECCOMP, O_EXITKILL = 0x10, 0x40, 0x80, 0x100000
EVENT_FORK, EVENT_VFORK, EVENT_CLONE, EVENT_EXEC, EVENT_EXIT, EVENT_STOP = 1, 2, 3, 4, 6, 128
EVENT_SECCOMP = 7
_EVENT_OPTION = {EVENT_FORK: O_TRACEFORK, EVENT_VFORK: O_TRACEVFORK, EVENT_CLONE: O_TRACECLONE,
                 EVENT_EXEC: O_TRACEEXEC, EVENT_EXIT: O_TRACEEXIT}
VALID_OPTIONS = 0x3000ff | O_EXITKILL

WNOHANG, WNOWAIT = 1, 0x01000000
P_ALL, P_PID, P_PGID = 0, 1, 2
CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_TRAPPED = 1, 2, 3, 4
SYS_PTRACE, SYS_TGKILL = 101, 234
USER_REGS_SIZE, FPREGS_SIZE, SIGINFO_SIZE = 27 * 8, 512, 128
ORIG_RAX_OFFSET = 15 * 8   # in struct user_regs_struct (x86_64)
CAP_SYS_PTRACE = 19

@functools.lru_cache(maxsize=None)
def _libc():
    """(ctypes, libc), loaded at the guest's first ptrace call (not at start-up)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return ctypes, libc


def real_ptrace(request: int, tid: int, addr: int = 0, data: int = 0) -> int:
    """ptrace(2) by veil itself (the loop's thread is every tracee's tracer): -errno on failure."""
    ctypes, libc = _libc()
    rc = libc.syscall(ctypes.c_long(SYS_PTRACE), ctypes.c_long(request), ctypes.c_long(tid),
                       ctypes.c_ulong(addr & 0xFFFFFFFFFFFFFFFF),
                       ctypes.c_ulong(data & 0xFFFFFFFFFFFFFFFF))
    return -ctypes.get_errno() if rc < 0 else rc


def tgkill(tgid: int, tid: int, sig: int) -> None:
    ctypes, libc = _libc()
    libc.syscall(ctypes.c_long(SYS_TGKILL), ctypes.c_long(tgid), ctypes.c_long(tid),
                  ctypes.c_long(sig))


def stop_status(sig: int, event: int = 0) -> int:
    """The wait status of a ptrace stop (WIFSTOPPED, WSTOPSIG sig, event in bits 16..)."""
    return (event << 16) | (sig << 8) | 0x7F


def _status_fields(tid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{tid}/status") as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return {}


@dataclass
class Tracee:
    """A thread a guest tracer traces, and the stop it is held at, if any."""

    tid: int
    pid: int                 # its thread group
    tracer: int              # the guest tracer's thread group
    options: int = 0
    seized: bool = False
    is_child: bool = False   # the tracer's own child: the kernel reports its exit
    held: bool = False       # stopped at a ptrace stop the tracer may act on
    status: int | None = None  # the wait status of that stop, until a wait takes it
    how: int = E.GR_CONT     # how the tracer last resumed it
    siginfo: bytes | None = None  # a stop veil made (attach, interrupt): its siginfo
    attach_stop: bool = False  # ATTACH/INTERRUPT asked for a stop: the SIGSTOP coming is it
    exit_status: int | None = None  # gone: the status a wait returns (not the kernel's child)
    filters: tuple[bytes, ...] = ()  # seccomp programs it installed (newest last)
    seq: int = 0             # when its stop or exit came: waits report the oldest first
    shown: int = 0           # its tid as the tracer sees it (its pid namespace's)
    auto_attached: bool = False  # traced from its birth (a fork event the tracer asked for)
    listening: bool = False  # PTRACE_LISTEN in a group-stop: its wake-up is the tracer's
    group_stop: bool = False  # held at a group-stop (LISTEN is allowed)
    sysemu: bool = False     # resumed with PTRACE_SYSEMU: its next entry stop is the last of the call
    skip_exit: bool = False  # the call was skipped for SYSEMU: its exit stop is veil's alone
    after_skip: int = E.GR_CONT  # how the tracer resumed it from that entry stop
    sysemu_entry: bool = False  # held at the entry stop PTRACE_SYSEMU asked for

    def mode(self) -> int:
        """What the C loop hands over for it (Engine.guest_trace)."""
        wants = self.options & O_TRACESECCOMP and self.filters
        return E.GT_TRACED | (E.GT_SECCOMP if wants else 0)


@dataclass
class Waiter:
    """A guest tracer held in wait4/waitid until a tracee stops."""

    stop: Stop
    tracer: int
    who: int                 # -1: any tracee, else a tid


@dataclass
class GuestPtrace:
    """The feature.  veil.spec.build watches its calls in every run with the seccomp
    filter and makes it at the guest's first ptrace call."""

    session: Session | None = None
    tracees: dict[int, Tracee] = field(default_factory=dict)
    waiters: dict[int, Waiter] = field(default_factory=dict)   # by tracer tgid
    _pidns: dict[int, bool] = field(default_factory=dict)
    _seq: int = 0

    # --- pids as the guest sees them (its own pid namespace under --strict) --
    def _own_ns(self, tid: int) -> bool:
        """Whether tid's process sees pids as veil does (no pid namespace of its own)."""
        try:
            ns = os.readlink(f"/proc/{tid}/ns/pid")
        except OSError:
            return True
        if ns not in self._pidns:
            self._pidns[ns] = ns == os.readlink("/proc/self/ns/pid")
        return self._pidns[ns]

    def guest_pid(self, host: int, viewer: int) -> int:
        """The tid ``host`` as the process of ``viewer`` names it."""
        if host <= 0 or self._own_ns(viewer):
            return host
        ns = _status_fields(host).get("NSpid", "").split()
        return int(ns[-1]) if ns else host

    def host_tid(self, guest: int, viewer: int) -> int | None:
        """The host tid of the guest's tid ``guest`` in the viewer's pid namespace."""
        if self._own_ns(viewer):
            return guest
        for t in self.tracees.values():
            if self.guest_pid(t.tid, viewer) == guest:
                return t.tid
        view = os.readlink(f"/proc/{viewer}/ns/pid")
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                tids = os.listdir(f"/proc/{entry}/task")
                if os.readlink(f"/proc/{entry}/ns/pid") != view:
                    continue
            except OSError:
                continue
            for tid in tids:
                ns = _status_fields(int(tid)).get("NSpid", "").split()
                if ns and int(ns[-1]) == guest:
                    return int(tid)
        return None

    # --- who may trace whom ---------------------------------------------------
    @staticmethod
    def _traced_by_veil(tid: int) -> bool:
        # the tracer is the loop's thread (this one); /proc names it by its tid
        tracer = _status_fields(tid).get("TracerPid", "0").strip()
        return tracer in (str(threading.get_native_id()), str(os.getpid()))

    @staticmethod
    def _may_access(tracer: int, target: int) -> bool:
        """ptrace_may_access() for PTRACE_MODE_ATTACH_REALCREDS, with Yama's scope."""
        me, it = _status_fields(tracer), _status_fields(target)
        caps = int(me.get("CapEff", "0"), 16)
        privileged = bool(caps >> CAP_SYS_PTRACE & 1)
        if not privileged:
            uid, gid = me.get("Uid", "").split()[0], me.get("Gid", "").split()[0]
            if (set(it.get("Uid", "").split()[:3]) != {uid}
                    or set(it.get("Gid", "").split()[:3]) != {gid}):
                return False
        try:
            with open("/proc/sys/kernel/yama/ptrace_scope") as f:
                scope = int(f.read())
        except (OSError, ValueError):
            scope = 0
        if scope >= 3 or (scope == 2 and not privileged):
            return False
        if scope == 1 and not privileged:
            pid, seen = int(it.get("Tgid", target)), 0
            while pid > 1 and seen < 4096:
                if pid == tracer:
                    return True
                pid, seen = int(_status_fields(pid).get("PPid", 0)), seen + 1
            return False
        return True

    # --- the guest tracer's ptrace calls --------------------------------------
    def on_ptrace(self, stop: Stop) -> Verdict:
        request, pid, addr, data = (stop.args[i] for i in range(4))
        request &= 0xFFFFFFFF
        pid = s32(pid)
        if request == TRACEME:
            return self._traceme(stop)
        if request in (ATTACH, SEIZE):
            return self._attach(stop, pid, request == SEIZE, addr, data)
        tid = self.host_tid(pid, stop.tid) if pid > 0 else None
        t = self.tracees.get(tid) if tid else None
        if t is None or t.tracer != stop.pid:
            return Deny(errno.ESRCH)
        if request == KILL:
            tgkill(t.pid, t.tid, signal.SIGKILL)
            if t.held:
                self._resume(t, E.GR_CONT, 0)
            return Emulate(0)
        if request == INTERRUPT:
            if not t.seized:
                return Deny(errno.EIO)
            if not t.held:
                t.attach_stop = True
                tgkill(t.pid, t.tid, signal.SIGSTOP)
            return Emulate(0)
        if not t.held:
            return Deny(errno.ESRCH)
        try:
            return self._request(stop, t, request, addr, data)
        except OSError as e:
            return Deny(e.errno or errno.EFAULT)

    def _traceme(self, stop: Stop) -> Verdict:
        parent = int(_status_fields(stop.pid).get("PPid", "0"))
        if stop.tid in self.tracees or parent <= 0 or not self._traced_by_veil(parent):
            return Deny(errno.EPERM)
        self._adopt(Tracee(stop.tid, stop.pid, parent, is_child=True))
        return Emulate(0)

    def _attach(self, stop: Stop, pid: int, seize: bool, addr: int, options: int) -> Verdict:
        if seize and (addr or options & ~VALID_OPTIONS):
            return Deny(errno.EIO)
        tid = self.host_tid(pid, stop.tid) if pid > 0 else None
        if tid is None or not os.path.exists(f"/proc/{tid}"):
            return Deny(errno.ESRCH)
        target = _status_fields(tid)
        tgid = int(target.get("Tgid", tid))
        if (tgid == stop.pid or tid in self.tracees or not self._traced_by_veil(tid)
                or not self._may_access(stop.pid, tid)):
            return Deny(errno.EPERM)
        child = int(target.get("PPid", 0)) == stop.pid and tid == tgid
        t = Tracee(tid, tgid, stop.pid, options=options if seize else 0, seized=seize,
                   is_child=child)
        self._adopt(t)
        if not seize:
            t.attach_stop = True
            tgkill(tgid, tid, signal.SIGSTOP)
        return Emulate(0)

    def _adopt(self, t: Tracee) -> None:
        t.filters = self._installed_filters(t.tid)
        t.shown = self.guest_pid(t.tid, t.tracer)
        self.tracees[t.tid] = t
        self.session._engine.guest_trace(t.tid, t.mode())
        try:
            self.session._engine.guest_trace(t.tracer, E.GT_TRACER)   # its leader
        except OSError:
            pass
        self.session._engine.guest_calls(True)

    def on_guest_call(self, stop: Stop) -> Verdict:
        """wait4, waitid and exit_group, while some guest tracer traces."""
        if stop.name in ("seccomp", "prctl"):
            verdict = self.on_filter(stop)
        else:
            verdict = self.on_exit_group(stop) if stop.name == "exit_group" else self.on_wait(stop)
        if not self.tracees:
            self.session._engine.guest_calls(False)
        return verdict

    def _request(self, stop: Stop, t: Tracee, request: int, addr: int, data: int) -> Verdict:
        tid = t.tid
        if request in (CONT, SYSCALL, SINGLESTEP, DETACH, SYSEMU):
            if not 0 <= data <= 64:
                return Deny(errno.EIO)
            how = {CONT: E.GR_CONT, SYSCALL: E.GR_SYSCALL, SINGLESTEP: E.GR_STEP,
                   DETACH: E.GR_DETACH, SYSEMU: E.GR_SYSCALL}[request]
            if request == DETACH:
                del self.tracees[tid]
            if t.sysemu_entry:
                # leaving a PTRACE_SYSEMU entry stop: the kernel never runs the call
                # and keeps the rax the tracer set (orig_rax -1 skips it; its exit
                # stop, which SYSEMU does not have, stays veil's)
                rc = real_ptrace(POKEUSER, tid, ORIG_RAX_OFFSET, -1 & (2**64 - 1))
                if rc < 0:
                    return Deny(-rc)
                t.skip_exit = True
                how = E.GR_SYSCALL if request != DETACH else how
            t.sysemu = request == SYSEMU
            self._resume(t, how, data)
            if t.skip_exit:
                t.after_skip = {CONT: E.GR_CONT, SYSCALL: E.GR_SYSCALL, SINGLESTEP: E.GR_STEP,
                                DETACH: E.GR_DETACH, SYSEMU: E.GR_SYSCALL}[request]
            return Emulate(0)
        if request == LISTEN:
            if not t.seized or not t.group_stop:
                return Deny(errno.EIO)
            t.held, t.status, t.listening = False, None, True
            try:
                self.session._engine.guest_resume(tid, E.GR_LISTEN, 0)
            except OSError:
                pass
            return Emulate(0)
        if request == SETOPTIONS:
            if data & ~VALID_OPTIONS:
                return Deny(errno.EINVAL)
            t.options = data
            self.session._engine.guest_trace(tid, t.mode())
            return Emulate(0)
        if request in (PEEKTEXT, PEEKDATA, POKETEXT, POKEDATA) and _in_scratch(addr):
            # veil's read-only area, where it writes the host paths of calls in flight:
            # a real POKE writes through page protections (FOLL_FORCE), which would
            # let a guest rewrite a sibling thread's translated path; as if unmapped
            return Deny(errno.EIO)
        if request in (PEEKTEXT, PEEKDATA, PEEKUSER):
            return self._out(stop, request, tid, addr, data, 8)
        if request in (POKETEXT, POKEDATA, POKEUSER):
            return _result(real_ptrace(request, tid, addr, data))
        if request == GETSIGINFO and t.siginfo is not None:
            stop.write(data, t.siginfo)
            return Emulate(0)
        fixed_out = {GETREGS: USER_REGS_SIZE, GETFPREGS: FPREGS_SIZE, GETSIGINFO: SIGINFO_SIZE,
                     GETEVENTMSG: 8, GET_THREAD_AREA: 16}
        if request in fixed_out:
            return self._out(stop, request, tid, addr, data, fixed_out[request])
        if request == ARCH_PRCTL and addr in (0x1003, 0x1004):   # ARCH_GET_FS / GS
            return self._out(stop, request, tid, addr, data, 8)
        if request == GETSIGMASK:
            return self._out(stop, request, tid, addr, data, 8)
        if request == GET_SYSCALL_INFO:
            return self._out(stop, request, tid, addr, data, min(addr, 4096),
                             sized=True)
        import ctypes  # loaded at the guest's first ptrace call
        fixed_in = {SETREGS: USER_REGS_SIZE, SETFPREGS: FPREGS_SIZE, SETSIGINFO: SIGINFO_SIZE}
        if request in fixed_in:
            buf = ctypes.create_string_buffer(stop.read(data, fixed_in[request]))
            return _result(real_ptrace(request, tid, addr, ctypes.addressof(buf)))
        if request == SETSIGMASK:
            buf = ctypes.create_string_buffer(stop.read(data, 8))
            return _result(real_ptrace(request, tid, addr, ctypes.addressof(buf)))
        if request in (GETREGSET, SETREGSET):
            base, length = struct.unpack("<QQ", stop.read(data, 16))
            length = min(length, 1 << 16)
            buf = ctypes.create_string_buffer(stop.read(base, length) if request == SETREGSET
                                              else length)
            iov = (ctypes.c_uint64 * 2)(ctypes.addressof(buf), length)
            rc = real_ptrace(request, tid, addr, ctypes.addressof(iov))
            if rc < 0:
                return Deny(-rc)
            if request == GETREGSET:
                stop.write(base, buf.raw[:iov[1]])
                stop.write(data + 8, struct.pack("<Q", iov[1]))
            return Emulate(0)
        if request == PEEKSIGINFO:
            return self._peek_siginfo(stop, tid, addr, data)
        return Deny(errno.EIO)   # SYSEMU_SINGLESTEP, seccomp filter dumps: not emulated

    @staticmethod
    def _peek_siginfo(stop: Stop, tid: int, addr: int, data: int) -> Verdict:
        """PTRACE_PEEKSIGINFO: the signals queued for the thread (or, with
        PTRACE_PEEKSIGINFO_SHARED, its process), ``nr`` siginfos from ``off``."""
        off, flags, nr = struct.unpack("<QIi", stop.read(addr, 16))
        if flags & ~PEEKSIGINFO_SHARED or nr < 0:
            return Deny(errno.EINVAL)
        nr = min(nr, 4096)
        import ctypes  # loaded at the guest's first ptrace call
        args = ctypes.create_string_buffer(struct.pack("<QIi", off, flags, nr))
        buf = ctypes.create_string_buffer(max(nr, 1) * SIGINFO_SIZE)
        rc = real_ptrace(PEEKSIGINFO, tid, ctypes.addressof(args), ctypes.addressof(buf))
        if rc < 0:
            return Deny(-rc)
        if rc:
            stop.write(data, buf.raw[:rc * SIGINFO_SIZE])
        return Emulate(rc)

    @staticmethod
    def _out(stop: Stop, request: int, tid: int, addr: int, data: int, size: int,
             sized: bool = False) -> Verdict:
        """A request that fills ``size`` bytes: done into veil's buffer, copied to the tracer."""
        import ctypes  # loaded at the guest's first ptrace call
        buf = ctypes.create_string_buffer(max(size, 8))
        rc = real_ptrace(request, tid, addr, ctypes.addressof(buf))
        if rc < 0:
            return Deny(-rc)
        if size:
            stop.write(data, buf.raw[:min(size, rc) if sized else size])
        return Emulate(rc if sized else 0)

    def _resume(self, t: Tracee, how: int, sig: int) -> None:
        t.held, t.status, t.siginfo, t.sysemu_entry = False, None, None, False
        t.how = E.GR_CONT if how == E.GR_DETACH else how
        try:
            self.session._engine.guest_resume(t.tid, how, sig)
        except OSError:
            pass   # killed meanwhile: its exit follows

    # --- stops of guest-traced threads (from the C loop) -------------------------
    def on_event(self, ev: E.StopEvent) -> None:
        kind, status = ev.nr, ev.ret
        sig, event, msg = ev.args[0], ev.args[1], ev.args[2]
        t = self.tracees.get(ev.tid)
        if kind == E.G_GONE:
            if ev.tid == ev.pid:   # a guest tracer gone (killed): as at its exit_group
                self._tracer_gone(ev.pid)
            if t is not None:
                del self.tracees[ev.tid]
                if not t.is_child:
                    t.exit_status, t.held = status, False
                    t.seq = self._next_seq()
                    self.tracees[-ev.tid] = t   # a zombie for the tracer's wait
                    self._notify(t)
                elif t.tracer in self.waiters:   # the kernel reports its own child's exit
                    self._release(self.waiters.pop(t.tracer).stop, ALLOW)
            return
        eng = self.session._engine
        if t is None:   # not (or no longer) traced in the guest
            eng.guest_resume(ev.tid, E.GR_DETACH, sig if kind == E.G_SIGNAL else 0)
            return
        if kind == E.G_EVENT and event in (EVENT_FORK, EVENT_VFORK, EVENT_CLONE):
            child = int(msg)
            if t.options & _EVENT_OPTION[event]:
                c = Tracee(child, child if event != EVENT_CLONE else t.pid, t.tracer,
                           options=t.options, seized=t.seized, auto_attached=True)
                if event == EVENT_CLONE:
                    c.pid = int(_status_fields(child).get("Tgid", c.pid))
                c.filters = t.filters   # a child inherits its parent's filters
                c.shown = self.guest_pid(child, t.tracer)
                self.tracees[child] = c
                try:
                    eng.guest_trace(child, c.mode())
                except OSError:
                    pass
            else:
                try:
                    eng.guest_trace(child, 0)
                except OSError:
                    pass
        if kind == E.G_SYSCALL_EXIT and t.skip_exit:
            t.skip_exit = False
            self._resume(t, t.after_skip, 0)
            return
        if kind == E.G_SECCOMP:
            shown = (stop_status(signal.SIGTRAP, EVENT_SECCOMP) if self._filters_trace(t)
                     else None)
        else:
            shown = self._shown_status(t, kind, sig, event, status)
        if shown is None:
            self._resume(t, t.how, sig if kind == E.G_SIGNAL else 0)
            if kind == E.G_EVENT and event == EVENT_EXEC and not t.seized:
                tgkill(t.pid, t.tid, signal.SIGTRAP)   # as the kernel does after exec
            return
        t.held, t.status, t.seq = True, shown, self._next_seq()
        t.sysemu_entry = t.sysemu and kind == E.G_SYSCALL_ENTRY
        self._notify(t)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def on_filter(self, stop: Stop) -> Verdict:
        """seccomp(SECCOMP_SET_MODE_FILTER) or prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER) of
        a guest tracee: its program, to tell which of its calls stop for its tracer."""
        t = self.tracees.get(stop.tid)
        a = stop.args
        if stop.name == "seccomp":
            prog = a[2] if a[0] == 1 else 0          # SECCOMP_SET_MODE_FILTER
        else:
            prog = a[2] if a[0] == 22 and a[1] == 2 else 0   # PR_SET_SECCOMP, MODE_FILTER
        if t is None or not prog:
            return ALLOW
        try:
            count, where = struct.unpack("<H6xQ", stop.read(prog, 16))
            code = stop.read(where, 8 * count) if 0 < count <= 4096 else b""
        except OSError:
            return ALLOW   # the kernel fails it (EFAULT)
        if code:
            t.filters = (*t.filters, code)
            self.session._engine.guest_trace(t.tid, t.mode())
        return ALLOW

    def _installed_filters(self, tid: int) -> tuple[bytes, ...]:
        """The seccomp programs the thread installed before it was traced in the
        guest: those stacked above veil's (PTRACE_SECCOMP_GET_FILTER needs veil's
        CAP_SYS_ADMIN; without it they stay unknown)."""
        found: list[bytes] = []
        veils = False
        for index in range(64):   # index 0: the oldest filter
            count = real_ptrace(SECCOMP_GET_FILTER, tid, index, 0)
            if count <= 0 or count > 4096:
                break
            import ctypes  # loaded at the guest's first ptrace call
            buf = ctypes.create_string_buffer(8 * count)
            if real_ptrace(SECCOMP_GET_FILTER, tid, index, ctypes.addressof(buf)) != count:
                break
            if veils:
                found.append(buf.raw)
            veils = veils or buf.raw == self.session.filter_code
        return tuple(found)

    @staticmethod
    def _filters_trace(t: Tracee) -> bool:
        """Whether the tracee's own filters make this call stop for its tracer
        (SECCOMP_RET_TRACE the strongest of their answers)."""
        import ctypes  # loaded at the guest's first ptrace call
        buf = ctypes.create_string_buffer(88)
        if real_ptrace(GET_SYSCALL_INFO, t.tid, 88, ctypes.addressof(buf)) < 0:
            return False
        arch, ip = struct.unpack_from("<IQ", buf.raw, 4)
        nr, *args = struct.unpack_from("<Q6Q", buf.raw, 24)
        data = struct.pack("<iIQ6Q", s32(nr), arch, ip, *args)
        actions = [run_bpf(code, data) & SECCOMP_RET_ACTION_FULL for code in t.filters]
        return min((_PRECEDENCE.get(a, 0) for a in actions), default=99) == _PRECEDENCE[
            SECCOMP_RET_TRACE]

    def _shown_status(self, t: Tracee, kind: int, sig: int, event: int,
                      status: int) -> int | None:
        """The wait status the guest tracer sees for this stop; None: not its business."""
        if kind in (E.G_SYSCALL_ENTRY, E.G_SYSCALL_EXIT):
            return stop_status(signal.SIGTRAP | (0x80 if t.options & O_TRACESYSGOOD else 0))
        if kind == E.G_SIGNAL:
            if sig == signal.SIGSTOP and t.attach_stop:
                t.attach_stop = False
                if t.seized:   # PTRACE_INTERRUPT's stop
                    return stop_status(signal.SIGTRAP, EVENT_STOP)
            return stop_status(sig)
        stop_sig = (status >> 8) & 0xff
        t.group_stop = event == EVENT_STOP and stop_sig in GROUP_STOP_SIGNALS
        if t.group_stop:   # under SEIZE it says so; else it looks like the signal's stop
            return stop_status(stop_sig, EVENT_STOP if t.seized else 0)
        if event == EVENT_STOP and t.listening:   # SIGCONT ended the group-stop
            t.listening = False
            return stop_status(signal.SIGTRAP, EVENT_STOP)
        if event == EVENT_STOP:   # a new child's first stop (auto-attached)
            if not t.auto_attached and (status >> 8) & 0xff == signal.SIGTRAP:
                # veil's own first stop of a child the tracer attached to before
                # veil saw it: natively SEIZE makes no stop (strace's SEIZE probe
                # kills the child and expects its death as the next status)
                return None
            if t.seized:
                return stop_status(signal.SIGTRAP, EVENT_STOP)
            t.siginfo = struct.pack("<iii4xii", signal.SIGSTOP, 0, 0, t.pid, os.getuid()).ljust(
                SIGINFO_SIZE, b"\0")
            return stop_status(signal.SIGSTOP)
        if t.options & _EVENT_OPTION.get(event, 0):
            return stop_status(signal.SIGTRAP, event)
        return None

    def _notify(self, t: Tracee) -> None:
        """Tell the tracer: complete its held wait, or send SIGCHLD (which also makes
        a wait it sleeps in inside the kernel start again, and see the stop)."""
        waiter = self.waiters.get(t.tracer)
        if waiter is not None:
            verdict = self._answer(waiter.stop, waiter.who, *self._wait_args(waiter.stop))
            if verdict is not None:
                del self.waiters[t.tracer]
                self._release(waiter.stop, verdict)
            return
        try:
            os.kill(t.tracer, signal.SIGCHLD)
        except OSError:
            pass

    def _release(self, stop: Stop, verdict: Verdict) -> None:
        try:
            self.session.resume(stop, verdict)
        except OSError:
            pass   # the tracer was killed meanwhile

    # --- the guest tracer's waits ------------------------------------------------
    @staticmethod
    def _wait_args(stop: Stop) -> tuple[int, int, bool]:
        """(options, status or siginfo pointer, is waitid)."""
        if stop.name == "waitid":
            return stop.args[3], stop.args[2], True
        return stop.args[2], stop.args[1], False

    def on_wait(self, stop: Stop) -> Verdict:
        mine = [t for t in self.tracees.values() if t.tracer == stop.pid]
        if not mine:
            return ALLOW
        if stop.name == "waitid":
            idtype, ident = stop.args[0], s32(stop.args[1])
            who = -1 if idtype != P_PID else ident
        else:
            who = s32(stop.args[0])
            who = who if who > 0 else -1
        if who > 0:
            host = self.host_tid(who, stop.tid)
            if host is None or (host not in self.tracees and -host not in self.tracees):
                return ALLOW   # not a tracee: the kernel's answer
            who = host
        options, _, _ = self._wait_args(stop)
        verdict = self._answer(stop, who, *self._wait_args(stop))
        if verdict is not None:
            return verdict
        if options & WNOHANG or self._has_children(stop.pid, who, mine):
            # the kernel answers (its children); a stop to come sends SIGCHLD, and the
            # wait, started again, sees it
            return ALLOW
        self.waiters[stop.pid] = Waiter(stop, stop.pid, who)
        return Hold()

    def _has_children(self, tracer: int, who: int, mine: list[Tracee]) -> bool:
        if who > 0:
            return any(t.is_child for t in mine if t.tid == who)
        try:
            for tid in os.listdir(f"/proc/{tracer}/task"):
                with open(f"/proc/{tracer}/task/{tid}/children") as f:
                    if f.read().split():
                        return True
        except OSError:
            pass
        return False

    def _answer(self, stop: Stop, who: int, options: int, where: int,
                waitid: bool) -> Verdict | None:
        """The verdict of a wait that finds a stop or an exit to report, else None."""
        ready = sorted(((t.seq, key) for key, t in self.tracees.items()
                        if t.tracer == stop.pid and (who <= 0 or t.tid == who)
                        and (t.exit_status is not None or (t.held and t.status is not None))))
        for _, key in ready:
            t = self.tracees[key]
            status = t.exit_status if t.exit_status is not None else t.status
            if not options & WNOWAIT:
                if t.exit_status is not None:
                    del self.tracees[key]
                else:
                    t.status = None
            shown = t.shown or self.guest_pid(t.tid, stop.tid)
            try:
                if waitid:
                    if where:
                        stop.write(where, _siginfo_chld(shown, status))
                    return Emulate(0)
                if where:
                    stop.write(where, struct.pack("<i", status))
            except OSError:
                return Deny(errno.EFAULT)
            return Emulate(shown)
        return None

    def on_exit_group(self, stop: Stop) -> Verdict:
        self._tracer_gone(stop.pid)
        return ALLOW

    def _tracer_gone(self, tracer: int) -> None:
        """The tracer is going: its tracees go on untraced (killed under PTRACE_O_EXITKILL)."""
        self.waiters.pop(tracer, None)
        for key, t in list(self.tracees.items()):
            if t.tracer != tracer:
                continue
            del self.tracees[key]
            if key < 0:
                continue
            if t.options & O_EXITKILL:
                tgkill(t.pid, t.tid, signal.SIGKILL)
            if t.held:
                self._resume(t, E.GR_DETACH, 0)
            else:
                try:
                    self.session._engine.guest_trace(t.tid, 0)
                except OSError:
                    pass


SECCOMP_RET_ACTION_FULL, SECCOMP_RET_TRACE = 0xFFFF0000, 0x7FF00000
# seccomp actions, strongest first (the kernel acts on the strongest of all filters)
_PRECEDENCE = {0x80000000: 0, 0x00000000: 1, 0x00030000: 2, 0x00050000: 3, 0x7FC00000: 4,
               SECCOMP_RET_TRACE: 5, 0x7FFC0000: 6, 0x7FFF0000: 7}


def run_bpf(code: bytes, data: bytes) -> int:
    """What a classic BPF program (seccomp's dialect) returns on seccomp_data."""
    ins = [struct.unpack_from("<HBBI", code, i) for i in range(0, len(code) - 7, 8)]
    a = x = pc = 0
    mem = [0] * 16
    mask = 0xFFFFFFFF
    alu = {0x00: lambda p, q: p + q, 0x10: lambda p, q: p - q, 0x20: lambda p, q: p * q,
           0x30: lambda p, q: p // q if q else 0, 0x40: lambda p, q: p | q,
           0x50: lambda p, q: p & q, 0x60: lambda p, q: p << (q & 31),
           0x70: lambda p, q: p >> (q & 31), 0x90: lambda p, q: p % q if q else 0,
           0xA0: lambda p, q: p ^ q}
    while 0 <= pc < len(ins):
        op, jt, jf, k = ins[pc]
        pc += 1
        cls, src = op & 7, (x if op & 0x08 else k)
        if cls == 0:     # LD
            mode = op & 0xE0
            a = (int.from_bytes(data[k:k + 4], "little") if mode == 0x20 and k + 4 <= len(data)
                 else k if mode == 0 else mem[k & 15] if mode == 0x60 else len(data))
        elif cls == 1:   # LDX
            mode = op & 0xE0
            x = k if mode == 0 else mem[k & 15] if mode == 0x60 else len(data)
        elif cls == 2:
            mem[k & 15] = a
        elif cls == 3:
            mem[k & 15] = x
        elif cls == 4:   # ALU
            a = (-a if op & 0xF0 == 0x80 else alu.get(op & 0xF0, lambda p, q: p)(a, src)) & mask
        elif cls == 5:   # JMP
            kind = op & 0xF0
            if kind == 0:
                pc += k
                continue
            taken = (a == src if kind == 0x10 else a > src if kind == 0x20 else
                     a >= src if kind == 0x30 else bool(a & src))
            pc += jt if taken else jf
        elif cls == 6:   # RET
            return (a if op & 0x18 == 0x10 else k) & mask
        else:            # MISC: TAX, TXA
            x, a = (a, a) if op & 0xF8 == 0 else (x, x)
    return 0   # the kernel would not have loaded it


def _result(rc: int) -> Verdict:
    return Deny(-rc) if rc < 0 else Emulate(rc)


def _siginfo_chld(pid: int, status: int) -> bytes:
    """The siginfo waitid fills for a wait status."""
    if os.WIFEXITED(status):
        code, value = CLD_EXITED, os.WEXITSTATUS(status)
    elif os.WIFSIGNALED(status):
        code = CLD_DUMPED if os.WCOREDUMP(status) else CLD_KILLED
        value = os.WTERMSIG(status)
    else:
        code, value = CLD_TRAPPED, os.WSTOPSIG(status)
    return struct.pack("<iii4xiii", signal.SIGCHLD, 0, code, pid, os.getuid(), value).ljust(
        SIGINFO_SIZE, b"\0")


def _in_scratch(addr: int, size: int = 8) -> bool:
    """Does [addr, addr + size) touch veil's scratch area (csrc/layout_*.c)?"""
    return addr < E.SCRATCH_BASE + E.SCRATCH_SIZE and addr + size > E.SCRATCH_BASE
