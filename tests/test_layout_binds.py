"""Binds and the guest tree as PRoot shows them (issue 18): the last bind at a guest
path wins, "file/." is ENOTDIR, the directories on the way to a bind exist, a bind
reached through a guest symlink is seen at both spellings, a root below a bound host
directory shows guest paths, relative paths on the command line, and the guest's
environment.

Each check runs the same commands under a real chroot (a copy of the guest tree, the
binds made with real bind mounts; rootfs.chroot_run) and under ``veil run``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

import pytest

from conftest import run_veil, veil_cmd
from rootfs import busybox_root, busybox_template, chroot_run, guest_env, hostbin_root, hostbin_template, layout_progs  # noqa: F401

SH = "/bin/sh"

# PRoot's way (every path call translated), and veil's own choice (bind mounts where
# the kernel permits them and they can show the tree, else the same translation)
pytestmark = pytest.mark.layout_engines("ptrace", "auto")


def _veil(root: Path, argv: Sequence[str], *, binds: Sequence[str] = (), opts: Sequence[str] = (),
          root_flag: str = "-r", cwd=None, env=None) -> subprocess.CompletedProcess:
    args = ["run", root_flag, str(root)]
    for b in binds:
        args += ["-b", b]
    r = run_veil([*args, *opts, "--", *argv], env=env or guest_env(), cwd=cwd)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def _native(root: Path, argv: Sequence[str], *, binds: Sequence[str], cwd: str = "/"):
    """ARGV under a real chroot of a copy of ROOT, with the guest paths of BINDS made."""
    copy = root.parent / (root.name + "-native")
    shutil.rmtree(copy, ignore_errors=True)
    subprocess.run(["cp", "-a", str(root), str(copy)], check=True, timeout=60)
    for b in binds:
        host, _, guest = b.partition(":")
        place = copy / (guest or host).lstrip("/")
        if os.path.isdir(host):
            place.mkdir(parents=True, exist_ok=True)
        else:
            place.parent.mkdir(parents=True, exist_ok=True)
            place.touch()
    r = chroot_run(copy, argv, cwd=cwd, binds=("/proc", "/dev", *binds))
    assert r.returncode != 99, f"the native reference could not make its binds: {r.stderr}"
    return r


def _same(nat, vir) -> str:
    assert vir.stdout == nat.stdout, (f"--- chroot:\n{nat.stdout}\n--- veil (exit "
                                      f"{vir.returncode}):\n{vir.stdout}\n{vir.stderr}")
    assert vir.returncode == nat.returncode, (nat.returncode, vir.returncode, vir.stderr)
    return vir.stdout


@pytest.fixture
def two_dirs(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "f").write_text(f"from {name}\n")
        (tmp_path / name / f"only-{name}").write_text("")
    return tmp_path / "a", tmp_path / "b"


# --- item 1: the last bind at a guest path wins ---------------------------------------

def test_last_bind_wins(busybox_root, two_dirs):
    a, b = two_dirs
    binds = (f"{a}:/x", f"{b}:/x")
    argv = [SH, "-c", "cat /x/f; ls /x"]
    out = _same(_native(busybox_root, argv, binds=binds),
                _veil(busybox_root, argv, binds=("/proc", "/dev", *binds)))
    assert out == "from b\nf\nonly-b\n"


def test_bind_after_recommended_binds_wins(busybox_root, tmp_path):
    """-R binds the host's /etc/hosts; a -b of the same guest path replaces it."""
    hosts = tmp_path / "hosts"
    hosts.write_text("10.9.8.7 veil-bind-test\n")
    (busybox_root / "etc/hosts").write_text("")
    argv = ["/bin/cat", "/etc/hosts"]
    nat = _native(busybox_root, argv, binds=("/etc/hosts", f"{hosts}:/etc/hosts"))
    vir = _veil(busybox_root, argv, binds=(f"{hosts}:/etc/hosts",), root_flag="-R")
    assert _same(nat, vir) == hosts.read_text()


# --- item 2: file/. and file/.. -------------------------------------------------------

def test_dot_and_dotdot_after_a_file(busybox_root, two_dirs):
    a, _ = two_dirs
    script = ("for p in /etc/hostname/. /etc/hostname/.. /etc/hostname/../hostname /x/f/. "
              "/x/f/.. /x/f/../f /etc/hostname/ /no-such/. /etc/.; do "
              "cat $p >/dev/null 2>&1; echo \"cat $p $?\"; test -e $p; echo \"test $p $?\"; done; "
              "cd /x/f/.. 2>/dev/null; echo \"cd $?\"; ls /x/f/.. 2>&1")
    argv = [SH, "-c", script]
    out = _same(_native(busybox_root, argv, binds=(f"{a}:/x",)),
                _veil(busybox_root, argv, binds=("/proc", "/dev", f"{a}:/x")))
    assert "cat /etc/hostname/. 1" in out and "Not a directory" in out


# --- item 3: the way to a bind, and a bind through a guest symlink --------------------

def test_parents_of_a_bind_exist(busybox_root, two_dirs):
    a, _ = two_dirs
    argv = [SH, "-c", "ls -d /nonexist/a; ls /nonexist/a; ls /nonexist; cat /nonexist/a/b/f; "
                      "cd /nonexist/a && pwd && cd b && pwd"]
    out = _same(_native(busybox_root, argv, binds=(f"{a}:/nonexist/a/b",)),
                _veil(busybox_root, argv, binds=("/proc", "/dev", f"{a}:/nonexist/a/b")))
    assert out == "/nonexist/a\nb\na\nfrom a\n/nonexist/a\n/nonexist/a/b\n"
    glue = [n for n in os.listdir("/tmp") if n.startswith("veil-glue-")]
    assert not [n for n in glue if not os.path.isdir(f"/proc/{n.split('-')[2]}")], \
        f"veil left its glue directories: {glue}"


def test_bind_through_a_guest_symlink(busybox_root, two_dirs):
    """/var/run -> /run in the guest: -b A:/var/run/demo is seen at both spellings."""
    a, _ = two_dirs
    (busybox_root / "var").mkdir(exist_ok=True)
    shutil.rmtree(busybox_root / "var/run", ignore_errors=True)
    os.symlink("/run", busybox_root / "var/run")
    (busybox_root / "run").mkdir(exist_ok=True)
    argv = [SH, "-c", "cat /var/run/demo/f /run/demo/f; cd /var/run/demo && pwd -P"]
    # a real mount follows the symlink in the guest: the kernel mounts on /run/demo
    nat = _native(busybox_root, argv, binds=(f"{a}:/run/demo",))
    vir = _veil(busybox_root, argv, binds=("/proc", "/dev", f"{a}:/var/run/demo"))
    assert _same(nat, vir) == "from a\nfrom a\n/run/demo\n"


def test_bang_binds_the_symlink_itself(busybox_root, two_dirs):
    """PRoot's GUEST!: a symlink at GUEST is replaced, not followed."""
    a, _ = two_dirs
    os.symlink("/etc", busybox_root / "lnk")
    r = _veil(busybox_root, [SH, "-c", "ls /lnk; cat /etc/hostname"], binds=(f"{a}:/lnk!",))
    assert r.returncode == 0 and r.stdout == "f\nonly-a\nveil-guest\n", r.stderr
    argv = [SH, "-c", "ls /lnk; ls /etc"]
    out = _same(_native(busybox_root, argv, binds=(f"{a}:/etc",)),
                _veil(busybox_root, argv, binds=("/proc", "/dev", f"{a}:/lnk")))
    assert out == "f\nonly-a\n" * 2


# --- item 4: a root below a bound host directory --------------------------------------

def test_root_below_a_bound_directory(busybox_root):
    """-R binds /tmp, where the root lies: the program sees guest paths, not ROOT/..."""
    assert str(busybox_root).startswith("/tmp/"), "the test needs its root below /tmp"
    argv = [SH, "-c", "pwd; /bin/pwd; readlink /proc/self/cwd; readlink /proc/self/exe; "
                      "cd /usr && /bin/pwd && ls -l /proc/$$/cwd | sed 's/.*-> //'"]
    nat = _native(busybox_root, argv, binds=(), cwd="/bin")
    vir = _veil(busybox_root, argv, opts=("-w", "/bin"), root_flag="-R", cwd="/")
    assert _same(nat, vir).splitlines()[:3] == ["/bin"] * 3
    r = _veil(busybox_root, ["/bin/pwd"], opts=("-w", "/bin"), root_flag="-R", cwd="/")
    assert r.stdout == "/bin\n", r.stderr


def test_cwd_in_a_root_path_a_bind_covers(busybox_root, two_dirs):
    """Reached through the bound /tmp, ROOT/usr/local (covered by a bind at /usr/local)
    is not named /usr/local: the directory's name leads back to it."""
    a, _ = two_dirs
    (busybox_root / "usr/local/root-own").write_text("")
    here = f"{busybox_root}/usr/local"
    r = _veil(busybox_root, [SH, "-c", f"cd {here} && ls && cd \"$(readlink /proc/self/cwd)\" && "
                                       "ls && cd /usr/local && ls"],
              binds=(f"{a}:/usr/local",), root_flag="-R")
    assert r.returncode == 0, r.stderr
    own = "\n".join(sorted(os.listdir(here))) + "\n"
    assert r.stdout == own + own + "f\nonly-a\n", r.stderr


def test_root_below_a_bound_directory_dynamic(hostbin_root):
    """The same with the host's dynamic coreutils (started through the guest's loader)."""
    argv = ["/bin/sh", "-c", "/bin/pwd; readlink /proc/self/cwd /proc/self/exe"]
    nat = _native(hostbin_root, argv, binds=(), cwd="/usr")
    vir = _veil(hostbin_root, argv, opts=("-w", "/usr"), root_flag="-R", cwd="/")
    assert _same(nat, vir).splitlines()[:2] == ["/usr", "/usr"]


# --- item 5: relative paths, a missing bind source ------------------------------------

def test_relative_bind_and_cwd(busybox_root, two_dirs):
    """-r .. -b ../../a:/mnt/a -w local, run in ROOT/usr: taken from the current
    directory (the host's for -r and -b, the guest's view of it for -w)."""
    argv = [SH, "-c", "pwd; cat /mnt/a/f"]
    nat = _native(busybox_root, argv, binds=(f"{two_dirs[0]}:/mnt/a",), cwd="/usr/local")
    here = busybox_root / "usr"
    rel = os.path.relpath(two_dirs[0], here)
    vir = _veil(Path(".."), argv, binds=("/proc", "/dev", f"{rel}:/mnt/a"),
                opts=("-w", "local"), cwd=here)
    assert _same(nat, vir) == "/usr/local\nfrom a\n"


# --- item 7: the environment ------------------------------------------------------------

def _env_of(argv: Sequence[str], env: dict) -> list:
    r = subprocess.run(list(argv), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    return sorted(r.stdout.splitlines())


@pytest.mark.parametrize("lang", [{"LANG": "C"}, {}, {"LC_ALL": "C", "LC_CTYPE": "POSIX"}],
                         ids=["LANG=C", "no-locale", "LC_ALL=C"])
def test_environment_unchanged(lang):
    """veil adds nothing: not even the LC_CTYPE of Python's locale coercion."""
    env = {"PATH": os.defpath, **lang}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]  # for veil itself; the guest sees it too
    native = _env_of(["env"], env)
    assert _env_of(veil_cmd(["run", "--", "env"]), env) == native
    assert _env_of(veil_cmd(["run", "-r", "/", "--", "env"]), env) == native


def test_pwd_follows_cwd(busybox_root, tmp_path):
    env = {**guest_env(), "PWD": str(tmp_path)}
    native = subprocess.run(["sh", "-c", "cd /etc && exec env"], env=env, stdout=subprocess.PIPE,
                            text=True, check=True).stdout
    assert "PWD=/etc\n" in native
    for opts in (["-w", "/etc"], ["-r", "/", "-w", "/etc"], ["-r", str(busybox_root), "-w", "/etc"]):
        r = run_veil(["run", *opts, "--", "env"], env=env, cwd=tmp_path)
        assert "PWD=/etc\n" in r.stdout, (opts, r.stdout, r.stderr)
    r = run_veil(["run", "-r", str(busybox_root), "--", "env"], env=env, cwd=tmp_path)
    assert "PWD=/\n" in r.stdout, r.stderr  # the guest does not show the current directory


# --- item 6: AF_UNIX names longer than sun_path once translated -------------------------

def test_unix_socket_below_a_long_root(busybox_root, tmp_path):
    """The guest's /tmp/s is ROOT/tmp/s on the host, longer than sun_path's 108 bytes:
    bind, connect, sendto and the names shown back work as under a real chroot."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    root = deep / "root"
    shutil.move(str(busybox_root), root)
    assert len(f"{root}/tmp/s") > 108
    argv = [SH, "-c", "layout_unix stream /tmp/s && layout_unix dgram /tmp/d /tmp/p && "
                      "ls /tmp && layout_unix connect /tmp/s"]
    out = _same(_native(root, argv, binds=()), _veil(root, argv, binds=("/proc", "/dev")))
    assert "sockname = '/tmp/s' len=9\n" in out and "recvfrom-sender = '/tmp/p' len=9\n" in out
    assert "connect /tmp/s = ECONNREFUSED" in out
