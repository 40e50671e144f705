"""Under --strict or a layout the program cannot signal, trace or write into veil
(which would end its confinement): EPERM, and veil reports the program's own end."""
from __future__ import annotations

import subprocess
import sys

PROG = r"""
import ctypes, os, signal
libc = ctypes.CDLL(None, use_errno=True)
def attempt(name, f):
    try:
        f(); print(name, "allowed")
    except OSError as e:
        print(name, "refused", e.errno)
veil = os.getppid()
attempt("kill-veil", lambda: os.kill(veil, signal.SIGKILL))
attempt("kill-group", lambda: os.kill(0, signal.SIGKILL))
attempt("killpg", lambda: os.killpg(os.getpgrp(), signal.SIGKILL))
def ptrace_attach():
    if libc.ptrace(16, veil, 0, 0) != 0:   # PTRACE_ATTACH
        raise OSError(ctypes.get_errno(), "ptrace")
attempt("ptrace", ptrace_attach)
attempt("pidfd", lambda: os.close(os.pidfd_open(veil)))
attempt("self", lambda: os.kill(os.getpid(), 0))
print("alive")
"""


def run(opts):
    return subprocess.run([sys.executable, "-m", "veil", "run", *opts, "--", sys.executable, "-c", PROG],
                          capture_output=True, text=True, timeout=60)


def test_strict_protects_veil():
    r = run(["--strict"])
    assert r.returncode == 0, r.stderr
    lines = dict(l.split(" ", 1) for l in r.stdout.splitlines() if " " in l)
    for name in ("kill-veil", "kill-group", "killpg", "ptrace", "pidfd"):
        assert lines[name] == "refused 1", (name, r.stdout)
    assert lines["self"] == "allowed" and "alive" in r.stdout


def test_layout_protects_veil():
    r = run(["-r", "/", "-b", "/tmp:/tmp"])
    assert r.returncode == 0 and "kill-veil refused 1" in r.stdout and "alive" in r.stdout, r.stdout


def test_clone_untraced_refused_under_strict(progs):
    prog = progs["untraced_clone"]
    native = subprocess.run([prog], capture_output=True, text=True, timeout=30)
    assert native.stdout == "clone=ok fork=ok\n"
    r = subprocess.run([sys.executable, "-m", "veil", "run", "--strict", "--", prog],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout == "clone=EPERM fork=ok\n", (r.stdout, r.stderr)
    # threads still work (glibc falls back from clone3 to clone)
    r = subprocess.run([sys.executable, "-m", "veil", "run", "--strict", "--", sys.executable, "-c",
                        "import threading; t = threading.Thread(target=print, args=('thread',)); "
                        "t.start(); t.join()"], capture_output=True, text=True, timeout=60)
    assert r.stdout == "thread\n", r.stderr


def test_strict_refuses_personality_flags():
    code = ("import ctypes; libc = ctypes.CDLL(None, use_errno=True)\n"
            "print(libc.personality(0xffffffff) >= 0)\n"             # query: allowed
            "r = libc.personality(0x0400000)\n"                    # READ_IMPLIES_EXEC
            "print(r, ctypes.get_errno())\n")
    native = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert native.stdout.splitlines()[1].split()[0] != "-1"
    r = subprocess.run([sys.executable, "-m", "veil", "run", "--strict", "--", sys.executable, "-c", code],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.splitlines() == ["True", "-1 1"], (r.stdout, r.stderr)
