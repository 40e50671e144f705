#!/usr/bin/env python3
"""What a policy costs per syscall: not stopped, denied by the filter, settled
in C at a stop, settled by a Python hook.  Runs the getppid workload (N raw
getppid calls) under each setting, alternating, and prints the median wall
time and the cost per call over native.

    python3 bench/policy_costs.py [--calls 30000] [--runs 5]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))

import veil  # noqa: E402


def build(cc="gcc"):
    out = os.path.join(HERE, "build", "getppid")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    src = os.path.join(HERE, "workloads", "getppid.c")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-Werror", "-o", out, src], check=True)
    return out


def settings():
    def none(s):
        pass

    def deny_filter(s):
        s.deny("getppid", 1)

    def fake_return(s):
        s.deny("getppid", 0)  # SECCOMP_RET_ERRNO with 0: returns 0, never stops

    def stop_in_c(s):
        s.traced |= {veil.syscalls.lookup.BY_NAME["getppid"].nr}  # stop, record, resume in C

    def hook_allow(s):
        s.watch(["getppid"], lambda stop: None)

    def hook_emulate(s):
        s.watch(["getppid"], lambda stop: veil.Emulate(7))

    return [("not stopped", none), ("denied by filter", deny_filter),
            ("fake return by filter", fake_return), ("stop settled in C", stop_in_c),
            ("Python hook, Allow", hook_allow), ("Python hook, Emulate", hook_emulate)]


def run_once(prog, n, configure):
    if configure is None:
        t = time.perf_counter()
        subprocess.run([prog, str(n)], check=True)
        return time.perf_counter() - t
    s = veil.Session([prog, str(n)], trace="none")
    configure(s)
    t = time.perf_counter()
    r = s.run()
    dt = time.perf_counter() - t
    if r.exit_code != 0:
        raise SystemExit(f"workload failed under veil: {r}")
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=30000)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    prog = build()
    rows = [("native", None)] + settings()
    times = {name: [] for name, _ in rows}
    for i in range(a.runs):
        order = rows if i % 2 == 0 else list(reversed(rows))
        for name, conf in order:
            times[name].append(run_once(prog, a.calls, conf))
    native = statistics.median(times["native"])
    print(f"getppid x {a.calls}, {a.runs} runs, median wall time")
    print(f"{'setting':24s} {'median s':>9s} {'us/call over native':>20s}")
    for name, _ in rows:
        m = statistics.median(times[name])
        print(f"{name:24s} {m:9.3f} {(m - native) * 1e6 / a.calls:20.2f}")


if __name__ == "__main__":
    main()
