"""Placement (--affinity auto): veil keeps a busy single-task tree on its own
core, lets a tree that computes in parallel use every CPU, and never shows the
program the one-CPU mask it set."""
import os
import re
import subprocess
import sys
import time

import pytest

from conftest import popen_veil, run_veil
from test_api import run_api

NCPU = len(os.sched_getaffinity(0))
pytestmark = pytest.mark.skipif(NCPU < 2, reason="placement needs at least 2 CPUs")


def allowed_cpus(pid):
    """Cpus_allowed_list of every thread of pid."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                m = re.search(r"^Cpus_allowed_list:\s*(\S+)", f.read(), re.M)
        except FileNotFoundError:
            continue
        out[int(tid)] = m.group(1)
    return out


def tracee_of(veil_pid):
    for _ in range(200):
        kids = subprocess.run(["pgrep", "-P", str(veil_pid)], stdout=subprocess.PIPE,
                              text=True).stdout.split()
        if kids:
            return int(kids[0])
        time.sleep(0.01)
    raise AssertionError("no tracee found")


def test_parallel_computation_gets_every_cpu(progs):
    p = popen_veil(["trace", "-f", "-o", os.devnull, "--", progs["spin_threads"], "1500"],
                   stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "ready\n"
        time.sleep(0.5)  # a few placement windows with no stops at all
        masks = allowed_cpus(tracee_of(p.pid))
        one_cpu = [t for t, m in masks.items() if re.fullmatch(r"\d+", m)]
        assert not one_cpu, f"threads confined to one CPU while computing in parallel: {masks}"
    finally:
        p.wait(timeout=30)
    assert p.returncode == 0


def test_busy_single_task_is_kept_on_one_cpu(progs, tmp_path):
    # sleeper loops on nanosleep/getppid; one task, so veil pins it with itself
    p = popen_veil(["trace", "-o", os.devnull, "--", progs["sleeper"]], stdout=subprocess.PIPE,
                   text=True)
    try:
        pid = int(p.stdout.readline())
        time.sleep(0.3)
        masks = allowed_cpus(pid)
        assert all(re.fullmatch(r"\d+", m) for m in masks.values()), masks
    finally:
        p.kill()
        p.wait(timeout=10)


def test_affinity_off_leaves_the_mask_alone(progs):
    p = popen_veil(["trace", "--affinity", "off", "-o", os.devnull, "--", progs["sleeper"]],
                   stdout=subprocess.PIPE, text=True)
    try:
        pid = int(p.stdout.readline())
        time.sleep(0.2)
        mine = allowed_cpus(os.getpid())[os.getpid()]
        assert set(allowed_cpus(pid).values()) == {mine}
    finally:
        p.kill()
        p.wait(timeout=10)


def test_program_sees_its_real_cpu_set():
    native = subprocess.run(["nproc"], stdout=subprocess.PIPE, text=True).stdout
    r = run_veil(["trace", "-o", os.devnull, "--", "nproc"])
    assert r.stdout == native
    r = run_veil(["trace", "-o", os.devnull, "--", "taskset", "-c", "0", "nproc"])
    assert r.stdout == "1\n", "a mask the program chose itself is not rewritten"


def test_invalid_affinity_is_one_line_error():
    r = run_veil(["trace", "--affinity", "banana", "--", "true"])
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "affinity" in r.stderr
    r = run_veil(["trace", "--affinity", "999", "--", "true"])
    assert r.returncode != 0 and "Traceback" not in r.stderr


def test_two_threads_that_stop_often_are_not_serialized(progs):
    # both threads call getppid at every turn, each call a stop: tens of
    # thousands of stops a second, and still two runnable threads
    p = popen_veil(["trace", "-f", "-o", os.devnull, "--", progs["spin_threads"], "4000", "calls"],
                   stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "ready\n"
        time.sleep(0.5)
        masks = allowed_cpus(tracee_of(p.pid))
        one_cpu = [t for t, m in masks.items() if re.fullmatch(r"\d+", m)]
        assert not one_cpu, f"two runnable threads serialized on one CPU: {masks}"
    finally:
        p.kill()
        p.wait(timeout=30)


def placement_costs(tmp_path, argv, affinity):
    """engine_stats of `veil run` (no layout: only placement could stop) of argv."""
    p, r = run_api(tmp_path, """
        res = veil.run({argv}, spec=veil.RunSpec(observation={"affinity": {affinity}}))
        R["code"], R["stats"] = res.exit_code, res.engine_stats
    """, argv=argv, affinity=affinity)
    assert p.returncode == 0 and r["code"] == 0, p.stderr
    return r["stats"]


def test_one_task_that_reads_and_sleeps_pays_no_stop(tmp_path):
    # reads of a file, select and sleep: calls a task may sleep in, 300 of each
    code = ("import select, time\n"
            "for _ in range(300):\n"
            "    open('/etc/passwd').read(); select.select([], [], [], 0); time.sleep(0)\n")
    argv = [sys.executable, "-c", code]
    auto, off = placement_costs(tmp_path, argv, "auto"), placement_costs(tmp_path, argv, "off")
    assert auto["syscall_stops"] == off["syscall_stops"] < 300, (auto, off)
    assert auto["placement_samples"] == 0, "a tree of one task is never sampled"


def test_waiting_parent_costs_what_it_costs_without_placement(tmp_path):
    # a shell that runs 40 commands one after another, waiting for each
    argv = ["/bin/sh", "-c", "i=0; while [ $i -lt 40 ]; do /bin/true; i=$((i+1)); done"]
    auto = placement_costs(tmp_path, argv, "auto")
    off = placement_costs(tmp_path, argv, "off")
    assert auto["syscall_stops"] == off["syscall_stops"], (auto, off)
    assert off["placement_samples"] == 0 and off["placement_moves"] == 0
