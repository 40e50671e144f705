"""Signals: to veil (SIGINT, SIGTERM, SIGKILL) and inside the tracee."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import psutil

from conftest import popen_veil, proc_status, reap, run_veil, wait_for


def _readline(proc, timeout=20):
    """One line of the traced program's stdout, without blocking forever."""
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            return None
        return proc.stdout.readline()
    finally:
        sel.close()


def _tracee_of(veil_pid, name, timeout=10):
    def find():
        try:
            for c in psutil.Process(veil_pid).children():
                if c.name() == name:
                    return c
        except psutil.Error:
            return None
        return None
    p = wait_for(find, timeout)
    assert p is not None, f"no {name} child under veil"
    return p


def test_sigint_to_veil_reaches_tracee(progs, tmp_path):
    marker = tmp_path / "marker"
    out = tmp_path / "t"
    proc = popen_veil(["trace", "-o", out, "--", progs["ignore_term"], marker],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _readline(proc) == "ready\n"
        os.kill(proc.pid, signal.SIGINT)  # si_code SI_USER, as kill(1) would send it
        rc = proc.wait(timeout=30)
        err = proc.stderr.read()
    finally:
        reap(proc)
    assert rc == 0, err
    assert "Traceback" not in err
    assert marker.read_text() == "got SIGINT\n"
    text = out.read_text()
    assert "--- SIGINT {si_signo=SIGINT" in text, text[-2000:]
    assert text.endswith("+++ exited with 0 +++\n"), text[-2000:]


def test_sigterm_ignored_by_tracee_is_not_fatal_to_it(progs, tmp_path):
    """SIGTERM goes to the tracee as it would without veil: ignore_term ignores it."""
    marker = tmp_path / "marker"
    proc = popen_veil(["trace", "-o", tmp_path / "t", "--", progs["ignore_term"], marker],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _readline(proc) == "ready\n"
        os.kill(proc.pid, signal.SIGTERM)
        time.sleep(0.5)
        assert proc.poll() is None, "veil ended although its tracee ignores SIGTERM"
        os.kill(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=30)
    finally:
        reap(proc)
    assert rc == 0
    assert marker.exists()


def test_sigterm_to_veil(tmp_path):
    proc = popen_veil(["trace", "-o", tmp_path / "t", "--", "sleep", "30"],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        sleeper = _tracee_of(proc.pid, "sleep")
        assert wait_for(lambda: sleeper.status() == psutil.STATUS_SLEEPING, 10)
        time.sleep(0.2)
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        rc = proc.wait(timeout=30)
        elapsed = time.monotonic() - t0
        err = proc.stderr.read()
    finally:
        reap(proc)
    assert rc == 143, err
    assert elapsed < 5
    assert "Traceback" not in err
    text = (tmp_path / "t").read_text()
    assert "+++ killed by SIGTERM +++" in text, text[-2000:]


def test_sigkill_to_veil_kills_tracee(progs, tmp_path):
    """PTRACE_O_EXITKILL: veil dying must kill its tracees, never free them."""
    proc = popen_veil(["trace", "-o", tmp_path / "t", "--", progs["sleeper"]],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = _readline(proc)
        assert line and line.strip().isdigit(), line
        pid = int(line)
        time.sleep(0.2)
        assert psutil.pid_exists(pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)

        def gone():
            try:
                return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return True
        dead = wait_for(gone, 2)
        status = proc_status(pid)
    finally:
        reap(proc)
    if not dead:
        os.kill(pid, signal.SIGKILL)
    assert dead, f"the tracee survived veil's SIGKILL: {status.get('State')} TracerPid {status.get('TracerPid')}"


def test_signal_decoding(progs, tmp_path):
    out = tmp_path / "t"
    r = run_veil(["trace", "-o", out, "--", progs["signals"]])
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    pid = int(re.search(r"^getpid\(\)\s+= (\d+)$", text, re.M).group(1))
    sigs = re.findall(r"^--- SIGUSR1 \{(.*)\} ---$", text, re.M)
    assert sigs == [f"si_signo=SIGUSR1, si_code=SI_TKILL, si_pid={pid}, si_uid={os.getuid()}",
                    f"si_signo=SIGUSR1, si_code=SI_USER, si_pid={pid}, si_uid={os.getuid()}"], text
    assert re.search(r"^tgkill\(\d+, \d+, SIGUSR1\)\s+= 0$", text, re.M), text
    assert re.search(rf"^kill\({pid}, SIGUSR1\)\s+= 0$", text, re.M), text
    assert re.search(r"^rt_sigaction\(SIGUSR1, \{sa_handler=0x[0-9a-f]+, sa_mask=\[\], "
                     r"sa_flags=SA_RESTORER, sa_restorer=0x[0-9a-f]+\}, NULL, 8\) = 0$", text, re.M), text
    # the handler returns through rt_sigreturn, once per signal
    assert len(re.findall(r"^rt_sigreturn\(", text, re.M)) == 2
    assert text.endswith("+++ exited with 0 +++\n")


def test_sigstop_sigcont(progs, tmp_path):
    out = tmp_path / "t"
    proc = popen_veil(["trace", "-f", "-o", out, "--", progs["stopcont"]],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _readline(proc) == "ready\n"
        tracee = _tracee_of(proc.pid, "stopcont")
        os.kill(tracee.pid, signal.SIGSTOP)
        stopped = wait_for(lambda: proc_status(tracee.pid).get("State", "")[:1] in ("T", "t"), 5)
        state = proc_status(tracee.pid).get("State")
        time.sleep(0.3)
        still = proc_status(tracee.pid).get("State", "")[:1] in ("T", "t")
        os.kill(tracee.pid, signal.SIGCONT)
        rc = proc.wait(timeout=20)
        err = proc.stderr.read()
    finally:
        reap(proc)
    text = out.read_text()
    assert stopped and still, f"the tracee did not stay stopped: {state}"
    assert rc == 0, err
    assert re.search(r"^\d+ +--- SIGSTOP \{si_signo=SIGSTOP, si_code=SI_USER", text, re.M), text[-2000:]
    assert re.search(r"^\d+ +--- stopped by SIGSTOP ---$", text, re.M), text[-2000:]
    assert re.search(r"^\d+ +--- SIGCONT \{si_signo=SIGCONT, si_code=SI_USER", text, re.M), text[-2000:]
    assert text.endswith("+++ exited with 0 +++\n"), text[-2000:]


def test_tracee_stdio_with_ctrl_c_group(progs, tmp_path):
    """Ctrl-C in a terminal signals the whole process group: the tracee gets
    SIGINT once (not twice), exits 0 and so does veil."""
    marker = tmp_path / "marker"
    proc = popen_veil(["trace", "-o", tmp_path / "t", "--", progs["ignore_term"], marker],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                      start_new_session=True)
    try:
        assert _readline(proc) == "ready\n"
        os.killpg(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=30)
    finally:
        reap(proc)
    assert rc == 0
    assert marker.read_text() == "got SIGINT\n"
    text = (tmp_path / "t").read_text()
    assert len(re.findall(r"^--- SIGINT ", text, re.M)) == 1, text[-2000:]
