"""restart_syscall names the call it resumes (strace's notation), from the state of
the trace being formatted: two traces formatted at once never mix their threads."""
from veil import records as R
from veil.decoders import Call, Ctx, format_args, format_ret
from veil.syscalls.lookup import BY_NAME

ERESTART_RESTARTBLOCK = 516


def _call(tid: int, name: str, ret=None) -> Call:
    call = Call(tid, tid, R.ARCH_X86_64, BY_NAME[name].nr, (0,) * 6, {}, 0)
    call.ret = ret
    return call


def test_restart_syscall_names_the_interrupted_call_of_its_own_trace():
    first, second = Ctx(), Ctx()
    interrupted = _call(7, "clock_nanosleep", -ERESTART_RESTARTBLOCK)
    assert format_ret(interrupted, first) == "? ERESTART_RESTARTBLOCK (Interrupted by signal)"
    resumed = _call(7, "restart_syscall")
    assert format_args(resumed, first) == ["<... resuming interrupted clock_nanosleep ...>"]
    # another trace formatted in the same process saw no interruption of tid 7
    assert format_args(resumed, second) == ["<... resuming interrupted call ...>"]
