#!/usr/bin/env python3
"""README's pictures, from what the benches and veil wrote (matplotlib: the bench extra).

    python3 bench/charts.py per-stop [bench/results/latest.csv] [-o bench/results/per-stop.png]
    python3 bench/charts.py layout [bench/results/layout-engines.csv] [-o bench/results/layout-engines.png]
    python3 bench/charts.py timeline TRACE.json [-o TRACE.png] [--title TEXT]

per-stop: microseconds per ptrace stop of strace, PRoot, the minimal C tracer
(seccomp, pinned: the same stops and placement as veil) and veil's text and
binary traces, per workload of bench/run.py (start-up aside).
layout: wall time as a multiple of native, PRoot against veil's two layout
engines and veil with no layout (bench/layout_vs_proot.py).
timeline: the process lanes of a `veil trace -f --format perfetto` file, as the
Perfetto UI draws them: one bar per process from its first to its last call,
coloured by program, with an arrow from each fork/clone to its child.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")

PER_STOP_PEERS = [("strace", "strace"), ("proot", "PRoot"),
                  ("mintracer-seccomp-pin", "minimal C tracer"),
                  ("veil", "veil (text)"), ("veil-binary", "veil (binary)")]
LAYOUT_PEERS = [("proot", "PRoot (seccomp)"), ("veil-bind", "veil ptrace engine"),
                ("veil-mount", "veil mount engine"), ("veil-nolayout", "veil, no layout")]


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("bench/charts.py: matplotlib is missing (pip install 'veil[bench]')")
    return plt


def _rows(path: str) -> List[dict]:
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except OSError as e:
        sys.exit("bench/charts.py: %s: %s" % (path, e.strerror))


def _float(s: Optional[str]) -> Optional[float]:
    try:
        return float(s) if s not in (None, "") else None
    except ValueError:
        return None


def _grouped_bars(ax, workloads: List[str], table: Dict[str, Dict[str, float]],
                  peers: List[tuple]) -> None:
    width = 0.8 / len(peers)
    for i, (peer, label) in enumerate(peers):
        xs = [k + (i - (len(peers) - 1) / 2) * width for k in range(len(workloads))]
        ax.bar(xs, [table[w].get(peer, 0) for w in workloads], width, label=label)
    ax.set_xticks(range(len(workloads)))
    ax.set_xticklabels(workloads)
    ax.grid(axis="y", alpha=0.3)
    top = max(max(t.values(), default=0) for t in table.values())
    ax.set_ylim(0, top * 1.25)                   # room for the legend above the bars


def per_stop(csv_path: str, out: str) -> None:
    table: Dict[str, Dict[str, float]] = {}
    for r in _rows(csv_path):
        v = _float(r.get("us_per_stop"))
        if r.get("status") == "ok" and v is not None:
            table.setdefault(r["workload"], {})[r["peer"]] = v
    # workloads every peer stopped on, with a cost above noise (echo's can be negative)
    workloads = [w for w, t in table.items()
                 if all(t.get(p, -1) > 0 for p, _ in PER_STOP_PEERS)]
    if not workloads:
        sys.exit("bench/charts.py: %s has no us_per_stop for all of %s"
                 % (csv_path, ", ".join(p for p, _ in PER_STOP_PEERS)))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.6))
    _grouped_bars(ax, workloads, table, PER_STOP_PEERS)
    ax.set_ylabel("microseconds per ptrace stop")
    ax.set_title("Cost of one stop (lower is better; start-up aside)", fontsize=10)
    ax.legend(ncol=5, fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def layout(csv_path: str, out: str) -> None:
    table: Dict[str, Dict[str, float]] = {}
    for r in _rows(csv_path):
        v = _float(r.get("ratio_native"))
        if r.get("status") == "ok" and v is not None:
            table.setdefault(r["workload"], {})[r["peer"]] = v
    workloads = [w for w, t in table.items() if any(p in t for p, _ in LAYOUT_PEERS)]
    if not workloads:
        sys.exit("bench/charts.py: %s has no layout rows" % csv_path)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.4))
    _grouped_bars(ax, workloads, table, LAYOUT_PEERS)
    ax.axhline(1, color="black", linewidth=0.8)
    ax.set_ylabel("wall time, x native")
    ax.set_title("-r / plus one bind: PRoot against veil's layout engines (lower is better)",
                 fontsize=10)
    ax.legend(ncol=4, fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def process_lanes(events: List[dict]) -> Tuple[List[tuple], List[tuple]]:
    """From a veil perfetto file's traceEvents: the lanes, (pid, program, first
    event, last event end) in order of start (microseconds), and the fork
    arrows, (parent pid, child pid, when)."""
    names: Dict[int, str] = {}
    span: Dict[int, List[float]] = {}
    starts: Dict[int, tuple] = {}                 # flow id -> (parent pid, ts)
    arrows = []
    for ev in events:
        ph, pid = ev.get("ph"), ev.get("pid")
        if ph == "M" and ev.get("name") == "process_name":
            names[pid] = ev["args"]["name"]      # the last exec's program
        elif ph in ("X", "i"):
            s = span.setdefault(pid, [ev["ts"], ev["ts"]])
            s[0] = min(s[0], ev["ts"])
            s[1] = max(s[1], ev["ts"] + ev.get("dur", 0))
        elif ph == "s" and ev.get("cat") == "process":
            starts[ev["id"]] = (pid, ev["ts"])
        elif ph == "f" and ev.get("cat") == "process" and ev["id"] in starts:
            parent, ts = starts.pop(ev["id"])
            if parent != pid:                    # a thread of the same process: no arrow
                arrows.append((parent, pid, ts))
    lanes = [(pid, names.get(pid, "?"), a, b)
             for pid, (a, b) in sorted(span.items(), key=lambda kv: kv[1][0])]
    return lanes, arrows


def timeline(trace_path: str, out: str, title: Optional[str] = None) -> None:
    try:
        with open(trace_path) as f:
            events = json.load(f)["traceEvents"]
        lanes, arrows = process_lanes(events)
    except (OSError, ValueError, KeyError, TypeError) as e:
        sys.exit("bench/charts.py: %s: not a veil perfetto trace (%s)" % (trace_path, e))
    if not lanes:
        sys.exit("bench/charts.py: %s has no events" % trace_path)
    row = {pid: i for i, (pid, _, _, _) in enumerate(lanes)}
    first = {pid: a for pid, _, a, _ in lanes}
    programs = list(dict.fromkeys(name for _, name, _, _ in lanes))   # in order of first start
    plt = _pyplot()
    cmap = plt.get_cmap("tab10")
    colour = {n: cmap(i % 10) for i, n in enumerate(programs)}
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.16 * len(lanes) + 1.2)))
    for pid, name, a, b in lanes:
        ax.barh(row[pid], (b - a) / 1000, left=a / 1000, height=0.7, color=colour[name])
    for parent, child, ts in arrows:
        if parent in row and child in row:
            ax.annotate("", xy=(first[child] / 1000, row[child]), xytext=(ts / 1000, row[parent]),
                        arrowprops=dict(arrowstyle="->", color="0.45", lw=0.6))
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels(["%s %d" % (name, pid) for pid, name, _, _ in lanes], fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("milliseconds since the first call")
    ax.grid(axis="x", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[n]) for n in programs]
    ax.legend(handles, programs, ncol=min(len(programs), 8), fontsize=7, loc="lower right")
    ax.set_title("%s: %d processes, %d calls" % (
        title or os.path.basename(trace_path), len(lanes),
        sum(1 for e in events if e.get("ph") == "X")), fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="bench/charts.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="chart", required=True)
    for name, default in (("per-stop", "latest.csv"), ("layout", "layout-engines.csv")):
        p = sub.add_parser(name)
        p.add_argument("csv", nargs="?", default=os.path.join(RESULTS, default))
        p.add_argument("-o", "--output", default=None)
    p = sub.add_parser("timeline")
    p.add_argument("trace")
    p.add_argument("--title", default=None, help="the chart's title (default: the file's name)")
    p.add_argument("-o", "--output", default=None)
    args = ap.parse_args(argv)
    if args.chart == "timeline":
        out = args.output or os.path.splitext(args.trace)[0] + ".png"
        timeline(args.trace, out, args.title)
    else:
        out = args.output or os.path.join(
            RESULTS, "per-stop.png" if args.chart == "per-stop" else "layout-engines.png")
        (per_stop if args.chart == "per-stop" else layout)(args.csv, out)
    print("wrote %s (%d bytes)" % (out, os.path.getsize(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
