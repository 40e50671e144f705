#!/usr/bin/env python3
"""What the fake identity costs: a getuid/geteuid loop under `veil run -0`
against native (the filter answers, no stop), `ls -lR` of a tree under
`veil run -0` against fakeroot, and a file loop (N x openat+fstat+close+stat,
its own loop time) under `veil run` with `--hostname` (without a layout and with
`-r /`, the mount engine's user namespace), `--cpus 1` and `-0`
against plain `veil run`, PRoot `-0` and fakeroot.

    python3 bench/identity_costs.py [--calls 1000000] [--tree /usr/include] [--loop 20000] [--runs 5]
    python3 bench/identity_costs.py --only fileloop      # the file loop rows alone
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(argv):
    """Wall time, or the loop's own time when the program reports it (BENCH_LOOP)."""
    t = time.perf_counter()
    r = subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True, env={**os.environ, "BENCH_LOOP": "1"})
    wall = time.perf_counter() - t
    m = re.search(r"bench: loop ([0-9.]+) s", r.stderr)
    return float(m.group(1)) if m else wall


def proot_path():
    """PRoot 5.4 with seccomp (bench/build_proot.sh), else any proot."""
    return "/usr/local/bin/proot" if os.access("/usr/local/bin/proot", os.X_OK) else shutil.which("proot")


def build_workload(name):
    """bench/build/NAME, compiled from workloads/NAME.c"""
    build = os.path.join(HERE, "build")
    os.makedirs(build, exist_ok=True)
    prog = os.path.join(build, name)
    subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", prog,
                    os.path.join(HERE, "workloads", name + ".c")], check=True)
    return prog


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1000000)
    ap.add_argument("--tree", default="/usr/include")
    ap.add_argument("--loop", type=int, default=20000, help="file loop iterations")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", choices=("getuid", "ls", "fileloop"), help="one group of rows")
    a = ap.parse_args()
    prog, loop = build_workload("getuid"), build_workload("fileloop")
    run = [sys.executable, "-m", "veil", "run"]
    veil = run + ["-0", "--"]
    rows = []
    if a.only in (None, "getuid"):
        rows += [("getuid loop: native", [prog, str(a.calls)]),
                 ("getuid loop: allow-all seccomp filter", [prog, str(a.calls), "filter"]),
                 ("getuid loop: veil run -0", veil + [prog, str(a.calls)])]
    if a.only in (None, "ls"):
        rows += [(f"ls -lR {a.tree}: native", ["ls", "-lR", a.tree]),
                 (f"ls -lR {a.tree}: veil run -0", veil + ["ls", "-lR", a.tree])]
        if shutil.which("fakeroot"):
            rows.append((f"ls -lR {a.tree}: fakeroot", ["fakeroot", "ls", "-lR", a.tree]))
    work = [loop, str(a.loop), "stat"]
    if a.only in (None, "fileloop"):
        rows += [("file loop: native", work),
                 ("file loop: veil run", run + ["--"] + work),
                 ("file loop: veil run --hostname x", run + ["--hostname", "x", "--"] + work),
                 ("file loop: veil run -r / --hostname x",
                  run + ["-r", "/", "--hostname", "x", "--"] + work),
                 ("file loop: veil run --cpus 1", run + ["--cpus", "1", "--"] + work),
                 ("file loop: veil run -0", veil + work)]
        if proot_path():
            rows.append(("file loop: proot -0", [proot_path(), "-0"] + work))
        if shutil.which("fakeroot"):
            rows.append(("file loop: fakeroot", ["fakeroot"] + work))
    times = {name: [] for name, _ in rows}
    for i in range(a.runs):
        for name, argv in (rows if i % 2 == 0 else list(reversed(rows))):
            times[name].append(timed(argv))
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, _ in rows:
        print(f"{name:40s} {med[name]:8.3f} s")
    if "getuid loop: native" in med:
        print(f"getuid loop ratio veil -0 / native: "
              f"{med['getuid loop: veil run -0'] / med['getuid loop: native']:.2f}")
        print(f"getuid loop ratio any seccomp filter / native (the kernel's floor): "
              f"{med['getuid loop: allow-all seccomp filter'] / med['getuid loop: native']:.2f}")
    fk = f"ls -lR {a.tree}: fakeroot"
    if fk in med:
        print(f"ls -lR ratio veil -0 / fakeroot: {med[f'ls -lR {a.tree}: veil run -0'] / med[fk]:.2f}")
    plain = med.get("file loop: veil run")
    if plain:
        for flag, goal in (("--hostname x", "goal <= 1.1"), ("-r / --hostname x", "goal <= 1.1"),
                           ("--cpus 1", "goal <= 1.1")):
            print(f"file loop ratio veil run {flag} / veil run: "
                  f"{med[f'file loop: veil run {flag}'] / plain:.2f} ({goal})")
        if "file loop: proot -0" in med:
            print(f"file loop ratio veil run -0 / proot -0: "
                  f"{med['file loop: veil run -0'] / med['file loop: proot -0']:.2f} (goal <= 1)")


if __name__ == "__main__":
    main()
