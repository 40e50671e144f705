"""PRoot's own test suite (v5.4.0's test/, bench/proot_suite.py) with ``veil run``
in PRoot's place, and the failures it showed that were veil's bugs.

The suite itself is slow (a few minutes): ``-m slow``.  Its sources come from a
PRoot git repository at test time (the mirror, or $PROOT_GIT), never from this
checkout.  Every test PRoot's suite fails under veil is listed below with why.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

from conftest import run_veil
from rootfs import chroot_run, guest_env, hostbin_root, hostbin_template, layout_progs  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("proot_suite", REPO / "bench" / "proot_suite.py")
proot_suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(proot_suite)

# test -> why it fails under veil (PRoot 5.4.0 passes all but the ones marked "PRoot too")
DIFFERENCES = {
    "test-2401b850": "-q with a stand-in 'emulator' (true, a test program): veil takes the "
                     "architecture from the name qemu-ARCH and refuses others",
    "test-517e1d6b": "the same as test-2401b850",
    "test-071599da": "-k with PROOT_FORCE_KOMPAT: PRoot moves AT_RANDOM to the end of the auxv; "
                     "veil leaves the kernel's order (AT_RSEQ_* come last on Linux 6.3+)",
    "test-5996858d": "-k's hwcap field: veil does not fake AT_HWCAP (it warns)",
    "test-e99993c8": "-k with a release over 64 bytes: veil refuses it (PRoot truncates it)",
    "test-22222222": "a symlink in a bound directory whose target names the bind's host path: "
                     "veil shows its content as a bind mount does, PRoot rewrites it",
    "test-8e5fa256": "the same as test-22222222",
    "test-rrrrrrrr": "/proc/self/root under -r is / as in a chroot; PRoot shows the host path",
    "test-53355a5b": "cd into a directory without x as root succeeds, as natively (root may "
                     "search it); PRoot refuses it",
    "test-33333333": "veil's exit status is the first process's, PRoot's the last one's",
    "test-5467b986": "-w to a missing guest directory: veil refuses to start, PRoot warns "
                     "and starts in /",
    "test-ssssssss": "an AF_UNIX path that fits sun_path only as the guest's: ENAMETOOLONG "
                     "after translation (issue 18, binds)",
    # PRoot 5.4.0 fails these here as well
    "test-03969e70": "PRoot too: an empty PATH searches the current directory (-w /bin)",
    "test-092c5e26": "PRoot too: -q", "test-tempdire": "PRoot too: its own PROOT_TMP_DIR",
    "test-bug-138": "PRoot too", "test-socket01": "PRoot too", "test-socket02": "PRoot too",
    "test-socket03": "PRoot too",
}


@pytest.mark.slow
def test_proot_suite_under_veil(tmp_path):
    git_dir = os.environ.get("PROOT_GIT", proot_suite.DEFAULT_GIT)
    if not Path(git_dir).exists():
        pytest.skip(f"no PRoot repository at {git_dir} (set PROOT_GIT to a clone of "
                    "https://github.com/proot-me/proot)")
    for tool in ("make", "gcc", "git"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is needed to build PRoot's test suite")
    test_dir = proot_suite.extract(git_dir, tmp_path)
    res = proot_suite.run_suite(test_dir, proot_suite.wrapper("veil", tmp_path, 120))
    unexplained = sorted(set(res["failed"]) - set(DIFFERENCES))
    assert len(res["ok"]) >= 80, res
    assert not unexplained, "\n".join(res["log"][-200:])


@pytest.mark.layout_engines("ptrace", "mount")
def test_cwd_in_a_bind_of_the_host_root(hostbin_root):  # noqa: F811
    """PRoot's test-0238c7f1: -m /:/hostfs -w /hostfs, then getcwd() is /hostfs (not
    /hostfs/), as with a real bind mount."""
    (hostbin_root / "hostfs").mkdir()
    native = chroot_run(hostbin_root, ["/usr/bin/pwd", "-P"], cwd="/hostfs",
                        binds=("/proc", "/:/hostfs"))
    veil = run_veil(["run", "-b", "/:/hostfs", "-w", "/hostfs", "-r", str(hostbin_root),
                     "--", "/usr/bin/pwd", "-P"], env=guest_env())
    assert native.stdout == "/hostfs\n", native
    assert (veil.stdout, veil.returncode) == (native.stdout, 0), veil.stderr
