"""veil's text output against strace's, line by line, on the same programs.

Both tracers run the same command with the same environment, stdout on a pipe,
without -f.  What legitimately differs between two runs is normalised away:
addresses, pids, random bytes, CPU times and the position of asynchronous
signals.  At least 95% of the lines must then be identical.
"""
from __future__ import annotations

import difflib
import re
import subprocess
from collections import Counter

import pytest

from conftest import run_veil

MIN_SHARE = 0.95

ADDR_RE = re.compile(r"0x[0-9a-f]{6,}")
PID_RETURNING = re.compile(
    r"^(?:set_tid_address|getpid|gettid|getppid|fork|vfork|clone|clone3|wait4|waitid)\(.*\)\s+= (\d+)")
SI_PID_RE = re.compile(r"si_pid=(\d+)")
TIMES_RE = re.compile(r"(si_utime|si_stime)=\d+")
GETRANDOM_RE = re.compile(r'^getrandom\("[^"]*"(\.\.\.)?')
# lines whose place (or presence) depends on when a signal arrives
ASYNC_RE = re.compile(r"^(--- SIGCHLD |rt_sigreturn\()")


def normalise(text: str, async_lines: bool = False):
    """Normalised lines; the asynchronous ones (SIGCHLD, rt_sigreturn) are left
    out, or, with ``async_lines``, are the only ones returned (sorted)."""
    lines = [line for line in text.splitlines() if line.strip()]
    pids = set()
    for line in lines:
        m = PID_RETURNING.match(line)
        if m:
            pids.add(m.group(1))
        pids.update(SI_PID_RE.findall(line))
    pid_re = re.compile(r"\b(" + "|".join(sorted(pids, key=len, reverse=True)) + r")\b") if pids else None
    out = []
    for line in lines:
        if bool(ASYNC_RE.match(line)) != async_lines:
            continue
        line = ADDR_RE.sub("0xADDR", line)
        line = GETRANDOM_RE.sub('getrandom("RANDOM"', line)
        line = TIMES_RE.sub(r"\1=T", line)
        if pid_re is not None:
            line = pid_re.sub("PID", line)
        out.append(line)
    return sorted(out) if async_lines else out


def compare(strace, cmd, env, tmp_path, prep=None):
    """Run CMD under both tracers; return (share, diff text, strace lines, veil lines)."""
    a, b = tmp_path / "strace.txt", tmp_path / "veil.txt"
    if prep:
        prep()
    s = subprocess.run([strace, "-o", str(a), *cmd], env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if prep:
        prep()
    v = run_veil(["trace", "-o", b, "--", *cmd], env=env, text=False)
    assert v.returncode == s.returncode, (v.returncode, s.returncode, v.stderr)
    assert v.stdout == s.stdout
    ta, tb = a.read_text(), b.read_text()
    sa, vb = normalise(ta), normalise(tb)
    sm = difflib.SequenceMatcher(None, sa, vb, autojunk=False)
    same = sum(blk.size for blk in sm.get_matching_blocks())
    # signals that arrive at a different point are still the same signals:
    # those lines are compared as multisets
    aa, ab = normalise(ta, async_lines=True), normalise(tb, async_lines=True)
    same += sum((Counter(aa) & Counter(ab)).values())
    share = same / max(len(sa) + len(aa), len(vb) + len(ab), 1)
    diff = "\n".join(difflib.unified_diff(sa, vb, "strace", "veil", n=0, lineterm=""))
    if aa != ab:
        diff += "\n(signal lines, as multisets)\n" + "\n".join(
            difflib.unified_diff(aa, ab, "strace", "veil", n=0, lineterm=""))
    return share, diff, sa, vb


PROGRAMS = {
    "fileops": lambda progs, d: [progs["fileops"], str(d)],
    "fork_exec": lambda progs, d: [progs["fork_exec"]],
    "signals": lambda progs, d: [progs["signals"]],
    "ls": lambda progs, d: ["ls", "/"],
    "cat": lambda progs, d: ["cat", "/etc/passwd"],
    "sh": lambda progs, d: ["sh", "-c", "echo hi"],
}


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_same_lines_as_strace(name, progs, strace, clean_env, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    def prep():
        for p in sorted(scratch.rglob("*"), reverse=True):
            p.rmdir() if p.is_dir() else p.unlink()

    cmd = PROGRAMS[name](progs, scratch)
    share, diff, sa, vb = compare(strace, cmd, clean_env, tmp_path, prep)
    print(f"{name}: {share:.3f} of {max(len(sa), len(vb))} lines identical\n{diff}")
    assert len(vb) > 10
    assert share >= MIN_SHARE, f"{name}: only {share:.1%} identical lines\n{diff}"


def test_normalise_keeps_differences():
    """The normalisation must not hide a real difference."""
    a = normalise('openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = 3\n')
    b = normalise('openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3\n')
    assert a != b
    assert normalise("set_tid_address(0x7f0000001234) = 4242\ngetpid() = 4242\n") == \
        ["set_tid_address(0xADDR) = PID", "getpid() = PID"]
