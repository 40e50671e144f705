"""bench/charts.py: README's pictures, drawn from the benches' CSVs and veil's own Perfetto file."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_veil

pytest.importorskip("matplotlib")
ROOT = Path(__file__).resolve().parent.parent
CHARTS = ROOT / "bench" / "charts.py"
PNG = b"\x89PNG\r\n\x1a\n"


def charts(*args):
    return subprocess.run([sys.executable, str(CHARTS), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_timeline_of_a_traced_build(tmp_path):
    trace = tmp_path / "t.json"
    r = run_veil(["trace", "-f", "--format", "perfetto", "-o", trace, "--",
                  "sh", "-c", "cat /etc/hostname >/dev/null & ls / >/dev/null; wait"])
    assert r.returncode == 0, r.stderr
    sys.path.insert(0, str(CHARTS.parent))
    try:
        import charts as mod
    finally:
        sys.path.remove(str(CHARTS.parent))
    import json
    lanes, arrows = mod.process_lanes(json.loads(trace.read_text())["traceEvents"])
    names = {name for _, name, _, _ in lanes}
    assert {"sh", "cat", "ls"} <= names, lanes
    sh = next(pid for pid, name, _, _ in lanes if name == "sh")
    children = {pid for pid, name, _, _ in lanes if name in ("cat", "ls")}
    assert {child for parent, child, _ in arrows if parent == sh} == children
    for _, _, start, end in lanes:
        assert 0 <= start <= end
    r = charts("timeline", trace, "-o", tmp_path / "t.png")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "t.png").read_bytes()[:8] == PNG


def test_bench_charts_from_the_committed_csvs(tmp_path):
    for kind in ("per-stop", "layout"):
        out = tmp_path / f"{kind}.png"
        r = charts(kind, "-o", out)
        assert r.returncode == 0, r.stderr
        assert out.read_bytes()[:8] == PNG and out.stat().st_size < 150_000


def test_bad_input_is_one_line(tmp_path):
    (tmp_path / "x.json").write_text("not json")
    for args in (("timeline", tmp_path / "x.json"), ("per-stop", tmp_path / "missing.csv")):
        r = charts(*args, "-o", tmp_path / "x.png")
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert r.stderr.strip().startswith("bench/charts.py: "), r.stderr
