"""A trace file that cannot be written (disk full) does not harm the traced
program: it runs to its end, veil keeps its exit status and says once where
the trace stopped."""
from __future__ import annotations

import subprocess
import sys

import pytest

LONG = "i=0; while [ $i -lt 300 ]; do ls / > /dev/null; i=$((i+1)); done; echo finished; exit 3"


@pytest.mark.parametrize("cmd", [["run", "-o", "/dev/full", "--"], ["trace", "-f", "-o", "/dev/full", "--"]],
                         ids=["run", "trace"])
def test_disk_full_trace_file(cmd):
    r = subprocess.run([sys.executable, "-m", "veil", *cmd, "sh", "-c", LONG],
                       capture_output=True, text=True, timeout=120)
    assert r.stdout == "finished\n"
    assert r.returncode == 3, r.stderr
    assert r.stderr.strip() == ("veil: /dev/full: No space left on device: the trace stops there; "
                                "the program ran on"), r.stderr
