"""The program's process as veil makes it (csrc/spawn.c): a child of veil, with
the signal state, arguments and environment it was given, whether veil made it
with fork(2) or with clone(2) sharing veil's memory until its execve."""
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import run_veil, veil_cmd

# the lines of /proc/PID/status that say what a process does with each signal
SIGNAL_LINES = ("SigBlk", "SigIgn", "SigCgt")
# the ways veil makes the process: clone(2) for a plain run, fork(2) where the child
# needs a process of its own before its execve (-i: set*id calls; -r: namespaces)
MODES = {"trace": ["trace", "-o", os.devnull, "--"], "run": ["run", "--"],
         "run -i": ["run", "-i", f"{os.getuid()}:{os.getgid()}", "--"]}


def _signal_state(argv_prefix):
    """What a program started by ``argv_prefix`` ignores, blocks and catches when
    its parent ignores SIGINT and SIGHUP and blocks SIGUSR2, as nohup or a shell's
    background job would leave it."""
    def parent_state():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    out = subprocess.run([*argv_prefix, "grep", "^Sig", "/proc/self/status"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL, preexec_fn=parent_state, timeout=60)
    assert out.returncode == 0, out.stderr
    return {k: v.strip() for k, v in (line.split(":") for line in out.stdout.splitlines())
            if k in SIGNAL_LINES}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_program_starts_with_the_signal_state_it_was_given(mode):
    """Ignored signals stay ignored, blocked ones blocked, and no handler of veil's
    (Python's SIGINT handler, its ignored SIGPIPE and SIGXFSZ) reaches the program:
    the same state as the program run directly."""
    native = _signal_state([])
    under_veil = _signal_state(veil_cmd(MODES[mode]))
    assert int(native["SigIgn"], 16) & (1 << (signal.SIGINT - 1)), native
    assert int(native["SigBlk"], 16) & (1 << (signal.SIGUSR2 - 1)), native
    assert under_veil == native


@pytest.mark.parametrize("mode", sorted(MODES))
def test_parent_is_veil(mode):
    proc = subprocess.Popen(veil_cmd([*MODES[mode], "sh", "-c", "echo $PPID"]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert int(out) == proc.pid


@pytest.mark.parametrize("mode", sorted(MODES))
def test_long_argument_and_environment_lists_arrive_whole(mode, tmp_path):
    """The child's copy of its argv and environment (kept apart from veil's memory
    until its execve) holds lists of any length, and so does the shell's argv made
    for a command file without #!."""
    args = [f"a{i}" for i in range(20000)]
    env = dict(os.environ, VEIL_BIG="x" * 100000)
    script = "echo $# ${#VEIL_BIG} $1 ${20000}"
    r = run_veil([*MODES[mode], "sh", "-c", script, "sh", *args], env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["20000", "100000", "a0", "a19999"]
    cmdfile = tmp_path / "cmdfile"
    cmdfile.write_text(script + "\nexit 7\n")
    cmdfile.chmod(0o755)
    r = run_veil([*MODES[mode], cmdfile, *args], env=env)
    assert r.returncode == 7, r.stderr[-2000:]
    assert r.stdout.split() == ["20000", "100000", "a0", "a19999"]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_exec_failures_are_reported_from_either_child(mode, tmp_path):
    """The child's errno comes back to veil: a missing program exits 127, one that
    cannot be run 126, each with one line, as a shell says it."""
    missing = run_veil([*MODES[mode], str(tmp_path / "nothere")])
    assert missing.returncode == 127 and "No such file or directory" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    noexec = tmp_path / "noexec"
    noexec.write_text("echo hi\n")
    noexec.chmod(0o644)
    denied = run_veil([*MODES[mode], str(noexec)])
    assert denied.returncode == 126 and "Permission denied" in denied.stderr, denied.stderr
    assert "Traceback" not in missing.stderr + denied.stderr


def _processes_with(marker: str) -> list:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_a_signal_to_veil_while_it_starts_the_program_leaves_nothing_behind():
    """veil signalled at any point of the program's start (before its signal
    forwarding is in place, before the child is seized, while it execs): veil ends
    as the signal says, and no process of the program is left running."""
    marker = f"veil-spawn-signal-{os.getpid()}"
    for delay in [i * 0.004 for i in range(25)]:
        proc = subprocess.Popen(veil_cmd(["run", "--", sys.executable, "-c",
                                          "import time, sys; time.sleep(30)", marker]),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        # early, veil itself dies of it (as a shell that had not started the program
        # yet would); later, the program does and veil exits 128+15
        assert proc.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM), (proc.returncode, err)
        assert "Traceback" not in err
    for _ in range(50):
        left = _processes_with(marker)
        if not left:
            break
        time.sleep(0.1)
    assert not left, f"processes left running: {left}"


def test_stdio_given_as_each_others_fds():
    """stdout=2, stderr=1 swaps them for the program (each new 0, 1, 2 is placed
    from the fds as they were, not as the placing of another left them)."""
    code = ("import sys, veil; "
            "r = veil.Session(['sh', '-c', 'echo out; echo err >&2'], stdout=2, stderr=1).run(); "
            "sys.exit(r.exit_code)")
    r = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (r.stdout, r.stderr) == ("err\n", "out\n")


@pytest.mark.skipif(os.geteuid() != 0, reason="-u (running the program as another user) needs root")
def test_running_the_program_as_another_user_leaves_veil_dumpable():
    """The kernel makes a task whose ids change not dumpable, memory and all: the
    child that takes the user's ids has memory of its own (veil stays dumpable, its
    /proc files its own)."""
    code = ("import ctypes, sys, veil; "
            "s = veil.Session(['id', '-u']); s.run_as = (65534, 65534, []); "
            "r = s.run(); "
            "print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)); sys.exit(r.exit_code)")
    r = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["65534", "1"]


def test_the_ptrace_layout_maps_its_scratch_area_into_the_program_only(tmp_path):
    """The ptrace layout engine maps its scratch area into the program at its first
    execve's stop (a translated path is written there): into the program's own
    memory, never into veil's (as it would if the child shared veil's memory until
    its execve)."""
    from veil.engine import SCRATCH_BASE
    (tmp_path / "f").write_text("through the bind\n")
    code = ("import sys, veil; "
            "spec = veil.RunSpec(layout=veil.Layout(root='/', engine='ptrace', "
            "binds=(veil.Bind(%r, '/mnt/veil-bind'),))); "
            "r = veil.run(['cat', '/mnt/veil-bind/f'], spec=spec); "
            "print(r.layout_engine[0]); "
            "print(sum(l.startswith('%x-') for l in open('/proc/self/maps'))); "
            "sys.exit(r.exit_code)") % (str(tmp_path), SCRATCH_BASE)
    r = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == ["through the bind", "ptrace", "0"]
