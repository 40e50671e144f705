"""Exec under a layout, as natively (issue 18, "Exec").

The same program runs under a real ``chroot`` (tests/rootfs.py chroot_run) and
under ``veil run -r ROOT``, with both layout engines: an exec the kernel refuses
fails in execve with the kernel's error, the caller's credentials decide, and
the program started through the guest's loader looks like itself in /proc.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import run_veil
from rootfs import (  # noqa: F401
    chroot_run,
    guest_env,
    hostbin_root,
    hostbin_template,
    install_host_path,
    layout_args,
    layout_progs,
    ldd_closure,
)

pytestmark = pytest.mark.layout_engines("ptrace", "mount")

NOBODY = "65534"


def both(root: Path, argv, *, binds=("/proc", "/dev"), env=None):
    """(native, veil) results of ARGV in ROOT."""
    env = env or guest_env()
    native = chroot_run(root, argv, binds=binds, env=env)
    opts = []
    for b in binds:
        opts += ["-b", b]
    veil = run_veil([*layout_args(root, *opts), "--", *argv], env=env)
    return native, veil


@pytest.fixture
def exec_root(hostbin_root, tmp_path):  # noqa: F811
    """hostbin_root (the host's dynamic programs with their own copy of glibc's
    loader) plus files the kernel refuses to exec, each for its own reason; in a
    directory every user may search (pytest's own is root's, mode 700), so that
    what nobody cannot reach is the guest's doing."""
    top = Path(tempfile.mkdtemp(prefix="veil-exec-", dir="/var/tmp"))
    top.chmod(0o755)
    root = top / "root"
    os.rename(hostbin_root, root)
    true = root / "usr/bin/true"
    data = root / "data"
    data.mkdir()
    secret = root / "secret"
    secret.mkdir(mode=0o700)
    secret.chmod(0o700)
    shutil.copy2(true, secret / "true")
    for name, mode in (("plain", 0o644), ("owner-x", 0o744), ("copy", 0o755)):
        shutil.copy2(true, data / name)
        (data / name).chmod(mode)
    shutil.copy2(root / "usr/local/bin/layout_exec", data / "static")
    (data / "cmdfile").write_text("echo from-cmdfile $0\n")
    (data / "cmdfile").chmod(0o755)
    (data / "script").write_text("#!/bin/sh\necho from-script\n")
    (data / "script").chmod(0o755)
    (data / "loop").symlink_to("loop")
    (data / "dir").mkdir()
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is needed to build a program whose loader is missing")
    src = tmp_path / "nold.c"
    src.write_text("int main(void) { return 0; }\n")
    for name, ld in (("no-loader", "/lib/no-such-ld.so"), ("dir-loader", "/data/dir")):
        subprocess.run([gcc, "-o", str(data / name), str(src), f"-Wl,--dynamic-linker={ld}"],
                       check=True, timeout=120)
    yield root
    shutil.rmtree(top, ignore_errors=True)


# (label, layout_exec options, program): what execve makes of each
REFUSED = [
    ("EACCES: a directory on the way is not searchable by the caller", ["-u", NOBODY], "/secret/true"),
    ("EACCES: no x bit", [], "/data/plain"),
    ("EACCES: x for the owner only", ["-u", NOBODY], "/data/owner-x"),
    ("EACCES: a directory", [], "/data/dir"),
    ("ENOENT: no such file", [], "/data/missing"),
    ("ENOENT: its ELF interpreter is missing", [], "/data/no-loader"),
    ("EISDIR-like: its ELF interpreter is a directory", [], "/data/dir-loader"),
    ("ENOEXEC: no handler takes it", [], "/data/cmdfile"),
    ("ETXTBSY: a static program open for writing", ["-w"], "/data/static"),
    ("ETXTBSY: a dynamic program open for writing", ["-w"], "/data/copy"),
    ("ETXTBSY: a script open for writing", ["-w"], "/data/script"),
    ("ELOOP: a symlink loop", [], "/data/loop"),
    ("ENOTDIR: a file as a directory", [], "/usr/bin/true/x"),
    ("E2BIG: an argument over MAX_ARG_STRLEN", ["-b"], "/usr/bin/true"),
    ("execveat EACCES as the caller", ["-e", "-u", NOBODY], "/secret/true"),
    ("success as the caller", ["-u", NOBODY], "/data/copy"),
]


def test_exec_errors_come_from_execve(exec_root):
    """Every refusal in one guest run (a shell loop) against the same loop natively."""
    lines = []
    for label, opts, prog in REFUSED:
        args = " ".join([*opts, prog])
        lines.append(f"echo '{label}:' $(layout_exec {args} 2>&1; echo rc=$?)")
    script = "\n".join(lines)
    native, veil = both(exec_root, ["/bin/sh", "-c", script])
    assert native.returncode == 0, native.stderr
    assert veil.returncode == 0, veil.stderr
    assert "exec: EACCES" in native.stdout and "exec: ENOEXEC" in native.stdout, native.stdout
    assert veil.stdout.splitlines() == native.stdout.splitlines(), (native.stdout, veil.stdout)


def test_a_command_file_runs_through_the_shell_as_natively(exec_root):
    """execve of a file without #! fails with ENOEXEC (above); the shell, not the
    kernel, then runs it with /bin/sh -- the same under veil."""
    native, veil = both(exec_root, ["/bin/sh", "-c", "/data/cmdfile arg; echo rc=$?"])
    assert native.stdout == "from-cmdfile /data/cmdfile\nrc=0\n", native
    assert (veil.stdout, veil.returncode) == (native.stdout, native.returncode), veil.stderr


def test_a_command_file_as_the_command(exec_root):
    """veil run of a file without #! (ENOEXEC from execve): the shell runs it, as
    chroot(1)'s execvp and PRoot do."""
    native = chroot_run(exec_root, ["/data/cmdfile", "arg"])
    veil = run_veil([*layout_args(exec_root), "--", "/data/cmdfile", "arg"], env=guest_env())
    assert native.stdout == "from-cmdfile /data/cmdfile\n", native
    assert (veil.stdout, veil.returncode) == (native.stdout, native.returncode), veil.stderr


@pytest.fixture
def python_root(exec_root):
    """exec_root with the host's python3 (its standard library bound in)."""
    python = os.path.realpath(shutil.which("python3") or "/usr/bin/python3")
    install_host_path(exec_root, python)
    for lib in ldd_closure([python]):
        install_host_path(exec_root, lib)
    stdlib = Path(subprocess.run([python, "-c", "import os; print(os.path.dirname(os.__file__))"],
                                 stdout=subprocess.PIPE, text=True, check=True).stdout.strip())
    (exec_root / str(stdlib).lstrip("/")).mkdir(parents=True, exist_ok=True)
    return exec_root, python, str(stdlib)


def test_python_subprocess_as_nobody_gets_permission_error(python_root):
    root, python, stdlib = python_root
    code = ("import subprocess\n"
            "try:\n"
            "    subprocess.run(['/secret/true'], user=65534, group=65534, extra_groups=[], check=True)\n"
            "    print('ran')\n"
            "except PermissionError as e:\n"
            "    print('PermissionError', e.errno)\n"
            "except subprocess.CalledProcessError as e:\n"
            "    print('CalledProcessError', e.returncode)\n")
    native, veil = both(root, [python, "-c", code], binds=("/proc", "/dev", stdlib))
    assert native.stdout == "PermissionError 13\n", native
    assert (veil.stdout, veil.returncode) == (native.stdout, native.returncode), veil.stderr


def test_proc_shows_the_program(exec_root):
    """comm and cmdline of a dynamic program started through the guest's loader, and
    of a #! script (comm: the script's name, cmdline: interpreter, script, args)."""
    (exec_root / "data/show.sh").write_text("#!/bin/sh\ncat /proc/$$/comm; cat /proc/$$/cmdline\n")
    (exec_root / "data/show.sh").chmod(0o755)
    script = ("/usr/bin/cat /proc/self/comm; /usr/bin/cat /proc/self/cmdline; echo;"
              " layout_exec -0 nick /usr/bin/cat /proc/self/cmdline; echo;"
              " /data/show.sh one two; /bin/sh -c 'cat /proc/$$/comm'")
    native, veil = both(exec_root, ["/bin/sh", "-c", script])
    assert native.stdout.splitlines()[:2] == ["cat", "/usr/bin/cat\0/proc/self/cmdline\0"], native
    assert (veil.stdout, veil.returncode) == (native.stdout, native.returncode), veil.stderr


def test_identity_layout_execs_the_program_itself(tmp_path):
    """-r / (with a bind): the guest's loader is the host's (/lib64/ld-linux-x86-64.so.2
    is a symlink on Debian), so the kernel runs the program as natively: the auxv the
    loader shows names the program (AT_EXECFN), not the loader."""
    cat = os.path.realpath(shutil.which("cat") or "/usr/bin/cat")
    script = (f"{cat} /proc/self/comm; {cat} /proc/self/cmdline; echo;"
              " LD_SHOW_AUXV=1 /usr/bin/true | grep AT_EXECFN; /bin/sh -c 'cat /proc/$$/comm'")
    native = subprocess.run(["/bin/sh", "-c", script], stdout=subprocess.PIPE, text=True, timeout=30)
    veil = run_veil(["run", "-r", "/", "-b", f"{tmp_path}:/mnt", "--", "/bin/sh", "-c", script],
                    env=guest_env())
    assert native.stdout.splitlines()[-2:] == ["AT_EXECFN:            /usr/bin/true", "sh"], native
    assert (veil.stdout, veil.returncode) == (native.stdout, 0), veil.stderr


def _native_nosuid(root: Path, script: str) -> subprocess.CompletedProcess:
    """SCRIPT under a real chroot whose /data is a nosuid mount."""
    from rootfs import native_prefix
    env = guest_env()
    env.pop("PYTHONPATH", None)
    setup = ('r=$1; shift; mount --bind "$r/data" "$r/data" && '
             'mount -o remount,bind,nosuid "$r/data" && mount --rbind /proc "$r/proc" && '
             'exec /usr/sbin/chroot "$r" /bin/sh -c "$@"')
    return subprocess.run([*native_prefix(), "/bin/sh", "-c", setup, "native", str(root), script],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=60)


@pytest.mark.skipif(os.geteuid() != 0, reason="a setuid-root program and a drop to nobody need root")
def test_setuid_programs(exec_root, layout_engine):
    """A setuid-root program run by nobody: natively it runs as euid 0 (veil, run by
    root, keeps CAP_SYS_PTRACE, so a traced exec still grants it).  The mount engine
    lets the kernel exec it.  The ptrace engine starts a dynamic program through the
    guest's loader, the file the kernel takes the ids from: the program runs as on a
    nosuid mount (as under PRoot), while a static one is the kernel's own exec."""
    data = exec_root / "data"
    shutil.copy2(exec_root / "usr/local/bin/layout_exec", data / "suid-static")
    shutil.copy2(exec_root / "usr/bin/id", data / "suid-id")
    for name in ("suid-static", "suid-id"):
        os.chown(data / name, 0, 0)
        (data / name).chmod(0o4755)
    script = "layout_exec -u 65534 /data/suid-static -p; layout_exec -u 65534 /data/suid-id"
    native, veil = both(exec_root, ["/bin/sh", "-c", script])
    nosuid = _native_nosuid(exec_root, script)
    lines, nosuid_lines = native.stdout.splitlines(), nosuid.stdout.splitlines()
    assert lines[:2] == ["uid 65534 euid 0 gid 65534 egid 65534",
                         "uid=65534(nobody) gid=65534(nogroup) euid=0(root) groups=65534(nogroup)"], native
    assert nosuid_lines[1] == "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)", nosuid
    want = lines if layout_engine == "mount" else [lines[0], nosuid_lines[1]]
    assert (veil.stdout.splitlines(), veil.returncode) == (want, 0), veil.stderr


def test_auxv_names_the_program(exec_root, progs, tmp_path):
    """A program reads the auxv the kernel would have given it, though veil hands the
    kernel a host path or the guest's loader: AT_EXECFN is the path as the caller gave
    it (a #! script's own for its interpreter); under the loader, glibc rewrites
    AT_PHDR, AT_PHNUM and AT_ENTRY on the stack, and veil sets AT_BASE and the
    kernel's copy in /proc/PID/auxv."""
    from rootfs import PROGS_DIR, build_static
    bindir = exec_root / "usr/local/bin"
    shutil.copy2(progs["auxv_probe"], bindir / "auxv_probe")
    shutil.copy2(build_static(tmp_path, PROGS_DIR / "auxv_probe.c"), bindir / "auxv_static")
    (bindir / "ap").symlink_to("auxv_probe")
    for name, interp in (("dyn.sh", "auxv_probe"), ("static.sh", "auxv_static")):
        (exec_root / "data" / name).write_text(f"#!/usr/local/bin/{interp}\n")
        (exec_root / "data" / name).chmod(0o755)
    script = ("cd /usr/local/bin; ./auxv_probe; /usr/local/bin/ap; auxv_probe;"
              " layout_exec -0 nick /usr/local/bin/auxv_probe; layout_exec -e ./ap;"
              " layout_exec auxv_probe; ./auxv_static; /data/dyn.sh; cd /data; ./static.sh")
    native, veil = both(exec_root, ["/bin/sh", "-c", script])
    lines = native.stdout.splitlines()
    assert lines[0] == "execfn=./auxv_probe execfn-in-proc=1 phdr=1,1 entry=1,1 base=1,1 phnum=1"
    assert [line.split()[0] for line in lines[5:]] == [
        "execfn=auxv_probe", "execfn=./auxv_static", "execfn=/data/dyn.sh", "execfn=./static.sh"]
    assert (veil.stdout, veil.returncode) == (native.stdout, native.returncode), veil.stderr
