"""strace's flags as a script written for strace uses them: each one's lines
diffed against strace's on the same program (normalised as in
test_trace_vs_strace), or, where the two cannot print the same thing, checked
for what the flag means."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter

import pytest

from conftest import run_veil
from test_trace_cli import one_line_error
from test_trace_vs_strace import MIN_SHARE, compare

CAT = ["cat", "/etc/passwd"]


@pytest.fixture
def env(clean_env):
    """clean_env, plus the PYTHONPATH that chose this veil's sources (if any)."""
    return {**clean_env, **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}}


def same_as_strace(strace, cmd, env, tmp_path, opts, min_share=MIN_SHARE):
    share, diff, sa, vb = compare(strace, cmd, env, tmp_path, opts=opts)
    print(f"{opts}: {share:.3f} of {max(len(sa), len(vb))} lines identical\n{diff}")
    assert vb, "veil printed nothing"
    assert share >= min_share, f"{opts}: only {share:.1%} identical lines\n{diff}"
    return vb


# --- long forms, and the flags that only filter -----------------------------------------

@pytest.mark.parametrize("opts", [
    ["--trace=openat,read,close", "--string-limit=8"],
    ["--trace=%file", "--status=failed"],
    ["--successful-only"],
    ["-Z"],
    ["-z", "--trace=openat"],
    ["--signal=none", "--raw=close", "--trace=close,openat"],
    ["--seccomp-bpf", "--trace=!mmap"],
], ids=lambda o: " ".join(o))
def test_long_forms_and_filters_as_strace(opts, strace, env, tmp_path):
    vb = same_as_strace(strace, CAT, env, tmp_path, opts)
    if "-Z" in opts:
        assert all(re.search(r"= -1 E[A-Z]+ |^\+\+\+", line) for line in vb), vb
    if "--successful-only" in opts or "-z" in opts:
        assert not [line for line in vb if " = -1 E" in line], vb


def test_follow_forks_output_separately(progs, tmp_path):
    """--follow-forks --output-separately is -ff: one file per process."""
    out = tmp_path / "t"
    r = run_veil(["trace", "--follow-forks", "--output-separately", f"--output={out}", "--",
                  progs["fork_exec"]])
    assert r.returncode == 0, r.stderr
    assert len(list(tmp_path.glob("t.*"))) == 3


def test_summary_long_forms(progs, tmp_path):
    r = run_veil(["trace", "--summary-only", "--summary-sort-by=calls", "--", "true"])
    assert r.returncode == 0, r.stderr
    assert "% time     seconds  usecs/call     calls    errors syscall" in r.stderr
    assert "execve(" not in r.stderr
    r = run_veil(["trace", "--summary", "--", "true"])
    assert "execve(" in r.stderr and "% time" in r.stderr


def test_append_mode(tmp_path):
    out = tmp_path / "t"
    for _ in range(2):
        r = run_veil(["trace", "-A", "-o", out, "-e", "trace=execve", "--", "true"])
        assert r.returncode == 0, r.stderr
    assert out.read_text().count('execve("/usr/bin/true"') == 2


def test_version_line(strace):
    r = run_veil(["trace", "-V"])
    s = subprocess.run([strace, "-V"], stdout=subprocess.PIPE, text=True)
    assert r.returncode == 0
    # the first line as scripts parse strace's: "NAME -- version X.Y"
    assert re.fullmatch(r"strace -- version [\d.]+", s.stdout.splitlines()[0])
    assert re.fullmatch(r"veil -- version \d+\.\d+\.\d+", r.stdout.splitlines()[0]), r.stdout
    assert run_veil(["trace", "--version"]).stdout == r.stdout


# --- output format: -n, -a, -r, -P, -e read=/write= -----------------------------------------

@pytest.mark.parametrize("opts", [
    ["-n", "--trace=openat,read,close"],
    ["-a", "50", "--trace=openat,read,close,fstat"],
    ["--columns=0", "--syscall-number", "--trace=openat"],
    ["-P", "/etc/passwd"],
    ["--trace-path=/etc/passwd", "-z"],
    ["-e", "read=3", "--trace=read"],
    ["--read=all", "--write=1", "--trace=read,write", "-s", "4"],
], ids=lambda o: " ".join(o))
def test_format_flags_as_strace(opts, strace, env, tmp_path):
    vb = same_as_strace(strace, CAT, env, tmp_path, opts)
    if "-n" in opts:
        assert all(re.match(r"\[ *\d+\] ", line) for line in vb), vb
    if "-P" in opts or "--trace-path=/etc/passwd" in opts:
        calls = [line for line in vb if not line.startswith("+++")]
        assert calls and calls[0].startswith('openat(AT_FDCWD, "/etc/passwd"'), vb
        assert any(line.startswith("read(3, ") for line in calls), vb
        assert not [line for line in calls if "ld.so" in line or "libc" in line], vb


def test_path_by_fd_and_relative_name(strace, env, tmp_path):
    """-P matches a path argument as written (a relative name does not match)
    and any fd open on the file; a symbolic link selects its target too."""
    (tmp_path / "data").write_text("x" * 10)
    (tmp_path / "link").symlink_to(tmp_path / "data")
    cmd = ["sh", "-c", f"cd {tmp_path}; cat data; cat {tmp_path}/data; cat link"]
    opts = ["-f", "-qq", "-P", str(tmp_path / "link")]
    a, b = tmp_path / "s", tmp_path / "v"
    subprocess.run([strace, "-o", a, *opts, *cmd], env=env, check=True, timeout=60,
                   stdout=subprocess.DEVNULL)
    assert run_veil(["trace", "-o", b, *opts, "--", *cmd], env=env).returncode == 0
    sa, vb = _pid_free(a.read_text()), _pid_free(b.read_text())
    assert Counter(sa) == Counter(vb), (sa, vb)
    opens = [line for line in vb if "openat(" in line]
    assert len(opens) == 1 and f'"{tmp_path}/data"' in opens[0], vb
    # each cat's fd 3 is open on the file, however it was named: data, then EOF
    assert sum(" read(3, " in line for line in vb) == 6, vb


def test_hexdump_iovecs_as_strace(strace, env, tmp_path):
    prog = ("import os; r, w = os.pipe(); os.writev(w, [b'abc', b'de' * 10, b'']); "
            "b1, b2 = bytearray(2), bytearray(30); os.readv(r, [b1, b2])")
    vb = same_as_strace(strace, ["python3", "-c", prog], env, tmp_path,
                        ["-e", "trace=readv,writev", "-e", "read=all", "-e", "write=!0,1,2"])
    assert " * 20 bytes in buffer 1" in vb, vb
    assert " | 00010  65 64 65 64 65                                    edede            |" in vb


def test_relative_timestamps(tmp_path):
    out = tmp_path / "t"
    r = run_veil(["trace", "-r", "-T", "-o", out, "--", "cat", "/etc/hostname"],
                 stdout=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    stamps = [re.match(r"^ {4,}(\d+\.\d{6}) \S", line) for line in lines]
    assert all(stamps), lines
    assert stamps[0].group(1) == "0.000000"
    # the gaps add up to the time from the first call to the last line
    assert 0 < sum(float(m.group(1)) for m in stamps) < 30
    r = run_veil(["trace", "--relative-timestamps=ns", "--syscall-times=ms", "-o", out, "--",
                  "true"])
    assert all(re.match(r"^ +\d+\.\d{9} .* <\d+\.\d{3}>$|^ +\d+\.\d{9} \+\+\+", line)
               for line in out.read_text().splitlines()), out.read_text()


# --- -Y -------------------------------------------------------------------------------------

def _pid_free(text, strace_name_for_child=None):
    lines = []
    for line in text.splitlines():
        line = re.sub(r"^\d+(<[^>]*>)? +", lambda m: f"PID{m.group(1) or ''} ", line)
        line = re.sub(r"\b\d{2,}<", "PID<", line)
        line = re.sub(r"0x[0-9a-f]{6,}", "0xADDR", line)
        line = re.sub(r"= \d+$", "= N", line)
        # strace -Y names si_pid's process only if it is not reaped yet when the line
        # is printed (the parent's wait4 may reap it before its SIGCHLD stop): a race
        line = re.sub(r"si_pid=(PID|\d+)(<[^>]*>)?", "si_pid=PID", line)
        lines.append(line)
    return lines


def test_comm_names_as_strace(strace, env, tmp_path):
    """-Y: every pid prefix and pid argument with the command name of the
    process when the line began (the shell before its child's execve, cat after)."""
    cmd = ["sh", "-c", "cat /etc/hostname; kill -0 $$; /bin/true"]
    opts = ["-f", "-Y", "-qq", "-e", "trace=execve,kill,exit_group"]
    a, b = tmp_path / "s", tmp_path / "v"
    subprocess.run([strace, "-o", a, *opts, *cmd], env=env, stdout=subprocess.DEVNULL,
                   check=True, timeout=60)
    r = run_veil(["trace", "-o", b, *opts, "--", *cmd], env=env, stdout=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    sa, vb = _pid_free(a.read_text()), _pid_free(b.read_text())
    # the first line: the tracer's child before its execve has the tracer's name
    assert sa[0].startswith('PID<strace> execve("/usr/bin/sh"'), sa
    assert re.match(r'PID<[^>]+> execve\("/usr/bin/sh"', vb[0]), vb
    assert Counter(sa[1:]) == Counter(vb[1:]), (sa, vb)
    assert [line for line in vb if re.fullmatch(r"PID<sh> kill\(PID<sh>, 0\) += N", line)], vb


# --- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["-X", "bogus"], ["-a", "x"], ["-a", "-3"], ["-b", "exit"], ["--syscall-times=xs"],
    ["--absolute-timestamps=unix,bogus"], ["--decode-pids=pidns2"], ["-e", "read=abc"],
    ["--quiet=bogus"], ["--decode-fds=bogus"], ["--strings-in-hex=some"], ["-e", "kvm=vcpu"],
    ["-Y", "--format", "json", "-o", "/dev/null"],
], ids=lambda a: " ".join(a))
def test_bad_values_are_one_line(args):
    r = run_veil(["trace", *args, "--", "true"])
    one_line_error(r)
    assert r.returncode == 2


# --- -X, -v, -e verbose=, -e abbrev= -----------------------------------------------------------

@pytest.mark.parametrize("opts", [
    ["-X", "raw"], ["--const-print-style=verbose"], ["-X", "abbrev"],
    ["-e", "verbose=none"], ["-e", "verbose=!newfstatat"],
    ["-v", "--trace=execve"], ["--no-abbrev", "--trace=execve,close"],
    ["-e", "abbrev=!execve", "--trace=execve"],
], ids=lambda o: " ".join(o))
def test_constants_and_structures_as_strace(opts, strace, env, tmp_path):
    vb = same_as_strace(strace, CAT, env, tmp_path, opts)
    text = "\n".join(vb)
    if opts[-1] == "raw":
        assert re.search(r'^openat\(-100, "/etc/passwd", 0\) += 3$', text, re.M), text
    if opts[0].endswith("verbose"):
        assert re.search(r'^openat\(-100 /\* AT_FDCWD \*/, "/etc/passwd", 0 /\* O_RDONLY \*/\) '
                         r'+= 3$', text, re.M), text
    if "--trace=execve" in opts:
        assert re.search(r'execve\("/usr/bin/cat", \["cat", "/etc/passwd"\], \["PATH=', text), text


def test_verbose_stat_as_strace(strace, env, tmp_path):
    """-v: every field of a stat structure, times with their date (a file
    whose times stay put: relatime leaves an atime later than mtime and ctime)."""
    f = tmp_path / "data"
    f.write_text("x" * 100)
    now = int(time.time())
    os.utime(f, (now + 100, now - 3600))
    vb = same_as_strace(strace, ["cat", str(f)], env, tmp_path, ["-v", "-P", str(f)])
    stats = [line for line in vb if line.startswith("newfstatat(3, ")]
    assert len(stats) == 1, vb
    assert re.search(r"st_dev=makedev\(0x[0-9a-f]+, (0|0x[0-9a-f]+)\), st_ino=\d+, "
                     r"st_mode=S_IFREG\|0644, st_nlink=1, .* st_size=100, "
                     rf"st_atime={now + 100} /\* \d{{4}}-.*\*/, st_atime_nsec=0, ", stats[0])


# --- how the program is started: -E, -u, -D ----------------------------------------------------

def test_env_set_and_unset(env, tmp_path, strace):
    cmd = ["sh", "-c", "echo ${FOO-unset} ${HOME-unset}"]
    opts = ["-E", "FOO=bar baz", "--env=HOME", "-e", "trace=execve", "-v", "-s", "64"]
    vb = same_as_strace(strace, cmd, env, tmp_path, opts)
    assert re.search(r'"FOO=bar baz"', vb[0]) and '"HOME=' not in vb[0], vb


def test_run_as_user(env, tmp_path, strace):
    """-u USER: the program's ids and groups are the user's, set before
    tracing begins (no setuid line before execve), as strace -u does."""
    cmd = ["id"]
    opts = ["-u", "nobody", "-e", "trace=execve,getuid,geteuid,getgid,getgroups"]
    if os.geteuid() != 0:
        r = run_veil(["trace", *opts, "--", *cmd])
        assert "needs root" in one_line_error(r)
        return
    vb = same_as_strace(strace, cmd, env, tmp_path, opts)
    assert vb[0].startswith('execve("/usr/bin/id"'), vb
    r = run_veil(["trace", "-qq", "-e", "trace=none", "-u", "nobody", "--", "id"])
    native = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--init-groups",
                             "id"], stdout=subprocess.PIPE, text=True)
    assert r.stdout == native.stdout and "uid=65534" in r.stdout, (r.stdout, native.stdout)


def test_daemonized_tracer(tmp_path):
    """-D: the program keeps veil's process (its parent is the one that started
    veil), traced by a process that is not its parent; the trace begins at execve."""
    out = tmp_path / "t"
    script = 'grep -E "^(PPid|TracerPid):" /proc/$$/status'
    proc = subprocess.Popen([sys.executable, "-m", "veil", "trace", "-D", "-o", str(out), "--",
                             "sh", "-c", script], stdout=subprocess.PIPE, text=True)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    status = dict(line.split(":\t") for line in stdout.splitlines())
    assert int(status["PPid"]) == os.getpid()
    assert int(status["TracerPid"]) not in (0, os.getpid(), proc.pid)
    # the tracer finishes on its own, after the program
    for _ in range(200):
        if out.exists() and out.read_text().endswith("+++ exited with 0 +++\n"):
            break
        time.sleep(0.05)
    lines = out.read_text().splitlines()
    assert lines[0].startswith('execve("/usr/bin/sh", ["sh", "-c", '), lines[:3]
    assert lines[-1] == "+++ exited with 0 +++", lines[-3:]
    assert not [line for line in lines if "attached" in line]


def _share(a_lines, b_lines):
    import difflib
    sm = difflib.SequenceMatcher(None, a_lines, b_lines, autojunk=False)
    same = sum(blk.size for blk in sm.get_matching_blocks())
    return same / max(len(a_lines), len(b_lines), 1)


def test_instruction_pointer_as_strace(strace, env, tmp_path):
    """-i: [IP] of each call; under ASLR the addresses differ from run to run
    but not their offset in the page, which must be strace's."""
    from test_trace_vs_strace import normalise
    compare(strace, CAT, env, tmp_path, opts=["-i", "-n", "-e", "trace=!rt_sigreturn"])
    ip = re.compile(r"\[[0-9a-f]{13}([0-9a-f]{3})\]")
    sa, vb = (normalise(ip.sub(r"[IP\1]", (tmp_path / name).read_text()))
              for name in ("strace.txt", "veil.txt"))
    # the first execve is made by the tracer's own code (strace's libc call; veil's
    # spawn makes it without libc), not by the program
    assert sa[0].startswith("[  59] [IP") and vb[0].startswith("[  59] [IP"), (sa[0], vb[0])
    sa2, vb2 = ([re.sub(r"\[IP[0-9a-f]{3}\]", "[IP]", lines[0], count=1), *lines[1:]]
                for lines in (sa, vb))
    share = _share(sa2, vb2)
    assert share >= MIN_SHARE, "\n".join(f"{a}\n{b}" for a, b in zip(sa2, vb2) if a != b)
    assert all(re.match(r"\[ *\d+\] \[IP[0-9a-f]{3}\] [a-z]", line) for line in vb[:-1]), vb
    assert vb[-1] == "[ 231] [????????????????] +++ exited with 0 +++"


def test_detach_on_execve(tmp_path):
    """-b execve: a child that calls execve is let go (not traced: its TracerPid
    is 0, no line of it after its execve), the shell is still traced."""
    out = tmp_path / "t"
    r = run_veil(["trace", "-f", "-b", "execve", "-o", out, "--", "sh", "-c",
                  "grep TracerPid /proc/self/status; echo done"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "TracerPid:\t0\ndone\n"
    text = out.read_text()
    m = re.search(r'^(\d+) +execve\("/usr/bin/grep", .*<detached \.\.\.>$', text, re.M)
    assert m, text
    grep_pid = m.group(1)
    after = text[m.end():]
    assert f"{grep_pid} " not in "".join(line[:len(grep_pid) + 1] for line in after.splitlines())
    assert re.search(r'write\(1, "done\\n", 5\) += 5', after), after
    assert re.search(r"^\d+ +\+\+\+ exited with 0 \+\+\+$", text.splitlines()[-1]), text


# --- -k ---------------------------------------------------------------------------------------

def test_stack_traces_as_strace(strace, env, tmp_path):
    """-k: the frames strace prints (file offsets do not move with ASLR)."""
    opts = ["-k", "-e", "trace=openat,read,write,close"]
    vb = same_as_strace(strace, ["cat", "/etc/hostname"], env, tmp_path, opts)
    frames = [line for line in vb if line.startswith(" > ")]
    assert any(re.match(r" > /\S+/libc\.so\.6\(__open64\+0x[0-9a-f]+\) \[0x[0-9a-f]+\]$", f)
               for f in frames), frames
    assert any(re.match(r" > /usr/bin/cat\(\) \[0x[0-9a-f]+\]$", f) for f in frames), frames


def test_stack_frames_in_json(tmp_path):
    import json
    out = tmp_path / "t.json"
    r = run_veil(["trace", "-k", "--format", "json", "-o", out, "-e", "trace=openat", "--",
                  "cat", "/etc/hostname"], stdout=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    calls = [json.loads(line) for line in out.read_text().splitlines()]
    opened = [c for c in calls if c.get("args", {}).get("pathname") == "/etc/hostname"]
    assert opened, calls
    frames = opened[0]["frames"]
    assert frames[0]["symbol"] in ("__open64", "open64", "__libc_open64"), frames[0]
    assert frames[0]["file"].endswith("libc.so.6") and frames[0]["offset"] > 0
    assert frames[-1]["file"] == "/usr/bin/cat" and frames[-1]["symbol"] is None
    assert all(f["address"] >= f["offset"] for f in frames)


def test_without_f_the_children_are_let_go(strace, tmp_path):
    """Without -f, as strace: the program's children are not traced (and not under
    veil's filter), so a program that traces its own children works under `veil
    trace`; with -f they are traced."""
    inner, outer = tmp_path / "inner", tmp_path / "outer"
    r = run_veil(["trace", "-o", outer, "--", strace, "-o", inner, "/bin/true"])
    assert r.returncode == 0, r.stderr
    assert re.search(r'^execve\("/bin/true", \["/bin/true"\], .*\) = 0$', inner.read_text(), re.M)
    assert re.search(r"^wait4\(", outer.read_text(), re.M)   # strace's own calls
    assert "/bin/true" not in outer.read_text().split("wait4(")[-1]
    status = ["sh", "-c", "grep TracerPid /proc/self/status"]
    alone = run_veil(["trace", "-o", os.devnull, "--", *status])
    assert alone.stdout == "TracerPid:\t0\n", alone.stderr
    followed = run_veil(["trace", "-f", "-o", os.devnull, "--", *status])
    assert re.fullmatch(r"TracerPid:\t[1-9]\d*\n", followed.stdout), followed.stdout


@pytest.mark.parametrize("opts", [[], ["-f"], ["-f", "--no-seccomp"], ["--no-seccomp"]])
def test_the_first_line_is_the_programs_execve(opts):
    """With or without the filter: without it no stop comes before the execve ends
    unless veil's child stops itself first (a SIGSTOP veil keeps to itself)."""
    r = run_veil(["trace", *opts, "--", "/bin/true"])
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert re.match(r'execve\("/bin/true", \["/bin/true"\], 0x[0-9a-f]+ /\* \d+ vars \*/\) = 0$',
                    lines[0]), lines[:3]
    assert "SIGSTOP" not in r.stderr and lines[-1] == "+++ exited with 0 +++"
