"""OCI / Docker seccomp profiles: load, enforce, learn, refuse what is not supported."""
import json

import pytest

from conftest import run_veil


def write(tmp_path, obj, name="p.json"):
    p = tmp_path / name
    p.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
    return str(p)


def test_learn_then_enforce(tmp_path):
    prof = tmp_path / "ls.json"
    r = run_veil(["trace", "-f", "-o", "/dev/null", "--learn-seccomp", prof, "--", "ls", "/"])
    assert r.returncode == 0, r.stderr
    data = json.loads(prof.read_text())
    names = data["syscalls"][0]["names"]
    assert data["defaultAction"] == "SCMP_ACT_ERRNO" and "execve" in names and "getdents64" in names
    ok = run_veil(["run", "--seccomp-profile", prof, "--", "ls", "/"])
    assert ok.returncode == 0 and ok.stdout == run_veil(["trace", "-o", "/dev/null", "--", "ls", "/"]).stdout
    # sh needs more than ls did (fork/clone, wait4): denied
    more = run_veil(["run", "--seccomp-profile", prof, "--", "sh", "-c", "ls / >/dev/null; sleep 0"])
    assert more.returncode != 0 and "Operation not permitted" in more.stderr


def test_profile_errno_and_args(tmp_path):
    prof = write(tmp_path, {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 30},
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
             "args": [{"index": 0, "value": 10, "op": "SCMP_CMP_EQ"}]},
            {"names": ["not_a_syscall_here", "arm_fadvise64_64"], "action": "SCMP_ACT_ALLOW"},
        ]})
    r = run_veil(["run", "--seccomp-profile", prof, "--", "mkdir", str(tmp_path / "d")])
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    assert not (tmp_path / "d").exists()
    code = ("import socket\ntry:\n socket.socket(socket.AF_INET6)\nexcept OSError as e: print(e.errno)\n"
            "socket.socket(socket.AF_INET); print('v4')")
    r = run_veil(["run", "--seccomp-profile", prof, "--", "python3", "-c", code])
    assert r.stdout.split() == ["97", "v4"], r.stderr


def test_kill_action(tmp_path):
    prof = write(tmp_path, {"defaultAction": "SCMP_ACT_ALLOW",
                            "syscalls": [{"names": ["mkdir", "mkdirat"],
                                          "action": "SCMP_ACT_KILL_PROCESS"}]})
    r = run_veil(["run", "--seccomp-profile", prof, "--", "mkdir", str(tmp_path / "d")])
    assert r.returncode == 128 + 31  # SIGSYS


@pytest.mark.parametrize("profile,field", [
    ({"defaultAction": "SCMP_ACT_TRAP"}, "SCMP_ACT_TRAP"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"]}, "flags"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]},
     "SCMP_ACT_NOTIFY"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                                                       "args": [{"index": 0, "op": "SCMP_CMP_WEIRD"}]}]},
     "op"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "bogus": 1}, "bogus"),
    ("{not json", "JSON"),
])
def test_unsupported_fields_are_named(tmp_path, profile, field):
    prof = write(tmp_path, profile)
    r = run_veil(["run", "--seccomp-profile", prof, "--", "true"])
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert field in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
