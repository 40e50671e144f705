#!/usr/bin/env python3
"""What the fake identity costs: a getuid/geteuid loop under `veil run -0`
against native (the filter answers, no stop), and `ls -lR` of a tree under
`veil run -0` against fakeroot.

    python3 bench/identity_costs.py [--calls 1000000] [--tree /usr/include] [--runs 5]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(argv):
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1000000)
    ap.add_argument("--tree", default="/usr/include")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    build = os.path.join(HERE, "build")
    os.makedirs(build, exist_ok=True)
    prog = os.path.join(build, "getuid")
    subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", prog,
                    os.path.join(HERE, "workloads", "getuid.c")], check=True)
    veil = [sys.executable, "-m", "veil", "run", "-0", "--"]
    rows = [("getuid loop: native", [prog, str(a.calls)]),
            ("getuid loop: allow-all seccomp filter", [prog, str(a.calls), "filter"]),
            ("getuid loop: veil run -0", veil + [prog, str(a.calls)]),
            (f"ls -lR {a.tree}: native", ["ls", "-lR", a.tree]),
            (f"ls -lR {a.tree}: veil run -0", veil + ["ls", "-lR", a.tree])]
    if shutil.which("fakeroot"):
        rows.append((f"ls -lR {a.tree}: fakeroot", ["fakeroot", "ls", "-lR", a.tree]))
    times = {name: [] for name, _ in rows}
    for i in range(a.runs):
        for name, argv in (rows if i % 2 == 0 else list(reversed(rows))):
            times[name].append(timed(argv))
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, _ in rows:
        print(f"{name:40s} {med[name]:8.3f} s")
    print(f"getuid loop ratio veil -0 / native: "
          f"{med['getuid loop: veil run -0'] / med['getuid loop: native']:.2f}")
    print(f"getuid loop ratio any seccomp filter / native (the kernel's floor): "
          f"{med['getuid loop: allow-all seccomp filter'] / med['getuid loop: native']:.2f}")
    fk = f"ls -lR {a.tree}: fakeroot"
    if fk in med:
        print(f"ls -lR ratio veil -0 / fakeroot: {med[f'ls -lR {a.tree}: veil run -0'] / med[fk]:.2f}")


if __name__ == "__main__":
    main()
