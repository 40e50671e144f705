"""PRoot's -q QEMU: a guest tree of another architecture (arm64 here) runs with its
programs under qemu-user.  The arm64 program is tests/progs/arch_hello.c built
statically with Debian's cross compiler (gcc-aarch64-linux-gnu, libc6-dev-arm64-cross;
CI installs them with qemu-user-static); its output under veil is compared with
what qemu-aarch64-static prints when it runs the program itself."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import PROGS_DIR, run_veil
from rootfs import BUSYBOX

QEMU = shutil.which("qemu-aarch64-static")
CROSS_GCC = shutil.which("aarch64-linux-gnu-gcc")

pytestmark = pytest.mark.skipif(
    QEMU is None or CROSS_GCC is None,
    reason="needs qemu-user-static and gcc-aarch64-linux-gnu + libc6-dev-arm64-cross "
           "(apt-get install; .ci/run installs them)")


CROSS_LIBS = "/usr/aarch64-linux-gnu/lib"   # libc6-arm64-cross: the loader and libc


@pytest.fixture(scope="module")
def arm64_root(tmp_path_factory):
    """A guest tree: /hello (arm64, static), /hello_dyn (arm64, with the cross
    toolchain's loader and libc at the places an arm64 Debian has them) and the
    host's static busybox as /bin/sh."""
    root = tmp_path_factory.mktemp("arm64-root")
    (root / "bin").mkdir()
    (root / "lib" / "aarch64-linux-gnu").mkdir(parents=True)
    for name, static in (("hello", ["-static"]), ("hello_dyn", [])):
        r = subprocess.run([CROSS_GCC, *static, "-O1", "-o", str(root / name),
                            str(PROGS_DIR / "arch_hello.c")], capture_output=True, text=True,
                           timeout=120)
        if r.returncode != 0:
            pytest.skip(f"the cross compiler cannot link {name}: {r.stderr.strip()}")
    shutil.copy(f"{CROSS_LIBS}/ld-linux-aarch64.so.1", root / "lib")
    shutil.copy(f"{CROSS_LIBS}/libc.so.6", root / "lib" / "aarch64-linux-gnu")
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    os.symlink("busybox", root / "bin" / "sh")
    return root


def test_arm64_program_prints_what_qemu_prints(arm64_root):
    direct = subprocess.run([QEMU, "-0", "/hello", str(arm64_root / "hello")],
                            capture_output=True, text=True, timeout=60)
    assert direct.returncode == 0, direct.stderr
    assert direct.stdout == "/hello on aarch64\n"
    r = run_veil(["run", "-q", "qemu-aarch64-static", "-r", arm64_root, "/hello"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == direct.stdout
    # PRoot's long spelling, and the path of qemu instead of its name
    r = run_veil(["run", f"--qemu={QEMU}", f"--rootfs={arm64_root}", "/hello"])
    assert (r.returncode, r.stdout) == (0, direct.stdout), r.stderr


def test_dynamic_arm64_program_finds_its_loader_in_the_guest(arm64_root):
    direct = subprocess.run([QEMU, "-L", str(arm64_root), "-0", "/hello_dyn",
                             str(arm64_root / "hello_dyn")], capture_output=True, text=True,
                            timeout=60)
    assert (direct.returncode, direct.stdout) == (0, "/hello_dyn on aarch64\n"), direct.stderr
    r = run_veil(["run", "-q", "qemu-aarch64-static", "-r", arm64_root, "/hello_dyn"])
    assert (r.returncode, r.stdout) == (0, direct.stdout), r.stderr


def test_every_exec_of_an_arm64_program_goes_through_qemu(arm64_root):
    # the arm64 program execs itself; the host's shell runs it and reports its status
    r = run_veil(["run", "-q", "qemu-aarch64-static", "-r", arm64_root, "/bin/sh", "-c",
                  "/hello /hello; echo status=$?"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "/hello on aarch64\n/hello on aarch64\nstatus=0\n"
    if os.path.exists("/proc/sys/fs/binfmt_misc/qemu-aarch64"):
        return  # the host runs arm64 programs itself (qemu-user-static's binfmt rule)
    # without -q the kernel cannot run it
    r = run_veil(["run", "-r", arm64_root, "/bin/sh", "-c", "/hello; echo status=$?"])
    assert r.stdout in ("status=126\n", "status=127\n"), r.stdout


def test_qemu_refusals_are_one_line(arm64_root):
    cases = [
        (["-q", "qemu-nosuch-static"], "no such program"),
        (["-q", "qemu-aarch64-static -cpu max"], "options to qemu cannot be passed"),
        (["-q", "/bin/true"], "which architecture does it run?"),
        (["-q", "qemu-aarch64-static", "--layout-engine", "ptrace"],
         "only the mount layout engine gives this"),
    ]
    for flags, message in cases:
        r = run_veil(["run", *flags, "-r", arm64_root, "/hello"])
        assert r.returncode != 0 and r.stdout == ""
        assert r.stderr.startswith("veil: ") and message in r.stderr, r.stderr
        assert len(r.stderr.splitlines()) == 1, r.stderr
