"""fakeroot's state files on veil run: `-s FILE` writes fakeroot's own save format and
`-i FILE` reads it, so that a build moves between fakeroot and `veil run -0` either way.
Compared with fakeroot itself (CI installs it)."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import run_veil

FAKEROOT = shutil.which("fakeroot")
pytestmark = pytest.mark.skipif(FAKEROOT is None, reason="fakeroot is not installed")
SHOW = ["stat", "-c", "%n %u:%g %F %t,%T %a", "owned", "dev", "plain"]


# fakeroot -s waits for its daemon to exit, which it sees with kill -0: under this
# test session (a subreaper, see conftest.py) the daemon would stay a zombie, so the
# command runs under a reaper of its own
REAPER = ("import ctypes, os, sys\n"
          "ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER\n"
          "main = os.fork()\n"
          "if main == 0:\n"
          "    os.execvp(sys.argv[1], sys.argv[1:])\n"
          "while True:\n"
          "    pid, status = os.wait()\n"
          "    if pid == main:\n"
          "        sys.exit(os.waitstatus_to_exitcode(status))\n")


def fakeroot(*args, cwd):
    p = subprocess.run([sys.executable, "-c", REAPER, FAKEROOT, *map(str, args)], cwd=cwd,
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    return p.stdout


def veil(*args, cwd):
    r = run_veil(["run", *args], cwd=cwd)
    assert r.returncode == 0, r.stderr
    return r.stdout, r.stderr


BUILD = "touch owned plain; chown 12:34 owned; mknod dev c 1 5; chown 7 dev; chmod 640 dev"


def test_fakeroot_save_read_by_veil(tmp_path):
    fakeroot("-s", tmp_path / "state", "sh", "-c", BUILD, cwd=tmp_path)
    theirs = fakeroot("-i", tmp_path / "state", *SHOW, cwd=tmp_path)
    mine, err = veil("-i", tmp_path / "state", *SHOW, cwd=tmp_path)
    assert mine == theirs and err == ""
    assert mine.splitlines()[:2] == ["owned 12:34 regular empty file 0,0 644",
                                     "dev 7:0 character special file 1,5 640"]


def test_veil_save_read_by_fakeroot_and_back(tmp_path):
    out, err = veil("-s", tmp_path / "state", "sh", "-c", BUILD + "; id -u", cwd=tmp_path)
    assert out == "0\n" and err == ""   # -s alone is fakeroot's: a fake root
    theirs = fakeroot("-i", tmp_path / "state", *SHOW, cwd=tmp_path)
    mine, _ = veil("-i", tmp_path / "state", *SHOW, cwd=tmp_path)
    assert theirs == mine
    assert "dev 7:0 character special file 1,5 640" in theirs.splitlines()
    # -i and -s together: fakeroot's way of carrying a build on
    veil("-i", tmp_path / "state", "-s", tmp_path / "state2", "chown", "99:98", "plain",
         cwd=tmp_path)
    theirs = fakeroot("-i", tmp_path / "state2", *SHOW, cwd=tmp_path)
    assert theirs.splitlines()[2] == "plain 99:98 regular empty file 0,0 644"
    assert "owned 12:34" in theirs


def test_state_file_errors_are_one_line(tmp_path):
    (tmp_path / "bad").write_text("not a save file\n")
    for args in (["-i", tmp_path / "bad", "true"], ["-i", tmp_path / "missing", "true"],
                 ["-s", tmp_path / "x", "--ownership-db", tmp_path / "db", "true"]):
        r = run_veil(["run", *args])
        assert r.returncode == 2 and r.stderr.startswith("veil: ") and r.stderr.count("\n") == 1
