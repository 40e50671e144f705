"""Issue 17, route 3: the start directory of a relative path is anchored on the fd
(or cwd) itself, never on the text of its /proc link: a removed directory whose
text ends in " (deleted)" (a name the program can then create as a symlink to
"/"), or an O_PATH fd of a symlink used as a dirfd, gets the kernel's own answer
(ENOENT, ENOTDIR), with or without --strict."""
from __future__ import annotations

import pytest

from rootfs import busybox_root, busybox_template, layout_progs  # noqa: F401
from test_escapes import clean, escapes, guest, hostonly, native, results, veil  # noqa: F401

# every test here runs under both layout engines unless it names one
pytestmark = pytest.mark.layout_engines("ptrace", "mount")

EXPECTED = {"deleted cwd fstatat": "ENOENT", "deleted cwd open": "ENOENT",
            "O_PATH symlink fstatat": "ENOTDIR", "O_PATH symlink open": "ENOTDIR"}


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "layout"])
def test_start_directory_anchored_on_the_fd(guest, escapes, hostonly, strict):  # noqa: F811
    d, marker = hostonly
    nat = results(native(escapes["fd_text"], d / "target", marker).stdout)
    assert nat == EXPECTED, nat
    r = veil(guest, "/usr/local/bin/fd_text", d / "target", marker, strict=strict)
    clean(r, marker)
    assert results(r.stdout) == EXPECTED, r.stdout + r.stderr


def test_pinned_whatever_the_fsuid(guest, escapes, hostonly, layout_engine):  # noqa: F811
    """Issue 17, route 4: a root guest that drops to uid/gid 65534 still gets its
    path calls pinned (the thread opens the directory for its call itself and
    walks from its own fd): they work, and a directory swapped for a symlink to a
    host directory during stat never reaches the host.  The parent, still root, keeps its own pinned
    calls (its own calls keep walking from veil's fds)."""
    import os
    import shutil
    import uuid
    from pathlib import Path

    from test_escapes import counts
    if os.geteuid() != 0:
        pytest.skip("needs root: a non-root veil's guest has veil's uid and cannot take another")
    d, marker = hostonly
    rounds = 10000
    nat = Path(f"/tmp/veil-drop-{uuid.uuid4().hex[:12]}")
    nat.mkdir(mode=0o755)
    try:  # natively the swap lands during the calls of uid 65534: the race is live
        for _ in range(5):
            n = native(escapes["drop_ids"], nat / "work", d, marker, rounds * 5)
            if "host=" in n.stdout and counts(n.stdout)["host"] > 0:
                break
        assert counts(n.stdout)["host"] > 0, n.stdout + n.stderr
    finally:
        shutil.rmtree(nat, ignore_errors=True)
    # a guest tree whose host directories uid 65534 may walk: under the ptrace
    # engine the kernel walks the host path, ancestors included (README)
    walkable = Path(f"/tmp/veil-drop-root-{uuid.uuid4().hex[:12]}")
    try:
        shutil.copytree(guest, walkable, symlinks=True)
        walkable.chmod(0o755)
        r = veil(walkable, "/usr/local/bin/drop_ids", "/tmp/drop", d, marker, rounds)
    finally:
        shutil.rmtree(walkable, ignore_errors=True)
    clean(r, marker)
    res = results(r.stdout)
    for k in ("root before", "drop", "stat", "chmod", "mkdir", "rename", "unlink",
              "rmdir", "root after"):
        assert res.get(k) == "ok", (k, r.stdout + r.stderr)
    c = counts(r.stdout)
    assert c["host"] == 0 and c["flips"] > 0, r.stdout
    if layout_engine != "mount":
        # between swaps the guest's own file is reached.  (Under the mount engine a
        # stat costs no stop: when the two threads share a core, each time slice of
        # the swapper may end with d the symlink, and a loaded run saw every stat of
        # the loop fail with ENOENT; the kernel itself resolves there anyway.)
        assert c["guest"] > 0, r.stdout + r.stderr
    assert r.returncode == 0, r.stdout + r.stderr
