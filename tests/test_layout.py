"""veil run -r ROOT -b HOST[:GUEST] -w CWD: PRoot-style virtual directory layouts.

Most checks are native-vs-virtual comparisons: the same command runs under a real
``chroot ROOT`` (in a private mount namespace, binds made with real bind mounts;
see rootfs.chroot_run) and under ``veil run -r ROOT``, and the outputs must agree.
Guest trees come from tests/rootfs.py; the layout_* programs are static, so they
run in every guest.
"""
from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import tempfile
import uuid
from pathlib import Path

import psutil
import pytest

import conftest
from conftest import popen_veil, reap, run_veil
from rootfs import (  # noqa: F401
    BUSYBOX_NAME,
    DEBIAN_MARK,
    HOSTBIN_NAME,
    build_guest_dynamic,
    busybox_root,
    busybox_template,
    chroot_run,
    debian_root,
    guest_env,
    hostbin_root,
    hostbin_template,
    layout_progs,
)

# every test here runs under both layout engines unless it names one
pytestmark = pytest.mark.layout_engines("ptrace", "mount")

ISSUE_CMD = 'cat /etc/os-release; ls /; cd /tmp; echo x > f; cat f; pwd'
HOST_OS_RELEASE = Path("/etc/os-release").read_text()


def veil_layout(root, argv, *opts, binds=("/proc", "/dev"), env=None, timeout=60, dashdash=True):
    """veil run -r ROOT -b B... OPTS [--] ARGV (guest environment)."""
    args = ["run", "-r", str(root)]
    for b in binds:
        args += ["-b", str(b)]
    args += [str(o) for o in opts]
    if dashdash:
        args.append("--")
    args += [str(a) for a in argv]
    return run_veil(args, env=env or guest_env(), timeout=timeout)


def ok(r):
    """Assert veil's run succeeded; say what went wrong otherwise."""
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr
    return r


def native_copy(root):
    """A copy of ROOT for the native reference run, so that what the native run writes
    does not change what the veil run sees."""
    dst = root.parent / (root.name + "-native")
    if dst.exists():
        shutil.rmtree(dst)
    subprocess.run(["cp", "-a", str(root), str(dst)], check=True, timeout=120)
    return dst


def compare_native(root, argv, *, cwd="/", binds=("/proc", "/dev"), native_binds=None, opts=()):
    """Run ARGV under a real chroot (on a copy of ROOT) and under veil (on ROOT);
    return (native, virtual) after checking they agree on stdout and exit status."""
    nat = chroot_run(native_copy(root), argv, cwd=cwd, binds=native_binds or binds)
    assert nat.returncode != 99, f"native reference could not set up its binds: {nat.stderr}"
    wopts = ["-w", cwd] if cwd != "/" else []
    vir = veil_layout(root, argv, *wopts, *opts, binds=binds)
    assert "Traceback" not in vir.stderr, vir.stderr
    if conftest.LAYOUT_ENGINE == "mount" and os.geteuid() != 0 and "\nchroot = EPERM" in vir.stdout:
        # chroot(2) needs CAP_SYS_CHROOT: as a user, the mount engine leaves it to the
        # kernel (EPERM, as bubblewrap does), where the ptrace engine emulates it (PRoot)
        cut = vir.stdout.index("\nchroot = EPERM") + 1
        assert vir.stdout[:cut] == nat.stdout[:cut] and nat.stdout[cut:].startswith("chroot = OK")
        return nat, vir
    assert vir.stdout == nat.stdout, (f"guest output differs from a real chroot\n--- chroot:\n{nat.stdout}"
                                      f"\n--- veil (exit {vir.returncode}):\n{vir.stdout}\n--- veil stderr:\n{vir.stderr}")
    assert vir.returncode == nat.returncode, (nat.returncode, vir.returncode, vir.stderr)
    return nat, vir


def expected_ls(root):
    return sorted(os.listdir(root))


# --- the issue's command in each guest ---------------------------------------------

def _issue_command(root, name_line):
    f = root / "tmp" / "f"
    if f.exists():
        f.unlink()
    nat = chroot_run(root, ["/bin/sh", "-c", ISSUE_CMD])
    assert nat.returncode == 0, nat.stderr
    f.unlink()
    r = ok(veil_layout(root, ["/bin/sh", "-c", ISSUE_CMD]))
    assert r.stdout == nat.stdout, f"--- chroot:\n{nat.stdout}\n--- veil:\n{r.stdout}\n{r.stderr}"
    # and what that output means, spelled out
    osr = (root / "etc/os-release").read_text()
    assert name_line in osr and r.stdout.startswith(osr)
    assert name_line not in HOST_OS_RELEASE
    rest = r.stdout[len(osr):].splitlines()
    assert rest[:-2] == expected_ls(root)
    assert rest[-2:] == ["x", "/tmp"]
    assert f.read_text() == "x\n", "the guest's /tmp/f must be ROOT/tmp/f on the host"
    return r


def test_issue_command_busybox(busybox_root):
    _issue_command(busybox_root, f'NAME="{BUSYBOX_NAME}"')


def test_issue_command_hostbin(hostbin_root):
    _issue_command(hostbin_root, f'NAME="{HOSTBIN_NAME}"')


@pytest.mark.slow
def test_issue_command_debootstrap(debian_root):
    try:
        _issue_command(debian_root, DEBIAN_MARK)
    finally:
        (debian_root / "tmp/f").unlink(missing_ok=True)


@pytest.mark.slow
def test_debootstrap_programs(debian_root):
    """Real programs of a Debian minbase: dpkg's database, perl-less tools, bash."""
    cmd = ["/bin/bash", "-c", "dpkg-query -W -f='${Package}\\n' dash; readlink /proc/self/exe; "
           "cd /usr/share; pwd; /usr/bin/env | grep -c ^PATH=; ls /usr/local/bin | sort"]
    compare_native(debian_root, cmd)


# --- cwd -----------------------------------------------------------------------------

@pytest.mark.parametrize("rootname", ["busybox_root", "hostbin_root"])
def test_w_sets_guest_cwd(request, rootname):
    root = request.getfixturevalue(rootname)
    r = ok(veil_layout(root, ["/bin/sh", "-c", "pwd; ls"], "-w", "/etc"))
    assert r.stdout.splitlines() == ["/etc", *sorted(os.listdir(root / "etc"))]
    r = ok(veil_layout(root, ["/usr/local/bin/layout_probe", "cwd", "open", "os-release"], "-w", "/etc"))
    assert r.stdout.splitlines() == ["cwd = OK /etc", f"open os-release = OK NAME=\"{root_name(root)}\""]


def root_name(root):
    return (root / "etc/os-release").read_text().splitlines()[0].split('"')[1]


def test_getcwd_through_symlinked_dirs(hostbin_root):
    root = hostbin_root
    os.symlink("/usr/share", root / "lnkdir")              # absolute, inside the guest
    (root / "usr/share/doc").mkdir(parents=True, exist_ok=True)
    os.symlink("../usr/lib", root / "tmp/rellib")           # relative
    argv = ["/usr/local/bin/layout_probe", "cwd", "chdir", "/lnkdir", "cwd", "chdir", "/tmp/rellib", "cwd",
            "fchdirdot", "/lnkdir/doc", "chdir", "..", "cwd", "fdpath", "/lnkdir/doc"]
    nat, vir = compare_native(root, argv)
    assert "chdir /lnkdir = OK\ncwd = OK /usr/share\n" in vir.stdout
    assert "cwd = OK /usr/lib\n" in vir.stdout
    # -w through a symlink: the kernel's cwd is the target
    r = ok(veil_layout(root, ["/usr/local/bin/layout_probe", "cwd"], "-w", "/lnkdir"))
    assert r.stdout == "cwd = OK /usr/share\n"


# --- /proc/self/exe and friends ----------------------------------------------------------

def test_proc_self_exe_busybox(busybox_root):
    nat, vir = compare_native(busybox_root, ["/bin/sh", "-c", "readlink /proc/self/exe; /bin/readlink /proc/self/exe"])
    assert vir.stdout == "/bin/busybox\n/bin/busybox\n"


def test_proc_self_exe_hostbin(hostbin_root):
    argv = ["/bin/sh", "-c", "readlink /proc/self/exe; /bin/readlink /proc/self/exe; "
            "readlink /proc/$$/exe; readlink /proc/self/cwd; readlink /proc/self/root; "
            "/usr/local/bin/layout_probe exe fdpath /etc/os-release"]
    nat, vir = compare_native(hostbin_root, argv, cwd="/tmp")
    assert vir.stdout.splitlines()[:5] == ["/usr/bin/readlink", "/usr/bin/readlink", "/usr/bin/dash",
                                           "/tmp", "/"]
    assert "exe = OK /usr/local/bin/layout_probe" in vir.stdout
    assert "fdpath /etc/os-release = OK /etc/os-release" in vir.stdout


# --- .. and symlinks ---------------------------------------------------------------------

@pytest.mark.parametrize("rootname", ["busybox_root", "hostbin_root"])
def test_dotdot_stops_at_guest_root(request, rootname):
    root = request.getfixturevalue(rootname)
    name = root_name(root)
    argv = ["/bin/sh", "-c", "cat /../../../etc/os-release; cd /; cd ..; pwd; cd ../../..; ls; "
            "cd /tmp; cat ../../../../etc/os-release; cd /tmp/../../../../..; /usr/local/bin/layout_probe cwd"]
    nat, vir = compare_native(root, argv)
    lines = vir.stdout.splitlines()
    assert lines[0] == f'NAME="{name}"'
    assert "/" in lines and "cwd = OK /" in lines
    assert HOST_OS_RELEASE.splitlines()[0] not in vir.stdout


def _make_links(root):
    os.symlink("/etc/os-release", root / "abs")
    os.symlink("../etc/os-release", root / "tmp/rel")
    os.symlink("../../../../../../etc/shadow", root / "tmp/out")          # host has /etc/shadow
    os.symlink("../../../../../../etc/guest-only-file", root / "tmp/out2")
    os.symlink("/../../../etc/guest-only-file", root / "tmp/absup")
    os.symlink("b", root / "tmp/a")
    os.symlink("a", root / "tmp/b")
    os.symlink("/tmp/self", root / "tmp/self")
    os.symlink("/etc", root / "tmp/etcdir")
    os.symlink("nowhere", root / "tmp/dangling")


PROBE_LINKS = ["open", "/abs", "open", "/tmp/rel", "open", "/tmp/out", "open", "/tmp/out2",
               "open", "/tmp/absup", "open", "/tmp/a", "open", "/tmp/self", "stat", "/tmp/a",
               "lstat", "/tmp/a", "readlink", "/abs", "readlink", "/tmp/rel", "readlink", "/tmp/out",
               "readlink", "/tmp/a", "readlink", "/tmp/dangling", "stat", "/tmp/dangling",
               "open", "/tmp/etcdir/os-release", "open", "/tmp/etcdir/../etc/guest-only-file",
               "ls", "/tmp/etcdir/", "stat", "/etc/shadow", "access", "/tmp/out",
               "open", "/usr/../../../../etc/guest-only-file",
               "write", "/tmp/dangling", "made-through-link", "readlink", "/tmp/dangling",
               "open", "/tmp/nowhere", "mkdir", "/tmp/etcdir/newdir", "stat", "/etc/newdir"]


@pytest.mark.parametrize("rootname", ["busybox_root", "hostbin_root"])
def test_symlinks_resolve_in_guest(request, rootname):
    root = request.getfixturevalue(rootname)
    _make_links(root)
    nat, vir = compare_native(root, ["/usr/local/bin/layout_probe", *PROBE_LINKS])
    out = vir.stdout
    name = root_name(root)
    assert f'open /abs = OK NAME="{name}"' in out
    assert f'open /tmp/rel = OK NAME="{name}"' in out
    assert "open /tmp/out = ENOENT" in out                 # ../../../etc/shadow stays in the guest
    assert "open /tmp/out2 = OK guest-only" in out
    assert "open /tmp/absup = OK guest-only" in out
    assert "open /tmp/a = ELOOP" in out and "stat /tmp/a = ELOOP" in out and "open /tmp/self = ELOOP" in out
    assert "readlink /abs = OK /etc/os-release" in out     # literal content, not translated
    assert "readlink /tmp/out = OK ../../../../../../etc/shadow" in out
    assert (root / "tmp/nowhere").read_text() == "made-through-link"
    assert (root / "etc/newdir").is_dir()


def test_symlink_loop_message(busybox_root, hostbin_root):
    for root in (busybox_root, hostbin_root):
        os.symlink("b", root / "tmp/a")
        os.symlink("a", root / "tmp/b")
        r = veil_layout(root, ["/bin/sh", "-c", "cat /tmp/a"])
        assert r.returncode == 1, r
        assert "Too many levels of symbolic links" in r.stderr or "Symbolic link loop" in r.stderr, r.stderr


# --- every path syscall of the issue, native vs virtual -----------------------------------

@pytest.mark.parametrize("rootname", ["busybox_root", "hostbin_root"])
def test_path_syscalls_native_vs_virtual(request, rootname):
    """tests/progs/layout_syscalls.c calls each path syscall directly on guest-only
    paths (stat family, statx, faccessat2, creat, mknod, rename*, link*, symlink*,
    readlink*, chmod/chown families, truncate, utime family, xattrs, statfs,
    inotify/fanotify marks, unlink*, chdir/getcwd, chroot inside the guest)."""
    root = request.getfixturevalue(rootname)
    nat, vir = compare_native(root, ["/usr/local/bin/layout_syscalls"])
    res = dict(l.split(" = ", 1) for l in vir.stdout.splitlines() if " = " in l)
    assert res["statx"] == "OK size=11" and res["readlink"] == "OK /etc/guest-only-file"
    assert res["utime"] == "OK size=4 mtime=4000000 mode=640"
    assert res["getcwd"] == "OK /etc"
    if res.get("chroot") == "EPERM":  # a user under the mount engine (compare_native)
        return
    assert res.get("open /etc/inner after chroot") == "OK"
    assert res.get("getcwd after chroot") == "OK /"
    assert stat.S_ISFIFO(os.lstat(root / "tmp/fifo2").st_mode)
    assert os.readlink(root / "tmp/s2") == "../etc/guest-only-file"
    assert (root / "tmp/c4").stat().st_mtime == 4000000


# --- binds -------------------------------------------------------------------------------

@pytest.fixture
def hostdir(tmp_path):
    d = tmp_path / "hostdir"
    d.mkdir()
    (d / "hello").write_text("hello from the host dir\n")
    (d / "sub").mkdir()
    (d / "sub/deep").write_text("deep\n")
    os.symlink("/etc/os-release", d / "link")     # must resolve in the guest
    os.symlink("../sub/deep", d / "sub/up")
    return d


@pytest.mark.parametrize("rootname", ["busybox_root", "hostbin_root"])
def test_bind_directory(request, rootname, hostdir):
    root = request.getfixturevalue(rootname)
    (root / "mnt/x").mkdir(parents=True)
    (root / "mnt/x/hidden-by-bind").write_text("under the bind\n")
    (root / "mnt/other").write_text("guest mnt\n")
    argv = ["/usr/local/bin/layout_probe", "ls", "/mnt/x", "open", "/mnt/x/hello", "open", "/mnt/x/link",
            "open", "/mnt/x/sub/up", "ls", "/mnt/x/..", "open", "/mnt/x/../other",
            "open", "/mnt/x/../../etc/guest-only-file", "open", "/mnt/x/hidden-by-bind",
            "chdir", "/mnt/x/sub", "cwd", "chdir", "../..", "cwd",
            "write", "/mnt/x/new", "written-in-guest", "mkdir", "/mnt/x/newdir",
            "rename", "/mnt/x/new", "/mnt/x/newdir/renamed"]
    hostcopy = hostdir.parent / "hostdir-native"
    shutil.copytree(hostdir, hostcopy, symlinks=True)
    nat, vir = compare_native(root, argv, binds=("/proc", "/dev", f"{hostdir}:/mnt/x"),
                              native_binds=("/proc", "/dev", f"{hostcopy}:/mnt/x"))
    out = vir.stdout
    assert "ls /mnt/x = OK hello link sub\n" in out
    assert "open /mnt/x/hello = OK hello from the host dir" in out
    assert f'open /mnt/x/link = OK NAME="{root_name(root)}"' in out
    assert "open /mnt/x/../other = OK guest mnt" in out
    assert "cwd = OK /mnt/x/sub" in out and "cwd = OK /mnt" in out
    # the writes went to the host directory, not under ROOT
    assert (hostdir / "newdir/renamed").read_text() == "written-in-guest"
    assert not (root / "mnt/x/newdir").exists() and not (root / "mnt/x/new").exists()


@pytest.mark.layout_engines("ptrace")  # a bind's missing guest path: auto takes ptrace
def test_bind_file_and_same_path(busybox_root, hostdir, tmp_path):
    root = busybox_root
    hn = tmp_path / "myhostname"
    hn.write_text("bound-hostname\n")
    r = ok(veil_layout(root, ["/usr/local/bin/layout_probe", "open", "/etc/hostname", "stat", "/etc/hostname",
                              "open", f"{hostdir}/hello", "ls", str(hostdir), "open", "/etc/guest-only-file"],
                       binds=("/proc", "/dev", f"{hn}:/etc/hostname", str(hostdir))))
    assert r.stdout.splitlines() == [
        "open /etc/hostname = OK bound-hostname",
        "stat /etc/hostname = OK file",
        f"open {hostdir}/hello = OK hello from the host dir",
        f"ls {hostdir} = OK hello link sub",
        "open /etc/guest-only-file = OK guest-only",
    ]
    assert (root / "etc/hostname").read_text() == "veil-guest\n"


@pytest.mark.layout_engines("ptrace")  # a bind's missing guest path: auto takes ptrace
def test_bind_onto_path_missing_in_guest(busybox_root, hostdir):
    """PRoot accepts a guest path that does not exist in ROOT (it makes the parents up)."""
    r = ok(veil_layout(busybox_root, ["/usr/local/bin/layout_probe", "open", "/opt/veil/x/hello", "ls", "/opt/veil/x"],
                       binds=(f"{hostdir}:/opt/veil/x",)))
    assert r.stdout.splitlines() == ["open /opt/veil/x/hello = OK hello from the host dir",
                                     "ls /opt/veil/x = OK hello link sub"]


# --- exec: scripts, dynamic binaries, PATH -----------------------------------------------

def _script(root, rel, text):
    p = root / rel
    p.write_text(text)
    p.chmod(0o755)


@pytest.mark.parametrize("rootname", ["busybox_root", "hostbin_root"])
def test_scripts_use_guest_interpreters(request, rootname):
    root = request.getfixturevalue(rootname)
    body = 'echo "$0 $1"; readlink /proc/$$/exe\n'
    _script(root, "usr/local/bin/s-sh", "#!/bin/sh\n" + body)
    _script(root, "usr/local/bin/s-env", "#!/usr/bin/env sh\n" + body)
    # an interpreter path only the guest has (named sh: busybox picks the applet by name)
    (root / "usr/local/lib/veilsh").mkdir(parents=True)
    os.symlink("/bin/sh", root / "usr/local/lib/veilsh/sh")
    assert not os.path.exists("/usr/local/lib/veilsh/sh")
    _script(root, "usr/local/bin/s-guestsh", "#!/usr/local/lib/veilsh/sh\n" + body)
    argv = ["/bin/sh", "-c", "/usr/local/bin/s-sh a; s-env b; s-guestsh c; cd /usr/local/bin && ./s-sh d"]
    nat, vir = compare_native(root, argv)
    exe = "/bin/busybox" if "busybox" in rootname else "/usr/bin/dash"
    assert vir.stdout.splitlines()[:2] == ["/usr/local/bin/s-sh a", exe]
    assert "/usr/local/bin/s-guestsh c" in vir.stdout
    # the script as veil's own command, found through the guest PATH
    r = ok(veil_layout(root, ["s-guestsh", "top"]))
    assert r.stdout == f"/usr/local/bin/s-guestsh top\n{exe}\n"


def test_guest_only_dynamic_binary(hostbin_root, tmp_path):
    """PT_INTERP and the libraries come from the guest: the program's ELF interpreter
    and its library exist only in ROOT."""
    root = hostbin_root
    prog = build_guest_dynamic(root, tmp_path)
    r = ok(veil_layout(root, [prog]))
    assert r.stdout == "guest-dynamic: from-guest-lib\n"
    r = ok(veil_layout(root, ["/bin/sh", "-c", "guest-dynamic; readlink /proc/self/exe"]))
    assert r.stdout == "guest-dynamic: from-guest-lib\n/usr/bin/readlink\n"
    nat, vir = compare_native(root, ["/bin/sh", "-c", "guest-dynamic"])


def test_host_only_binary_is_not_found(hostbin_root, progs):
    host_only = progs["exitcode"]          # exists on the host, not in the guest
    assert not os.path.exists(str(hostbin_root) + host_only)
    r = veil_layout(hostbin_root, [host_only, "0"])
    assert r.returncode == 127, r
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("veil:"), r.stderr
    assert "Traceback" not in r.stderr
    r = ok(veil_layout(hostbin_root, ["/bin/sh", "-c", f"{host_only} 0; echo rc=$?; "
                                      f"/usr/local/bin/layout_probe exec {host_only} 0"]))
    assert "rc=127" in r.stdout and f"exec {host_only} 0 = ENOENT" in r.stdout


def test_command_found_only_through_guest_path(hostbin_root):
    assert shutil.which("gcc") or shutil.which("python3")
    hostcmd = "gcc" if shutil.which("gcc") else "python3"
    assert not os.path.lexists(hostbin_root / "usr/bin" / hostcmd)
    r = veil_layout(hostbin_root, [hostcmd, "--version"])
    assert r.returncode == 127 and r.stdout == ""
    assert r.stderr.startswith("veil:") and hostcmd in r.stderr and r.stderr.count("\n") == 1, r.stderr
    # layout_probe is in the guest's /usr/local/bin only
    r = ok(veil_layout(hostbin_root, ["layout_probe", "exe"]))
    assert r.stdout == "exe = OK /usr/local/bin/layout_probe\n"


def test_dashdash_is_optional(busybox_root):
    r = veil_layout(busybox_root, ["./true"], "-w", "/bin", dashdash=False)
    assert r.returncode == 0, r.stderr
    r = veil_layout(busybox_root, ["./false"], "-w", "/bin", dashdash=False)
    assert r.returncode == 1, r.stderr
    r = veil_layout(busybox_root, ["/bin/sh", "-c", "echo -w; exit 42"], dashdash=False)
    assert r.returncode == 42 and r.stdout == "-w\n", r


def test_exit_status_is_the_programs(hostbin_root):
    assert veil_layout(hostbin_root, ["/bin/sh", "-c", "exit 3"]).returncode == 3
    assert veil_layout(hostbin_root, ["/bin/false"]).returncode == 1
    r = veil_layout(hostbin_root, ["/bin/sh", "-c", "kill -TERM $$"])
    assert r.returncode == 128 + 15


# --- hidden, readonly, private /tmp ------------------------------------------------------

def test_hidden_paths(busybox_root):
    root = busybox_root
    (root / "etc/secret.d").mkdir()
    (root / "etc/secret.d/key").write_text("k\n")
    r = ok(veil_layout(root, ["/usr/local/bin/layout_probe", "open", "/etc/guest-only-file", "stat", "/etc/secret.d",
                              "open", "/etc/secret.d/key", "open", "/etc/../etc/secret.d/key",
                              "open", "/etc/os-release", "write", "/etc/guest-only-file", "new"],
                       "--hidden", "/etc/guest-only-file", "--hidden", "/etc/secret.d"))
    assert r.stdout.splitlines()[:5] == [
        "open /etc/guest-only-file = ENOENT",
        "stat /etc/secret.d = ENOENT",
        "open /etc/secret.d/key = ENOENT",
        "open /etc/../etc/secret.d/key = ENOENT",
        f'open /etc/os-release = OK NAME="{BUSYBOX_NAME}"',
    ] and r.stdout.splitlines()[5].startswith("write /etc/guest-only-file new = E"), r.stdout
    assert (root / "etc/guest-only-file").read_text() == "guest-only\n"
    # a symlink pointing at a hidden path does not reveal it
    os.symlink("/etc/secret.d/key", root / "tmp/tokey")
    r = ok(veil_layout(root, ["/usr/local/bin/layout_probe", "open", "/tmp/tokey"], "--hidden", "/etc/secret.d"))
    assert r.stdout == "open /tmp/tokey = ENOENT\n"


def test_readonly_paths(busybox_root):
    root = busybox_root
    before = sorted(os.listdir(root / "etc"))
    r = ok(veil_layout(root, ["/usr/local/bin/layout_probe", "open", "/etc/os-release",
                              "write", "/etc/new", "x", "write", "/etc/guest-only-file", "x",
                              "mkdir", "/etc/d", "unlink", "/etc/guest-only-file", "rename", "/etc/hostname", "/etc/h2",
                              "chmod", "/etc/hostname", "600", "truncate", "/etc/hostname",
                              "symlink", "/x", "/etc/l", "rename", "/etc/hostname", "/tmp/stolen",
                              "write", "/tmp/ok", "fine"],
                       "--readonly", "/etc"))
    lines = r.stdout.splitlines()
    assert lines[0] == f'open /etc/os-release = OK NAME="{BUSYBOX_NAME}"'
    for line in lines[1:-1]:
        assert line.endswith("= EROFS") or (line.startswith("rename /etc/hostname /tmp") and line.endswith(("EROFS", "EXDEV"))), line
    assert lines[-1] == "write /tmp/ok fine = OK"
    assert sorted(os.listdir(root / "etc")) == before
    assert (root / "etc/guest-only-file").read_text() == "guest-only\n"
    assert stat.S_IMODE((root / "etc/hostname").stat().st_mode) != 0o600
    r = veil_layout(root, ["/bin/sh", "-c", "echo y > /etc/guest-only-file"], "--readonly", "/etc/guest-only-file")
    assert r.returncode != 0 and "Read-only file system" in r.stderr, r


def test_private_tmp(busybox_root):
    root = busybox_root
    (root / "tmp/already").write_text("in ROOT/tmp\n")
    p = popen_veil(["run", "-r", str(root), "-b", "/proc", "--private-tmp", "--", "/bin/sh", "-c",
                    "cd /tmp; ls; echo private > mine; echo ready; read line; cat /tmp/mine"],
                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                   env=guest_env(), start_new_session=True)
    try:
        assert p.stdout.readline() == "ready\n"
        # the guest shell's cwd is the host directory behind the private /tmp
        shells = [c for c in psutil.Process(p.pid).children(recursive=True) if c.name() in ("sh", "busybox")]
        assert shells, "guest shell not found"
        # (its cwd link text is the guest's /tmp under the mount engine, the host
        # directory under the ptrace engine; the link itself reaches it under both)
        assert Path(f"/proc/{shells[-1].pid}/cwd/mine").read_text() == "private\n"
        assert not (root / "tmp/mine").exists()
        mine = [d for d in Path(tempfile.gettempdir()).glob("veil-tmp-*") if (d / "mine").exists()]
        assert len(mine) == 1, "the private /tmp is not a fresh host directory"
        hosttmp = mine[0]
        out, err = p.communicate("go\n", timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, 9)   # veil and the guest it started
        reap(p)
    assert p.returncode == 0, err
    assert out == "private\n", out                       # `ls` of the fresh /tmp printed nothing
    assert not (root / "tmp/mine").exists()
    assert not os.path.exists(hosttmp), "the private /tmp must be removed at the end"


def test_private_tmp_of_a_killed_veil_is_swept_and_kept_tmp_is_reported(busybox_root, tmp_path):
    """veil SIGKILLed cannot remove its private /tmp; the next veil that makes one does."""
    root = busybox_root
    env = {**guest_env(), "TMPDIR": str(tmp_path)}
    p = popen_veil(["run", "-r", str(root), "--private-tmp", "--", "/bin/sh", "-c",
                    "echo x > /tmp/f; echo ready; sleep 60"],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                   start_new_session=True)
    try:
        assert p.stdout.readline() == "ready\n"
        left = [n for n in os.listdir(tmp_path) if n.startswith("veil-tmp-")]
        assert len(left) == 1 and (tmp_path / left[0] / "f").exists()
        os.kill(p.pid, 9)              # veil only: the kernel kills the guest with it
    finally:
        reap(p)
        if p.poll() is None:
            os.killpg(p.pid, 9)
    assert (tmp_path / left[0]).exists()
    r = run_veil(["run", "-r", str(root), "--private-tmp", "--keep-tmp", "--", "/bin/sh", "-c",
                  "echo kept > /tmp/k"], env=env)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / left[0]).exists(), "the dead veil's private /tmp was not swept"
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("veil: the private /tmp is kept at "), r.stderr
    kept = Path(line.rsplit(" ", 1)[-1])
    assert kept.parent == tmp_path and (kept / "k").read_text() == "kept\n"
    # a kept directory is not swept by the next run
    assert run_veil(["run", "-r", str(root), "--private-tmp", "--", "/bin/true"], env=env).returncode == 0
    assert kept.exists()


# --- AF_UNIX -------------------------------------------------------------------------------

@pytest.mark.parametrize("strict", [False, True], ids=["plain", "strict"])
@pytest.mark.parametrize("rootname", ["busybox_root", "hostbin_root"])
def test_unix_socket_paths(request, rootname, strict):
    """(--strict: connect and sendto reach the socket through a file veil opened.)"""
    root = request.getfixturevalue(rootname)
    name = f"/tmp/s-{uuid.uuid4().hex[:8]}"
    nat = chroot_run(root, ["/usr/local/bin/layout_unix", "stream", name])
    assert nat.returncode == 0, nat.stdout + nat.stderr
    os.unlink(str(root) + name)
    opts = ["--strict"] if strict else []
    r = ok(veil_layout(root, ["/usr/local/bin/layout_unix", "stream", name], *opts))
    assert r.stdout == nat.stdout
    assert f"sockname = '{name}'" in r.stdout and f"peername = '{name}'" in r.stdout
    assert "msg = ping" in r.stdout
    assert stat.S_ISSOCK(os.lstat(str(root) + name).st_mode), "socket not at ROOT/tmp on the host"
    assert not os.path.exists(name)
    # datagrams: recvfrom reports the sender's guest path
    r = ok(veil_layout(root, ["/usr/local/bin/layout_unix", "dgram", name + "d", name + "p"], *opts))
    assert f"recvfrom-sender = '{name}p'" in r.stdout and "msg = dping" in r.stdout
    # a relative path, resolved in the guest cwd
    r = ok(veil_layout(root, ["/usr/local/bin/layout_unix", "stream", "rel.sock"], "-w", "/tmp", *opts))
    assert os.path.exists(root / "tmp/rel.sock")


@pytest.mark.layout_engines("ptrace")  # a bind's missing guest path: auto takes ptrace
def test_unix_socket_through_bind(busybox_root, tmp_path):
    """A host socket made visible with -b is reachable at its guest path."""
    d = tmp_path / "hs"
    d.mkdir()
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(d / "s"))
    srv.listen(1)
    srv.settimeout(30)
    import threading

    def serve():
        try:
            c, _ = srv.accept()
            c.sendall(b"hello-from-host\n")
            c.close()
        except OSError:
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        r = ok(veil_layout(busybox_root, ["/usr/local/bin/layout_unix", "connect", "/run/hs/s"],
                           binds=(f"{d}:/run/hs",)))
        assert r.stdout == "connect /run/hs/s = OK\ngot = hello-from-host\n"
    finally:
        srv.close()
        t.join(5)


# --- bad input ----------------------------------------------------------------------------

def _one_line_error(r):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("veil:") and r.stderr.count("\n") == 1, r.stderr
    return r


def test_missing_root(tmp_path):
    missing = tmp_path / "no-such-root"
    r = _one_line_error(run_veil(["run", "-r", missing, "--", "/bin/true"], env=guest_env()))
    assert str(missing) in r.stderr
    f = tmp_path / "a-file"
    f.write_text("")
    _one_line_error(run_veil(["run", "-r", f, "--", "/bin/true"], env=guest_env()))


def test_missing_bind_source(busybox_root, tmp_path):
    """As PRoot: a warning and the bind left out; an error under --strict."""
    missing = tmp_path / "no-such-dir"
    r = _one_line_error(veil_layout(busybox_root, ["/bin/true"], "--strict",
                                    binds=(f"{missing}:/mnt/x",)))
    assert str(missing) in r.stderr
    _one_line_error(veil_layout(busybox_root, ["/bin/true"], "--strict", binds=(str(missing),)))
    r = veil_layout(busybox_root, ["/bin/ls", "/mnt"], binds=(f"{missing}:/mnt/x",))
    assert r.returncode == 0 and r.stdout == ""
    assert r.stderr.startswith("veil: warning: ") and str(missing) in r.stderr, r.stderr


def test_command_not_found_in_guest(busybox_root):
    r = veil_layout(busybox_root, ["no-such-cmd-xyz"])
    assert r.returncode == 127 and r.stdout == ""
    assert r.stderr.startswith("veil:") and "no-such-cmd-xyz" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    r = veil_layout(busybox_root, ["/usr/bin/no-such-cmd"])
    assert r.returncode == 127 and r.stderr.startswith("veil:"), r.stderr
