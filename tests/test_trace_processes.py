"""Forks, threads, exec storms and builds under `veil trace -f`.

Every case must finish (no hang), report every pid's exit, and leave no
process behind (the autouse ``no_leftover_processes`` fixture in conftest
checks that after each test).
"""
from __future__ import annotations

import re
import subprocess
from collections import Counter

import pytest

from conftest import run_veil

PREFIX_RE = re.compile(r"^(\d+) +(.*)$")


def by_pid(text):
    """[(pid, rest of line)] of a -f -o trace (each line starts with the pid)."""
    out = []
    for line in text.splitlines():
        m = PREFIX_RE.match(line)
        assert m, f"line without a pid column: {line!r}"
        out.append((int(m.group(1)), m.group(2)))
    return out


def exits(lines):
    """pid -> list of exit lines ('+++ exited with N +++' / '+++ killed by ...')."""
    out = {}
    for pid, rest in lines:
        if rest.startswith("+++ exited with") or rest.startswith("+++ killed by"):
            out.setdefault(pid, []).append(rest)
    return out


def test_exec_storm_200_background_children(tmp_path):
    tmp_path.mkdir(exist_ok=True)
    out = tmp_path / "t"
    r = run_veil(["trace", "-f", "-o", out, "--", "sh", "-c",
                  "for i in $(seq 200); do /bin/true & done; wait"], timeout=120)
    assert r.returncode == 0, r.stderr
    lines = by_pid(out.read_text())
    ex = exits(lines)
    exit_lines = [rest for _, rest in lines if rest.startswith("+++ ")]
    # sh + the $(seq 200) child + 200 /bin/true (strace -f also shows 202)
    assert len(exit_lines) == 202, Counter(exit_lines)
    assert len(ex) == 202, f"{len(ex)} distinct pids exited"
    assert all(v == ["+++ exited with 0 +++"] for v in ex.values()), \
        {p: v for p, v in ex.items() if v != ["+++ exited with 0 +++"]}
    # every pid seen in the trace has its exit line
    seen = {pid for pid, _ in lines}
    assert seen == set(ex), sorted(seen - set(ex))
    assert sum(rest.startswith('execve("/bin/true"') for _, rest in lines) == 200
    assert sum(rest.startswith('execve("/usr/bin/seq"') for _, rest in lines) == 1
    # the main sh is the first pid of the trace and exits last
    assert lines[0][0] == lines[-1][0]
    assert lines[-1][1] == "+++ exited with 0 +++"


def test_threads_each_fork_and_exec(progs, tmp_path):
    tmp_path.mkdir(exist_ok=True)
    out = tmp_path / "t"
    r = run_veil(["trace", "-f", "-o", out, "--", progs["threads_fork"]], timeout=120)
    assert r.returncode == 0, r.stderr
    kids = [int(x) for x in r.stdout.split()]
    assert len(kids) == 50 and all(k > 0 for k in kids), r.stdout
    lines = by_pid(out.read_text())
    ex = exits(lines)
    missing = [k for k in kids if k not in ex]
    assert not missing, f"children without an exit line: {missing}"
    for k in kids:
        assert ex[k] == ["+++ exited with 0 +++"], (k, ex[k])
    # every task seen (leader, 50 threads, 50 children) exits exactly once
    seen = {pid for pid, _ in lines}
    assert len(seen) == 101, len(seen)
    no_exit = seen - set(ex)
    assert not no_exit, f"tasks without an exit line: {sorted(no_exit)}"
    assert all(len(v) == 1 for v in ex.values()), {p: v for p, v in ex.items() if len(v) != 1}
    execs = [pid for pid, rest in lines if rest.startswith('execve("/bin/true"')]
    assert sorted(execs) == sorted(kids)


def test_exec_from_non_leader_thread(progs, tmp_path):
    out = tmp_path / "t"
    r = run_veil(["trace", "-f", "-o", out, "--", progs["exec_thread"]], timeout=30)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    lines = by_pid(text)
    leader = lines[0][0]
    assert lines[0][1].startswith("execve(")
    # the thread's execve is shown (strace: `TID execve("/bin/true", ["true"], ... <unfinished ...>`)
    thread_execs = [(pid, rest) for pid, rest in lines if rest.startswith('execve("/bin/true"')]
    assert thread_execs, "the thread's execve(\"/bin/true\") line is missing:\n" + text[-3000:]
    assert thread_execs[0][0] != leader
    thread = thread_execs[0][0]
    assert re.search(rf"^{leader} +\+\+\+ superseded by execve in pid {thread} \+\+\+$", text,
                     re.M), text[-3000:]
    # after the exec the program is /bin/true under the leader's pid, which exits 0
    assert re.search(rf"^{leader} +<\.\.\. execve resumed>\) += 0$", text, re.M), text[-3000:]
    assert lines[-1] == (leader, "+++ exited with 0 +++")
    # the leader's pending pause() ends (strace: `<... pause resumed>) = ?`), no call left open
    assert re.search(rf"^{leader} +<\.\.\. pause resumed>\) += \?$", text, re.M), text[-3000:]


def test_fork_exec_exit_codes(progs, tmp_path):
    tmp_path.mkdir(exist_ok=True)
    out = tmp_path / "t"
    r = run_veil(["trace", "-f", "-o", out, "--", progs["fork_exec"]])
    assert r.returncode == 0
    lines = by_pid(out.read_text())
    ex = exits(lines)
    assert sorted(v[0] for v in ex.values()) == ["+++ exited with 0 +++", "+++ exited with 0 +++",
                                                 "+++ exited with 3 +++"]


def test_vfork(tmp_path):
    """sh uses vfork for external commands: the parent stays stopped until the child execs."""
    out = tmp_path / "t"
    r = run_veil(["trace", "-f", "-o", out, "--", "sh", "-c", "/bin/true; /bin/true; echo done"])
    assert r.returncode == 0 and r.stdout == "done\n"
    lines = by_pid(out.read_text())
    assert len(exits(lines)) == 3


def test_make_j2(tmp_path):
    src = tmp_path / "proj"
    src.mkdir()
    n = 10
    for i in range(n):
        (src / f"f{i}.c").write_text(f"int f{i}(int x) {{ return x + {i}; }}\n")
    calls = " + ".join(f"f{i}(1)" for i in range(n))
    decls = "".join(f"int f{i}(int);\n" for i in range(n))
    (src / "main.c").write_text(f'#include <stdio.h>\n{decls}int main(void) {{ printf("%d\\n", {calls}); '
                                f"return 0; }}\n")
    objs = " ".join(f"f{i}.o" for i in range(n)) + " main.o"
    (src / "Makefile").write_text(f"prog: {objs}\n\tcc -o $@ {objs}\n%.o: %.c\n\tcc -O1 -c -o $@ $<\n")
    out = tmp_path / "t"
    r = run_veil(["trace", "-f", "-o", out, "--", "make", "-j2", "-C", str(src)], timeout=120)
    assert r.returncode == 0, r.stderr + r.stdout
    assert (src / "prog").exists()
    p = subprocess.run([str(src / "prog")], stdout=subprocess.PIPE, text=True, timeout=10)
    assert p.stdout == f"{n + sum(range(n))}\n"
    lines = by_pid(out.read_text())
    ex = exits(lines)
    seen = {pid for pid, _ in lines}
    assert seen == set(ex), f"pids without an exit line: {sorted(seen - set(ex))}"
    assert sum(rest.startswith('execve("/usr/bin/cc"') or rest.startswith('execve("/usr/bin/gcc"')
               or 'cc1' in rest.split(",")[0] for _, rest in lines) >= n + 1


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(10))
def test_soak_fork_storms(progs, tmp_path, round_):
    """Repeat the storm cases (run with -m slow): races show up as a lost exit or a hang."""
    test_exec_storm_200_background_children(tmp_path / "storm")
    test_threads_each_fork_and_exec(progs, tmp_path / "threads")
    test_fork_exec_exit_codes(progs, tmp_path / "fe")
