"""`veil trace` on the command line: output lines, flags, exit status, errors."""
from __future__ import annotations

import json
import os
import re
import subprocess
from collections import Counter

import pytest

from conftest import run_veil
from veil.syscalls.lookup import BY_NR, resolve_set

# "name(" at the start of a trace line, after an optional "[pid N] " or "PID " prefix
CALL_RE = re.compile(r"^(?:\[pid\s+\d+\] |\d+ +)?(?:<\.\.\. )?([a-z_][a-z0-9_]*)[( ]")
EVENT_RE = re.compile(r"^(?:\[pid\s+\d+\] |\d+ +)?(\+\+\+|---) ")


def names(nrs):
    return {BY_NR[nr].name for nr in nrs if nr in BY_NR}


def call_lines(text):
    """(name, line) for every syscall line of a trace (events and veil messages left out)."""
    out = []
    for line in text.splitlines():
        if not line.strip() or EVENT_RE.match(line) or line.startswith("veil: "):
            continue
        m = CALL_RE.match(line)
        assert m, f"unparseable trace line: {line!r}"
        out.append((m.group(1), line))
    return out


def one_line_error(r):
    """A usage error: non-zero exit, exactly one line on stderr, no traceback."""
    assert r.returncode != 0, r
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, f"expected one error line, got: {r.stderr!r}"
    assert lines[0].startswith("veil: "), lines
    return lines[0]


# --- the README example --------------------------------------------------------

def test_readme_example(clean_env):
    cmd = ["sh", "-c", "echo hello; ls /"]
    native = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env,
                            timeout=30)
    r = run_veil(["trace", "-f", "--", *cmd], text=False, env=clean_env)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
    # the tracee's stdout is untouched: byte for byte what the native run printed
    assert r.stdout == native.stdout
    assert r.stdout.startswith(b"hello\n")
    err = r.stderr.decode()
    assert re.search(r'^execve\("(/usr)?/bin/sh", \["sh", "-c", "echo hello; ls /"\]', err, re.M), err[:2000]
    assert re.search(r'^(\[pid\s+\d+\] )?write\(1, "hello\\n", 6\)\s+= 6$', err, re.M), err
    assert re.search(r'^(\[pid\s+\d+\] )?execve\("/usr/bin/ls", \["ls", "/"\]', err, re.M), err
    assert re.search(r"^\+\+\+ exited with 0 \+\+\+$", err, re.M), err[-2000:]
    # the child ls is shown with its pid
    assert re.search(r"^\[pid\s+\d+\] \+\+\+ exited with 0 \+\+\+$", err, re.M), err[-2000:]


def test_stdin_stdout_untouched(progs, tmp_path):
    """Bytes through a pipe both ways: the tracee's stdio is its own."""
    data = os.urandom(100_000)
    r = run_veil(["trace", "-o", tmp_path / "t", "--", "cat"], input=data, text=False,
                 stdin=None)
    assert r.returncode == 0
    assert r.stdout == data
    assert r.stderr == b""


# --- exit status ------------------------------------------------------------------

@pytest.mark.parametrize("code", [0, 7, 255])
def test_exit_status_propagates(progs, code):
    r = run_veil(["trace", "--", progs["exitcode"], str(code)])
    assert r.returncode == code
    assert f"+++ exited with {code} +++" in r.stderr


def test_killed_by_sigsegv(progs, tmp_path):
    # cwd: where a core file would go if the core limit allows one
    r = run_veil(["trace", "--", progs["killself"], "SEGV"], cwd=tmp_path)
    assert r.returncode == 139, r.stderr[-2000:]
    assert re.search(r"^\+\+\+ killed by SIGSEGV( \(core dumped\))? \+\+\+$", r.stderr, re.M), r.stderr[-2000:]
    assert "--- SIGSEGV {si_signo=SIGSEGV" in r.stderr


def test_killed_by_sigkill(progs):
    r = run_veil(["trace", "--", progs["killself"], "KILL"])
    assert r.returncode == 137, r.stderr[-2000:]
    assert re.search(r"^\+\+\+ killed by SIGKILL \+\+\+$", r.stderr, re.M), r.stderr[-2000:]


# --- errors the user makes ------------------------------------------------------------

def test_missing_command():
    r = run_veil(["trace", "--", "nosuchcmd"])
    assert r.returncode == 127
    assert r.stderr == "veil: nosuchcmd: command not found\n"
    assert r.stdout == ""


def test_missing_command_with_path(tmp_path):
    r = run_veil(["trace", "--", str(tmp_path / "nosuch")])
    assert r.returncode == 127
    one_line_error(r)


@pytest.mark.parametrize("args", [
    ["-e", "trace=nosuchcall"],
    ["-e", "trace=open,nosuchcall"],
    ["-e", "trace=%nosuchclass"],
    ["-e", "trace=/["],
    ["-s", "-1"],
    ["-e", "status=bogus"],
    ["-e", "bogus=1"],
], ids=lambda a: " ".join(a))
def test_usage_errors_are_one_line(args):
    r = run_veil(["trace", *args, "--", "/bin/true"])
    line = one_line_error(r)
    assert r.returncode == 2, line


def test_unknown_syscall_names_it():
    r = run_veil(["trace", "-e", "trace=nosuchcall", "--", "/bin/true"])
    assert "nosuchcall" in one_line_error(r)


@pytest.mark.parametrize("pid", ["0", "999999999", "-5", "abc"])
def test_bad_pid(pid):
    r = run_veil(["trace", "-p", pid])
    one_line_error(r)


def test_no_command():
    r = run_veil(["trace"])
    one_line_error(r)


# --- filtering ---------------------------------------------------------------------------

def _trace(progs, tmp_path, *flags, prog="fileops", follow=False):
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    out = tmp_path / "trace.txt"
    args = ["trace", *(["-f"] if follow else []), "-o", out, *flags, "--", progs[prog], scratch]
    r = run_veil(args)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    return out.read_text()


def test_trace_class_file(progs, tmp_path):
    text = _trace(progs, tmp_path, "-e", "trace=%file")
    allowed = names(resolve_set("%file"))
    lines = call_lines(text)
    seen = {n for n, _ in lines}
    assert {"openat", "newfstatat", "unlink", "mkdir", "rename", "execve"} <= seen, text
    bad = [line for n, line in lines if n not in allowed]
    assert not bad, "non-%file lines:\n" + "\n".join(bad)


def test_trace_class_negated(progs, tmp_path):
    text = _trace(progs, tmp_path, "-e", "trace=!%file")
    file_names = names(resolve_set("%file"))
    lines = call_lines(text)
    seen = {n for n, _ in lines}
    assert {"read", "write", "close", "mmap"} <= seen, text
    bad = [line for n, line in lines if n in file_names]
    assert not bad, "%file lines in a !%file trace:\n" + "\n".join(bad)


def test_trace_regex(progs, tmp_path):
    text = _trace(progs, tmp_path, "-e", "trace=/^open")
    lines = call_lines(text)
    assert lines
    assert all(n.startswith("open") for n, _ in lines), text
    assert sum(n == "openat" for n, _ in lines) >= 3


def test_trace_names(progs, tmp_path):
    text = _trace(progs, tmp_path, "-e", "trace=mkdir,rename,unlink")
    lines = call_lines(text)
    assert [n for n, _ in lines] == ["mkdir", "rename", "unlink"], text
    # strace pads "name(args)" to 39 columns before " = result"
    assert lines[0][1] == 'mkdir("veil_d1", 0750)'.ljust(39) + " = 0"
    assert lines[1][1] == 'rename("veil_f1.txt", "veil_d1/veil_f2.txt") = 0'
    assert lines[2][1] == 'unlink("veil_d1/veil_f2.txt")'.ljust(39) + " = 0"


def test_fileops_decoded_lines(progs, tmp_path):
    text = _trace(progs, tmp_path, "-e", "trace=openat,write,read,close,rmdir")
    assert re.search(r'^openat\(AT_FDCWD, "veil_f1.txt", O_WRONLY\|O_CREAT\|O_TRUNC, 0640\) = 3$',
                     text, re.M), text
    assert re.search(r'^write\(3, "hello veil\\n", 11\) += 11$', text, re.M), text
    assert re.search(r'^read\(3, "hello veil\\n", 64\) += 11$', text, re.M), text
    assert re.search(r'^openat\(AT_FDCWD, "veil_does_not_exist", O_RDONLY\) = -1 ENOENT '
                     r'\(No such file or directory\)$', text, re.M), text
    assert re.search(r'^rmdir\("veil_d1"\) += 0$', text, re.M), text
    assert re.search(r"^\+\+\+ exited with 0 \+\+\+$", text, re.M), text


def test_status_failed(progs, tmp_path):
    text = _trace(progs, tmp_path, "-e", "status=failed")
    lines = call_lines(text)
    assert lines, text
    bad = [line for _, line in lines if not re.search(r"= -1 E[A-Z0-9]+ \(", line)]
    assert not bad, "successful calls shown with status=failed:\n" + "\n".join(bad)
    assert any('"veil_does_not_exist"' in line for _, line in lines), text


def test_status_successful(progs, tmp_path):
    text = _trace(progs, tmp_path, "-e", "status=successful")
    lines = call_lines(text)
    assert len(lines) > 20
    bad = [line for _, line in lines if re.search(r"= -1 E[A-Z0-9]+ ", line)]
    assert not bad, "\n".join(bad)


def test_strsize(progs, tmp_path):
    text = _trace(progs, tmp_path, "-s", "5", "-e", "trace=write")
    assert re.search(r'^write\(3, "hello"\.\.\., 11\) += 11$', text, re.M), text


# --- output files ---------------------------------------------------------------------

def test_output_file(progs, tmp_path):
    out = tmp_path / "t.txt"
    r = run_veil(["trace", "-o", out, "--", progs["exitcode"], "5"])
    assert r.returncode == 5
    assert r.stderr == "" and r.stdout == ""
    text = out.read_text()
    assert text.startswith("execve(")
    assert text.endswith("+++ exited with 5 +++\n")


def test_follow_to_file_has_pid_column(progs, tmp_path):
    out = tmp_path / "t.txt"
    r = run_veil(["trace", "-f", "-o", out, "--", progs["fork_exec"]])
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    pids = {int(line.split()[0]) for line in lines}
    assert len(pids) == 3, pids  # the parent and its two children
    assert all(re.match(r"^\d+ +\S", line) for line in lines)
    exits = [line for line in lines if "+++ exited with" in line]
    assert len(exits) == 3
    assert sum(line.endswith("+++ exited with 3 +++") for line in exits) == 1


def test_ff_writes_one_file_per_process(progs, tmp_path):
    out = tmp_path / "t"
    r = run_veil(["trace", "-ff", "-o", out, "--", progs["fork_exec"]])
    assert r.returncode == 0, r.stderr
    files = sorted(tmp_path.glob("t.*"))
    assert len(files) == 3, files
    assert not (tmp_path / "t").exists()
    texts = {int(f.suffix[1:]): f.read_text() for f in files}
    # no pid prefixes in per-process files
    for pid, text in texts.items():
        assert text.strip(), pid
        for line in text.splitlines():
            assert not re.match(r"^(\[pid|\d+ )", line), line
        assert re.search(r"^\+\+\+ exited with \d+ \+\+\+$", text, re.M), text
    true_runs = [t for t in texts.values() if 'execve("/bin/true"' in t]
    assert len(true_runs) == 1
    assert sum("+++ exited with 3 +++" in t for t in texts.values()) == 1
    main_pid = min(texts)
    assert texts[main_pid].count("wait4(") >= 2


# --- -c summary --------------------------------------------------------------------------

SUMMARY_HEADER = "% time     seconds  usecs/call     calls    errors syscall"
ROW_RE = re.compile(r"^\s*(\d+\.\d+)\s+(\d+\.\d+)\s+(\d+)\s+(\d+)\s+(\d+)?\s*(\S+)$")


def parse_summary(text):
    lines = text.splitlines()
    start = lines.index(SUMMARY_HEADER)
    rows, total = {}, None
    for line in lines[start + 1:]:
        if line.startswith("------"):
            continue
        m = ROW_RE.match(line)
        if not m:
            continue
        calls, errors, name = int(m.group(4)), int(m.group(5) or 0), m.group(6)
        if name == "total":
            total = (calls, errors)
        else:
            rows[name] = (calls, errors)
    return rows, total


def test_summary(progs, tmp_path, strace):
    scratch = tmp_path / "s"
    scratch.mkdir()
    r = run_veil(["trace", "-c", "--", progs["fileops"], scratch])
    assert r.returncode == 0
    assert SUMMARY_HEADER in r.stderr.splitlines(), r.stderr
    rows, total = parse_summary(r.stderr)
    assert total is not None, r.stderr
    assert total[0] == sum(c for c, _ in rows.values())
    assert total[1] == sum(e for _, e in rows.values())
    assert rows["openat"] == (5, 1)
    assert rows["mkdir"] == (1, 0)
    # no trace lines with -c
    assert "openat(" not in r.stderr

    s = subprocess.run([strace, "-c", progs["fileops"], scratch], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    assert s.returncode == 0
    srows, stotal = parse_summary(s.stderr)
    assert set(rows) == set(srows), (sorted(set(rows) ^ set(srows)), r.stderr, s.stderr)
    assert abs(total[0] - stotal[0]) <= 2, (r.stderr, s.stderr)
    for name, (calls, errors) in srows.items():
        assert rows[name] == (calls, errors), (name, rows[name], (calls, errors))


def test_summary_C_prints_trace_too(progs, tmp_path):
    scratch = tmp_path / "s"
    scratch.mkdir()
    r = run_veil(["trace", "-C", "--", progs["fileops"], scratch])
    assert r.returncode == 0
    assert "mkdir(" in r.stderr and SUMMARY_HEADER in r.stderr
    assert r.stderr.index("mkdir(") < r.stderr.index(SUMMARY_HEADER)


def test_summary_sort_by_calls(progs, tmp_path):
    scratch = tmp_path / "s"
    scratch.mkdir()
    r = run_veil(["trace", "-c", "-S", "calls", "--", progs["fileops"], scratch])
    rows, _ = parse_summary(r.stderr)
    counts = [c for c, _ in rows.values()]  # dict keeps the table order
    assert counts == sorted(counts, reverse=True), r.stderr


# --- -T, -t, -y ------------------------------------------------------------------------------

def test_durations(progs, tmp_path):
    text = _trace(progs, tmp_path, "-T")
    lines = call_lines(text)
    finished = [line for _, line in lines if not line.endswith("= ?")]
    assert finished
    bad = [line for line in finished if not re.search(r" <\d+\.\d{6}>$", line)]
    assert not bad, "\n".join(bad)


def test_timestamps_tt(progs, tmp_path):
    text = _trace(progs, tmp_path, "-tt")
    lines = text.splitlines()
    assert lines
    bad = [line for line in lines if not re.match(r"^\d\d:\d\d:\d\d\.\d{6} \S", line)]
    assert not bad, "\n".join(bad)
    # and they are in order, close to now
    import time
    first = lines[0][:15]
    now = time.strftime("%H:%M:%S")
    assert abs(_secs(now) - _secs(first)) < 60 or abs(_secs(now) - _secs(first)) > 86340


def _secs(hms):
    h, m, s = hms.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def test_timestamps_ttt(progs, tmp_path):
    import time
    text = _trace(progs, tmp_path, "-ttt")
    for line in text.splitlines():
        m = re.match(r"^(\d{10}\.\d{6}) \S", line)
        assert m, line
        assert abs(float(m.group(1)) - time.time()) < 120


def test_timestamps_t(progs, tmp_path):
    text = _trace(progs, tmp_path, "-t")
    for line in text.splitlines():
        assert re.match(r"^\d\d:\d\d:\d\d \S", line), line


def test_decorate_fds(tmp_path):
    out = tmp_path / "t"
    r = run_veil(["trace", "-y", "-o", out, "-e", "trace=openat,read,close", "--", "cat", "/etc/passwd"],
                 stdout=subprocess.DEVNULL)
    assert r.returncode == 0
    text = out.read_text()
    # strace -y: openat(AT_FDCWD</cwd>, "/etc/passwd", O_RDONLY) = 3</etc/passwd>
    assert re.search(r'^openat\(AT_FDCWD(<[^>]*>)?, "/etc/passwd", O_RDONLY\) = 3</etc/passwd>$',
                     text, re.M), text
    assert re.search(r'^read\(3</etc/passwd>, "root:', text, re.M), text
    assert re.search(r"^close\(3</etc/passwd>\) += 0$", text, re.M), text


def test_decorate_fds_at_call_time(progs, tmp_path):
    """-y shows what the fd referred to when the call was made, not later."""
    a, b = tmp_path / "first.txt", tmp_path / "second.txt"
    a.write_text("first\n")
    b.write_text("second\n")
    out = tmp_path / "t"
    r = run_veil(["trace", "-y", "-o", out, "-e", "trace=read,close", "--", progs["fdreuse"], a, b])
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    reads = re.findall(r"^read\((3(?:<[^>]*>)?), ", text, re.M)
    assert reads[-2:] == [f"3<{a}>", f"3<{b}>"], text
    assert re.search(rf"^close\(3<{re.escape(str(a))}>\) += 0$", text, re.M), text


# --- JSON -------------------------------------------------------------------------------------

def test_json_format(tmp_path):
    out = tmp_path / "t.json"
    r = run_veil(["trace", "--format", "json", "-o", out, "--", "cat", "/etc/passwd"],
                 stdout=subprocess.DEVNULL)
    assert r.returncode == 0
    objs = [json.loads(line) for line in out.read_text().splitlines()]
    calls = [o for o in objs if "syscall" in o]
    assert len(calls) > 10
    for o in calls:
        assert {"pid", "tid", "syscall", "args", "result", "errno", "start", "duration"} <= set(o), o
        assert isinstance(o["pid"], int) and isinstance(o["args"], dict)
    opens = [o for o in calls if o["syscall"] == "openat" and o["args"].get("pathname") == "/etc/passwd"]
    assert len(opens) == 1, [o for o in calls if o["syscall"] == "openat"]
    o = opens[0]
    assert o["result"] == 3 and o["errno"] is None
    assert o["args"]["dirfd"] == "AT_FDCWD"
    assert o["duration"] is not None and o["duration"] >= 0
    fails = [o for o in calls if o["errno"] is not None]
    assert all(o["result"] == -1 for o in fails)
    assert any(o["errno"] == "ENOENT" for o in fails)  # ld.so.preload
    exits = [o for o in objs if o.get("event") == "exited"]
    assert exits and exits[-1]["code"] == 0
    # one object per call: same counts as the text trace
    counts = Counter(o["syscall"] for o in calls)
    assert counts["execve"] == 1
