#!/usr/bin/env python3
"""What enforcing a bundle's learned paths costs: the same workloads native, under
`veil run BUNDLE --set security.enforce=false` and under `veil run BUNDLE` (the
learned paths_read/paths_written checked as C path rules).

    python3 bench/enforce_costs.py [--calls 20000] [--imports 3] [--runs 5]

fileloop: N x { openat("/etc/passwd"), fstat, close }, its own loop time (the
start-up of veil and of the bundle is not in it).  python: `python3 -c 'import
json, email, http.client, sqlite3'` N times in one sh, wall time (hundreds of
openat and newfstatat, many of paths that do not exist).  Ratios are of medians.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from identity_costs import build_workload  # noqa: E402

VEIL = [sys.executable, "-m", "veil"]
PY = "import json, email, http.client, sqlite3"


def timed(argv, loop):
    """seconds: the workload's own loop time (loop), else the wall time"""
    t = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0 or "veil: refused" in r.stderr:
        sys.exit(f"enforce_costs: {' '.join(argv)} failed:\n{r.stderr}")
    if loop:
        return float(re.search(r"bench: loop ([0-9.]+) s", r.stderr).group(1))
    return wall


def pack(bundle, argv, cwd):
    r = subprocess.run(VEIL + ["prep", "pack", "-q", "-o", bundle, "--", *argv], cwd=cwd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"enforce_costs: veil prep pack failed:\n{r.stderr}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20000, help="fileloop iterations")
    ap.add_argument("--imports", type=int, default=3, help="python starts per run")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    prog = build_workload("fileloop")
    python = shutil.which("python3") or sys.executable
    work = tempfile.mkdtemp(prefix="veil-enforce-bench-")
    try:
        # packed small; the size comes as the bundle's arguments at run time
        loops, starts = os.path.join(work, "fileloop.bundle"), os.path.join(work, "python.bundle")
        loop_argv = ["/bin/sh", "-c", f'exec {prog} "${{1:-100}}"', "sh"]
        script = f'i=0; while [ $i -lt "${{1:-1}}" ]; do {python} -c "{PY}"; i=$((i+1)); done'
        start_argv = ["/bin/sh", "-c", script, "sh"]
        pack(loops, loop_argv, work)
        pack(starts, start_argv, work)
        rows = []
        for name, bundle, argv, size, loop in (("fileloop", loops, loop_argv, a.calls, True),
                                               ("python", starts, start_argv, a.imports, False)):
            rows.append((name, "native", [*argv, str(size)], loop))
            run = [*VEIL, "run", "--env", "BENCH_LOOP=1"]
            rows.append((name, "bundle, unenforced", [*run, "--set", "security.enforce=false",
                                                      bundle, "--", str(size)], loop))
            rows.append((name, "bundle, enforced", [*run, bundle, "--", str(size)], loop))
        times = {(w, p): [] for w, p, _, _ in rows}
        os.environ["BENCH_LOOP"] = "1"
        for i in range(a.runs):
            for w, p, argv, loop in (rows if i % 2 == 0 else list(reversed(rows))):
                times[(w, p)].append(timed(argv, loop))
        med = {k: statistics.median(v) for k, v in times.items()}
        for w, p, _, _ in rows:
            native = med[(w, "native")]
            print(f"{w:9s} {p:22s} {med[(w, p)]:9.4f} s   x{med[(w, p)] / native:6.2f} native")
        for w in ("fileloop", "python"):
            print(f"{w:9s} enforced / unenforced = "
                  f"{med[(w, 'bundle, enforced')] / med[(w, 'bundle, unenforced')]:.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
