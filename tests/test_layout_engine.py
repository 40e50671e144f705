"""The two layout engines (--layout-engine): "mount" (the kernel makes the guest's
tree in a mount namespace) and "ptrace" (veil translates each path call).  The
guest sees the same tree under both; "auto" takes the mount engine where it can
and says why it did not otherwise."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import veil
from conftest import run_veil
from rootfs import busybox_root, busybox_template, guest_env, layout_progs  # noqa: F401

# what a program sees of its tree: getcwd and /proc/self views, `..` at the root,
# symlinks that point out of the tree, a bind, exec of static, #! and dynamic programs
PROBE = r"""
cd /data/sub && pwd && /bin/pwd
readlink /proc/self/cwd
ls -l /proc/self/exe | sed 's/.*-> //'
cd /../../.. && pwd && ls / | tr '\n' ' ' && echo
cat /data/sub/up/marker 2>&1 | sed 's/.*: //'
readlink /data/sub/up
exec 3</data/sub/file; readlink /proc/self/fd/3
/data/hello.sh
/bin/sh -c 'echo static $0'
cat /data/sub/file
"""


@pytest.fixture
def tree(busybox_root, tmp_path):  # noqa: F811
    """A busybox root with /data (a bind of a host directory) holding a symlink
    that points out of the tree and a #! script."""
    (busybox_root / "data").mkdir()
    host = tmp_path / "hostdata"
    (host / "sub").mkdir(parents=True)
    (host / "sub/file").write_text("in the bind\n")
    (host / "sub/up").symlink_to("/../../../../etc")
    (host / "hello.sh").write_text("#!/bin/sh\necho script $0\n")
    (host / "hello.sh").chmod(0o755)
    (tmp_path / "marker").write_text("HOST-SIDE\n")
    return busybox_root, host


def run_probe(root, host, engine, *extra):
    return run_veil(["run", "-v", "--layout-engine", engine, "-r", root, "-b", f"{host}:/data",
                     "-b", "/proc", *extra, "--", "/bin/sh", "-c", PROBE], env=guest_env())


def test_same_tree_under_both_engines(tree):
    root, host = tree
    mount, ptrace = run_probe(root, host, "mount"), run_probe(root, host, "ptrace")
    assert mount.returncode == 0 and ptrace.returncode == 0, mount.stderr + ptrace.stderr
    assert "veil: layout engine: mount" in mount.stderr
    # and in the run's JSON result
    out = Path(root).parent / "result.json"
    r = run_veil(["run", "--result", out, "-r", root, "-b", f"{host}:/data", "--", "/bin/true"],
                 env=guest_env())
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert doc["exit_code"] == 0 and doc["layout"]["engine"] == "mount" and doc["layout"]["why"]
    assert "veil: layout engine: ptrace" in ptrace.stderr
    assert mount.stdout == ptrace.stdout, (mount.stdout, ptrace.stdout)
    lines = mount.stdout.splitlines()
    assert lines[:3] == ["/data/sub"] * 3
    assert lines[3] == "/bin/busybox"
    assert lines[4] == "/" and "data" in lines[5].split()
    assert "HOST-SIDE" not in mount.stdout
    assert lines[-3:] == ["script /data/hello.sh", "static /bin/sh", "in the bind"]


def test_auto_takes_mount_and_path_calls_do_not_stop(tree):
    root, host = tree
    # the shell's own opens (a redirection), no fork: 500 openat calls
    script = "i=0; while [ $i -lt 500 ]; do read x < /data/sub/file; i=$((i+1)); done"
    stops = {}
    for engine in ("auto", "ptrace"):
        spec = veil.RunSpec(layout=veil.Layout(root=str(root), binds=(veil.Bind(str(host), "/data"),),
                                               engine=engine),
                            observation={"affinity": "off"})  # no stop on reads for placement
        r = veil.run(["/bin/sh", "-c", script], spec=spec)
        assert r.exit_code == 0
        stops[r.layout_engine[0]] = r.engine_stats["syscall_stops"]
    # each openat stops under translation; none under mounts
    assert stops["ptrace"] >= 500 and stops["mount"] < 50, stops


def test_auto_says_why_it_keeps_ptrace(busybox_root, tmp_path):  # noqa: F811
    (tmp_path / "x").mkdir()
    r = run_veil(["run", "-v", "-r", busybox_root, "-b", f"{tmp_path / 'x'}:/nonexistent/x", "--",
                  "/bin/ls", "-d", "/nonexistent/x"], env=guest_env())
    assert r.returncode == 0, r.stderr
    assert "veil: layout engine: ptrace (the bind's guest path /nonexistent/x does not exist" in r.stderr
    r = run_veil(["run", "--layout-engine", "mount", "-r", busybox_root, "-b",
                  f"{tmp_path / 'x'}:/nonexistent/x", "--", "/bin/true"], env=guest_env())
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "veil: --layout-engine mount: the mount engine cannot make this layout: the bind's guest "
        "path /nonexistent/x does not exist in the guest's tree"]
    r = run_veil(["run", "--layout-engine", "bogus", "-r", busybox_root, "--", "/bin/true"])
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_mount_engine_binds_read_only_and_last_wins(busybox_root, tmp_path):  # noqa: F811
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        (d / "who").write_text(d.name + "\n")
    r = run_veil(["run", "--layout-engine", "mount", "-r", busybox_root, "-b", f"{a}:/mnt",
                  "-b", f"{b}:/mnt:ro", "--", "/bin/sh", "-c",
                  "cat /mnt/who; echo x > /mnt/new; echo rc=$?"], env=guest_env())
    assert r.stdout.splitlines() == ["b", "rc=1"], r.stdout + r.stderr
    assert "Read-only file system" in r.stderr
    assert not (b / "new").exists() and not (a / "new").exists()


def test_guest_cannot_unmount_its_binds(busybox_root, tmp_path):  # noqa: F811
    """Under -0 the program is root in its user namespace: mount(2) and its kin stay
    refused, so it cannot uncover what a bind hides."""
    r = run_veil(["run", "--layout-engine", "mount", "-r", busybox_root, "-b", f"{tmp_path}:/mnt",
                  "--", "/bin/sh", "-c", "umount /mnt; umount -l /mnt; echo done"],
                 env=guest_env())
    assert "done" in r.stdout and "veil: refused umount2 (EPERM)" in r.stderr, r.stderr


def test_mount_engine_as_a_user(busybox_root, tmp_path):  # noqa: F811
    """As the user who runs veil (the CI's second pass runs this as a user): the
    program keeps that user's ids, and its own files are its own."""
    mine = tmp_path / "mine"
    mine.mkdir()
    r = run_veil(["run", "--layout-engine", "mount", "-r", busybox_root, "-b", f"{mine}:/mnt",
                  "--", "/bin/sh", "-c", "id -u; touch /mnt/f; stat -c %u /mnt/f"],
                 env=guest_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(os.getuid())] * 2
    assert (mine / "f").stat().st_uid == os.getuid()
