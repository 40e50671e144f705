"""Issue 17, routes 1 and 2: a guest reaches only the processes veil traces.
Every call that names another process (signals, ptrace, process_vm_*, pidfds,
limits, priorities, affinity, kcmp) fails with EPERM and is reported when it
names veil's loop thread (the TracerPid the guest reads) or an untraced host
process; the same calls on the guest's own processes work."""
from __future__ import annotations

import os
import subprocess

import pytest

from rootfs import busybox_root, busybox_template, layout_progs  # noqa: F401
from test_escapes import clean, escapes, guest, hostonly, native, reported, results, veil  # noqa: F401

# every test here runs under both layout engines unless it names one
pytestmark = pytest.mark.layout_engines("ptrace", "mount")

LABELS = {"process_vm_readv", "kill", "tkill", "tgkill", "sigqueue", "prlimit", "setpriority",
          "sched_setaffinity", "kcmp", "pidfd_open", "pidfd_send_signal(/proc dir)"}
CALLS = ("process_vm_readv", "kill", "tkill", "tgkill", "rt_sigqueueinfo", "prlimit64",
         "setpriority", "sched_setaffinity", "kcmp", "pidfd_open", "pidfd_send_signal")


@pytest.fixture
def host_process(escapes):  # noqa: F811
    """An untraced host process of the test's user holding a secret: (pid, addr, secret)."""
    secret = "VEIL-HOST-PROCESS-SECRET"
    p = subprocess.Popen([escapes["other_process"], "hold", secret], stdout=subprocess.PIPE,
                         text=True)
    try:
        addr = p.stdout.readline().strip().split("=", 1)[1]
        yield p.pid, addr, secret
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "layout"])
def test_host_process_out_of_reach(guest, escapes, host_process, strict, layout_engine):  # noqa: F811
    pid, addr, secret = host_process
    nat = results(native(escapes["other_process"], pid, addr, secret).stdout)
    assert nat["process_vm_readv"] == f"ESCAPED {secret}", nat
    assert all(v.startswith("ESCAPED") for v in nat.values()), nat
    r = veil(guest, "/usr/local/bin/other_process", pid, addr, secret, strict=strict)
    clean(r, secret)
    res = results(r.stdout)
    if strict and layout_engine == "mount":
        # its own pid namespace: the host process has no pid there (the kernel's ESRCH)
        assert res and set(res.values()) <= {"ESRCH", "ENOENT"}, r.stdout
        return
    # under --strict the /proc/PID directory itself does not exist for the guest
    # ENOENT: the ptrace engine's --strict has no /proc/PID of it; EPERM: refused
    assert res.pop("pidfd_send_signal(/proc dir)") in (
        ("ENOENT",) if strict and layout_engine != "mount" else ("EPERM", "ENOENT")), r.stdout
    assert set(res) == LABELS - {"pidfd_send_signal(/proc dir)"} | {"ptrace seize"}, r.stdout
    assert set(res.values()) == {"EPERM"}, r.stdout
    for name in (*CALLS, "ptrace"):
        if name != "pidfd_send_signal" or not strict:
            reported(r, name, "EPERM")


def test_veil_threads_out_of_reach(guest, layout_engine):  # noqa: F811
    """The guest reads TracerPid: veil's loop thread, not veil's pid."""
    r = veil(guest, "/usr/local/bin/other_process", "tracer")
    clean(r)
    res = results(r.stdout)
    assert res.pop("pidfd_send_signal(/proc dir)") in (  # --strict: no /proc/TID, or refused
        ("ENOENT",) if layout_engine != "mount" else ("EPERM", "ENOENT")), r.stdout
    assert set(res) == LABELS - {"pidfd_send_signal(/proc dir)"}, r.stdout
    assert set(res.values()) == {"EPERM"}, r.stdout


def test_own_processes_still_reachable(guest):  # noqa: F811
    """Signals, priorities and limits within the traced tree work as natively."""
    r = veil(guest, "/bin/sh", "-c", "sleep 30 & pid=$!; renice -n 5 -p $pid >/dev/null && "
             "echo reniced; kill $pid; wait $pid; echo status=$?; kill -0 $$ && echo self")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["reniced", "status=143", "self"], (r.stdout, r.stderr)
    assert "refused" not in r.stderr, r.stderr


def _fanotify(argv, target, run):
    """Run the fanotify program; open the host-only file once it is ready."""
    import threading
    import time

    def opener():
        for _ in range(40):
            time.sleep(0.1)
            try:
                with open(target) as f:
                    f.read()
            except OSError:
                pass
    t = threading.Thread(target=opener, daemon=True)
    t.start()
    r = run(argv)
    t.join()
    return r


def test_fanotify_refused_under_a_layout(guest, escapes, hostonly):  # noqa: F811
    """Route 5: a filesystem-wide fanotify mark on the guest's / would watch the
    host's whole file system and hand out fds of the host's files."""
    import os
    d, marker = hostonly
    if os.geteuid() == 0:
        nat = results(_fanotify([escapes["fanotify_root"], d / "target", marker, guest],
                                d / "target",
                                lambda a: native(*a)).stdout)
        assert nat["fanotify event"] == f"ESCAPED {marker}", nat
    for strict in (True, False):
        r = _fanotify(["/usr/local/bin/fanotify_root", d / "target", marker], d / "target",
                      lambda a: veil(guest, *a, strict=strict))
        clean(r, marker)
        assert results(r.stdout) == {"fanotify_init": "EPERM"}, r.stdout
        reported(r, "fanotify_init", "EPERM")


def test_strict_proc_shows_only_the_traced_tree(guest, host_process):  # noqa: F811
    """Under --strict the guest's /proc is scoped as a pid namespace's would be:
    /proc/PID of veil's threads and of host processes does not exist (their maps,
    memory, environment, fds); the guest's own processes are there."""
    pid, _, secret = host_process
    script = ("tp=$(grep TracerPid /proc/self/status | cut -f2); "
              "cat /proc/$tp/maps >/dev/null 2>&1 && echo tracer-visible || echo tracer-hidden; "
              f"cat /proc/{pid}/cmdline 2>/dev/null && echo || echo host-hidden; "
              "cat /proc/$$/comm >/dev/null && echo self-visible; "
              "sleep 5 & cat /proc/$!/comm; kill $!")
    r = veil(guest, "/bin/sh", "-c", script)
    clean(r, secret)
    words = r.stdout.split()
    assert words[:3] == ["tracer-hidden", "host-hidden", "self-visible"], r.stdout
    # the child's own /proc entry (its comm: before its exec the shell's; busybox runs
    # its applets through /proc/self/exe, whose comm is "exe")
    assert words[3:] in (["sleep"], ["busybox"], ["sh"], ["exe"]), r.stdout


def test_strict_proc_lists_only_the_traced_tree(guest, host_process, layout_engine):  # noqa: F811
    """...and listing /proc shows the traced tree's pids alone (`ps`, `ls /proc`),
    however many host processes there are (a listing made only of host pids is
    made again, not ended early)."""
    pid, _, _ = host_process
    script = ("sleep 5 & child=$!; "
              "ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' '; echo; "
              "echo self=$$ child=$child; kill $child")
    r = veil(guest, "/bin/sh", "-c", script)
    assert r.returncode == 0, r.stderr
    listed, ids = r.stdout.splitlines()[:2]
    pids = set(listed.split())
    me, child = (w.split("=")[1] for w in ids.split())
    assert {me, child} <= pids, r.stdout
    assert str(pid) not in pids and str(os.getpid()) not in pids, r.stdout
    # the mount engine's --strict: a pid namespace, whose init (1) veil started
    assert ("1" in pids) == (layout_engine == "mount"), r.stdout
    assert len(pids) <= 7, r.stdout  # (init,) sh, sleep, ls, grep, sort, tr: the traced tree


@pytest.mark.parametrize("layout", [True, False], ids=["layout", "no-layout"])
def test_strict_keeps_host_knobs_read_only(layout, tmp_path, layout_engine):
    """Under --strict, /proc/sys, /proc/sysrq-trigger, ... are read-only and
    /proc/kcore, /proc/keys, ... do not exist (a container runtime's defaults): a
    root guest cannot change a sysctl or register a binfmt_misc rule by file
    permissions alone.  Only opens for writing are tried, nothing is written."""
    import sys

    from conftest import run_veil
    code = ("import os\n"
            "for p in ('/proc/sys/kernel/domainname', '/proc/sysrq-trigger', '/proc/sys/fs/binfmt_misc/register'):\n"
            "    try:\n"
            "        os.close(os.open(p, os.O_WRONLY)); print(p, 'WRITABLE')\n"
            "    except OSError as e: print(p, e.errno == 30 and 'EROFS' or e.strerror)\n"
            "print(open('/proc/sys/kernel/ostype').read().strip())\n"
            # masked: absent (ptrace engine) or empty (mount engine: /dev/null over it, as Docker)
            "print([p for p in ('/proc/kcore', '/proc/keys', '/proc/timer_list')\n"
            "       if os.path.exists(p) and open(p, 'rb').read(64)])\n")
    opts = ["-r", "/", "-b", "/tmp"] if layout else []
    r = run_veil(["run", "--strict", *opts, "--", sys.executable, "-S", "-c", code])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    # (the mount engine's user namespace: the kernel may refuse before the read-only mount)
    refused = ("EROFS",) if layout_engine != "mount" else ("EROFS", "directory", "denied")
    assert all(l.split()[-1] in refused for l in lines[:3]), r.stdout
    assert lines[3:] == ["Linux", "[]"], r.stdout
