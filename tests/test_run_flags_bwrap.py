"""bubblewrap's flags on veil run, with bubblewrap's meaning: a bwrap script works
with `veil run` in bwrap's place.  Outputs are compared with bwrap's own on the same
command line (CI installs bubblewrap; without it the comparisons are skipped and
the checks of what each flag must show still run)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import run_veil, veil_cmd
from veil.cli.run import spec_of
from veil.errors import UsageError

BWRAP = shutil.which("bwrap")


def _bwrap_works() -> bool:
    if BWRAP is None:
        return False
    return subprocess.run([BWRAP, "--bind", "/", "/", "true"], capture_output=True).returncode == 0


BWRAP_OK = _bwrap_works()

# the usual start of a bwrap script on a merged-/usr system
BASE = ["--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib",
        "/lib", "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev"]


def both(args, **kw):
    """(veil's output, bwrap's or None) of one bwrap command line."""
    mine = run_veil(["run", *args], **kw)
    assert mine.returncode == 0, mine.stderr
    if not BWRAP_OK:
        return mine.stdout, None
    theirs = subprocess.run([BWRAP, *args], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL, **kw)
    assert theirs.returncode == 0, theirs.stderr
    return mine.stdout, theirs.stdout


def _scratch_dirs() -> set:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("veil-tmp-")}


def test_empty_root_with_binds_symlinks_proc_dev_tmpfs():
    script = ("ls /; ls /dev; echo > /dev/null && echo null; head -c4 /dev/zero | od -An -tx1; "
              "test -d /proc/self/fd && echo proc; touch /tmp/a && echo tmpfs; "
              "touch /usr/x 2>/dev/null || echo usr-ro; test -e /etc/passwd || echo no-etc; pwd")
    scratch = _scratch_dirs()
    out, bwrap = both([*BASE, "--tmpfs", "/tmp", "--chdir", "/tmp", "sh", "-c", script])
    assert _scratch_dirs() <= scratch, "veil left its scratch directories"
    lines = out.split("\n")
    assert lines[:7] == ["bin", "dev", "lib", "lib64", "proc", "tmp", "usr"]
    for dev in ("full", "null", "pts", "random", "shm", "tty", "urandom", "zero", "stdin",
                "ptmx", "fd"):
        assert dev in lines
    assert out.endswith("null\n 00 00 00 00\nproc\ntmpfs\nusr-ro\nno-etc\n/tmp\n")
    assert bwrap is None or out == bwrap


def test_bind_writes_through_ro_bind_refuses(tmp_path):
    (tmp_path / "rw").mkdir()
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "f").write_text("read me\n")
    script = "echo w > /data/new && cat /conf/f; echo x > /conf/f || echo refused; pwd"
    out, bwrap = both([*BASE, "--bind", str(tmp_path / "rw"), "/data",
                       "--ro-bind", str(tmp_path / "ro"), "/conf", "--chdir", "/data",
                       "sh", "-c", script])
    assert out.splitlines()[0] == "read me" and out.endswith("refused\n/data\n")
    assert bwrap is None or out == bwrap
    assert (tmp_path / "rw" / "new").read_text() == "w\n"
    # --bind / / (two words, as bwrap) is the whole host, writable
    out, bwrap = both(["--bind", "/", "/", "--chdir", str(tmp_path), "sh", "-c",
                       "cat ro/f; echo y > rw/two; cat rw/two"])
    assert out == "read me\ny\n"
    assert bwrap is None or out == bwrap


@pytest.mark.layout_engines("mount", "ptrace")
def test_read_only_root_with_writable_binds(tmp_path):
    rw, ro_in_rw, outside = tmp_path / "rw", tmp_path / "rw" / "conf", tmp_path / "outside"
    ro_in_rw.mkdir(parents=True)
    outside.mkdir()
    script = (f"echo w > {rw}/new && cat {rw}/new; "
              f"for f in {outside}/f {ro_in_rw}/f; do touch $f 2>&1 | sed 's/.*: //'; done")
    out, bwrap = both(["--ro-bind", "/", "/", "--bind", rw, rw, "--ro-bind", ro_in_rw, ro_in_rw,
                       "sh", "-c", script])
    assert out == "w\nRead-only file system\nRead-only file system\n"
    assert bwrap is None or out == bwrap
    assert (rw / "new").read_text() == "w\n" and not list(outside.iterdir())


def test_environment_flags():
    script = "env | sort"
    out, bwrap = both(["--bind", "/", "/", "--clearenv", "--setenv", "A", "1 2",
                       "--setenv", "PATH", "/usr/bin:/bin", "--chdir", "/", "sh", "-c", script])
    assert "A=1 2" in out.splitlines() and "HOME=" not in out
    assert bwrap is None or out == bwrap
    env = {**os.environ, "GONE": "x"}
    out, bwrap = both(["--bind", "/", "/", "--unsetenv", "GONE", "sh", "-c",
                       "echo ${GONE-unset}"], env=env)
    assert out == "unset\n" and (bwrap is None or out == bwrap)


def test_hostname_and_uid():
    out, bwrap = both(["--bind", "/", "/", "--unshare-uts", "--hostname", "demo",
                       "--unshare-user", "--uid", "1234", "--gid", "99", "sh", "-c",
                       "hostname; id -u; id -g"])
    assert out == "demo\n1234\n99\n"
    assert bwrap is None or out == bwrap


def test_unshare_net_keeps_loopback():
    script = ("import socket\n"
              "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
              "c = socket.create_connection(s.getsockname()); print('loopback')\n"
              "try:\n"
              "    socket.create_connection(('192.0.2.1', 9), timeout=2)\n"
              "except OSError as e:\n"
              "    print('refused')\n")
    r = run_veil(["run", "--bind", "/", "/", "--unshare-net", sys.executable, "-c", script])
    assert r.returncode == 0 and r.stdout == "loopback\nrefused\n", r.stderr
    if BWRAP_OK:
        b = subprocess.run([BWRAP, "--bind", "/", "/", "--unshare-net", sys.executable, "-c",
                            script], capture_output=True, text=True, timeout=60)
        assert b.stdout == r.stdout


def _alive(pid: int) -> bool:
    """Running (a zombie left to an init that does not reap is dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_die_with_parent(tmp_path):
    pidfile = tmp_path / "pid"
    inner = " ".join(f"'{w}'" for w in veil_cmd(
        ["run", "--die-with-parent", "--bind", "/", "/", "sh", "-c",
         f"echo $$ > {pidfile}; exec sleep 30"]))
    parent = subprocess.Popen(["sh", "-c", f"{inner} & wait"], start_new_session=True)
    try:
        for _ in range(200):
            if pidfile.exists() and pidfile.read_text().strip():
                break
            time.sleep(0.05)
        pid = int(pidfile.read_text())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        for _ in range(100):
            if not _alive(pid):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the program outlived veil's parent")
    finally:
        try:
            os.killpg(parent.pid, signal.SIGKILL)
        except OSError:
            pass


def test_refusals_are_one_line():
    with pytest.raises(UsageError, match="^bubblewrap bind /nonexistent-src: no such file"):
        spec_of(["--ro-bind", "/nonexistent-src", "/x", "true"])
    # a missing source of a -try bind is left out, as bwrap
    r = run_veil(["run", "--bind", "/", "/", "--ro-bind-try", "/nonexistent-src", "/x",
                  "sh", "-c", "test -e /x || echo absent"])
    assert r.returncode == 0 and r.stdout == "absent\n"
