"""Calls through the i386 (int 0x80) and x32 ABIs from an x86_64 process are
named from their own ABI's table, never mistaken for the x86_64 call with the
same number (i386 getpid is 20, which is x86_64's writev)."""
import re

from conftest import run_veil


def test_int80_and_x32_calls_are_named_by_their_abi(progs):
    r = run_veil(["trace", "--", progs["int80"]])
    assert r.returncode == 0, r.stderr
    out = r.stdout
    pid = re.search(r"i386 getpid=(\d+)", out).group(1)
    assert re.search(rf"^getpid\[i386\]\(\) += {pid}$", r.stderr, re.M), r.stderr
    assert re.search(r"^getpid\[x32\]\(\) += ", r.stderr, re.M), r.stderr
    assert not re.search(r"^writev\(", r.stderr, re.M), r.stderr


def test_foreign_abi_calls_follow_the_trace_filter(progs):
    r = run_veil(["trace", "-e", "trace=write", "--", progs["int80"]])
    assert r.returncode == 0, r.stderr
    assert "[i386]" not in r.stderr and "write(1, " in r.stderr


def test_no_seccomp_mode_sees_the_same_calls(progs):
    r = run_veil(["trace", "--no-seccomp", "--", progs["int80"]])
    assert r.returncode == 0, r.stderr
    assert re.search(r"^getpid\[i386\]\(\) += \d+$", r.stderr, re.M), r.stderr
