"""Tracers inside the guest (issue 19): veil emulates ptrace for them.

A parent tracing its child (PTRACE_TRACEME, PTRACE_SYSCALL, GETREGS,
GET_SYSCALL_INFO, PEEKDATA), strace -f and gdb run under ``veil run`` print
what they print natively; a guest tracer reaches only processes of the traced
tree (never veil)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PROGS_DIR, run_veil
from rootfs import (  # noqa: F401
    _copy_tree,
    build_static,
    chroot_run,
    guest_env,
    hostbin_template,
    install_host_path,
    layout_args,
    ldd_closure,
)

GDB = shutil.which("gdb")


def native(argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60, **kw)


@pytest.fixture(scope="module")
def ptrace_progs(tmp_path_factory):
    """ptrace_child and ptrace_attach, linked statically (they run in any guest)."""
    out = tmp_path_factory.mktemp("ptrace-progs")
    return {name: str(build_static(out, PROGS_DIR / f"{name}.c"))
            for name in ("ptrace_child", "ptrace_attach", "ptrace_orphan")}


@pytest.fixture
def strace_root(hostbin_template, tmp_path):
    """The host-binaries guest with strace (and its libraries) in it."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.fail("strace is missing")
    root = _copy_tree(hostbin_template, tmp_path / "root")
    for path in [strace, *ldd_closure([strace])]:
        install_host_path(root, path)
    (root / "etc" / "hostname").write_text("veil-guest-host\n")
    return root


@pytest.mark.parametrize("how", [[], ["--strict"]], ids=["plain", "strict"])
@pytest.mark.parametrize("mode", [[], ["detach"]], ids=["cont", "detach"])
def test_parent_traces_its_child_as_natively(ptrace_progs, how, mode):
    prog = ptrace_progs["ptrace_child"]
    want = native([prog, *mode])
    assert want.returncode == 0, want.stdout + want.stderr
    assert "enter 257 \"/etc/hostname\" = ok" in want.stdout
    got = run_veil(["run", *how, prog, *mode])
    assert (got.returncode, got.stdout) == (0, want.stdout), got.stderr


@pytest.mark.layout_engines("mount", "ptrace")
def test_parent_traces_its_child_in_a_guest_tree(ptrace_progs, hostbin_template, tmp_path):
    root = _copy_tree(hostbin_template, tmp_path / "root")
    shutil.copy2(ptrace_progs["ptrace_child"], root / "usr" / "local" / "bin")
    want = chroot_run(root, ["ptrace_child"])
    assert want.returncode == 0, want.stderr
    for strict in ([], ["--strict"]):
        got = run_veil([*layout_args(root, *strict), "ptrace_child"], env=guest_env())
        assert (got.returncode, got.stdout) == (0, want.stdout), got.stderr


def _normalized(trace: str) -> str:
    trace = re.sub(r"\b(pid|Process|si_pid=)\s*\d+", r"\1 N", trace)
    trace = re.sub(r"0x[0-9a-f]+ /\* \d+ vars \*/", "ENV", trace)
    trace = re.sub(r"si_([us])time=\d+( /\* [^*]* \*/)?", r"si_\1time=T", trace)  # CPU time
    return re.sub(r"si_uid=\d+", "si_uid=U", trace)


STRACE_CMD = ["-f", "-e", "trace=openat,execve", "sh", "-c", "cat /etc/hostname"]


@pytest.mark.parametrize("bpf", [[], ["--seccomp-bpf"]], ids=["ptrace", "seccomp-bpf"])
def test_strace_in_veil_run_prints_what_it_prints_natively(strace, tmp_path, bpf):
    """--seccomp-bpf: strace's own filter (PTRACE_O_TRACESECCOMP), stacked on veil's."""
    if bpf and os.geteuid() != 0:
        pytest.skip("a filter installed before PTRACE_TRACEME is read with "
                    "PTRACE_SECCOMP_GET_FILTER, which needs CAP_SYS_ADMIN")
    want = native([strace, *bpf, *STRACE_CMD], env=guest_env(), cwd=tmp_path)
    got = run_veil(["run", "--strict", strace, *bpf, *STRACE_CMD], env=guest_env(), cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert _normalized(got.stdout + got.stderr) == _normalized(want.stdout + want.stderr)


def test_strace_in_a_guest_tree_shows_guest_paths(strace_root):
    """The mount engine: as natively under chroot.  The ptrace engine: the paths
    strace reads from the registers and memory are the guest's (veil's rewrite is
    not seen), and the file opened is the guest's."""
    want = chroot_run(strace_root, ["strace", *STRACE_CMD])
    assert want.returncode == 0, want.stderr
    for strict in ([], ["--strict"]):   # --strict: in a pid namespace of its own
        got = run_veil([*layout_args(strace_root, "--layout-engine", "mount", *strict), "strace",
                        *STRACE_CMD], env=guest_env())
        assert got.returncode == 0, got.stderr
        assert _normalized(got.stdout + got.stderr) == _normalized(want.stdout + want.stderr)
    got = run_veil([*layout_args(strace_root, "--strict", "--layout-engine", "ptrace"), "strace",
                    *STRACE_CMD], env=guest_env())
    assert got.returncode == 0, got.stderr
    assert "veil-guest-host" in got.stdout
    trace = got.stderr
    assert re.search(r'\[pid +\d+\] execve\("/usr/bin/cat", \["cat", "/etc/hostname"\]', trace)
    assert re.search(r'\[pid +\d+\] openat\(AT_FDCWD, "/etc/hostname", O_RDONLY\) = 3\n', trace)
    assert str(strace_root) not in trace
    assert "+++ exited with 0 +++" in trace.splitlines()[-1]


def test_gdb_breaks_at_a_function(tmp_path):
    if GDB is None:
        pytest.fail("gdb is missing (apt-get install gdb; .ci/run installs it)")
    src = tmp_path / "bump.c"
    src.write_text("#include <stdio.h>\nint counter = 41;\n"
                   "int bump(int by) { counter += by; return counter; }\n"
                   "int main(void) { printf(\"result %d\\n\", bump(1)); return 0; }\n")
    exe = tmp_path / "bump"
    subprocess.run(["gcc", "-g", "-O0", "-o", str(exe), str(src)], check=True, timeout=60)
    cmd = [GDB, "-q", "-nx", "-batch", "-ex", "break bump", "-ex", "run", "-ex", "print counter",
           "-ex", "print by", "-ex", "continue", str(exe)]
    keep = re.compile(r"^(Breakpoint 1|\$\d+ =|result|\[Inferior 1)")

    def lines(out: str):
        return [re.sub(r"process \d+", "process N", ln) for ln in out.splitlines() if keep.match(ln)]
    want = native(cmd, cwd=tmp_path)
    assert lines(want.stdout) == ["Breakpoint 1 at " + lines(want.stdout)[0][16:],
                                  f"Breakpoint 1, bump (by=1) at {src}:3", "$1 = 41", "$2 = 1",
                                  "result 42", "[Inferior 1 (process N) exited normally]"]
    got = run_veil(["run", "--strict", *cmd], cwd=tmp_path, timeout=120)
    assert got.returncode == 0, got.stderr
    assert lines(got.stdout) == lines(want.stdout)


@pytest.mark.parametrize("seize", [[], ["seize"]], ids=["attach", "seize"])
def test_guest_tracer_attaches_to_its_own_processes(ptrace_progs, seize):
    cmd = ["sh", "-c", f"sleep 5 & sleep 0.3; exec {ptrace_progs['ptrace_attach']} $! {' '.join(seize)}"]
    want = native(cmd)
    got = run_veil(["run", "--strict", *cmd])
    assert (got.returncode, got.stdout) == (0, want.stdout), got.stderr
    assert "attach: ok" in got.stdout


@pytest.mark.parametrize("how", [[], ["--strict"]], ids=["plain", "strict"])
def test_guest_tracer_never_reaches_veil(ptrace_progs, how):
    """veil is the program's parent: attaching to it is refused, as to pid 1."""
    for target in ("parent", "1"):
        got = run_veil(["run", *how, ptrace_progs["ptrace_attach"], target])
        assert (got.returncode, got.stdout) == (1, "attach: Operation not permitted\n"), got.stderr


def test_group_stop_and_listen_as_natively(progs):
    # SIGSTOP's delivery, the group-stop (PTRACE_EVENT_STOP under SEIZE), LISTEN,
    # SIGCONT's wake-up and its delivery: the same wait statuses, in order
    native = subprocess.run([progs["ptrace_groupstop"]], capture_output=True, text=True, timeout=20)
    assert native.stdout.splitlines()[:4] == ["status 0x137f", "status 0x80137f",
                                              "status 0x80057f", "status 0x127f"]
    r = run_veil(["run", "--", progs["ptrace_groupstop"]], timeout=30)
    assert (r.returncode, r.stdout) == (0, native.stdout), r.stderr[-2000:]


@pytest.mark.parametrize("flags", [[], ["--strict"], ["-r", "/", "--layout-engine", "ptrace"]],
                         ids=["plain", "strict", "ptrace-layout"])
def test_sysemu_calls_are_answered_by_the_tracer(progs, flags):
    # a user-mode kernel's loop: every call stops at its entry, the tracer answers
    # it and the kernel never runs it (getppid, getuid and write return the
    # tracer's values; "emulated" is written by the tracer, not by the call)
    native = subprocess.run([progs["ptrace_sysemu"]], capture_output=True, text=True, timeout=20)
    assert "child saw 4242 4343 9\n" in native.stdout, native.stdout
    r = run_veil(["run", *flags, "--", progs["ptrace_sysemu"]], timeout=30)
    assert (r.returncode, r.stdout) == (0, native.stdout), r.stderr[-2000:]


def test_peeksiginfo_shows_the_queued_signals(progs):
    native = subprocess.run([progs["ptrace_peeksig"]], capture_output=True, text=True)
    assert native.stdout == "thread: 10\nshared: 12(9)\nbadflag: error Invalid argument\n"
    r = run_veil(["run", "--", progs["ptrace_peeksig"]], timeout=30)
    assert (r.returncode, r.stdout) == (0, native.stdout), r.stderr[-2000:]


def test_seize_then_kill_reports_the_death(progs):
    # strace's start-up probe: a child seized before veil saw its first stop must
    # not show veil's own attach stop (it did as PTRACE_EVENT_STOP, 0x80057f, about
    # one time in ten)
    native = subprocess.run([progs["ptrace_seize_kill"], "200"], capture_output=True, text=True)
    assert native.stdout == "unexpected 0 of 200\n", native.stderr
    r = run_veil(["run", "--", progs["ptrace_seize_kill"], "200"], timeout=60)
    assert (r.returncode, r.stdout) == (0, native.stdout), r.stderr[-2000:]


def test_tracer_inside_a_tracer(strace, ptrace_progs):
    """strace (not following children) traces a parent that traces its child."""
    cmd = [strace, "-o", "/dev/null", ptrace_progs["ptrace_child"]]
    want = native(cmd)
    assert "child exited 7" in want.stdout, want.stdout + want.stderr
    got = run_veil(["run", "--strict", *cmd])
    assert (got.returncode, got.stdout) == (0, want.stdout), got.stderr


def test_veil_trace_inside_veil_run(tmp_path):
    """veil's own tracer runs under veil run and prints what it prints outside."""
    cmd = ["trace", "-f", "-e", "trace=execve,openat", "sh", "-c", "cat /etc/hostname"]
    want = run_veil(cmd, cwd=tmp_path, env=guest_env())
    got = run_veil(["run", sys.executable, "-m", "veil", *cmd], cwd=tmp_path,
                   env=guest_env())
    assert got.returncode == 0, got.stderr
    assert _normalized(got.stdout + got.stderr) == _normalized(want.stdout + want.stderr)


def test_tracer_killed_lets_its_tracee_go(ptrace_progs):
    cmd = ["sh", "-c", f"{ptrace_progs['ptrace_orphan']}; sleep 0.5"]
    want = native(cmd)
    assert "child runs on" in want.stdout, want.stdout
    got = run_veil(["run", "--strict", *cmd])
    assert (got.returncode, got.stdout) == (0, want.stdout), got.stderr
