"""Fast-path rules: deny and kill settled by the seccomp filter (or by C at
the stop without seccomp), with no Python decision at run time."""
import pytest

from test_api import run_api


@pytest.mark.parametrize("seccomp", [True, False])
def test_deny_fails_the_call_with_errno(tmp_path, seccomp):
    p, r = run_api(tmp_path, """
        s = veil.Session(["cat", "/etc/hostname"], trace="none", seccomp={seccomp})
        s.deny("openat", errno.EACCES)
        res = s.run()
        R["code"] = res.exit_code
        R["stops"] = res.engine_stats["syscall_stops"]
    """, seccomp=seccomp)
    assert r["code"] != 0
    assert "Permission denied" in p.stderr
    if seccomp:
        assert r["stops"] == 0, "a denied, untraced call must not stop"


def test_denied_call_shows_in_the_trace_when_traced(tmp_path):
    p, r = run_api(tmp_path, """
        out = io.StringIO()
        from veil.output.text import TextWriter
        s = veil.Session(["cat", "/etc/hostname"], trace="openat", observers=[TextWriter(out)])
        s.deny("openat", errno.EACCES)
        R["code"] = s.run().exit_code
        R["lines"] = out.getvalue().splitlines()
    """)
    assert r["lines"][0].startswith('openat(AT_FDCWD, "/etc/ld.so.cache"')
    assert r["lines"][0].endswith("= -1 EACCES (Permission denied)")


@pytest.mark.parametrize("seccomp,code", [(True, 128 + 31), (False, 128 + 9)])
def test_kill_on_kills_the_caller(tmp_path, seccomp, code):
    p, r = run_api(tmp_path, """
        s = veil.Session(["mkdir", "{d}"], trace="none", seccomp={seccomp})
        s.kill_on(["mkdir", "mkdirat"])
        R["code"] = s.run().exit_code
    """, seccomp=seccomp, d=str(tmp_path / "made"))
    assert r["code"] == code  # SIGSYS from the filter, SIGKILL from C
    assert not (tmp_path / "made").exists()


def test_deny_rejects_bad_errno_and_unknown_names(tmp_path):
    p, r = run_api(tmp_path, """
        s = veil.Session(["true"])
        for bad in [("openat", -1), ("openat", 5000), ("nosuchcall", 1)]:
            try:
                s.deny(bad[0], bad[1])
                R[bad[0] + str(bad[1])] = "accepted"
            except (veil.VeilError, ValueError) as e:
                R[bad[0] + str(bad[1])] = str(e)
    """)
    assert all(v != "accepted" for v in r.values()), r
