"""bubblewrap's namespace flags on veil run (--unshare-pid, -ipc, -uts, -cgroup, -all)
and --new-session, with bubblewrap's meaning: under the mount layout engine the
program gets those namespaces of its own.  Each is compared with bwrap on the same
command line (skipped comparisons where bwrap is missing; the expected values
are checked all the same)."""
from __future__ import annotations

import ctypes
import os

import pytest

from conftest import run_veil
from test_run_flags_bwrap import BASE, both
from veil.cli.run import spec_of

HOST_SID = os.getsid(0)


def _ns(name: str) -> str:
    return os.readlink(f"/proc/self/ns/{name}")


def test_unshare_pid_the_program_is_pid_2_and_sees_its_own():
    # the shell's own glob: no process forked while /proc is listed
    script = 'echo $$; for p in /proc/[0-9]*; do echo "${p#/proc/}"; done'
    out, bwrap = both([*BASE, "--unshare-pid", "sh", "-c", script])
    assert out == "2\n1\n2\n"
    assert bwrap is None or out == bwrap


def test_unshare_ipc_hides_the_hosts_message_queues():
    libc = ctypes.CDLL(None, use_errno=True)
    IPC_PRIVATE, IPC_CREAT, IPC_RMID = 0, 0o1000, 0
    queue = libc.msgget(IPC_PRIVATE, IPC_CREAT | 0o600)
    assert queue >= 0, os.strerror(ctypes.get_errno())
    try:
        script = "grep -c . /proc/sysvipc/msg"    # a header line, then one per queue
        out, bwrap = both([*BASE, "--unshare-ipc", "sh", "-c", script])
        assert out == "1\n"
        assert bwrap is None or out == bwrap
        shared, _ = both([*BASE, "sh", "-c", script])
        assert int(shared) >= 2
    finally:
        libc.msgctl(queue, IPC_RMID, None)


def test_unshare_uts_and_cgroup():
    script = (f'[ "$(readlink /proc/self/ns/uts)" = "{_ns("uts")}" ] && echo host-uts '
              '|| echo own-uts; uname -n; tail -n1 /proc/self/cgroup')
    out, bwrap = both([*BASE, "--unshare-uts", "--unshare-cgroup", "sh", "-c", script])
    assert out == f"own-uts\n{os.uname().nodename}\n0::/\n"
    assert bwrap is None or out == bwrap
    out, _ = both([*BASE, "sh", "-c", script])
    assert out.startswith("host-uts\n")


def _session_of(out: str) -> set:
    """What the program's session id is, as the set of names it matches (in a CI
    container the caller's session can itself be 0: its leader is outside)."""
    sid, pid = out.split()
    names = {"leader"} if sid == pid else set()
    names |= {"init-session"} if sid == "1" else set()
    names |= {"host-session"} if sid == str(HOST_SID) else set()
    names |= {"outside-session"} if sid == "0" else set()
    return names


@pytest.mark.parametrize("pidns", [False, True], ids=["own-pids", "pid-namespace"])
def test_new_session(pidns):
    # bubblewrap calls setsid before its init forks: in a pid namespace the session
    # is its init's (1), else the program leads its own; without, the session is the
    # caller's (0 in a pid namespace: its leader is outside)
    script = 'set -- $(cat /proc/$$/stat); echo "$6 $$"'
    flags = [*BASE, *(["--unshare-pid"] if pidns else [])]
    out, bwrap = both([*flags, "--new-session", "sh", "-c", script])
    assert ("init-session" if pidns else "leader") in _session_of(out)
    assert bwrap is None or _session_of(out) == _session_of(bwrap)
    out, bwrap = both([*flags, "sh", "-c", script])
    assert ("outside-session" if pidns else "host-session") in _session_of(out)
    assert "leader" not in _session_of(out)
    assert bwrap is None or _session_of(out) == _session_of(bwrap)


def test_unshare_all():
    script = ("echo $$; grep -c . /proc/sysvipc/msg; tail -n1 /proc/self/cgroup; "
              f'[ "$(readlink /proc/self/ns/uts)" = "{_ns("uts")}" ] || echo own-uts')
    out, bwrap = both([*BASE, "--unshare-all", "sh", "-c", script])
    assert out == "2\n1\n0::/\nown-uts\n"
    assert bwrap is None or out == bwrap
    spec = spec_of([*BASE, "--unshare-all", "true"])[0]
    assert spec.network.default == "deny"             # and --unshare-net: loopback only
    assert "127.0.0.0/8" in spec.network.allow
    assert spec_of([*BASE, "--unshare-all", "--share-net", "true"])[0].network.default != "deny"


def test_hostname_in_its_own_uts_namespace():
    # with namespaces only the mount engine gives, --hostname is set in the UTS
    # namespace, as bubblewrap does: the kernel's own files show it
    script = "hostname; cat /proc/sys/kernel/hostname; uname -n; echo $$"
    out, bwrap = both([*BASE, "--unshare-all", "--hostname", "demo", "sh", "-c", script])
    assert out == "demo\ndemo\ndemo\n2\n"
    assert bwrap is None or out == bwrap


def test_under_the_ptrace_engine():
    for flags in (["--unshare-ipc"], ["--unshare-pid", "--new-session"]):
        r = run_veil(["run", "--layout-engine", "ptrace", "--bind", "/", "/", *flags, "true"])
        assert r.returncode != 0 and len(r.stderr.splitlines()) == 1, r.stderr
        assert r.stderr.startswith(f"veil: {' '.join(flags)}: only the mount layout engine"), \
            r.stderr
    # the UTS namespace is veil's own view of uname there, as with --hostname
    r = run_veil(["run", "--layout-engine", "ptrace", "--bind", "/", "/", "--unshare-uts",
                  "--hostname", "demo", "uname", "-n"])
    assert (r.returncode, r.stdout) == (0, "demo\n"), r.stderr
