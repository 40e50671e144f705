"""Exec decisions from the fields the kernel reads (issue 17, route 6).

Under a layout veil finds a program's #! interpreter and its ELF PT_INTERP in
the guest and hands the kernel host paths; where veil read a header otherwise
than fs/binfmt_elf.c and fs/binfmt_script.c do, the kernel would resolve an
interpreter on the host.  tests/escapes/elf_fields.c crafts such files (each
pointing at a host-only interpreter that prints the host secret) and runs them,
natively and under ``veil run -r ROOT -b /proc -b /dev --strict``.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import veil_cmd
from rootfs import busybox_root, busybox_template, guest_env, layout_progs  # noqa: F401
from test_escapes import clean, escapes, guest, hostonly, native, reported, results, veil  # noqa: F401

# every test here runs under both layout engines unless it names one
pytestmark = pytest.mark.layout_engines("ptrace", "mount")

# label -> outcome natively ("ESCAPED": the host's interpreter ran)
NATIVE = {
    "class64": "ESCAPED", "class32": "ESCAPED", "classnone": "ESCAPED", "class3": "ESCAPED",
    "interp PATH_MAX bytes": "ESCAPED", "two interps": "ESCAPED",
    "interp without NUL": "ENOEXEC", "interp size 1": "ENOEXEC", "interp past end": "EIO",
    "phoff overflow": "ENOEXEC", "phoff past end": "ENOEXEC", "x32 headers": "ENOEXEC",
    "phnum 0": "ENOEXEC", "machine aarch64": "ENOEXEC",
    "i386 class64": "ESCAPED", "i386 class32": "ESCAPED",
    "loader is a script": "EIO", "loader with PT_INTERP": "CONTAINED loader ran",
    "plain loader": "CONTAINED loader ran",
    "script long line": "ENOEXEC", "nested 5": "CONTAINED end of chain", "nested 6": "ELOOP",
}

# label -> outcome under veil: interpreters are looked for in the guest (ENOENT);
# what veil cannot read as the kernel does is refused (and reported)
UNDER_VEIL = {
    "class64": "ENOENT", "class32": "ENOENT", "classnone": "ENOENT", "class3": "ENOENT",
    "interp PATH_MAX bytes": "ENOENT", "two interps": "ENOENT",
    "interp without NUL": "ENOEXEC", "interp size 1": "ENOEXEC", "interp past end": "ENOEXEC",
    "phoff overflow": "ENOEXEC", "phoff past end": "ENOEXEC", "x32 headers": "ENOEXEC",
    "phnum 0": "ENOEXEC", "machine aarch64": "ENOEXEC",
    "i386 class64": "ENOENT", "i386 class32": "ENOENT",
    "loader is a script": "ELIBBAD", "loader with PT_INTERP": "ELIBBAD",
    "plain loader": "CONTAINED loader ran",
    "script host": "ENOENT",
    "script long line": "ENOEXEC", "nested 5": "CONTAINED end of chain", "nested 6": "ELOOP",
}


@pytest.fixture
def payloads(hostonly, escapes):
    """The host-only interpreters (x86-64 and i386) that print the marker."""
    d, marker = hostonly
    r = native(escapes["elf_fields"], "payload", d, marker)
    assert r.returncode == 0, r.stderr
    return d, marker


def test_elf_fields_native(payloads, escapes, tmp_path):
    """The attack is live: the kernel takes PT_INTERP whatever EI_CLASS says."""
    d, marker = payloads
    r = native(escapes["elf_fields"], "run", d, tmp_path)
    res = results(r.stdout)
    if res["i386 class32"] == "ENOEXEC":  # a kernel without ia32 emulation
        res["i386 class32"] = res["i386 class64"] = "ESCAPED"
    assert {k: v.replace(f" {marker}", "") for k, v in res.items()
            if not k.startswith("/")} == NATIVE, r.stdout
    assert f"{d}/interp64 = ESCAPED {marker}" in r.stdout  # script host


def test_elf_fields_contained(payloads, guest, layout_engine):
    """No host interpreter runs: PT_INTERP is looked for in the guest, and what veil
    cannot read as the kernel does is refused and reported."""
    d, marker = payloads
    r = veil(guest, "/usr/local/bin/elf_fields", "run", d, "/tmp")
    clean(r, marker)
    if layout_engine == "mount":  # the kernel decides in the guest's tree: nothing of the host runs
        assert not any(v.startswith("ESCAPED") for v in results(r.stdout).values()), r.stdout
        return
    assert results(r.stdout) == UNDER_VEIL, r.stdout + r.stderr
    reported(r, "execve", "ENOEXEC")
    reported(r, "execve", "ELIBBAD")
    assert r.returncode == 0, r.stderr


def counts(out):
    line = next(l for l in out.splitlines() if l.startswith("host="))
    return {k: int(v) for k, v in (kv.split("=") for kv in line.split())}


LOADER = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"


@pytest.mark.parametrize("how", ["static", "loader"])
@pytest.mark.layout_engines("ptrace")  # veil's look at the ELF before the kernel's is the ptrace engine's
def test_elf_rewritten_during_exec(payloads, guest, escapes, tmp_path, how):
    """A thread flips the program header between veil's look and the kernel's: the
    kernel loads the host's interpreter where veil saw a static program (or the
    guest's loader at the same path on the host, under a bind of its directory);
    veil kills such a process before its first instruction."""
    d, marker = payloads
    extra = [LOADER] if how == "loader" else []
    binds = ("/proc", "/dev")
    if how == "loader":
        if not os.path.exists(LOADER):
            pytest.skip(f"no {LOADER} on this host")
        binds = ("/proc", "/dev", os.path.dirname(LOADER))
    nat = native(escapes["elf_race"], d / "interp64", tmp_path, 1000, *extra)
    assert counts(nat.stdout)["host"] > 0, nat.stdout  # the PT_INTERP version does run
    r = veil(guest, "/usr/local/bin/elf_race", d / "interp64", "/tmp", 3000, *extra, binds=binds,
             timeout=300)
    clean(r, marker)
    c = counts(r.stdout)
    assert c["host"] == 0 and c["flips"] > 0, r.stdout + r.stderr
    if c["killed"]:
        assert "veil: refused execve (EACCES)" in r.stderr and "killed: the kernel" in r.stderr


def _userns_misc():
    """A user namespace with its own binfmt_misc (Linux >= 6.7), or skip."""
    unshare = shutil.which("unshare", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if unshare is None:
        pytest.skip("no unshare")
    prefix = [unshare, "-Urm", "--propagation", "private", "sh", "-c"]
    r = native(*prefix, "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc")
    if r.returncode != 0:
        pytest.skip(f"no binfmt_misc of a user namespace here: {r.stderr.strip()}")
    return prefix


@pytest.mark.layout_engines("ptrace")  # veil's look at binfmt_misc rules is the ptrace engine's
def test_binfmt_misc(payloads, guest, escapes, tmp_path):
    """A rule of binfmt_misc whose interpreter is a host path: an exec it takes is
    refused; where veil cannot see the rule, the process is killed instead."""
    d, marker = payloads
    prefix = _userns_misc()
    mount = "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc && "
    nat = native(*prefix, mount + 'exec "$@"', "sh", escapes["binfmt_misc"], d / "interp64", tmp_path)
    assert f"{d}/interp64 = ESCAPED {marker}" in nat.stdout, nat.stdout + nat.stderr
    run = ["run", "-r", guest, "-b", "/proc", "-b", "/dev", "--strict", "--",
           "/usr/local/bin/binfmt_misc", d / "interp64", "/tmp"]
    env = guest_env()
    # the rule as veil sees it
    r = subprocess.run([*prefix, mount + 'exec "$@"', "sh", *veil_cmd(run)], env=env, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    clean(r, marker)
    res = results(r.stdout)
    assert res["ext"] in ("EACCES", "CONTAINED static"), r.stdout + r.stderr
    if res["register"] == "OK":
        assert res["ext"] == "EACCES"
        reported(r, "execve", "EACCES")
        assert "a binfmt_misc rule takes this file" in r.stderr
    # a rule veil cannot see: binfmt_misc covered by a tmpfs
    hide = (f"echo ':veilesc:E::veilesc::{d}/interp64:' > /proc/sys/fs/binfmt_misc/register && "
            "mount -t tmpfs none /proc/sys/fs/binfmt_misc && ")
    r = subprocess.run([*prefix, mount + hide + 'exec "$@"', "sh", *veil_cmd(run)], env=env,
                       text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    clean(r, marker)
    assert results(r.stdout)["ext"] == "KILLED by signal 9", r.stdout + r.stderr
    assert "killed: the kernel ran another file than the one veil checked" in r.stderr, r.stderr
