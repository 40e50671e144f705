"""veil.trace() writes every output format the CLI does."""
import json
import subprocess
import sys

from test_api import run_api


def test_trace_api_formats(tmp_path):
    p, r = run_api(tmp_path, """
        for fmt in ("text", "json", "binary", "perfetto"):
            R[fmt] = veil.trace(["cat", "/etc/hostname"], output="out." + fmt, format=fmt,
                                trace="%file").exit_code
    """)
    assert all(code == 0 for code in r.values()) and len(r) == 4
    text = (tmp_path / "out.text").read_text()
    assert 'openat(AT_FDCWD, "/etc/hostname", O_RDONLY) = 3' in text
    objs = [json.loads(l) for l in (tmp_path / "out.json").read_text().splitlines()]
    assert any(o.get("syscall") == "openat" and o["args"]["pathname"] == "/etc/hostname"
               for o in objs)
    shown = subprocess.run([sys.executable, "-m", "veil", "show", str(tmp_path / "out.binary")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert shown.returncode == 0
    assert 'openat(AT_FDCWD, "/etc/hostname", O_RDONLY) = 3' in shown.stdout + shown.stderr
    events = json.loads((tmp_path / "out.perfetto").read_text())
    events = events["traceEvents"] if isinstance(events, dict) else events
    assert any(e.get("ph") == "X" and e.get("name") == "openat" for e in events)
