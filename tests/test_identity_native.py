"""The fake identity served without Python stops (csrc/identity.c): its files,
uname, the CPU count and the ownership database, whichever way the files are
shown (a mount namespace of the program's own, a path rewrite in C, a layout's
binds under either engine)."""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

import veil
from conftest import run_veil
from veil.mountns import kernel_refusal
from veil.session import Session

FILES = ("cat /proc/sys/kernel/hostname /etc/hostname /proc/sys/kernel/osrelease; "
         "cut -d' ' -f3 /proc/version; uname -nr; hostname b; hostname; "
         "cat /proc/sys/kernel/hostname; uname -n")
SHOWN = ["a", "a", "9.9", "9.9", "a", "9.9", "b", "b", "b"]


def python_stops(monkeypatch, spec, argv):
    """Run argv in this process under spec; the number of stops handed to Python, by
    syscall name."""
    seen = {}
    dispatch = Session.dispatch

    def counting(self, stop):
        seen[stop.name] = seen.get(stop.name, 0) + 1
        return dispatch(self, stop)
    monkeypatch.setattr(Session, "dispatch", counting)
    result = Session(argv, spec=spec).run()
    assert result.exit_code == 0
    return seen


@pytest.mark.parametrize("mounts", [True, False], ids=["mount-namespace", "rewrite-in-c"])
def test_identity_files_without_a_layout(tmp_path, monkeypatch, mounts):
    if mounts and kernel_refusal(False) is not None:
        pytest.skip("no mount namespace for veil here")
    monkeypatch.setattr(Session, "_identity_mounts", lambda self: mounts)
    out = tmp_path / "out"
    spec = veil.RunSpec(system={"hostname": "a", "kernel_release": "9.9"})
    seen = python_stops(monkeypatch, spec, ["sh", "-c", f"({FILES}) > {out}"])
    assert out.read_text().split() == SHOWN
    # the opens never reach Python; sethostname does (it changes the state)
    assert not {"open", "openat", "uname"} & set(seen), seen
    assert seen.get("sethostname") == 1


@pytest.mark.layout_engines("mount", "ptrace")
def test_identity_files_under_a_layout(layout_engine):
    r = run_veil(["run", "-r", "/", "--hostname", "a", "--kernel-release", "9.9", "--",
                  "sh", "-c", FILES])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == SHOWN


def test_cpus_above_the_hosts_count_agree_everywhere():
    n = (os.cpu_count() or 1) + 2
    r = run_veil(["run", "--cpus", str(n), "--", "sh", "-c",
                  f"nproc; {sys.executable} -c 'import os; print(os.cpu_count(), "
                  "len(os.sched_getaffinity(0)))'; grep -c ^processor /proc/cpuinfo; "
                  "cat /sys/devices/system/cpu/online /sys/devices/system/cpu/possible"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(n)] * 4 + [f"0-{n - 1}"] * 2


def test_ownership_is_patched_without_python(tmp_path, monkeypatch):
    f, node = tmp_path / "f", tmp_path / "node"
    f.write_text("x")
    out = tmp_path / "out"
    script = (f"chown 4242:77 {f} && mknod {node} b 7 1 && "
              f"{sys.executable} -c 'import os, sys; f, n = sys.argv[1:]; "
              "fd = os.open(f, os.O_RDONLY); "
              "print(*[(s.st_uid, s.st_gid) for s in (os.stat(f), os.lstat(f), os.fstat(fd))]); "
              f"print(os.stat(n).st_mode >> 12, os.major(os.stat(n).st_rdev))' {f} {node}"
              f" && stat -c '%u:%g %t' {f} {node}")
    seen = python_stops(monkeypatch, veil.RunSpec(system={"fake_root": True}),
                        ["sh", "-c", f"({script}) > {out}"])
    assert out.read_text().split("\n")[:4] == [
        "(4242, 77) (4242, 77) (4242, 77)", "6 7", "4242:77 0", "0:0 7"]
    assert not {"stat", "newfstatat", "statx", "fstat", "lstat"} & set(seen), seen
    assert f.stat().st_uid == os.getuid() and os.path.isfile(node)  # the host's are untouched


def test_id_calls_follow_setuid_after_c_answered():
    r = run_veil(["run", "-i", "0:5", "--", "sh", "-c",
                  "id -u; id -g; " + sys.executable + " -c 'import os; os.setresuid(5, 6, 7); "
                  "print(os.getuid(), os.geteuid(), os.getresuid())'"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == ["0", "5", "5 6 (5, 6, 7)"]


def _nobody_python():
    """(python, env) with which user 65534 can run this tree's veil, or None."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return None
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(veil.__file__)),
           "HOME": "/"}
    for exe in (sys.executable, "/usr/bin/python3"):
        r = subprocess.run([*NOBODY, exe, "-c", "import veil._veil_c"], env=env,
                           capture_output=True, timeout=60)
        if r.returncode == 0:
            return exe, env
    return None


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_fake_root_run_by_a_user_opens_what_its_modes_refuse():
    """C hands Python the opens a user's modes refuse (and those of /proc/...):
    a fake root still reads its own mode-000 file and directory."""
    found = _nobody_python()
    if found is None:
        pytest.skip("needs root to become user 65534, and a python that user can run")
    exe, env = found
    d = tempfile.mkdtemp(prefix="veil-idn-")
    try:
        os.chown(d, 65534, 65534)
        script = ("cd $0 && mkdir sub && echo a > sub/f && echo b > g && chmod 0 g sub && "
                  "cat g sub/f && grep ^Uid: /proc/self/status && stat -c '%u %a' g && "
                  "ls sub && cat < g")
        r = subprocess.run([*NOBODY, exe, "-m", "veil", "run", "-0", "--", "sh", "-c", script, d],
                           env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split("\n") == ["b", "a", "Uid:\t0\t0\t0\t0", "0 0", "f", "b", ""]
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", d])
        shutil.rmtree(d)
