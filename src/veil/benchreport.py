"""``veil bench`` results: the summary (medians, min-max, ratios), table, CSV, JSON, chart."""
from __future__ import annotations

import csv
import statistics

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

METRICS = ("wall", "user", "sys")
CSV_FIELDS = (["mode", "status", "runs"] +
              [f"{m}_{k}" for m in METRICS for k in ("median", "min", "max")] +
              ["maxrss_kb", "ratio", "stops", "syscall_stops", "syscalls", "per_stop_us", "note"])
PLOT_ERROR = "--plot needs matplotlib (pip install matplotlib)"


def check_plot() -> None:
    from .errors import UsageError
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(PLOT_ERROR) from None


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarise(modes, cmd, runs: int, syscalls: int | None,
              rss_note: str | None = None) -> dict[str, object]:
    """A JSON-able dict: one entry per mode, native first."""
    out: list[dict[str, object]] = []
    native_wall = None
    for m in modes:
        row: dict[str, object] = {"mode": m.name, "argv": m.shown(cmd)}
        if m.skip or m.failed or not m.samples:
            row["status"] = "skipped" if m.skip else "failed"
            row["note"] = m.skip or m.failed or "no run"
            out.append(row)
            continue
        row["status"], row["runs"] = "ok", len(m.samples)
        for k in METRICS:
            row[k] = _spread([s[k] for s in m.samples])
        row["maxrss_kb"] = m.rss_kb
        wall = row["wall"]["median"]
        if m.name == "native":
            native_wall = wall
        row["ratio"] = wall / native_wall if native_wall else None
        if m.veil:
            row["stops"] = int(statistics.median(s["stops"] for s in m.samples))
            row["syscall_stops"] = int(statistics.median(s["syscall_stops"] for s in m.samples))
            # per stop: time inside Session.run (no interpreter start-up) above native
            session = statistics.median(s["session"] for s in m.samples)
            row["session_s"] = session
            if row["stops"] and native_wall is not None:
                row["per_stop_us"] = max(session - native_wall, 0.0) / row["stops"] * 1e6
        out.append(row)
    return {"command": list(cmd), "runs": runs, "syscalls": syscalls, "rss_note": rss_note,
            "modes": out}


def _ms(x: float) -> str:
    return f"{x * 1e3:.1f}" if x < 10 else f"{x * 1e3:.0f}"


def print_table(report: dict[str, object], f: TextIO) -> None:
    sc = report["syscalls"]
    print(f"veil bench: {' '.join(report['command'])}   ({report['runs']} runs each; medians, "
          f"[min-max]; the command makes "
          f"{'?' if sc is None else sc} syscalls)", file=f)
    head = ("mode", "wall ms", "[min-max]", "x native", "user ms", "sys ms", "max RSS MB",
            "stops", "us/stop")
    rows = [head]
    notes = []
    for r in report["modes"]:
        if r["status"] != "ok":
            rows.append((r["mode"], r["status"]) + ("",) * (len(head) - 2))
            notes.append(f"  {r['mode']}: {r['status']}: {r['note']}")
            continue
        w = r["wall"]
        rows.append((r["mode"], _ms(w["median"]), f"[{_ms(w['min'])}-{_ms(w['max'])}]",
                     "-" if r["ratio"] is None else f"{r['ratio']:.2f}",
                     _ms(r["user"]["median"]), _ms(r["sys"]["median"]),
                     "-" if r["maxrss_kb"] is None else f"{r['maxrss_kb'] / 1024:.1f}",
                     str(r.get("stops", "-")),
                     f"{r['per_stop_us']:.1f}" if "per_stop_us" in r else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    for row in rows:
        print("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i])
                        for i, c in enumerate(row)).rstrip(), file=f)
    for n in notes:
        print(n, file=f)
    if report.get("rss_note"):
        print(f"  max RSS: {report['rss_note']}", file=f)
    print("wall includes veil's own start-up (a fresh Python process); us/stop uses the time "
          "inside the traced session, above native. max RSS: the largest process of the tree, "
          "one run under GNU time.", file=f)


def write_csv(report: dict[str, object], path: str) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for r in report["modes"]:
            row = {k: r.get(k, "") for k in ("mode", "status", "runs", "maxrss_kb", "ratio", "stops",
                                             "syscall_stops", "per_stop_us", "note")}
            row["syscalls"] = "" if report["syscalls"] is None else report["syscalls"]
            for m in METRICS:
                for k in ("median", "min", "max"):
                    row[f"{m}_{k}"] = r[m][k] if m in r else ""
            w.writerow({k: ("" if v is None else v) for k, v in row.items()})


def write_plot(report: dict[str, object], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in report["modes"] if r["status"] == "ok"]
    names = [r["mode"] for r in rows]
    med = [r["wall"]["median"] * 1e3 for r in rows]
    err = [[m - r["wall"]["min"] * 1e3 for m, r in zip(med, rows)],
           [r["wall"]["max"] * 1e3 - m for m, r in zip(med, rows)]]
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(rows) + 2), 4))
    bars = ax.bar(names, med, yerr=err, capsize=4, color="#4a7fb5")
    for b, r in zip(bars, rows):
        if r.get("ratio"):
            ax.annotate(f"{r['ratio']:.2f}x", (b.get_x() + b.get_width() / 2, b.get_height()),
                        ha="center", va="bottom", fontsize=8, xytext=(0, 3),
                        textcoords="offset points")
    ax.set_ylabel("wall time, ms (median, min-max)")
    ax.set_title(" ".join(report["command"])[:60])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
