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


def compare(strace, cmd, env, tmp_path, prep=None, opts=()):
    """Run CMD under both tracers (both given ``opts``); return (share, diff
    text, strace lines, veil lines)."""
    a, b = tmp_path / "strace.txt", tmp_path / "veil.txt"
    if prep:
        prep()
    s = subprocess.run([strace, "-o", str(a), *opts, *cmd], env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if prep:
        prep()
    v = run_veil(["trace", "-o", b, *opts, "--", *cmd], env=env, text=False)
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


@pytest.mark.parametrize("raw", ["all", "openat,read,newfstatat"])
def test_raw_same_as_strace(raw, strace, clean_env, tmp_path):
    """-e raw=SET: those calls' arguments as the registers held them, in hex,
    and a successful result in hex, as strace prints them."""
    # (set_tid_address's pid in hex would defeat the pid normalisation)
    share, diff, sa, vb = compare(strace, ["cat", "/etc/passwd"], clean_env, tmp_path,
                                  opts=["-e", "trace=!set_tid_address", "-e", f"raw={raw}"])
    print(f"raw={raw}: {share:.3f} of {max(len(sa), len(vb))} lines identical\n{diff}")
    assert share >= MIN_SHARE, diff
    opens = [line for line in vb if line.startswith("openat(")]
    # (normalised: AT_FDCWD's 0xffffff9c and the path pointer are both 0xADDR)
    assert opens and all(re.match(r"openat\(0xADDR, 0xADDR, (0x80000|0), 0\) += (0x\d+|-1 E)", line)
                         for line in opens), opens
    # undecoded: no string was read from the tracee for a raw call
    assert not [line for line in vb if line.startswith(("openat(", "read(")) and '"' in line]
    closes = [line for line in vb if line.startswith("close(")]
    if raw == "all":
        assert closes and all(line.startswith("close(0x") for line in closes), closes
    else:
        assert closes and all(re.match(r"close\(\d+\)", line) for line in closes), closes


def test_raw_in_binary_trace(tmp_path):
    """A binary trace records which calls were raw: veil show prints them as
    veil trace does, and --info says so."""
    out = tmp_path / "t.veil"
    text = tmp_path / "t.txt"
    r = run_veil(["trace", "-o", text, "-e", "raw=openat", "--", "cat", "/etc/hostname"])
    assert r.returncode == 0, r.stderr
    r = run_veil(["trace", "--format", "binary", "-o", out, "-e", "raw=openat", "--",
                  "cat", "/etc/hostname"])
    assert r.returncode == 0, r.stderr
    shown = run_veil(["show", str(out)])
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert [ln for ln in lines if ln.startswith("openat(0xffffff9c, 0x")]
    assert not [ln for ln in lines if ln.startswith("openat(AT_FDCWD")]
    assert [ln for ln in lines if ln.startswith('read(3, "')]  # read is still decoded
    assert normalise("\n".join(lines)) == normalise(text.read_text())
    info = run_veil(["show", "--info", str(out)])
    assert "raw (undecoded, no memory read): 1 syscalls: openat" in info.stdout
    # and the other way round: show -e raw= undecodes a call recorded decoded
    shown = run_veil(["show", "-e", "raw=read", str(out)])
    assert [ln for ln in shown.stdout.splitlines() if re.match(r"read\(0x3, 0x[0-9a-f]+, ", ln)]


def test_raw_bad_name_is_one_line():
    r = run_veil(["trace", "-e", "raw=nosuchcall", "--", "true"])
    assert r.returncode == 2
    assert r.stderr.strip() == "veil: -e raw=: unknown syscall name: 'nosuchcall'"


def test_normalise_keeps_differences():
    """The normalisation must not hide a real difference."""
    a = normalise('openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = 3\n')
    b = normalise('openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3\n')
    assert a != b
    assert normalise("set_tid_address(0x7f0000001234) = 4242\ngetpid() = 4242\n") == \
        ["set_tid_address(0xADDR) = PID", "getpid() = PID"]
