"""bench/run.py --quick: every workload once, small, under every peer that can run here.

Checks that every mode works and that the results (CSV, table, summaries, chart)
have their shape; never a time.  strace is required (the syscall counts come from
it); proot is optional: missing, it is reported as skipped, not a failure.
"""
from __future__ import annotations

import csv
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_strace

REPO = Path(__file__).resolve().parent.parent
RUN = REPO / "bench" / "run.py"

_spec = importlib.util.spec_from_file_location("bench_run", RUN)
bench_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_run)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    require_strace()
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "quick.csv"
    res = subprocess.run([sys.executable, str(RUN), "--quick", "--build-dir", str(tmp / "build"),
                          "--csv", str(out), "--require", "native,strace,mintracer,veil"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=300)
    with open(out) as f:
        rows = list(csv.DictReader(f))
    return res, rows, out


def test_every_workload_runs_under_every_available_peer(quick):
    res, rows, _ = quick
    assert res.returncode == 0, res.stdout[-3000:]
    assert "quick check passed" in res.stdout
    assert {r["workload"] for r in rows} == set(bench_run.WORKLOADS)
    assert {r["peer"] for r in rows} == set(bench_run.QUICK_PEERS)
    for r in rows:
        if r["peer"].startswith("proot") and not shutil.which("proot"):
            assert r["status"] == "skipped", r
            continue
        assert r["status"] == "ok", r
        assert float(r["wall_median_s"]) > 0
        assert int(r["syscalls"]) > 0


def test_tracers_report_their_stops(quick):
    _, rows, _ = quick
    for r in rows:
        if r["peer"].startswith(("mintracer", "veil")):
            assert r["stops_measured"] == "1", r
            assert int(r["stops"]) > 0, r
    by = {(r["workload"], r["peer"]): r for r in rows}
    # tracing every call, the C engine and python-ptrace take the same stops
    for wl in ("getppid", "fileloop"):
        c, py = int(by[wl, "veil"]["stops"]), int(by[wl, "veil-python"]["stops"])
        assert abs(c - py) <= 5, (wl, c, py)
        # one class traced: seccomp lets getppid pass in C, not in python-ptrace
    assert int(by["getppid", "veil-file"]["stops"]) < 100
    assert int(by["getppid", "veil-python-file"]["stops"]) > 2000
    # the layout does not stop calls that take no path
    assert int(by["getppid", "veil-layout"]["stops"]) < 100


def test_summaries_and_chart(quick):
    res, _, out = quick
    text = out.with_suffix(".txt").read_text()
    for title in ("x native", "us per stop", "python-ptrace backend", "placement:",
                  "targets (issue 9):", "load average at start"):
        assert title in text, title
    assert "tracee's Seccomp" in text or not shutil.which("proot")
    if importlib.util.find_spec("matplotlib"):
        png = out.with_suffix(".png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "no chart: matplotlib not installed" in res.stdout
