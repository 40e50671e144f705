#!/usr/bin/env python3
"""The README's two benchmark tables, in Markdown, from a results CSV.

    python3 bench/readme_tables.py [bench/results/latest.csv] [--peers a,b,...]

Prints "net x native" and "us per stop", one row per workload, one column per
peer (the README's selection unless --peers), "-" where the peer did not run
or the figure does not apply.
"""
import argparse
import csv
import os

HERE = os.path.dirname(os.path.abspath(__file__))
README_PEERS = ["strace", "strace-seccomp", "proot", "mintracer", "mintracer-pin",
                "mintracer-seccomp-pin", "veil", "veil-binary", "veil-binary-raw", "veil-layout",
                "veil-python", "seccomp-floor"]


def _num(text):
    try:
        v = float(text)
    except (TypeError, ValueError):
        return "-"
    return "%.3g" % v if v < 1000 else "%.0f" % v


def tables(rows, peers):
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    cell = {(r["workload"], r["peer"]): r for r in rows if r["status"] == "ok"}
    peers = [p for p in peers if any((w, p) in cell for w in workloads)]
    out = []
    for title, field in (("net x native", "ratio_native_net"), ("us per stop", "us_per_stop")):
        out.append("| %s | %s |" % (title, " | ".join(peers)))
        out.append("|---|" + "---|" * len(peers))
        for w in workloads:
            vals = [_num(cell[(w, p)][field]) if (w, p) in cell else "-" for p in peers]
            out.append("| %s | %s |" % (w, " | ".join(vals)))
        out.append("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", nargs="?", default=os.path.join(HERE, "results", "latest.csv"))
    ap.add_argument("--peers", default=",".join(README_PEERS))
    args = ap.parse_args()
    with open(args.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    print(tables(rows, [p for p in args.peers.split(",") if p]))


if __name__ == "__main__":
    main()
