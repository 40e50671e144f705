"""pytest plugin (entry point ``pytest11``): run code under a syscall policy.

    def test_report_survives_full_disk(veil_run):
        r = veil_run(["./report", "out.txt"], inject={"write": "ENOSPC"})
        assert r.exit_code != 0, "the program claimed success on a full disk"

    def test_save(veil_call, tmp_path):
        r = veil_call(save_report, tmp_path / "r.txt", inject={"write": "ENOSPC"})
        assert isinstance(r.exception, OSError)

``inject`` maps syscall names (or sets such as "%file") to an error name, or to
the keyword arguments of :meth:`veil.Policy.inject` (``{"error": "EIO", "when":
"2"}``); ``policy`` takes a veil.Policy or a list of them.

The plugin loads in every pytest run of an environment that has veil, so it
imports nothing of veil's engine until a fixture is used; a fixture skips its
test where the kernel does not let this process trace (``ptrace_scope`` 3, a
seccomp profile that refuses ptrace).
"""
from __future__ import annotations

import errno
import functools
import mmap
import os
import pickle
import sys
import tempfile
import traceback
from dataclasses import dataclass

import pytest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from .policy import Policy
    from .spec import RunSpec


_BOX_SIZE = 16 << 20


@dataclass
class RunResult:
    exit_code: int
    stdout: str
    stderr: str
    signal: int | None = None


@dataclass
class CallResult:
    exit_code: int
    value: Any = None
    exception: BaseException | None = None
    traceback: str = ""


def _policies(policy, inject) -> list[Policy]:
    from .policy import Policy
    out = [] if policy is None else list(policy) if isinstance(policy, (list, tuple)) else [policy]
    if inject:
        p = Policy()
        for names, spec in inject.items():
            kw = {"error": spec} if isinstance(spec, (str, int)) else dict(spec)
            p.inject(names, **kw)
        out.insert(0, p)
    return out


def run_under_policy(argv: Sequence[str], *, policy=None, inject: dict | None = None,
                     cwd: str | None = None, env: dict[str, str] | None = None,
                     spec: RunSpec | None = None) -> RunResult:
    """Run a command as ``spec`` describes (or in ``cwd`` with ``env``) under
    policies, confined as ``veil run`` would; capture its stdout and stderr."""
    from .errors import VeilError
    from .session import Session
    from .spec import RunSpec
    if spec is None:
        spec = RunSpec(environment={"cwd": None if cwd is None else str(cwd), "env": env,
                                    "clear_env": env is not None})
    elif cwd is not None or env is not None:
        raise VeilError("veil_run(spec=...): give cwd and env in the spec")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        session = Session(list(map(str, argv)), spec=spec, policies=_policies(policy, inject),
                          stdin=os.open(os.devnull, os.O_RDONLY), stdout=out.fileno(),
                          stderr=err.fileno())
        try:
            result = session.run()
        finally:
            os.close(session.stdio[0])
        out.seek(0)
        err.seek(0)
        return RunResult(result.exit_code, out.read().decode(errors="replace"),
                         err.read().decode(errors="replace"), result.signal)


def call_under_policy(fn: Callable, *args, policy=None, inject: dict | None = None,
                      **kwargs) -> CallResult:
    """Call ``fn(*args, **kwargs)`` in a forked child traced under the policies.

    The child waits until veil has attached, runs the call, and sends back its
    value or exception (pickled).  Attached processes are traced without the
    seccomp prefilter, so every syscall of the child stops once (slower, same
    verdicts)."""
    from .session import Session
    from .spec import RunSpec
    go_r, go_w = os.pipe()
    # the outcome comes back through shared memory: no syscall the policy could touch
    box = mmap.mmap(-1, _BOX_SIZE)
    pid = os.fork()
    if pid == 0:  # the child: wait to be traced, call, report, leave
        code = 0
        try:
            os.close(go_w)
            os.read(go_r, 1)
            try:
                outcome = ("value", fn(*args, **kwargs))
            except BaseException as e:  # noqa: BLE001 - reported to the parent
                outcome = ("exception", e, traceback.format_exc())
                code = 1
            try:
                data = pickle.dumps(outcome)
            except Exception as e:  # an unpicklable result
                data = pickle.dumps(("exception", RuntimeError(f"unpicklable result: {e}"), ""))
            if len(data) > _BOX_SIZE - 8:
                data = pickle.dumps(("exception", RuntimeError("result too large"), ""))
            box[8:8 + len(data)] = data
            box[0:8] = len(data).to_bytes(8, "little")
        finally:
            os._exit(code)
    os.close(go_r)

    def release() -> None:
        os.write(go_w, b"g")
        os.close(go_w)

    try:
        session = Session(pids=[pid], spec=RunSpec(), policies=_policies(policy, inject),
                          after_start=release)
        result = session.run()
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        size = int.from_bytes(box[0:8], "little")
        raw = box[8:8 + size]
        if not size:
            return CallResult(result.exit_code, exception=RuntimeError(
                f"the child ended without a result (exit status {result.exit_code})"))
        outcome = pickle.loads(raw)
        if outcome[0] == "value":
            return CallResult(result.exit_code, value=outcome[1])
        return CallResult(result.exit_code, exception=outcome[1], traceback=outcome[2])
    finally:
        box.close()


@functools.lru_cache(maxsize=None)
def ptrace_unavailable() -> str | None:
    """Why this process cannot trace a child, or None: a forked child asks to be
    traced (PTRACE_TRACEME) and says whether the kernel let it."""
    if sys.platform != "linux" or os.uname().machine != "x86_64":
        return f"veil runs on x86_64 Linux, not {sys.platform} {os.uname().machine}"
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    pid = os.fork()
    if pid == 0:
        ok = libc.ptrace(0, 0, None, None) == 0          # PTRACE_TRACEME
        os._exit(0 if ok else min(ctypes.get_errno(), 255) or 255)
    _, status = os.waitpid(pid, 0)
    err = os.waitstatus_to_exitcode(status)
    if err == 0:
        return None
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            scope = f" (kernel.yama.ptrace_scope = {f.read().strip()})"
    except OSError:
        scope = ""
    return f"ptrace is not permitted here: {errno.errorcode.get(err, err)}{scope}"


def _traceable() -> None:
    reason = ptrace_unavailable()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def veil_run():
    """``veil_run(argv, inject={...}, policy=...) -> RunResult(exit_code, stdout, stderr)``"""
    _traceable()
    return run_under_policy


@pytest.fixture
def veil_call():
    """``veil_call(fn, *args, inject={...}, policy=...) -> CallResult(exit_code, value, exception)``"""
    _traceable()
    return call_under_policy
