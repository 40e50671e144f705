"""Escape attempts from a veil guest layout (DESIGN.md section 5, issue 5).

A host-only file (outside the guest root, at a path the guest does not have) holds
a unique marker; tests/progs/layout_escapes.c tries to read it every way it can.
The marker must never appear. Where the host's kernel alone would let the attempt
through (a real chroot does: /proc/PPID/root, openat2 with AT_FDCWD ...), veil
must not.
"""
from __future__ import annotations

import os
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import run_veil
from rootfs import (  # noqa: F401
    BUSYBOX_NAME,
    HOSTBIN_NAME,
    busybox_root,
    busybox_template,
    guest_env,
    hostbin_root,
    hostbin_template,
    layout_progs,
)

# every test here runs under both layout engines unless it names one
pytestmark = pytest.mark.layout_engines("ptrace", "mount")

ESC = "/usr/local/bin/layout_escapes"
HOST_NAME_LINE = Path("/etc/os-release").read_text().splitlines()[0]


@pytest.fixture
def hostonly():
    """(path, marker): a file that exists only on the host, outside every guest."""
    d = Path(f"/tmp/veil-hostonly-{uuid.uuid4().hex[:12]}")
    d.mkdir()
    marker = f"VEIL-HOST-ONLY-{uuid.uuid4().hex}"
    f = d / "secret"
    f.write_text(marker + "\n")
    try:
        yield str(f), marker
    finally:
        f.unlink(missing_ok=True)
        d.rmdir()


def veil_layout(root, argv, *opts, binds=("/proc", "/dev"), timeout=60):
    args = ["run", "-r", str(root)]
    for b in binds:
        args += ["-b", str(b)]
    args += [*map(str, opts), "--", *map(str, argv)]
    return run_veil(args, env=guest_env(), timeout=timeout)


def results(out):
    """'LABEL = VALUE' lines -> {LABEL: VALUE}."""
    d = {}
    for line in out.splitlines():
        if " = " in line:
            k, v = line.split(" = ", 1)
            d[k] = v
    return d


def no_marker(r, marker):
    assert "Traceback" not in r.stderr, r.stderr
    assert marker not in r.stdout and marker not in r.stderr, f"HOST FILE READ FROM THE GUEST:\n{r.stdout}"
    assert HOST_NAME_LINE not in r.stdout, f"host /etc/os-release read from the guest:\n{r.stdout}"


GUEST_OK = {f'OK NAME="{BUSYBOX_NAME}"', f'OK NAME="{HOSTBIN_NAME}"', "OK guest-only"}


def guest_or_error(v):
    return v in GUEST_OK or (v.startswith("E") and " " not in v)


# --- openat2 ---------------------------------------------------------------------------

def test_openat2_resolve_flags(hostbin_root, hostonly):
    path, marker = hostonly
    r = veil_layout(hostbin_root, [ESC, "openat2", path])
    no_marker(r, marker)
    res = results(r.stdout)
    assert len(res) == 11, r.stdout + r.stderr
    for k, v in res.items():
        assert guest_or_error(v), f"{k} = {v}"
    # a plain openat2 of the host-only path is not let through untranslated
    assert res["cwd hostonly"] == "ENOENT", r.stdout
    assert res["cwd ../hostonly"] == "ENOENT", r.stdout
    # RESOLVE_IN_ROOT from the guest root: either translated (guest file) or refused as a whole
    denied = res["in_root etc/os-release"] in ("ENOSYS", "EPERM")
    if not denied:
        assert res["in_root etc/os-release"] == f'OK NAME="{HOSTBIN_NAME}"'
        assert res["in_root /etc/os-release"] == f'OK NAME="{HOSTBIN_NAME}"'
        assert res["in_root ../../etc/os-release"] == f'OK NAME="{HOSTBIN_NAME}"'
        assert res["in_root etc/guest-only-file"] == "OK guest-only"
        assert res["in_root hostonly"] == "ENOENT" and res["in_root ../hostonly"] == "ENOENT"
        assert res["beneath ../hostonly"] in ("EXDEV", "ENOENT")


# --- /proc magic links -------------------------------------------------------------------

@pytest.mark.parametrize("rootname", ["busybox_root", "hostbin_root"])
def test_proc_magic_links(request, rootname, hostonly):
    root = request.getfixturevalue(rootname)
    path, marker = hostonly
    r = veil_layout(root, [ESC, "proc", path])
    no_marker(r, marker)
    res = results(r.stdout)
    name = BUSYBOX_NAME if "busybox" in rootname else HOSTBIN_NAME
    assert res["self/root/etc/os-release"] == f'OK NAME="{name}"', r.stdout
    assert res["readlink self/root"] == "OK /", r.stdout
    assert res["readlink self/fd/rootfd"] == "OK /", r.stdout
    for k in ("self/root/hostonly", "self/root/../hostonly", "self/cwd/../hostonly", "self/fd/N/../hostonly",
              "thread-self/root/hostonly"):
        assert res[k] == "ENOENT", f"{k} = {res[k]}"
    # host processes' roots (pid 1, and veil itself as the parent) do not lead to the host
    for k in ("1/root/hostonly", "1/root/etc/os-release", "ppid/root/hostonly", "ppid/cwd/../hostonly"):
        assert guest_or_error(res[k]), f"{k} = {res[k]}"


# --- .. and symlinks made at run time -------------------------------------------------------

@pytest.mark.parametrize("rootname", ["busybox_root", "hostbin_root"])
def test_dotdot_and_runtime_symlinks(request, rootname, hostonly):
    root = request.getfixturevalue(rootname)
    path, marker = hostonly
    r = veil_layout(root, [ESC, "dotdot", path])
    no_marker(r, marker)
    res = results(r.stdout)
    name = BUSYBOX_NAME if "busybox" in rootname else HOSTBIN_NAME
    assert res["getcwd"] == "/" and res["getcwd after fchdir(/tmp) and cd .."] == "/", r.stdout
    for k in ("etc/os-release after cd ..", "openat(rootfd, ../etc/os-release)", "via ../ symlink etc/os-release",
              "via / symlink etc/os-release"):
        assert res[k] == f'OK NAME="{name}"', f"{k} = {res[k]}"
    for k in ("relative hostonly after cd ..", "/..hostonly", "openat(rootfd, ../hostonly)",
              "via ../ symlink hostonly", "via / symlink ../hostonly"):
        assert res[k] == "ENOENT", f"{k} = {res[k]}"
    assert "symlink" not in " ".join(k for k in res if k.startswith("symlink ")), r.stdout


def test_writes_do_not_escape(busybox_root):
    """rename/link/symlink/mkdir with .. beyond the root land inside the guest."""
    root = busybox_root
    tag = uuid.uuid4().hex[:10]
    esc = f"veil-esc-{tag}"
    argv = ["/usr/local/bin/layout_probe", "write", "/tmp/src", "payload",
            "rename", "/tmp/src", f"/../../../../tmp/{esc}-renamed",
            "write", "/tmp/src2", "payload2", "link", "/tmp/src2", f"/../../../tmp/{esc}-linked",
            "mkdir", f"../../../../tmp/{esc}-dir", "symlink", "/etc/shadow", f"/../../tmp/{esc}-sym",
            "open", f"/tmp/{esc}-sym", "link", "/../../../etc/shadow", f"/tmp/{esc}-hard"]
    try:
        r = veil_layout(root, argv)
        assert "Traceback" not in r.stderr
        for suffix in ("renamed", "linked", "dir", "sym", "hard"):
            assert not os.path.lexists(f"/tmp/{esc}-{suffix}"), f"/tmp/{esc}-{suffix} created on the host"
        assert (root / f"tmp/{esc}-renamed").read_text() == "payload"
        assert (root / f"tmp/{esc}-linked").read_text() == "payload2"
        assert (root / f"tmp/{esc}-dir").is_dir()
        assert os.readlink(root / f"tmp/{esc}-sym") == "/etc/shadow"   # literal content
        res = results(r.stdout)
        assert res[f"open /tmp/{esc}-sym"] == "ENOENT"                  # the guest has no /etc/shadow
        assert res[f"link /../../../etc/shadow /tmp/{esc}-hard"] == "ENOENT"
    finally:
        for suffix in ("renamed", "linked", "sym", "hard"):
            if os.path.lexists(f"/tmp/{esc}-{suffix}"):
                os.unlink(f"/tmp/{esc}-{suffix}")
        if os.path.isdir(f"/tmp/{esc}-dir"):
            os.rmdir(f"/tmp/{esc}-dir")


# --- TOCTOU: a second thread rewrites the path after the check ---------------------------------

# ~80 s each on 2 cores (a spinning thread competes with veil's loop): the variant
# that once escaped runs by default, the other two with -m slow
@pytest.mark.parametrize("guest_path,host_prefix", [
    pytest.param("/etc/guest-only-file", "", marks=pytest.mark.slow),  # translated (ROOT prefix)
    ("/dev/null", ""),                       # under an identity bind (-b /dev): same string on both sides
    pytest.param("/etc/guest-only-file", "/../../..", marks=pytest.mark.slow),  # disguised with ..
], ids=["rooted", "identity-bind", "dotdot"])
def test_toctou_path_rewrite(hostbin_root, hostonly, layout_progs, guest_path, host_prefix):
    path, marker = hostonly
    n = 10000
    # the race is real on this machine: natively, the flipped buffer opens the host file
    nat = subprocess.run([layout_progs["layout_escapes"], "toctou", "/nonexistent-veil-guest-path", path,
                          "2000", marker], stdout=subprocess.PIPE, text=True, timeout=60)
    assert nat.stdout.startswith("host=") and not nat.stdout.startswith("host=0 "), nat.stdout
    r = veil_layout(hostbin_root, [ESC, "toctou", guest_path, host_prefix + path, n, marker], timeout=180)
    no_marker(r, marker)
    line = [l for l in r.stdout.splitlines() if l.startswith("host=")]
    assert line, r.stdout + r.stderr
    counts = dict(kv.split("=") for kv in line[0].split())
    assert counts["host"] == "0", f"the host-only file was opened {counts['host']} times: {r.stdout}"
    assert sum(map(int, counts.values())) == n, r.stdout
    assert r.returncode == 0, r.stderr
    # without the flipping thread's help the guest path opens: the loop did exercise the layout
    r = veil_layout(hostbin_root, [ESC, "toctou", guest_path, guest_path, 100, "no-such-marker"])
    assert r.stdout.startswith("host=0 guest=100 errors=0"), r.stdout + r.stderr


# --- AF_UNIX paths to host sockets ------------------------------------------------------------

def test_unix_connect_to_host_socket_fails(busybox_root):
    d = Path(f"/tmp/veil-hostsock-{uuid.uuid4().hex[:10]}")
    d.mkdir()
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(d / "s"))
    srv.listen(4)
    srv.setblocking(False)
    try:
        paths = [str(d / "s"), f"/../../..{d}/s", f"/proc/self/root{d}/s", f"/proc/1/root{d}/s"]
        r = veil_layout(busybox_root, ["/usr/local/bin/layout_unix", "connect", *paths])
        assert "Traceback" not in r.stderr
        res = results(r.stdout)
        for p in paths:
            assert res.get(f"connect {p}", "").startswith("E"), r.stdout
        assert "got" not in res
        with pytest.raises(BlockingIOError):
            srv.accept()
        # and a socket bound by the guest at that path lands inside the guest root
        r = veil_layout(busybox_root, ["/bin/sh", "-c", f"mkdir -p {d}; /usr/local/bin/layout_unix stream /../..{d}/g"])
        assert r.returncode == 0, r.stdout + r.stderr
        assert not os.path.exists(d / "g") and os.path.exists(f"{busybox_root}{d}/g")
        # the ptrace engine shows the canonical path, the kernel (mount engine) the one bound
        assert f"sockname = '{d}/g'" in r.stdout or f"sockname = '/../..{d}/g'" in r.stdout
    finally:
        srv.close()
        for f in d.iterdir():
            f.unlink()
        d.rmdir()


# --- privileged calls denied under a layout ------------------------------------------------------

def test_privileged_calls_denied(hostbin_root):
    root = hostbin_root
    target = f"/veil-mnt-{uuid.uuid4().hex[:8]}"     # exists only in the guest
    (root / target.lstrip("/")).mkdir()
    (root / target.lstrip("/") / "old").mkdir()
    try:
        r = veil_layout(root, [ESC, "privileged", target])
        res = results(r.stdout)
        for call in ("mount", "umount2", "pivot_root", "swapon", "name_to_handle_at", "io_uring_setup"):
            assert res.get(call) == "EPERM", f"{call} = {res.get(call)}\n{r.stdout}{r.stderr}"
    finally:
        mnt = str(root) + target
        if os.path.ismount(mnt):
            subprocess.run(["umount", "-l", mnt], timeout=30)
            pytest.fail("mount was let through: a tmpfs was mounted on ROOT" + target)


def test_open_by_handle_denied(hostbin_root, hostonly, layout_progs):
    path, marker = hostonly
    h = subprocess.run([layout_progs["layout_escapes"], "gethandle", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    if h.returncode != 0:
        pytest.skip(f"name_to_handle_at does not work here: {h.stdout}{h.stderr}")
    handle = h.stdout.strip()
    r = veil_layout(hostbin_root, [ESC, "byhandle", handle])
    no_marker(r, marker)
    assert results(r.stdout).get("open_by_handle_at") == "EPERM", r.stdout + r.stderr


# --- exec of host-only paths ------------------------------------------------------------------

def test_exec_host_only_path(busybox_root, progs):
    host_only = progs["exitcode"]
    r = veil_layout(busybox_root, [ESC, "exec", host_only, "7"])
    assert r.returncode == 127 and f"execv {host_only} = ENOENT" in r.stdout, r.stdout + r.stderr
    # disguised with .. and through /proc/self/root
    for p in (f"/../../..{host_only}", f"/proc/self/root{host_only}"):
        r = veil_layout(busybox_root, [ESC, "exec", p, "7"])
        assert r.returncode == 127 and f"execv {p} = ENOENT" in r.stdout, r.stdout + r.stderr
