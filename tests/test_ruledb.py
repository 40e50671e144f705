"""veil.ruledb without a Session: rules and rows in, the C loop's rows and the
filter's decisions out (run through the filter interpreter, as the kernel would)."""
import errno

import pytest

from veil import engine as E
from veil import filter as bpf
from veil.ruledb import Row, RuleDB, build_filter, syscall_numbers
from veil.syscalls.lookup import BY_NAME, UnknownSyscallError

OPENAT = BY_NAME["openat"].nr
WRITE = BY_NAME["write"].nr
GETPID = BY_NAME["getpid"].nr
PTRACE = BY_NAME["ptrace"].nr


def decide(actions_filter, nr, args=(0, 0, 0, 0, 0, 0), foreign=bpf.allow()):
    _, filt = actions_filter
    return bpf.run(build_filter(filt, foreign), nr, args=args)


def test_deny_rule_becomes_an_errno_in_the_filter_and_no_stop():
    db = RuleDB()
    db.add([OPENAT], ("deny", errno.EACCES))
    actions, filt = compiled = db.compile({})
    assert decide(compiled, OPENAT) == bpf.RET_ERRNO | errno.EACCES
    assert decide(compiled, GETPID) == bpf.RET_ALLOW   # what no rule names runs
    assert actions[OPENAT].deny_errno == errno.EACCES


def test_deny_on_a_traced_call_stops_and_c_denies_it():
    """A traced call the filter denied would vanish from the trace: it stops instead."""
    db = RuleDB()
    db.add([OPENAT], ("deny", errno.EPERM))
    actions, _ = compiled = db.compile({OPENAT: Row(E.F_STOP | E.F_RECORD)})
    assert decide(compiled, OPENAT) == bpf.RET_TRACE
    assert actions[OPENAT].flags & E.F_DENY and actions[OPENAT].flags & E.F_RECORD
    assert actions[OPENAT].deny_errno == errno.EPERM


def test_hook_subscription_becomes_a_stop_row_and_exit_stop_only_when_asked():
    db = RuleDB()
    compiled = db.compile({WRITE: Row(E.F_STOP | E.F_PY_ENTER),
                           OPENAT: Row(E.F_STOP | E.F_EXIT | E.F_PY_EXIT)})
    actions, _ = compiled
    assert decide(compiled, WRITE) == decide(compiled, OPENAT) == bpf.RET_TRACE
    assert not actions[WRITE].flags & E.F_EXIT          # entry hook: no exit stop
    assert actions[OPENAT].flags & E.F_EXIT             # its result is needed
    assert GETPID not in actions and decide(compiled, GETPID) == bpf.RET_ALLOW


def test_conditions_decide_in_order_and_the_rest_goes_on():
    db = RuleDB()
    db.add([WRITE], ("allow", 0), bpf.Cond(0, "EQ", 1))
    db.add([WRITE], ("refuse", errno.EBADF), bpf.Cond(0, "EQ", 9))
    db.add([WRITE], ("deny", errno.EPERM))
    compiled = db.compile({})
    assert decide(compiled, WRITE, (1, 0, 0, 0, 0, 0)) == bpf.RET_ALLOW
    assert decide(compiled, WRITE, (9, 0, 0, 0, 0, 0)) == bpf.refuse(errno.EBADF)
    assert decide(compiled, WRITE, (2, 0, 0, 0, 0, 0)) == bpf.RET_ERRNO | errno.EPERM


def test_kill_rule_kills_in_the_kernel_whatever_else_wants_the_call():
    db = RuleDB()
    db.add([PTRACE], ("kill", 0))
    actions, _ = compiled = db.compile({PTRACE: Row(E.F_STOP | E.F_RECORD)})
    assert decide(compiled, PTRACE) == bpf.RET_KILL_PROCESS
    assert actions[PTRACE].flags == E.F_STOP | E.F_KILL


def test_row_fields_and_late_flags_reach_the_action():
    db = RuleDB()
    db.add([BY_NAME["kill"].nr], ("kill", 0))
    nr = BY_NAME["kill"].nr
    actions, _ = db.compile({nr: Row(E.F_STOP | E.F_TARGETS, fields={"pid_args": 1},
                                     post_flags=E.F_STOP | E.F_TARGETS)})
    assert actions[nr].pid_args == 1 and actions[nr].flags & E.F_TARGETS


def test_foreign_calls_traced_refused_or_let_through():
    db = RuleDB()
    assert db.compile_foreign(traced=False)[1] == bpf.RET_ALLOW
    row, ret = db.compile_foreign(traced=True)
    assert ret == bpf.RET_TRACE and row.flags & E.F_RECORD
    db.foreign = ("refuse", errno.ENOSYS)
    row, ret = db.compile_foreign(traced=True)
    assert ret == bpf.refuse(errno.ENOSYS) and row.deny_errno == errno.ENOSYS
    i386 = 0x40000003
    assert bpf.run(build_filter({}, ret), 2, arch=i386) == bpf.refuse(errno.ENOSYS)


def test_conditional_hooks_check_arguments_without_seccomp():
    from veil.verdicts import Deny, Kill
    db = RuleDB()
    db.add([WRITE], ("deny", errno.EPERM), bpf.Cond(0, "EQ", 2))
    db.add([PTRACE], ("kill", 0), bpf.Cond(0, "EQ", 16))
    db.add([GETPID], ("deny", errno.EPERM))   # unconditional: the row does it, no hook
    hooks = db.conditional_hooks()
    assert set(hooks) == {WRITE, PTRACE}

    class FakeStop:
        def __init__(self, *args):
            self.args = args
    assert hooks[WRITE](FakeStop(2, 0, 0)) == Deny(errno.EPERM)
    assert hooks[WRITE](FakeStop(1, 0, 0)) is None
    assert isinstance(hooks[PTRACE](FakeStop(16, 0, 0)), Kill)


def test_syscall_numbers_names_classes_and_numbers():
    assert syscall_numbers("openat") == {OPENAT}
    assert syscall_numbers(["openat", WRITE]) == {OPENAT, WRITE}
    assert syscall_numbers(WRITE) == {WRITE}
    assert OPENAT in syscall_numbers("%file")
    with pytest.raises(UnknownSyscallError):
        syscall_numbers(["nosuchcall"])
    with pytest.raises(TypeError, match="is not a syscall"):
        syscall_numbers([1.5])
    with pytest.raises(TypeError, match="is not a syscall"):
        syscall_numbers([True])
