"""``veil bench``: the table, CSV, JSON, chart and the one-line errors.

Only the shape of the results is checked (rows, numbers, ratios): never a time.
"""
from __future__ import annotations

import csv
import importlib.util
import json

import pytest

from conftest import run_veil

BENCH = ["bench", "--runs", "2", "--warmup", "0", "--mode", "trace", "--mode", "run"]
HAS_MPL = importlib.util.find_spec("matplotlib") is not None


def _rows(stdout: str):
    """Table rows by mode name: the columns after the name."""
    lines = stdout.splitlines()
    head = next(i for i, l in enumerate(lines) if l.startswith("mode"))
    out = {}
    for line in lines[head + 1:]:
        parts = line.split()
        if parts and not line.startswith(" ") and parts[0] in ("native", "trace", "run"):
            out[parts[0]] = parts[1:]
    return out


def test_table_has_native_trace_run_with_ratios():
    r = run_veil(["bench", "--runs", "2", "--mode", "trace", "--mode", "run", "--", "/bin/true"])
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    rows = _rows(r.stdout)
    assert set(rows) == {"native", "trace", "run"}, r.stdout
    assert rows["native"][2] == "1.00"
    for name in ("trace", "run"):
        float(rows[name][0])                 # wall ms
        assert float(rows[name][2]) > 0      # ratio to native
        assert int(rows[name][6]) > 0        # ptrace stops
    # trace stops at every syscall, run (no policy) almost never
    assert int(rows["trace"][6]) > int(rows["run"][6])


def test_csv_rows_and_numeric_medians(tmp_path):
    out = tmp_path / "b.csv"
    r = run_veil(BENCH + ["--csv", str(out), "--", "/bin/true"])
    assert r.returncode == 0, r.stderr
    rows = {row["mode"]: row for row in csv.DictReader(out.open())}
    assert list(rows) == ["native", "trace", "run"]
    for row in rows.values():
        assert row["status"] == "ok"
        assert row["runs"] == "2"
        for k in ("wall_median", "wall_min", "wall_max", "user_median", "sys_median", "ratio"):
            float(row[k])
        assert float(row["wall_min"]) <= float(row["wall_median"]) <= float(row["wall_max"])
        assert int(row["syscalls"]) > 0
    assert float(rows["native"]["ratio"]) == 1.0
    assert int(rows["trace"]["stops"]) > 0 and float(rows["trace"]["per_stop_us"]) >= 0


def test_json_parses():
    r = run_veil(BENCH + ["--json", "--against", "native,strace,proot", "--mode", "python",
                          "--", "/bin/true"])
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["command"] == ["/bin/true"] and data["runs"] == 2
    modes = {m["mode"]: m for m in data["modes"]}
    assert data["modes"][0]["mode"] == "native"
    for name in ("native", "trace", "run"):
        assert modes[name]["status"] == "ok"
        assert modes[name]["wall"]["median"] > 0
    assert modes["trace"]["argv"][:2] == ["veil", "trace"]
    assert modes["trace"]["stops"] >= modes["trace"]["syscall_stops"] > 0
    # strace/proot: measured if installed, else said so
    for peer in ("strace", "proot"):
        assert modes[peer]["status"] in ("ok", "skipped"), modes[peer]
    assert modes["python"]["status"] in ("ok", "skipped")


def test_more_modes_run():
    r = run_veil(["bench", "--runs", "1", "--warmup", "0", "--json", "--mode", "layout",
                  "--mode", "sockets", "--mode", "hook:openat", "--mode", "trace-class:%file",
                  "--mode", "trace-binary", "--mode", "trace-raw", "--", "/bin/true"])
    assert r.returncode == 0, r.stderr
    modes = {m["mode"]: m for m in json.loads(r.stdout)["modes"]}
    for name in ("layout", "sockets", "hook:openat", "trace-class:%file", "trace-binary",
                 "trace-raw"):
        assert modes[name]["status"] == "ok", modes[name]
    # the binary modes take the stops the text trace takes
    assert modes["trace-binary"]["stops"] == modes["trace-raw"]["stops"] > 0


def test_failing_mode_is_reported_not_timed():
    # the command fails natively with 3: that is the reference, not a failure
    r = run_veil(["bench", "--runs", "1", "--warmup", "0", "--mode", "run", "--",
                  "sh", "-c", "exit 3"])
    assert r.returncode == 0, r.stderr
    assert set(_rows(r.stdout)) == {"native", "run"}


@pytest.mark.parametrize("args, code, words", [
    (["--runs", "2"], 2, "no command"),
    (["--mode", "nope", "--", "/bin/true"], 2, "'nope'"),
    (["--mode", "hook:nosuchcall", "--", "/bin/true"], 2, "nosuchcall"),
    (["--against", "gdb", "--", "/bin/true"], 2, "gdb"),
    (["--", "/nonexistent/prog"], 127, "/nonexistent/prog"),
    (["--", "no-such-command-xyz"], 127, "command not found"),
])
def test_bad_input_one_line(args, code, words):
    r = run_veil(["bench"] + args)
    assert r.returncode == code
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], r.stderr


def test_plot(tmp_path):
    png = tmp_path / "b.png"
    r = run_veil(BENCH + ["--plot", str(png), "--", "/bin/true"])
    if HAS_MPL:
        assert r.returncode == 0, r.stderr
        assert png.stat().st_size > 0
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert r.returncode == 2
        assert r.stderr.strip().splitlines() == [
            "veil: --plot needs matplotlib (pip install matplotlib)"]
        assert not png.exists()
