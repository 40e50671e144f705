"""The python-ptrace reference backend (veil.backends.python_ptrace) against the C engine.

The same programs run under both backends; the observers must see the same
syscalls in the same order per process, with the same success or failure and
the same path arguments.  Calls whose outcome depends on timing (a wait that
races the child's exit, signal returns) are left out of the comparison.
"""
from __future__ import annotations

import errno
import os
import tempfile
from typing import Dict, List, Tuple

import pytest

from conftest import run_veil
from veil import records as R
from veil.decoders.common import is_error_return
from veil.observers import Observer
from veil.session import Session
from veil.verdicts import Deny

pytest.importorskip("ptrace.debugger")

# outcome or presence depends on scheduling, not on the engine
RACY = {"wait4", "waitid", "rt_sigreturn", "rt_sigsuspend", "pause", "restart_syscall"}


class Collect(Observer):
    """Per process (numbered by creation order): [(name, ok, path)] of each call."""

    def __init__(self) -> None:
        self.order: Dict[int, int] = {}
        self.calls: Dict[int, List] = {}
        self.events: List[Tuple[str, int]] = []

    def _proc(self, pid: int) -> int:
        return self.order.setdefault(pid, len(self.order))

    def enter(self, call) -> None:
        path = None
        for i in range(6):
            c = (call.caps or {}).get(i)
            if c is not None and c.kind == R.CAP_CSTR and not c.fault:
                path = c.data
                break
        self.calls.setdefault(self._proc(call.pid), []).append([call.name, call, path])

    def new_task(self, parent_tid, child_tid, child_pid, how, ts) -> None:
        self._proc(child_pid)
        self.events.append(("new", self.order[child_pid]))

    def exited(self, pid, tid, code, ts) -> None:
        self.events.append(("exited", self._proc(pid), code))

    def streams(self) -> Dict[int, List[Tuple[str, object, bytes]]]:
        out = {}
        for proc, calls in self.calls.items():
            rows = []
            for name, call, path in calls:
                if name in RACY:
                    continue
                ok = None if not call.finished else not is_error_return(call.ret)
                rows.append((name, ok, path))
            out[proc] = rows
        return out


def _trace(argv, backend: str, **kw) -> Tuple[Collect, object]:
    obs = Collect()
    with open(os.devnull, "wb") as null:
        s = Session(argv, observers=[obs], backend=backend, stdout=null.fileno(),
                    stderr=null.fileno(), affinity="off", **kw)
        result = s.run()
    return obs, result


def _compare(argv) -> None:
    c_obs, c_res = _trace(argv, "c")
    p_obs, p_res = _trace(argv, "python")
    assert c_res.exit_code == p_res.exit_code
    assert p_res.engine_stats["syscall_stops"] > 0
    c, p = c_obs.streams(), p_obs.streams()
    assert sorted(c) == sorted(p), "not the same processes"
    for proc in c:
        assert c[proc] == p[proc], f"process #{proc} differs"
    assert sorted(c_obs.events) == sorted(p_obs.events)


@pytest.mark.parametrize("argv", [
    ["sh", "-c", "echo hi > /dev/null; ls / > /dev/null"],
    ["cat", "/etc/hostname"],
    ["cat", "/nonexistent/file"],
], ids=["sh-echo-ls", "cat", "cat-missing"])
def test_same_events_as_c_engine(argv):
    _compare(argv)


def test_same_events_fork_exec(progs):
    _compare([progs["fork_exec"]])


def test_cli_trace_backend_python():
    r = run_veil(["trace", "--backend", "python", "--", "/bin/true"], timeout=30)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines[0].startswith('execve("/bin/true", ["/bin/true"], ')
    assert any(l.startswith("openat(AT_FDCWD, ") and '= 3' in l for l in lines)
    assert lines[-1] == "+++ exited with 0 +++"


def test_cli_trace_backend_python_follows_forks(progs):
    r = run_veil(["trace", "-f", "--backend", "python", "-e", "trace=execve,exit_group",
                  "--", progs["fork_exec"]], timeout=30)
    assert r.returncode == 0, r.stderr
    assert '"/bin/true"' in r.stderr and "exit_group(3)" in r.stderr


def test_deny_hook_under_python_backend():
    seen = []

    def hook(stop):
        if stop.args.path == "/etc/hostname":
            seen.append(stop.pid)
            return Deny(errno.EACCES)
        return None

    with tempfile.TemporaryFile() as err:
        s = Session(["cat", "/etc/hostname"], backend="python", trace=(), stdout=err.fileno(),
                    stderr=err.fileno(), affinity="off")
        s.watch(["openat"], hook)
        result = s.run()
        err.seek(0)
        out = err.read().decode()
    assert seen
    assert result.exit_code == 1
    assert "Permission denied" in out


def test_emulate_and_exit_hook_under_python_backend():
    from veil.verdicts import Emulate

    s = Session(["sh", "-c", "exit 0"], backend="python", trace=(), affinity="off")
    s.watch(["getpid"], lambda stop: Emulate(4242))
    exits = []
    s.watch(["exit_group"], lambda stop: exits.append(stop.args[0]))
    assert s.run().exit_code == 0
    assert exits == [0]


def test_static_deny_rule_without_seccomp():
    """A deny rule (a kernel filter under C) is settled at the stop here: the
    dynamic loader's first openat fails, as it does under the C engine."""
    codes = {}
    for backend in ("c", "python"):
        obs = Collect()
        with open(os.devnull, "wb") as null:
            s = Session(["cat", "/etc/hostname"], backend=backend, trace="openat",
                        observers=[obs], stdout=null.fileno(), stderr=null.fileno(),
                        affinity="off")
            s.deny(["openat"], errno.ENOENT)
            codes[backend] = s.run().exit_code
        rets = [call.ret for _, call, _ in obs.calls[0]]
        assert rets and all(r == -errno.ENOENT for r in rets), backend
    assert codes["c"] == codes["python"] == 127
