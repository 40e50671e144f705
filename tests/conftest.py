"""Shared fixtures for veil's tests.

* ``progs``: every ``tests/progs/*.c`` compiled once per session with gcc
  (``-O1 -pthread``) into a temporary directory; a dict name -> path.
* ``run_veil(args, **kw)``: ``sys.executable -m veil ARGS`` with a timeout
  (60 s by default) so that a hang fails the test instead of blocking it.
  Never run veil through the ``veil``/``python3`` on PATH: on some machines
  those are shims that change the environment.
* ``strace_available`` / ``require_strace()``: the strace comparisons FAIL
  (not skip) when strace is missing; they all use the ``strace`` fixture, so
  ``grep -n "strace)" tests/*.py`` lists them.
* ``no_leftover_processes``: snapshot of our children before and after a test;
  any child left stopped, traced or alive fails the test (and is killed).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest

HERE = Path(__file__).resolve().parent
PROGS_DIR = HERE / "progs"
DEFAULT_TIMEOUT = 60

STRACE = shutil.which("strace")
strace_available = STRACE is not None


# the layout engine `veil run` is given in tests marked layout_engines(...): each such
# test runs once per engine named (see the layout_engine fixture)
LAYOUT_ENGINE: Optional[str] = None


def veil_cmd(args: Sequence[str]) -> List[str]:
    args = [str(a) for a in args]
    if LAYOUT_ENGINE and args[:1] == ["run"] and "--layout-engine" not in args:
        args = ["run", "--layout-engine", LAYOUT_ENGINE, *args[1:]]
    return [sys.executable, "-m", "veil", *args]


def pytest_generate_tests(metafunc):
    marker = metafunc.definition.get_closest_marker("layout_engines")
    if marker is not None:
        metafunc.parametrize("layout_engine", marker.args, indirect=True)


@pytest.fixture(autouse=True)
def layout_engine(request):
    """The engine `veil run` is given in this test (None: veil's own choice)."""
    global LAYOUT_ENGINE
    LAYOUT_ENGINE = getattr(request, "param", None)
    yield LAYOUT_ENGINE
    LAYOUT_ENGINE = None


def run_veil(args: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT, check: bool = False,
             text: bool = True, env: Optional[Dict[str, str]] = None, **kw) -> subprocess.CompletedProcess:
    """Run ``python -m veil ARGS``; stdout and stderr captured (text by default)."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("stdin", subprocess.DEVNULL)
    try:
        return subprocess.run(veil_cmd(args), timeout=timeout, check=check, text=text,
                              env=env, **kw)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"veil {' '.join(map(str, args))} did not finish within {timeout} s\n"
                    f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}"[:20000])


def _foreground_signals() -> None:
    # veil keeps a signal that was ignored when it started (nohup, a background job
    # of a script): the tests that signal veil run it as a foreground job would be
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def popen_veil(args: Sequence[str], **kw) -> subprocess.Popen:
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("preexec_fn", _foreground_signals)
    return subprocess.Popen(veil_cmd(args), **kw)


def require_strace() -> str:
    if not strace_available:
        pytest.fail("strace is not installed: the strace comparison tests need it "
                    "(apt-get install strace)")
    return STRACE


def wait_for(pred, timeout: float, interval: float = 0.02):
    """Poll ``pred()`` until it returns something true; return it, or None on timeout."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            return None
        time.sleep(interval)


def proc_status(pid: int) -> Dict[str, str]:
    """/proc/PID/status as a dict (empty if the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return {}


def kill_quietly(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def reap(proc: subprocess.Popen, timeout: float = 5) -> None:
    """Kill (if needed) and wait for a Popen we started."""
    if proc.poll() is None:
        kill_quietly(proc.pid)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass


# --- fixtures -------------------------------------------------------------------

@pytest.fixture(scope="session")
def progs(tmp_path_factory) -> Dict[str, str]:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.fail("gcc is needed to build tests/progs/*.c")
    out = tmp_path_factory.mktemp("progs")
    built = {}
    for src in sorted(PROGS_DIR.glob("*.c")):
        exe = out / src.stem
        r = subprocess.run([gcc, "-O1", "-pthread", "-Wall", "-o", str(exe), str(src)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        if r.returncode != 0:
            pytest.fail(f"cannot compile {src.name}:\n{r.stdout}")
        built[src.stem] = str(exe)
    return built


@pytest.fixture(scope="session")
def strace() -> str:
    """Path of strace; fails (does not skip) when it is missing."""
    return require_strace()


@pytest.fixture
def clean_env() -> Dict[str, str]:
    """A small fixed environment, the same for strace, veil and native runs."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C", "HOME": os.environ.get("HOME", "/root")}


def _become_subreaper() -> None:
    """Orphaned descendants (e.g. tracees a dead veil left behind) are reparented
    to this process instead of init, so the leftover check can see them."""
    import ctypes
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def pytest_configure(config):
    _become_subreaper()


def _children() -> Dict[int, "object"]:
    import psutil
    try:
        return {p.pid: p for p in psutil.Process(os.getpid()).children(recursive=True)}
    except psutil.Error:
        return {}


@pytest.fixture(autouse=True)
def no_leftover_processes(request):
    """After each test, no process the test started may be left alive, stopped or traced."""
    import psutil
    before = set(_children())
    yield
    extra = {}

    def leftovers():
        nonlocal extra
        extra = {pid: p for pid, p in _children().items() if pid not in before}
        alive = {}
        for pid, p in extra.items():
            try:
                st = p.status()
            except psutil.Error:
                continue
            if st == psutil.STATUS_ZOMBIE:
                # a zombie reparented to us (we are a subreaper): it is dead, reap it
                try:
                    if p.ppid() == os.getpid():
                        os.waitpid(pid, os.WNOHANG)
                except (psutil.Error, ChildProcessError):
                    pass
                continue
            alive[pid] = st
        return alive

    # give processes that are exiting a moment
    alive = leftovers()
    end = time.monotonic() + 3
    while alive and time.monotonic() < end:
        time.sleep(0.05)
        alive = leftovers()
    if alive:
        desc = []
        for pid, st in alive.items():
            try:
                cmd = " ".join(psutil.Process(pid).cmdline())
            except psutil.Error:
                cmd = "?"
            desc.append(f"pid {pid} state {st} tracer {proc_status(pid).get('TracerPid', '?')} [{cmd}]")
        for pid in alive:
            kill_quietly(pid)
        for pid in alive:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        pytest.fail("processes left behind by the test:\n  " + "\n  ".join(desc), pytrace=False)
