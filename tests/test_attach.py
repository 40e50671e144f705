"""`veil trace -p PID`: attach to running processes, detach cleanly on Ctrl-C."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest

from conftest import popen_veil, proc_status, reap, wait_for

# a call line of the sleeper loop; with one traced task there is no pid column (strace -o -p PID),
# with several there is one ("PID " in a file, as strace -o -p A -p B writes)
LINE_RE = re.compile(r"^(?:\[pid +(\d+)\] |(\d+) +)?(?:nanosleep|clock_nanosleep|getppid)\(", re.M)


def line_pids(text, default=None):
    """pids of the sleeper-loop call lines (``default`` for lines without a pid column)."""
    return [int(a or b) if (a or b) else default for a, b in LINE_RE.findall(text)]


class Sleeper:
    """The sleeper program run natively (not under veil)."""

    def __init__(self, path, threads=0):
        self.proc = subprocess.Popen([path, str(threads)], stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        self.pid = int(self.proc.stdout.readline())

    def tids(self):
        try:
            return sorted(int(t) for t in os.listdir(f"/proc/{self.pid}/task"))
        except OSError:
            return []

    def ctx_switches(self):
        return int(proc_status(self.pid).get("voluntary_ctxt_switches", "0"))

    def stop(self):
        reap(self.proc)


@pytest.fixture
def sleeper_factory(progs):
    made = []

    def make(threads=0):
        s = Sleeper(progs["sleeper"], threads)
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop()


def _check_pid_columns(out, expected):
    """Several tasks traced into one file: every line says whose it is."""
    text = out.read_text() if out.exists() else ""
    pids = line_pids(text)
    assert len(pids) >= 8, f"too few loop lines in the trace: {text!r}"
    assert None not in pids, ("lines without a pid column although several tasks are traced:\n"
                              + "\n".join(text.splitlines()[:8]))
    assert set(pids) >= set(expected), f"seen {sorted(set(pids))}, expected {sorted(expected)}"


def _traced_by(status, veil_pid):
    """True if the task's tracer is veil (any thread of the veil process)."""
    tracer = status.get("TracerPid", "0")
    return tracer != "0" and os.path.exists(f"/proc/{veil_pid}/task/{tracer}")


def _attach(pids, out):
    args = ["trace", "-o", out]
    for p in pids:
        args += ["-p", str(p)]
    return popen_veil(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_lines(out, pred, timeout=15):
    def check():
        try:
            text = out.read_text()
        except OSError:
            return None
        return text if pred(text) else None
    return wait_for(check, timeout, 0.05)


def _assert_running_untraced(s: Sleeper):
    for tid in s.tids() or [s.pid]:
        st = proc_status(tid) if tid == s.pid else _task_status(s.pid, tid)
        assert st, f"{tid} is gone"
        assert st.get("TracerPid") == "0", f"task {tid} still traced: {st.get('TracerPid')}"
        assert st.get("State", "")[:1] not in ("T", "t"), f"task {tid} left stopped: {st.get('State')}"
    # it keeps running: its nanosleep loop goes on
    before = s.ctx_switches()
    time.sleep(1.0)
    assert s.proc.poll() is None, "the process died after the detach"
    assert s.ctx_switches() > before + 10, "the process does not run any more"
    for tid in s.tids():
        assert _task_status(s.pid, tid).get("State", "")[:1] not in ("T", "t")


def _task_status(pid, tid):
    try:
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return {}


def _detach(proc, timeout=5):
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        reap(proc)
        pytest.fail(f"veil did not detach within {timeout} s of SIGINT")
    return rc, time.monotonic() - t0, proc.stderr.read()


def _messages(text, err):
    """veil's attach/detach messages, wherever veil writes them (strace: stderr)."""
    return [line for line in (text + err).splitlines() if line.startswith("veil: Process ")]


def test_attach_and_detach(sleeper_factory, tmp_path):
    s = sleeper_factory()
    out = tmp_path / "t"
    proc = _attach([s.pid], out)
    try:
        text = _wait_lines(out, lambda t: len(LINE_RE.findall(t)) >= 4)
        assert text, f"no nanosleep/getppid lines in the trace: {out.read_text() if out.exists() else ''!r}"
        assert _traced_by(proc_status(s.pid), proc.pid)
        rc, elapsed, err = _detach(proc)
    finally:
        reap(proc)
    assert rc == 0, err
    assert "Traceback" not in err
    _assert_running_untraced(s)
    text = out.read_text()
    assert _messages(text, err) == [f"veil: Process {s.pid} attached", f"veil: Process {s.pid} detached"]
    assert set(line_pids(text, s.pid)) == {s.pid}
    assert re.search(rf"^getppid\(\)\s+= {os.getpid()}$", text, re.M), text[-2000:]


def test_detach_does_not_invent_results(sleeper_factory, tmp_path):
    """A call cut by the detach ends as `<detached ...>` (strace); it did not return `?`
    (that means the task exited), and nothing of the process follows the detach."""
    s = sleeper_factory()
    out = tmp_path / "t"
    proc = _attach([s.pid], out)
    try:
        assert _wait_lines(out, lambda t: len(LINE_RE.findall(t)) >= 4)
        rc, _, err = _detach(proc)
    finally:
        reap(proc)
    assert rc == 0, err
    lines = out.read_text().splitlines()
    assert not [line for line in lines if line.endswith("= ?")], lines[-4:]
    if f"veil: Process {s.pid} detached" in lines:
        assert lines[-1] == f"veil: Process {s.pid} detached", lines[-4:]


def _attach_many(out, pids, tasks):
    """Attach to ``pids``; check all ``tasks`` are traced, detach; return (text, stderr)."""
    proc = _attach(pids, out)
    try:
        assert _wait_lines(out, lambda t: len(LINE_RE.findall(t)) >= 10 * len(tasks)), \
            f"too few lines: {out.read_text() if out.exists() else ''!r}"
        for pid, tid in tasks:
            assert _traced_by(_task_status(pid, tid), proc.pid), f"task {tid} not traced by veil"
        rc, _, err = _detach(proc)
    finally:
        reap(proc)
    assert rc == 0, err
    assert "Traceback" not in err
    return out.read_text(), err


def test_attach_two_pids(sleeper_factory, tmp_path):
    a, b = sleeper_factory(), sleeper_factory()
    out = tmp_path / "t"
    text, err = _attach_many(out, [a.pid, b.pid], [(a.pid, a.pid), (b.pid, b.pid)])
    _assert_running_untraced(a)
    _assert_running_untraced(b)
    assert sorted(_messages(text, err)) == sorted(
        f"veil: Process {p} {w}" for p in (a.pid, b.pid) for w in ("attached", "detached"))
    _check_pid_columns(out, {a.pid, b.pid})


def test_attach_comma_separated(sleeper_factory, tmp_path):
    a, b = sleeper_factory(), sleeper_factory()
    out = tmp_path / "t"
    proc = popen_veil(["trace", "-o", out, "-p", f"{a.pid},{b.pid}"],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_lines(out, lambda t: len(LINE_RE.findall(t)) >= 20)
        for p in (a.pid, b.pid):
            assert _traced_by(proc_status(p), proc.pid)
        rc, _, err = _detach(proc)
    finally:
        reap(proc)
    assert rc == 0, err
    _assert_running_untraced(a)
    _assert_running_untraced(b)


def test_attach_all_threads(sleeper_factory, tmp_path):
    s = sleeper_factory(threads=3)
    assert wait_for(lambda: len(s.tids()) == 4, 5)
    tids = set(s.tids())
    out = tmp_path / "t"
    text, err = _attach_many(out, [s.pid], [(s.pid, t) for t in tids])
    _assert_running_untraced(s)
    msgs = _messages(text, err)
    for tid in tids:
        assert f"veil: Process {tid} attached" in msgs
    _check_pid_columns(out, tids)


def test_attach_sigterm_detaches_too(sleeper_factory, tmp_path):
    """With -p, veil is not the parent: SIGTERM to veil detaches, the process lives on."""
    s = sleeper_factory()
    out = tmp_path / "t"
    proc = _attach([s.pid], out)
    try:
        assert _wait_lines(out, lambda t: len(LINE_RE.findall(t)) >= 2)
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    finally:
        reap(proc)
    _assert_running_untraced(s)


def test_attach_sigkill_to_veil_does_not_kill_target(sleeper_factory, tmp_path):
    """Attached processes are not veil's: its death must not take them along (strace -p does
    not set EXITKILL either); the kernel detaches them."""
    s = sleeper_factory()
    out = tmp_path / "t"
    proc = _attach([s.pid], out)
    try:
        assert _wait_lines(out, lambda t: len(LINE_RE.findall(t)) >= 2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    finally:
        reap(proc)
    time.sleep(0.2)
    _assert_running_untraced(s)
