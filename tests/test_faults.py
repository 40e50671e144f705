"""Faults: veil killed mid-run, tracees killed by signals, job control from an
interactive shell, a tracee already traced by someone else, out-of-memory in
the tracee, a full disk under the trace file.

In every case veil leaves no process running, stopped or traced (the autouse
``no_leftover_processes`` fixture checks) and keeps the tracee's output and
exit status.
"""
from __future__ import annotations

import os
import pty
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest

from conftest import popen_veil, proc_status, reap, run_veil, veil_cmd, wait_for

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__import__("veil").__file__)))


def _descendants(pid):
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _alive(p):
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# --- veil killed with SIGKILL ---------------------------------------------------------

TREE = r"""
import os, socket, subprocess, sys, threading, time
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(8)
conns = [socket.create_connection(srv.getsockname()) for _ in range(3)]
peers = [srv.accept()[0] for _ in conns]
def chatter():
    while True:
        for c, p in zip(conns, peers):
            c.send(b"x"); p.recv(1)
        time.sleep(0.005)
threading.Thread(target=chatter, daemon=True).start()
kids = [subprocess.Popen(["sleep", "60"]),
        subprocess.Popen(["sh", "-c", "while :; do /bin/true; done"]),
        subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(0.01)"])]
print("ready", flush=True)
for k in kids:
    k.wait()
"""


@pytest.mark.parametrize("opts", [["-r", "/", "-b", "/tmp"], ["--sockets-out", "{tmp}/s.json"],
                                  ["-r", "/", "--sockets-out", "{tmp}/s.json", "-o", "{tmp}/t"]],
                         ids=["layout", "sockets", "layout+sockets+trace"])
def test_sigkill_to_veil_run_kills_the_whole_tree(tmp_path, opts):
    """EXITKILL on every tracee: a process tree (threads, sockets, an exec loop,
    children of children) dies with veil; nothing stays stopped or traced."""
    opts = [o.format(tmp=tmp_path) for o in opts]
    proc = popen_veil(["run", *opts, "--", sys.executable, "-c", TREE],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n", proc.stderr.read() if proc.poll() else ""
        tree = wait_for(lambda: (lambda d: d if len(d) >= 4 else None)(_descendants(proc.pid)), 10)
        assert tree, "the traced tree did not start"
        time.sleep(0.3)  # the exec loop and the socket chatter are running
        tree = _descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        left = wait_for(lambda: not any(_alive(p) for p in tree), 5)
        survivors = [(p.pid, proc_status(p.pid).get("State"), proc_status(p.pid).get("TracerPid"))
                     for p in tree if _alive(p)]
    finally:
        reap(proc)
    assert left, f"tracees survived veil's SIGKILL: {survivors}"


def test_sigkill_to_veil_attached_leaves_the_process_running_untraced(progs, tmp_path):
    """Attached with -p (no EXITKILL: the process is not veil's to kill): veil
    killed at any moment of the trace leaves every thread running, untraced."""
    sleeper = subprocess.Popen([progs["sleeper"], "3"], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(sleeper.stdout.readline())
        tids = os.listdir(f"/proc/{pid}/task")
        for delay in (0.05, 0.3, 0.7):
            proc = popen_veil(["trace", "-o", tmp_path / "t", "-p", pid],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                assert wait_for(lambda: proc_status(pid).get("TracerPid", "0") != "0", 10)
                time.sleep(delay)
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
            finally:
                reap(proc)

            def untraced_and_running():
                sts = [proc_status(f"{pid}/task/{t}") for t in tids]
                return all(st.get("TracerPid") == "0" and st.get("State", "")[:1] in "SR"
                           for st in sts)
            assert wait_for(untraced_and_running, 5), \
                [proc_status(f"{pid}/task/{t}") for t in tids]
        assert sleeper.poll() is None
    finally:
        reap(sleeper)


# --- the tracee killed by a signal ----------------------------------------------------

def _native_core_flag(prog, tmp_path, core_limit):
    """Did the kernel dump core for the program run natively with this limit?"""
    def limit():
        resource.setrlimit(resource.RLIMIT_CORE, (core_limit, core_limit))
    p = subprocess.Popen([prog, "SEGV"], cwd=tmp_path, preexec_fn=limit)
    _, status = os.waitpid(p.pid, 0)
    p.returncode = -1  # reaped here
    for f in tmp_path.glob("core*"):
        f.unlink()
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSEGV
    return os.WCOREDUMP(status)


@pytest.mark.parametrize("core_limit", [0, resource.RLIM_INFINITY], ids=["no-core", "core"])
def test_tracee_killed_by_sigsegv_reported_like_a_shell(progs, tmp_path, core_limit):
    """exit 128+11 and one line saying so, with "(core dumped)" exactly when the
    kernel dumped core (bash: "Segmentation fault (core dumped)")."""
    dumped = _native_core_flag(progs["killself"], tmp_path, core_limit)
    lim = "unlimited" if core_limit == resource.RLIM_INFINITY else "0"
    r = run_veil(["run", "--rlimit", f"core={lim}:{lim}", "--", progs["killself"], "SEGV"],
                 cwd=tmp_path)
    assert r.returncode == 139, r.stderr
    assert r.stderr == f"veil: {progs['killself']} killed by SIGSEGV" \
        + (" (core dumped)" if dumped else "") + "\n"
    r = run_veil(["trace", "-o", tmp_path / "t", "--", "sh", "-c",
                  f"ulimit -c {lim}; exec {progs['killself']} SEGV"], cwd=tmp_path)
    assert r.returncode == 139, r.stderr
    core = " (core dumped)" if dumped else ""
    assert r.stderr.endswith(f"killed by SIGSEGV{core}\n"), r.stderr
    assert (tmp_path / "t").read_text().endswith(f"+++ killed by SIGSEGV{core} +++\n")


def test_tracee_killed_by_sigkill_from_outside(progs, tmp_path):
    proc = popen_veil(["run", "-o", tmp_path / "t", "--", progs["sleeper"], "3"],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pid = int(proc.stdout.readline())
        time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        rc = proc.wait(timeout=30)
        err = proc.stderr.read()
    finally:
        reap(proc)
    assert rc == 137
    assert err == f"veil: {progs['sleeper']} killed by SIGKILL\n"
    text = (tmp_path / "t").read_text()
    # every thread's end is in the trace, the process's kill last
    assert re.search(rf"^{pid} +\+\+\+ killed by SIGKILL \+\+\+\n\Z", text, re.M), text[-1000:]
    assert len(re.findall(r"^\d+ +\+\+\+ killed by SIGKILL \+\+\+$", text, re.M)) == 4


def test_tracee_ignoring_sigterm_under_run(progs, tmp_path):
    """SIGTERM to `veil run` goes to the program, which ignores it: both go on;
    a SIGINT it handles then ends it with its own status."""
    marker = tmp_path / "marker"
    proc = popen_veil(["run", "-r", "/", "--", progs["ignore_term"], marker],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        for _ in range(3):
            os.kill(proc.pid, signal.SIGTERM)
            time.sleep(0.2)
        assert proc.poll() is None, "veil ended although its tracee ignores SIGTERM"
        os.kill(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=30)
        err = proc.stderr.read()
    finally:
        reap(proc)
    assert rc == 0 and err == ""
    assert marker.read_text() == "got SIGINT\n"


# --- job control from an interactive shell ----------------------------------------------

class Terminal:
    """An interactive bash on a pseudo-terminal, driven like a user would."""

    def __init__(self, cwd):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "dumb", "PS1": "$ ",
               "PYTHONPATH": SRC, "HOME": str(cwd), "LC_ALL": "C"}
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: bash on the terminal
            try:
                os.chdir(cwd)
                os.execvpe("bash", ["bash", "--norc", "--noprofile", "-i"], env)
            finally:
                os._exit(127)
        self.out = b""

    def read(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                try:
                    self.out += os.read(self.fd, 65536)
                except OSError:
                    return

    def read_until(self, pattern, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.out)
            if m:
                return m
            self.read(0.1)
        raise AssertionError(f"{pattern!r} not seen on the terminal:\n"
                             + self.out.decode(errors="replace")[-3000:])

    def send(self, data: bytes):
        os.write(self.fd, data)

    def close(self):
        try:
            self.send(b"exit\n")
            self.read(0.5)
        except OSError:
            pass
        for p in _descendants(self.pid):
            try:
                p.kill()
            except psutil.Error:
                pass
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self.fd)


@pytest.fixture
def terminal(tmp_path):
    t = Terminal(tmp_path)
    yield t
    t.close()


COUNT = "for i in 1 2 3 4 5 6 7 8; do echo line$i; sleep 0.15; done; exit 7"
VEIL = " ".join(veil_cmd([]))


def _traced_tasks_of(shell_pid):
    return [p for p in _descendants(shell_pid) if proc_status(p.pid).get("TracerPid", "0") != "0"]


@pytest.mark.parametrize("mode", [["trace", "-f", "-o", "t"], ["run", "-r", "/", "-o", "t"]],
                         ids=["trace", "run"])
def test_ctrl_z_then_fg(terminal, tmp_path, mode):
    """Ctrl-Z stops veil and its tracee (the terminal's foreground group); the
    shell shows the job stopped; fg continues both and the program finishes
    with all its output and its exit status."""
    terminal.read_until(rb"\$ $")
    terminal.send(f"{VEIL} {' '.join(mode)} -- sh -c '{COUNT}'\n".encode())
    terminal.read_until(rb"line2\r\n")
    terminal.send(b"\x1a")  # Ctrl-Z: SIGTSTP to the foreground process group
    terminal.read_until(rb"Stopped")
    traced = wait_for(lambda: _traced_tasks_of(terminal.pid), 5)
    assert traced, "no traced process under the shell"
    time.sleep(0.5)
    states = {p.pid: proc_status(p.pid).get("State", "?")[:1] for p in _descendants(terminal.pid)}
    assert set(states.values()) <= {"T", "t"}, f"not everything stopped: {states}"
    before = terminal.out.count(b"line")
    terminal.read(0.5)
    assert terminal.out.count(b"line") == before, "the program ran on while stopped"
    terminal.send(b"fg\n")
    terminal.read_until(rb"line8\r\n")
    terminal.send(b"echo status=$?\n")
    terminal.read_until(rb"status=(\d+)")
    text = terminal.out.decode(errors="replace")
    lines = re.findall(r"line(\d)\r\n", text)
    assert lines == [str(i) for i in range(1, 9)], text
    assert "status=7" in text, text
    assert (tmp_path / "t").read_text().rstrip().endswith("+++ exited with 7 +++")
    assert not _traced_tasks_of(terminal.pid)


def test_ctrl_z_cat_reading_the_terminal(terminal, tmp_path):
    """A traced cat reading the terminal: Ctrl-Z, fg, and what is typed after
    still reaches it (strace shows the same SIGCONT and the read restarted)."""
    terminal.read_until(rb"\$ $")
    terminal.send(f"{VEIL} trace -o t -- cat\n".encode())
    assert wait_for(lambda: _traced_tasks_of(terminal.pid), 10)
    time.sleep(0.3)
    terminal.send(b"\x1a")
    terminal.read_until(rb"Stopped")
    terminal.send(b"fg\n")
    terminal.read_until(rb"cat\r\n")
    time.sleep(0.3)
    terminal.send(b"hello\n")
    terminal.read_until(rb"hello\r\nhello\r\n")
    terminal.send(b"\x04")  # end of input
    terminal.read_until(rb"\$ $")
    terminal.send(b"echo status=$?\n")
    terminal.read_until(rb"status=0")
    text = (tmp_path / "t").read_text()
    assert re.search(r'^read\(0, "hello\\n", \d+\) += 6$', text, re.M), text[-2000:]
    assert re.search(r"^--- SIGCONT \{si_signo=SIGCONT, si_code=SI_USER", text, re.M), text[-2000:]
    assert text.endswith("+++ exited with 0 +++\n")


def test_kill_stop_cont_from_outside(terminal, tmp_path):
    """kill -STOP / -CONT of the job's process group from another process."""
    terminal.read_until(rb"\$ $")
    terminal.send(f"{VEIL} trace -f -o t -- sh -c '{COUNT}'\n".encode())
    terminal.read_until(rb"line2\r\n")
    traced = _traced_tasks_of(terminal.pid)
    assert traced
    pgid = os.getpgid(traced[0].pid)
    os.killpg(pgid, signal.SIGSTOP)
    terminal.read_until(rb"Stopped")
    time.sleep(0.3)
    before = terminal.out.count(b"line")
    terminal.read(0.6)
    assert terminal.out.count(b"line") == before, "the program ran on while stopped"
    os.killpg(pgid, signal.SIGCONT)
    terminal.send(b"fg\n")  # the shell saw the job stop: give it the terminal back
    terminal.read_until(rb"line8\r\n")
    terminal.send(b"echo status=$?\n")
    terminal.read_until(rb"status=7")
    text = (tmp_path / "t").read_text()
    # veil is stopped too, so whether it saw the group-stops is a race (strace
    # shows none); the SIGCONT that ended them is always shown
    assert re.search(r"^\d+ +--- SIGCONT \{si_signo=SIGCONT, si_code=SI_USER", text, re.M), \
        text[-2000:]
    assert text.rstrip().endswith("+++ exited with 7 +++")
    lines = re.findall(r"line(\d)\r\n", terminal.out.decode(errors="replace"))
    assert lines == [str(i) for i in range(1, 9)]


# --- a tracee already traced ----------------------------------------------------------

def test_attach_to_a_process_strace_holds(progs, strace, tmp_path):
    sleeper = subprocess.Popen([progs["sleeper"]], stdout=subprocess.PIPE, text=True)
    holder = None
    try:
        pid = int(sleeper.stdout.readline())
        holder = subprocess.Popen([strace, "-o", str(tmp_path / "s"), "-p", str(pid)],
                                  stderr=subprocess.DEVNULL)
        assert wait_for(lambda: proc_status(pid).get("TracerPid", "0") != "0", 10)
        r = run_veil(["trace", "-o", tmp_path / "t", "-p", pid], timeout=20)
        assert r.returncode != 0
        assert r.stderr == (f"veil: attach {pid}: process {pid} is already traced by "
                            f"process {holder.pid} (strace)\n"), r.stderr
        # strace still holds it, running; veil left nothing stopped
        st = proc_status(pid)
        assert st.get("TracerPid") == str(holder.pid), st
        assert st.get("State", "")[:1] in ("S", "R"), st
    finally:
        if holder is not None:
            holder.terminate()
            holder.wait(timeout=10)
        reap(sleeper)


# --- out of memory in the tracee ----------------------------------------------------------

@pytest.mark.parametrize("how,code,err", [
    ("report", 3, ""), ("abort", 134, "veil: {prog} killed by SIGABRT\n")])
def test_tracee_out_of_memory(progs, tmp_path, how, code, err):
    """RLIMIT_AS: malloc fails with ENOMEM in the tracee (veil is not limited);
    the program's own handling decides, veil reports its status."""
    prog = progs["fault_oom"]
    r = run_veil(["run", "--rlimit", "as=268435456", "-o", tmp_path / "t", "--", prog, how])
    assert r.returncode == code, r.stderr
    assert r.stderr == err.format(prog=prog)
    if how == "report":
        m = re.fullmatch(r"(\d+) MiB then ENOMEM\n", r.stdout)
        assert m and 100 < int(m.group(1)) < 256, r.stdout
    text = (tmp_path / "t").read_text()
    assert re.search(r"^\d+ +mmap\(NULL, \d+, .*\) += -1 ENOMEM \(Cannot allocate memory\)$",
                     text, re.M), text[-2000:]


# --- a full disk under the trace file ------------------------------------------------------

LONG = "i=0; while [ $i -lt 300 ]; do ls / > /dev/null; i=$((i+1)); done; echo finished; exit 3"


@pytest.mark.parametrize("cmd", [["run"], ["trace", "-f"], ["trace", "--format", "binary"]],
                         ids=["run", "trace", "binary"])
def test_disk_full_on_a_small_tmpfs(tmp_path, cmd):
    """A 64 KiB tmpfs in a private mount namespace fills up under the trace file:
    veil says so once, the program runs to its end with its output and status."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        pytest.skip("needs root and unshare(1) for a private mount namespace")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    trace = mnt / "t.veil"
    inner = (f"mount -t tmpfs -o size=64k veil-test {mnt} && exec "
             + " ".join(veil_cmd([*cmd, "-o", trace, "--", "sh", "-c", f"'{LONG}'"])))
    r = subprocess.run([unshare, "--mount", "--propagation", "private", "sh", "-c", inner],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": SRC})
    assert r.stdout == "finished\n", r.stderr
    assert r.returncode == 3, r.stderr
    assert r.stderr == (f"veil: {trace}: No space left on device: the trace stops there; "
                        f"the program ran on\n"), r.stderr
    assert not os.path.ismount(mnt)  # the tmpfs lived in the private namespace only
