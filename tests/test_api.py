"""The Python API: veil.trace() and the Session with hooks and verdicts.

Each case runs in its own Python process (sys.executable) with a timeout: the
API runs the tracer in the calling process, and a tracer bug that hangs must
fail the test, not block the suite.  The snippet stores what it observed in
the dict ``R``, which comes back as JSON; the tracee's stdout and stderr are
those of the snippet's process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

PRELUDE = """\
import errno, io, json, os, sys
import veil
from veil import engine
R = {}
def _save():
    with open(sys.argv[1], "w") as f:
        json.dump(R, f)
import atexit
atexit.register(_save)
"""


def run_api(tmp_path, body, timeout=30, **subst):
    script = tmp_path / "snippet.py"
    code = textwrap.dedent(body)
    for k, v in subst.items():
        code = code.replace("{" + k + "}", repr(v))
    script.write_text(PRELUDE + code)
    result = tmp_path / "result.json"
    try:
        p = subprocess.run([sys.executable, str(script), str(result)], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout, cwd=str(tmp_path))
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the API snippet did not finish within {timeout} s (veil hangs)\n"
                    f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}")
    r = json.loads(result.read_text()) if result.exists() else {}
    return p, r


def test_trace_true(tmp_path):
    p, r = run_api(tmp_path, """
        res = veil.trace(["/bin/true"])
        R["exit_code"], R["signal"], R["stats"] = res.exit_code, res.signal, res.stats
    """)
    assert p.returncode == 0, p.stderr
    assert r["exit_code"] == 0 and r["signal"] is None
    assert r["stats"]["execve"]["calls"] == 1
    assert r["stats"]["execve"]["errors"] == 0
    assert all(set(v) == {"calls", "errors", "seconds"} for v in r["stats"].values())
    assert p.stdout == "" and p.stderr == ""  # no output asked for: none written


def test_trace_exit_code_and_signal(progs, tmp_path):
    p, r = run_api(tmp_path, """
        R["code"] = veil.trace([{exitcode}, "42"]).exit_code
        res = veil.trace([{killself}, "KILL"])
        R["killed"] = [res.exit_code, res.signal]
    """, exitcode=progs["exitcode"], killself=progs["killself"])
    assert p.returncode == 0, p.stderr
    assert r == {"code": 42, "killed": [137, 9]}


def test_trace_to_stream(progs, tmp_path):
    scratch = tmp_path / "s"
    scratch.mkdir()
    p, r = run_api(tmp_path, """
        buf = io.StringIO()
        res = veil.trace([{fileops}, {scratch}], output=buf, follow=False)
        R["code"], R["text"], R["openat"] = res.exit_code, buf.getvalue(), res.stats["openat"]
    """, fileops=progs["fileops"], scratch=str(scratch))
    assert p.returncode == 0, p.stderr
    assert r["code"] == 0
    text = r["text"]
    assert text.startswith("execve(")
    assert 'mkdir("veil_d1", 0750)' in text
    assert text.endswith("+++ exited with 0 +++\n")
    assert r["openat"]["calls"] == 5 and r["openat"]["errors"] == 1
    assert p.stderr == ""


def test_trace_class_filter(progs, tmp_path):
    from veil.syscalls.lookup import BY_NR, resolve_set
    scratch = tmp_path / "s"
    scratch.mkdir()
    p, r = run_api(tmp_path, """
        R["names"] = sorted(veil.trace([{fileops}, {scratch}], trace="%file").stats)
    """, fileops=progs["fileops"], scratch=str(scratch))
    assert p.returncode == 0, p.stderr
    file_names = {BY_NR[n].name for n in resolve_set("%file") if n in BY_NR}
    assert set(r["names"]) <= file_names, set(r["names"]) - file_names
    assert {"openat", "mkdir", "rename", "unlink"} <= set(r["names"])


def test_trace_json_to_path(tmp_path):
    out = tmp_path / "t.json"
    p, r = run_api(tmp_path, """
        R["code"] = veil.trace(["cat", "/etc/passwd"], output={out}, format="json").exit_code
    """, out=str(out))
    assert p.returncode == 0, p.stderr
    assert r["code"] == 0
    objs = [json.loads(line) for line in out.read_text().splitlines()]
    assert any(o.get("syscall") == "read" for o in objs)
    assert p.stdout.startswith("root:")


def test_trace_errors(tmp_path):
    p, r = run_api(tmp_path, """
        try:
            veil.trace(["/bin/true"], output=io.StringIO(), format="xml")
        except ValueError:
            R["format"] = "ValueError"
        try:
            veil.trace(["nosuchcmd_veil_test"])
        except veil.CommandNotFound as e:
            R["missing"] = [e.exit_code, str(e)]
    """)
    assert p.returncode == 0, p.stderr
    assert r == {"format": "ValueError", "missing": [127, "nosuchcmd_veil_test: command not found"]}


def test_deny_open_of_passwd(tmp_path):
    p, r = run_api(tmp_path, """
        seen = []
        def hook(stop):
            path = engine.read_string(stop.tid, stop.args[1])
            seen.append(path.decode(errors="replace"))
            if path == b"/etc/passwd":
                return veil.Deny(errno.EACCES)
            return None
        s = veil.Session(["cat", "/etc/passwd"], trace="none")
        s.watch(["openat"], hook)
        R["code"] = s.run().exit_code
        R["seen"] = seen
    """)
    assert "/etc/passwd" in r.get("seen", []), (r, p.stderr)
    assert r["code"] == 1
    assert p.stdout == ""
    assert "/etc/passwd: Permission denied" in p.stderr


def test_deny_shows_in_trace(tmp_path):
    """The denied call shows its errno in the trace, like any failing call."""
    p, r = run_api(tmp_path, """
        from veil.output.text import TextWriter
        buf = io.StringIO()
        s = veil.Session(["cat", "/etc/passwd"], trace="openat",
                         observers=[TextWriter(buf, follow=False, to_file=True)])
        s.watch(["openat"], lambda st: veil.Deny(errno.EACCES)
                if engine.read_string(st.tid, st.args[1]) == b"/etc/passwd" else None)
        R["code"] = s.run().exit_code
        R["text"] = buf.getvalue()
    """)
    assert r.get("code") == 1, p.stderr
    assert 'openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = -1 EACCES (Permission denied)' in r["text"], r["text"]


def test_emulate_getuid(tmp_path):
    p, r = run_api(tmp_path, """
        s = veil.Session(["id", "-ru"], trace="none")   # id -r -u: the real uid, getuid()
        s.watch(["getuid"], lambda st: veil.Emulate(1234))
        R["code"] = s.run().exit_code
    """)
    assert r.get("code") == 0, p.stderr
    assert p.stdout == "1234\n"


def test_emulate_geteuid_id_u(tmp_path):
    """`id -u` prints the effective uid (coreutils calls geteuid only)."""
    p, r = run_api(tmp_path, """
        s = veil.Session(["id", "-u"], trace="none")
        s.watch(["getuid", "geteuid"], lambda st: veil.Emulate(1234))
        R["code"] = s.run().exit_code
    """)
    assert r.get("code") == 0, p.stderr
    assert p.stdout == "1234\n"


def test_exit_phase_hook_sees_result(tmp_path):
    p, r = run_api(tmp_path, """
        results = []
        def hook(stop):
            results.append([stop.name, stop.phase, stop.result])
        s = veil.Session(["id", "-ru"], trace="none")
        s.watch(["getuid"], hook, phase="exit")
        R["code"] = s.run().exit_code
        R["results"] = results
    """)
    assert r.get("code") == 0, p.stderr
    assert r["results"] == [["getuid", "exit", os.getuid()]]
    assert p.stdout == f"{os.getuid()}\n"


def test_emulate_at_exit_rewrites_result(tmp_path):
    p, r = run_api(tmp_path, """
        s = veil.Session(["id", "-ru"], trace="none")
        s.watch(["getuid"], lambda st: veil.Emulate(4321), phase="exit")
        R["code"] = s.run().exit_code
    """)
    assert r.get("code") == 0, p.stderr
    assert p.stdout == "4321\n"


def test_next_resume_protocol(tmp_path):
    p, r = run_api(tmp_path, """
        s = veil.Session(["id", "-ru"], trace="none")
        s.watch(["getuid"], lambda st: None)
        stops = []
        while (stop := s.next()) is not None:
            with open(f"/proc/{stop.tid}/status") as f:
                state = [l.split()[1] for l in f if l.startswith("State:")][0]
            stops.append([stop.name, stop.phase, stop.pid == stop.tid, state])
            s.resume(stop, veil.Emulate(77))
        R["stops"] = stops
        R["code"] = s.result().exit_code
    """)
    assert r.get("code") == 0, p.stderr
    # the tracee waits (ptrace-stopped) while Python holds the stop
    assert r["stops"] == [["getuid", "enter", True, "t"]]
    assert p.stdout == "77\n"


def test_kill_verdict(tmp_path):
    p, r = run_api(tmp_path, """
        s = veil.Session(["id", "-ru"], trace="none")
        s.watch(["getuid"], lambda st: veil.Kill())
        res = s.run()
        R["code"], R["signal"] = res.exit_code, res.signal
    """)
    assert r == {"code": 137, "signal": 9}, p.stderr
    assert p.stdout == ""


def test_deny_on_a_child_with_follow(progs, tmp_path):
    """Hooks apply to the whole traced tree: the forked child's /bin/true exec is denied."""
    p, r = run_api(tmp_path, """
        s = veil.Session([{prog}], trace="none")
        s.watch(["execve"], lambda st: veil.Deny(errno.EPERM)
                if engine.read_string(st.tid, st.args[0]) == b"/bin/true" else None)
        R["code"] = s.run().exit_code
    """, prog=progs["fork_exec"])
    # fork_exec returns 2 when its first child did not exit 0 (the child's execl failed: 127)
    assert r.get("code") == 2, p.stderr


def test_hook_exception_propagates_and_kills(progs, tmp_path):
    p, r = run_api(tmp_path, """
        import psutil
        class Boom(Exception):
            pass
        pids = []
        def hook(stop):
            pids.append(stop.pid)
            raise Boom("from the hook")
        s = veil.Session([{sleeper}], trace="none")
        s.watch(["nanosleep", "clock_nanosleep"], hook)
        try:
            s.run()
        except Boom as e:
            R["raised"] = str(e)
        R["pids"] = pids
        # the sleeper loops forever: it must have been killed, not let go
        R["alive"] = [c.pid for c in psutil.Process().children(recursive=True)
                      if c.status() != psutil.STATUS_ZOMBIE]
    """, timeout=10, sleeper=progs["sleeper"])
    assert r.get("raised") == "from the hook", (r, p.stderr)
    assert r["pids"] and r["alive"] == []


def test_observer_exception_propagates(progs, tmp_path):
    p, r = run_api(tmp_path, """
        class Bad(veil.Observer):
            def exit(self, call):
                if call.name == "getppid":
                    raise KeyError("observer")
        s = veil.Session([{sleeper}], trace="getppid", observers=[Bad()])
        try:
            s.run()
        except KeyError as e:
            R["raised"] = str(e)
    """, timeout=10, sleeper=progs["sleeper"])
    assert r.get("raised") == "'observer'", (r, p.stderr)


def test_session_argument_errors(tmp_path):
    p, r = run_api(tmp_path, """
        s = veil.Session(["/bin/true"])
        try:
            s.watch(["getuid"], lambda st: None, phase="middle")
        except ValueError:
            R["phase"] = "ValueError"
        try:
            veil.Session()
        except veil.VeilError:
            R["empty"] = "VeilError"
        try:
            veil.Session(["/bin/true"], trace="nosuchcall")
        except ValueError:
            R["unknown"] = "ValueError"
    """)
    assert r == {"phase": "ValueError", "empty": "VeilError", "unknown": "ValueError"}, p.stderr
