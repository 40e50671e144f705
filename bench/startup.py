#!/usr/bin/env python3
"""Start-up: `veil trace -o /dev/null -- /bin/true`, `veil run -- /bin/true` and
`veil run --hostname x -- /bin/true` against strace, PRoot and a bare
`python3 -S`, alternated, medians (issue 22's goal: within 25 ms of strace's and
PRoot's).

veil runs from this checkout's src/ (or another's, --base) under `python3 -S`
with only its own and the interpreter's site-packages on the path, so that a
.pth file of the environment (one that imports a certificate bundle costs
~65 ms on some machines) is not counted as veil's.  Bytecode is compiled first.

    python3 bench/startup.py [--runs 21] [--base OTHER_CHECKOUT]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COMMANDS = {"trace": ["trace", "-o", "/dev/null", "--", "/bin/true"],
            "run": ["run", "--", "/bin/true"],
            "run --hostname": ["run", "--hostname", "x", "--", "/bin/true"]}
_ENTRY = ("import sys; sys.path[:0] = sys.argv[1:3]; del sys.argv[1:3]; "
          "from veil.cli import entry; sys.argv[0] = 'veil'; entry()")


def veil_argv(checkout, words):
    src = os.path.join(checkout, "src")
    return [sys.executable, "-S", "-c", _ENTRY, src, sysconfig.get_paths()["purelib"], *words]


def wall(argv):
    t = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise SystemExit(f"startup.py: {' '.join(argv[:6])}... exited {r.returncode}")
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--base", help="another checkout (built) to measure alongside")
    args = ap.parse_args()
    checkouts = {"veil": os.path.dirname(HERE)}
    if args.base:
        checkouts["base"] = os.path.abspath(args.base)
    for checkout in checkouts.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q",
                        os.path.join(checkout, "src", "veil")], check=True)
    peers = {f"{label} {name}": veil_argv(checkout, words)
             for label, checkout in checkouts.items() for name, words in COMMANDS.items()}
    peers["python3 -S -c pass"] = [sys.executable, "-S", "-c", "pass"]
    if shutil.which("strace"):
        peers["strace -f"] = ["strace", "-f", "-o", "/dev/null", "/bin/true"]
    proot = ("/usr/local/bin/proot" if os.access("/usr/local/bin/proot", os.X_OK)
             else shutil.which("proot"))
    if proot:
        peers["proot"] = [proot, "/bin/true"]
    times = {name: [] for name in peers}
    for _ in range(args.runs):        # alternated: a machine's drift hits every peer alike
        for name, argv in peers.items():
            times[name].append(wall(argv))
    floor = min(statistics.median(times[n]) for n in ("strace -f", "proot") if n in times) \
        if "strace -f" in times or "proot" in times else None
    print(f"{'command':28} {'median ms':>10} {'min ms':>8} {'- fastest tracer ms':>20}")
    for name, values in times.items():
        med = statistics.median(values)
        over = f"{(med - floor) * 1e3:20.1f}" if floor is not None else ""
        print(f"{name:28} {med * 1e3:10.1f} {min(values) * 1e3:8.1f} {over}")
    print(f"({args.runs} alternated runs of each; goal: veil within 25 ms of the fastest tracer)")


if __name__ == "__main__":
    main()
