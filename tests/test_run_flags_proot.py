"""PRoot's spellings of veil run's flags: a PRoot script works with `veil run` in
proot's place.  Where PRoot is installed the outputs are compared with its own;
otherwise with what the flags must show (the native values, the ids asked for)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import run_veil
from rootfs import busybox_root, busybox_template, layout_progs  # noqa: F401 (fixtures)

PROOT = shutil.which("proot")


def both(args, **kw):
    """(veil's output, PRoot's or None) of one PRoot command line."""
    mine = run_veil(["run", *args], **kw)
    assert mine.returncode == 0, mine.stderr
    if PROOT is None:
        return mine.stdout, None
    theirs = subprocess.run([PROOT, *args], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL, **kw)
    assert theirs.returncode == 0, theirs.stderr
    return mine.stdout, theirs.stdout


def test_long_spellings_match_proot(tmp_path):
    (tmp_path / "hello").write_text("hi\n")
    out, proot = both(["--rootfs=/", f"--bind={tmp_path}:/mnt", "--pwd=/mnt", "--root-id",
                       "sh", "-c", "id -u; id -g; pwd; cat hello; stat -c %u /mnt/hello"])
    assert out == "0\n0\n/mnt\nhi\n0\n"
    assert proot is None or out == proot
    out, proot = both(["--change-id=1234:4321", f"--cwd={tmp_path}", "sh", "-c",
                       "id -u; id -g; pwd; stat -c %u:%g hello"])
    assert out == f"1234\n4321\n{tmp_path}\n1234:4321\n"
    assert proot is None or out == proot


def test_kernel_release_and_uname_fields_match_proot():
    machine = os.uname().machine
    out, proot = both(["-k", "3.2.0", "uname", "-r", "-m"])
    assert out == f"3.2.0 {machine}\n"
    assert proot is None or out == proot
    fields = "\\sysname\\nodename\\9.9.9\\#1 version\\machine\\domainname\\\\"
    out, proot = both(["-k", fields, "sh", "-c", "uname -s -n -r -v -m; domainname"])
    assert out == "sysname nodename 9.9.9 #1 version machine\ndomainname\n"
    assert proot is None or out == proot
    # an empty field shows empty, as PRoot; hwcap is named as not faked
    out, proot = both(["-k", "\\\\\\7.0\\\\\\\\\\", "uname", "-a"])
    assert out.split() == ["7.0", "GNU/Linux"]
    assert proot is None or out == proot
    r = run_veil(["run", "-k", "\\\\\\7.0\\\\\\\\1\\", "uname", "-r"])
    assert r.returncode == 0 and r.stdout == "7.0\n"
    assert r.stderr.strip() == ("veil: warning: -k: the hwcap field is not faked "
                                "(AT_HWCAP stays the real one)")


def test_verbosity_number(tmp_path):
    layout = ["-b", f"{tmp_path}:/mnt"]
    loud = run_veil(["run", "-v", "2", *layout, "true"])
    assert loud.returncode == 0 and "veil: layout engine:" in loud.stderr
    for quiet in (["-v", "0"], ["-v", "-1"], ["--verbose=-1"]):
        r = run_veil(["run", *quiet, *layout, "true"])
        assert r.returncode == 0 and r.stderr == "", quiet
    # veil's own -v stays a flag: the word after it is the command
    r = run_veil(["run", "-v", *layout, "echo", "5"])
    assert r.stdout == "5\n" and "layout engine" in r.stderr


def test_safe_set_is_fake_root_and_binds(busybox_root):
    script = ("id -u; test -d /proc/self && echo proc; test -c /dev/null && echo dev; "
              "test -d /sys/kernel && echo sys; grep -q ID=veil-busybox /etc/os-release && "
              "echo guest; test -d $HOME && echo home")
    out, proot = both(["-S", str(busybox_root), "/bin/sh", "-c", script])
    assert out.split() == ["0", "proc", "dev", "sys", "guest", "home"]
    assert proot is None or out == proot
    # -R's host files beyond the safe set (/etc/passwd) stay the guest's own
    r = run_veil(["run", "-S", str(busybox_root), "/bin/sh", "-c", "cat /etc/passwd"])
    assert r.returncode == 0 and r.stdout == (busybox_root / "etc/passwd").read_text()


def test_kill_on_exit(tmp_path):
    left = tmp_path / "left"
    script = f"(sleep 0.5; touch {left}) & exit 3"
    r = run_veil(["run", "--kill-on-exit", "sh", "-c", script])
    assert r.returncode == 3, r.stderr
    time.sleep(1)   # longer than the orphan's sleep
    assert not left.exists()
    r = run_veil(["run", "sh", "-c", script])        # by default veil waits for it
    assert r.returncode == 3 and left.exists()
    if PROOT:
        left.unlink()
        p = subprocess.run([PROOT, "--kill-on-exit", "sh", "-c", script], timeout=30)
        assert p.returncode == 3
        time.sleep(1)
        assert not left.exists()


def test_link2symlink_accepted_hard_links_stay_hard(tmp_path):
    script = "echo x > a; ln a b; stat -c %h a; test -L b || echo hard"
    native = subprocess.run(["sh", "-c", script], cwd=tmp_path / ".", capture_output=True,
                            text=True)
    os.remove(tmp_path / "a"), os.remove(tmp_path / "b")
    for flag in ("-L", "-l", "--link2symlink"):
        r = run_veil(["run", flag, "-w", str(tmp_path), "sh", "-c", script + "; rm a b"])
        assert r.returncode == 0 and r.stdout == native.stdout == "2\nhard\n", r.stderr


def test_proot_no_seccomp(tmp_path):
    env = {**os.environ, "PROOT_NO_SECCOMP": "1"}
    result = tmp_path / "result.json"
    # no layout: read as --no-seccomp (every call stops, as with the flag)
    stops = {}
    for name, flags, environ in (("filtered", [], None), ("flag", ["--no-seccomp"], None),
                                 ("variable", [], env)):
        r = run_veil(["run", *flags, "--result", str(result), "sh", "-c", "echo ok"],
                     env=environ)
        assert r.returncode == 0 and r.stdout == "ok\n" and r.stderr == ""
        stops[name] = json.loads(result.read_text())["stops"]
    assert stops["variable"] > 10 * max(stops["filtered"], 1)
    assert abs(stops["variable"] - stops["flag"]) < stops["flag"] / 4, stops
    # a layout needs the filter: one warning, and the PRoot script still runs
    r = run_veil(["run", "-b", f"{tmp_path}:/mnt", "ls", "/mnt/result.json"], env=env)
    assert r.returncode == 0 and r.stdout == "/mnt/result.json\n"
    assert r.stderr == "veil: warning: PROOT_NO_SECCOMP ignored: a layout needs the seccomp filter\n"
    # --no-seccomp itself with a layout stays an error
    r = run_veil(["run", "--no-seccomp", "-b", f"{tmp_path}:/mnt", "true"])
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_conflicting_flags_are_one_line():
    for args in (["-q", "qemu-nosuch", "true"], ["-S", "/", "-r", "/", "true"]):
        r = run_veil(["run", *args])
        assert r.returncode == 2 and r.stderr.startswith("veil: ") and r.stderr.count("\n") == 1, args


@pytest.mark.layout_engines("mount", "ptrace")
def test_read_only_root_with_a_writable_bind(busybox_root, tmp_path):
    """-r ROOT --readonly / -b HOST:GUEST: writes go through the bind, nowhere else."""
    rw = tmp_path / "rw"
    rw.mkdir()
    script = ("echo w > /tmp/new && cat /tmp/new; mkdir /tmp/d && echo made; "
              "for f in /etc/new /new; do touch $f 2>&1 | sed 's/.*: //'; done")
    r = run_veil(["run", "-r", busybox_root, "--readonly", "/", "-b", f"{rw}:/tmp",
                  "/bin/sh", "-c", script])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "w\nmade\nRead-only file system\nRead-only file system\n"
    assert (rw / "new").read_text() == "w\n" and (rw / "d").is_dir()
    assert not (busybox_root / "etc" / "new").exists() and not (busybox_root / "new").exists()
