"""Output formats: typed JSON lines, the binary trace file and ``veil show``,
the Perfetto (Chrome trace-event) timeline.  docs/FORMATS.md is the schema."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from conftest import run_veil

REPO = Path(__file__).resolve().parent.parent


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def calls_of(objs, name=None):
    return [o for o in objs if "syscall" in o and (name is None or o["syscall"] == name)]


# --- one run, several outputs (the API: text and JSON observers + the binary sink) ---------

RECORD = textwrap.dedent("""
    import io, json, sys
    from veil.decoders import Ctx
    from veil.observers import SyscallStats
    from veil.output.binary import BinaryWriter
    from veil.output.jsonl import JsonWriter
    from veil.output.text import TextWriter
    from veil.session import Session
    from veil.syscalls.lookup import resolve_set

    out, cmd = sys.argv[1], sys.argv[2:]
    ctx = Ctx()
    plain, timed, js = io.StringIO(), io.StringIO(), io.StringIO()
    stats = SyscallStats()
    observers = [TextWriter(plain, follow=True, to_file=True, ctx=ctx),
                 TextWriter(timed, follow=True, to_file=True, ctx=ctx, timestamps=2, durations=True),
                 JsonWriter(js, ctx), stats]
    with open(out + ".veil", "wb") as f:
        w = BinaryWriter(f, argv=cmd, traced=resolve_set("all"), strsize=32, follow=True)
        s = Session(cmd, observers=observers, follow=True)
        s.add_raw_sink(w.write)
        r = s.run()
        w.finish(r)
    for suffix, buf in ((".txt", plain), (".tt", timed), (".json", js)):
        with open(out + suffix, "w") as f:
            f.write(buf.getvalue())
    with open(out + ".stats", "w") as f:
        json.dump({"calls": stats.calls, "errors": stats.errors, "exit": r.exit_code}, f)
""")


def record(tmp_path, cmd, name="run"):
    """Trace ``cmd`` once, writing text, text -tt -T, JSON, the binary file and the stats."""
    script = tmp_path / "record.py"
    script.write_text(RECORD)
    base = tmp_path / name
    p = subprocess.run([sys.executable, str(script), str(base), *map(str, cmd)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    return base


SH_CMD = ["sh", "-c", "cat /etc/passwd > /dev/null; ls /nonexistent_veil_dir 2>/dev/null; "
                      "(echo child; exit 3); echo done > /dev/null"]


@pytest.fixture(scope="module")
def sh_run(tmp_path_factory):
    return record(tmp_path_factory.mktemp("fmt"), SH_CMD, "sh")


# --- JSON ------------------------------------------------------------------------------------

def test_json_typed_fields(tmp_path):
    out = tmp_path / "t.json"
    r = run_veil(["trace", "-f", "--format", "json", "-o", out, "--", *SH_CMD])
    assert r.returncode == 0, r.stderr
    objs = read_jsonl(out)
    calls = calls_of(objs)
    for o in calls:
        assert {"pid", "tid", "syscall", "args", "result", "errno", "start", "duration"} <= set(o)
        assert isinstance(o["pid"], int) and isinstance(o["tid"], int)
        assert isinstance(o["args"], dict) and isinstance(o["start"], float)
        assert o["result"] is None or isinstance(o["result"], int)
    # openat: dirfd name, path string, flags list, result a number
    opens = [o for o in calls_of(objs, "openat") if o["args"]["pathname"] == "/etc/passwd"]
    assert len(opens) == 1, calls_of(objs, "openat")
    o = opens[0]
    assert o["args"]["dirfd"] == "AT_FDCWD"
    assert o["args"]["flags"] == ["O_RDONLY"]
    assert "mode" not in o["args"]  # no O_CREAT: open's mode is not an argument
    assert isinstance(o["result"], int) and o["result"] >= 3 and o["errno"] is None
    assert o["duration"] >= 0
    fd, pid = o["result"], o["pid"]
    # the stat of that fd: a struct with typed fields
    st = os.stat("/etc/passwd")
    stats = [c for c in calls if c["pid"] == pid and c["syscall"] in ("fstat", "newfstatat")
             and c["args"].get("fd", c["args"].get("dirfd")) == fd and c["start"] > o["start"]]
    assert stats, [c["syscall"] for c in calls if c["pid"] == pid]
    buf = stats[0]["args"]["statbuf"]
    assert buf["st_size"] == st.st_size and buf["st_mode"] == st.st_mode
    assert buf["st_type"] == "S_IFREG" and buf["st_ino"] == st.st_ino
    assert set(buf["st_mtime"]) == {"tv_sec", "tv_nsec"}
    # reads: buffers are strings, counts numbers
    reads = [c for c in calls if c["syscall"] == "read" and c["pid"] == pid and c["args"]["fd"] == fd
             and c["result"] and c["start"] > o["start"]]
    assert reads and reads[0]["args"]["buf"].startswith("root:")
    assert reads[0]["args"]["count"] > 0 and "buf" in reads[0].get("truncated", [])
    # errors
    fails = [c for c in calls if c["errno"] is not None]
    assert fails and all(c["result"] == -1 for c in fails)
    assert any(c["errno"] == "ENOENT" for c in fails)
    # execve: argv a list of strings, envp a count
    ex = calls_of(objs, "execve")[0]
    assert ex["args"]["pathname"].endswith("/sh")
    assert ex["args"]["argv"][:2] == ["sh", "-c"] and "argv" in ex["truncated"]
    assert isinstance(ex["args"]["envp"]["count"], int)
    # mmap: flag lists, fd number, pointer strings or null
    mm = calls_of(objs, "mmap")[0]
    assert isinstance(mm["args"]["prot"], list) and "MAP_PRIVATE" in mm["args"]["flags"]
    assert mm["args"]["addr"] is None or mm["args"]["addr"].startswith("0x")
    assert isinstance(mm["result"], int) and mm["retval"].startswith("0x")
    # signals as names, wait statuses as objects, rlimits, never-returning calls
    acts = [c for c in calls_of(objs, "rt_sigaction") if isinstance(c["args"]["act"], dict)]
    assert acts and acts[0]["args"]["signum"].startswith("SIG")
    assert isinstance(acts[0]["args"]["act"]["sa_mask"], list)
    waits = [c for c in calls_of(objs, "wait4") if c["result"] and c["result"] > 0]
    assert {"WIFEXITED": True, "WEXITSTATUS": 3} in [w["args"]["wstatus"] for w in waits]
    ends = calls_of(objs, "exit_group")
    assert ends and all(e["result"] is None and e["duration"] is None for e in ends)
    assert {e["args"]["status"] for e in ends} >= {0, 3}
    # process events
    events = Counter(o["event"] for o in objs if "event" in o)
    assert events["exited"] >= 3 and events["exec"] >= 3
    assert events["fork"] + events["vfork"] + events["clone"] >= 2
    sigs = [o for o in objs if o.get("event") == "signal"]
    assert sigs and sigs[0]["signal"] == "SIGCHLD" and sigs[0]["siginfo"]["si_code"] == "CLD_EXITED"


def test_json_sockaddr_and_non_utf8(tmp_path):
    bad = os.fsencode(str(tmp_path)) + b"/bad\xff\x01name"
    with open(bad, "wb") as f:
        f.write(b"x")
    prog = tmp_path / "net.py"
    prog.write_text(textwrap.dedent(f"""
        import socket, sys
        open({bad!r}, "rb").read()
        srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
        c = socket.socket(); c.connect(srv.getsockname())
        a, _ = srv.accept(); a.sendall(b"\\xfe\\xffhi"); c.recv(10)
        u = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        u.bind({str(tmp_path / "sock")!r})
        v = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); v.bind("\\0veil-abstract")
    """))
    out = tmp_path / "t.json"
    r = run_veil(["trace", "--format", "json", "-e", "trace=openat,connect,bind,recvfrom,sendto",
                  "-o", out, "--", sys.executable, "-S", prog])
    assert r.returncode == 0, r.stderr
    raw = out.read_text()
    assert "\\udcff\\u0001name" in raw
    objs = read_jsonl(out)
    paths = [c["args"]["pathname"] for c in calls_of(objs, "openat")]
    assert bad in [p.encode("utf-8", "surrogateescape") for p in paths]
    port = None
    conns = [c for c in calls_of(objs, "connect") if c["args"]["addr"]["family"] == "AF_INET"]
    assert conns, calls_of(objs, "connect")
    addr = conns[0]["args"]["addr"]
    assert addr["addr"] == "127.0.0.1" and isinstance(addr["port"], int) and addr["port"] > 0
    port = addr["port"]
    binds = [c["args"]["addr"] for c in calls_of(objs, "bind")]
    assert {"family": "AF_INET", "addr": "127.0.0.1", "port": 0} in binds
    assert {"family": "AF_UNIX", "addr": str(tmp_path / "sock")} in binds
    assert {"family": "AF_UNIX", "addr": "@veil-abstract", "abstract": True} in binds
    got = [c for c in calls_of(objs, "recvfrom") if c["result"] == 4]
    assert got and got[0]["args"]["buf"].encode("utf-8", "surrogateescape") == b"\xfe\xffhi"
    assert port


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq not installed (apt-get install jq)")
def test_json_with_jq(sh_run):
    path = str(sh_run) + ".json"
    r = subprocess.run(["jq", "-r", 'select(.syscall == "openat" and .result >= 0) | .args.pathname'],
                       stdin=open(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert "/etc/passwd" in r.stdout.splitlines()
    r = subprocess.run(["jq", "-s", "-c",
                        '[.[] | select(.errno != null) | .errno] | unique'],
                       stdin=open(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert "ENOENT" in json.loads(r.stdout)
    r = subprocess.run(["jq", "-c", 'select(.syscall == "read") | .args.buf | type'],
                       stdin=open(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=30)
    assert r.returncode == 0 and set(r.stdout.split()) == {'"string"'}, r.stderr


# --- binary file and veil show ----------------------------------------------------------------

def show(*args, **kw):
    return run_veil(["show", *map(str, args)], **kw)


def test_show_equals_live_text(sh_run):
    r = show(str(sh_run) + ".veil")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    live = Path(str(sh_run) + ".txt").read_text()
    assert live.count("\n") > 50
    assert r.stdout == live


def test_show_timestamps_durations_and_json(sh_run):
    r = show("-tt", "-T", str(sh_run) + ".veil")
    assert r.returncode == 0, r.stderr
    assert r.stdout == Path(str(sh_run) + ".tt").read_text()
    r = show("--format", "json", str(sh_run) + ".veil")
    assert r.returncode == 0, r.stderr
    assert r.stdout == Path(str(sh_run) + ".json").read_text()


def test_show_threads(progs, tmp_path):
    """Interleaved threads: <unfinished ...> / <... resumed> come out the same."""
    base = record(tmp_path, [progs["threads_fork"]])
    live = Path(str(base) + ".txt").read_text()
    assert "resumed>" in live
    r = show(str(base) + ".veil")
    assert r.returncode == 0, r.stderr
    assert r.stdout == live


def test_show_filters(sh_run):
    live = Path(str(sh_run) + ".txt").read_text().splitlines()
    r = show("-e", "trace=openat,close", str(sh_run) + ".veil")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    calls = [l for l in lines if "+++" not in l and "---" not in l]
    assert calls and all(re.match(r"\d+ +(openat|close)\(", l) for l in calls), calls
    want = [l for l in live if re.match(r"\d+ +(openat|close)\(", l)]
    assert calls == want
    r = show("-e", "status=failed", str(sh_run) + ".veil")
    calls = [l for l in r.stdout.splitlines() if "+++" not in l and "---" not in l]
    assert calls and all(re.search(r"= -1 E[A-Z]+ \(", l) for l in calls), calls
    r = show("-e", "trace=%file", "--format", "json", str(sh_run) + ".veil")
    names = {o["syscall"] for o in map(json.loads, r.stdout.splitlines()) if "syscall" in o}
    assert "openat" in names and "read" not in names and "mmap" not in names
    r = show("-e", "trace=nosuchcall", str(sh_run) + ".veil")
    assert r.returncode == 2 and "nosuchcall" in r.stderr


def test_show_summary(sh_run):
    stats = json.loads(Path(str(sh_run) + ".stats").read_text())
    r = show("-c", str(sh_run) + ".veil")
    assert r.returncode == 0, r.stderr
    rows = {}
    total = None
    for line in r.stdout.splitlines():
        m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d*)\s+(\S+)$", line)
        if m:
            calls, errors, name = int(m.group(1)), int(m.group(2) or 0), m.group(3)
            if name == "total":
                total = (calls, errors)
            else:
                rows[name] = (calls, errors)
    assert {n: c for n, (c, _) in rows.items()} == stats["calls"]
    assert {n: e for n, (_, e) in rows.items() if e} == stats["errors"]
    assert total == (sum(stats["calls"].values()), sum(stats["errors"].values()))
    # -C: the trace and the summary
    r = show("-C", str(sh_run) + ".veil")
    assert r.stdout.startswith(Path(str(sh_run) + ".txt").read_text())
    assert r.stdout.rstrip().endswith("total")


def test_show_info(sh_run):
    r = show("--info", str(sh_run) + ".veil")
    assert r.returncode == 0, r.stderr
    assert "command: sh -c cat /etc/passwd" in r.stdout
    assert re.search(r"exit status 0", r.stdout)
    assert re.search(r"records: \d+", r.stdout)


def test_trace_binary_cli(tmp_path):
    """veil trace --format binary, then veil show: the same calls as a text trace."""
    out = tmp_path / "t.veil"
    txt = tmp_path / "t.txt"
    cmd = ["sh", "-c", "cat /etc/hostname; ls / > /dev/null"]
    r = run_veil(["trace", "-f", "--format", "binary", "-o", out, "--", *cmd])
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89VEIL\r\n\x1a"
    r2 = run_veil(["trace", "-f", "-o", txt, "--", *cmd])
    assert r2.returncode == 0
    shown = show(out)
    assert shown.returncode == 0, shown.stderr

    def calls(text):
        """Calls by name (two runs of sh may interleave parent and child differently)."""
        names = Counter()
        for line in text.splitlines():
            m = re.match(r"\d+ +(\w+)\(", line)
            if m:
                names[m.group(1)] += 1
        return names
    assert calls(shown.stdout) == calls(txt.read_text())
    # a binary file is smaller than the text of the same run
    assert out.stat().st_size < txt.stat().st_size
    # the exit status of the tracee is veil's, and the trailer has it
    r = run_veil(["trace", "--format", "binary", "-o", out, "--", "sh", "-c", "exit 7"])
    assert r.returncode == 7
    assert "exit status 7" in show("--info", out).stdout


def test_trace_binary_usage(tmp_path):
    r = run_veil(["trace", "--format", "binary", "--", "true"])
    assert r.returncode == 2 and "needs -o" in r.stderr
    r = run_veil(["trace", "--format", "binary", "-c", "-o", tmp_path / "x", "--", "true"])
    assert r.returncode == 2 and "veil show -c" in r.stderr
    r = run_veil(["trace", "-ff", "--format", "perfetto", "-o", tmp_path / "x", "--", "true"])
    assert r.returncode == 2
    r = run_veil(["trace", "-ff", "--format", "json", "-o", tmp_path / "x", "--", "true"])
    assert r.returncode == 2 and "-ff" in r.stderr


def _one_line_error(r):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("veil: ")
    return lines[0]


def _is_prefix(got, full):
    """Every line but the last (a call the cut left open prints as "= ?") is the
    full output's, in order."""
    g = got.splitlines()
    f = full.splitlines()
    return g[:-1] == f[:max(0, len(g) - 1)]


def test_show_not_a_trace(tmp_path):
    r = show("/etc/passwd")
    assert "not a veil trace file" in _one_line_error(r)
    empty = tmp_path / "empty.veil"
    empty.write_bytes(b"")
    assert "not a veil trace file" in _one_line_error(show(empty))
    assert "cannot read" in _one_line_error(show(tmp_path / "missing.veil"))
    assert show(tmp_path / "missing.veil").returncode == 2


@pytest.fixture(scope="module")
def big_run(tmp_path_factory):
    """A run with many records: several chunks."""
    return record(tmp_path_factory.mktemp("big"),
                  ["sh", "-c", "ls -la /usr/bin > /dev/null; cat /etc/passwd /etc/group > /dev/null;"
                               " for i in 1 2 3; do ls / > /dev/null; done"], "big")


def test_show_truncated(big_run, tmp_path):
    data = Path(str(big_run) + ".veil").read_bytes()
    full = Path(str(big_run) + ".txt").read_text()
    from veil.output.binary import read_header
    with open(str(big_run) + ".veil", "rb") as f:
        header = read_header(f).header_size
    assert len(data) > 3 * 16384 // 5  # several chunks
    cut = tmp_path / "cut.veil"
    seen_lines = []
    for off in [3, 20, header - 1, header, header + 5, header + 100, len(data) // 3,
                len(data) // 2, len(data) - 40, len(data) - 1]:
        cut.write_bytes(data[:off])
        r = show(cut)
        msg = _one_line_error(r)
        assert r.returncode == 1
        if off < 8:
            assert "not a veil trace file" in msg
            continue
        if off < header:
            assert "truncated in the header" in msg, msg
            continue
        assert "truncated" in msg and re.search(r"record \d+", msg) and re.search(r"byte \d+", msg), msg
        assert _is_prefix(r.stdout, full), (off, msg)
        seen_lines.append(len(r.stdout.splitlines()))
    assert seen_lines == sorted(seen_lines) and seen_lines[-1] > len(full.splitlines()) * 0.9
    assert seen_lines[3] > 0  # half a file shows the first half of the trace


def test_show_corrupt(big_run, tmp_path):
    data = Path(str(big_run) + ".veil").read_bytes()
    full = Path(str(big_run) + ".txt").read_text()
    bad = tmp_path / "bad.veil"
    shown = []
    for off in [len(data) // 4, len(data) // 2, len(data) * 3 // 4]:
        b = bytearray(data)
        b[off] ^= 0x20
        bad.write_bytes(bytes(b))
        r = show(bad)
        msg = _one_line_error(r)
        assert r.returncode == 1
        assert re.search(r"corrupt .* at byte \d+", msg) and re.search(r"record \d+", msg), msg
        assert _is_prefix(r.stdout, full), (off, msg)
        shown.append(len(r.stdout.splitlines()))
    assert shown == sorted(shown) and shown[1] > 0
    # the header, the magic, the end marker
    for off, what in [(30, "corrupt header"), (2, "not a veil trace file"),
                      (len(data) - 20, "end marker")]:
        b = bytearray(data)
        b[off] ^= 0x01
        bad.write_bytes(bytes(b))
        r = show(bad)
        assert what in _one_line_error(r)
    bad.write_bytes(data[:-5])
    assert "end marker" in _one_line_error(show(bad))
    # data after the end marker is not silently accepted either, but the trace is shown
    bad.write_bytes(data + b"more")
    r = show(bad)
    assert "after the end marker" in _one_line_error(r)
    assert r.stdout == full


def test_binary_reader_api(sh_run):
    """read_trace feeds whole records; the header says what was recorded."""
    from veil import records as R
    from veil.output.binary import read_trace
    chunks = []
    with open(str(sh_run) + ".veil", "rb") as f:
        info = read_trace(f, chunks.append)
    recs = [r for c in chunks for r in R.parse(c)]
    assert len(recs) == info.records_read > 50
    assert info.argv == SH_CMD and info.follow and info.strsize == 32
    assert info.end.exit_code == 0 and info.same_table
    assert recs[0].type == R.R_ENTER


def test_binary_header_matches_construct():
    """The writer packs by hand what binformat's construct definitions say."""
    from veil.output import binary as B
    from veil.output.binformat import EndBody, Header
    kw = dict(argv=["cat", "/etc/p\u00e4sswd", "x" * 300], attach_pids=[], traced={0, 1, 59, 435},
              trace_expr="!%memory", strsize=80, follow=False, decorate_fds=True, seccomp=False,
              start_ns=1234567890123456789, cwd="/tmp/d\u00ffr")
    raw = B.build_header(**kw)
    h = Header.parse(raw)
    b = h.body.value
    assert (h.version, b.record_version, b.strsize, b.chunk_size, b.start_ns) == \
        (B.FORMAT_VERSION, B.RECORD_VERSION, 80, B.CHUNK_SIZE, 1234567890123456789)
    assert (b.flags.follow, b.flags.decorate_fds, b.flags.seccomp, b.flags.attach) == \
        (False, True, False, False)
    assert B.nrs_of_bitmap(b.traced) == {0, 1, 59, 435} and b.trace_expr == "!%memory"
    assert [bytes(a) for a in b.argv] == [os.fsencode(a) for a in kw["argv"]]
    assert bytes(b.cwd) == os.fsencode(kw["cwd"]) and bytes(b.table_fingerprint) == \
        B.syscall_table_fingerprint()
    rebuilt = Header.build(dict(version=h.version, body=dict(value=b)))
    assert rebuilt == raw
    with_pids = Header.parse(B.build_header(attach_pids=[12, 34]))
    assert list(with_pids.body.value.attach_pids) == [12, 34] and with_pids.body.value.flags.attach

    class Res:
        exit_code, status = 137, 9
        engine_stats = {"stops": 5, "syscall_stops": 4, "tasks_seen": 3, "records": 2,
                        "ring_drains": 1}
    import io
    f = io.BytesIO()
    w = B.BinaryWriter(f, argv=["x"])
    w.finish(Res(), interrupted=True)
    tail = f.getvalue()[len(B.build_header(argv=["x"])):]
    tag, length, crc = B.FRAME.unpack_from(tail)
    end = EndBody.parse(tail[B.FRAME_SIZE:])
    assert tag == B.TAG_END and length == EndBody.sizeof() == len(tail) - B.FRAME_SIZE
    assert (end.exit_code, end.status, end.interrupted, end.stops, end.ring_drains) == \
        (137, 9, 1, 5, 1)


# --- Perfetto ---------------------------------------------------------------------------------

def check_perfetto(path):
    doc = json.loads(Path(path).read_text())
    events = doc["traceEvents"]
    xs = [e for e in events if e["ph"] == "X"]
    assert xs
    for e in xs:
        assert {"name", "ts", "dur", "pid", "tid", "args"} <= set(e)
        assert isinstance(e["ts"], (int, float)) and e["ts"] >= 0 and e["dur"] >= 0
        assert isinstance(e["args"]["args"], str)
    threads = {e["tid"]: e["args"]["name"] for e in events
               if e["ph"] == "M" and e["name"] == "thread_name"}
    procs = {e["pid"]: e["args"]["name"] for e in events
             if e["ph"] == "M" and e["name"] == "process_name"}
    # slices on one track do not overlap (the UI needs them nested)
    tracks = {}
    for e in xs:
        tracks.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"]))
    for spans in tracks.values():
        spans.sort()
        for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
            assert b0 >= a1 - 0.002, (a0, a1, b0, b1)
    # every track has a name
    assert {e["tid"] for e in xs} <= set(threads)
    assert {e["pid"] for e in xs} <= set(procs)
    return doc, xs, threads, procs


def test_perfetto(tmp_path):
    out = tmp_path / "p.json"
    r = run_veil(["trace", "-f", "--format", "perfetto", "-o", out, "--",
                  "sh", "-c", "cat /etc/hostname > /dev/null; ls / > /dev/null; exit 2"])
    assert r.returncode == 2, r.stderr
    doc, xs, threads, procs = check_perfetto(out)
    assert {"sh", "cat", "ls"} <= set(procs.values()), procs
    opens = [e for e in xs if e["name"] == "openat" and "/etc/hostname" in e["args"]["args"]]
    assert opens and procs[opens[0]["pid"]] == "cat"
    instants = [e for e in doc["traceEvents"] if e["ph"] == "i"]
    assert any(e["name"] == "exited with 2" for e in instants)
    assert any(e["name"] == "SIGCHLD" for e in instants)
    flows = [e for e in doc["traceEvents"] if e["ph"] in ("s", "f")]
    assert len([e for e in flows if e["ph"] == "s"]) >= 2
    # a slice per call: as many as the calls of the same program traced as JSON
    assert len(xs) > 100


def test_perfetto_exec_from_thread(progs, tmp_path):
    out = tmp_path / "p.json"
    r = run_veil(["trace", "-f", "--format", "perfetto", "-o", out, "--", progs["exec_thread"]])
    assert r.returncode == 0, r.stderr
    doc, xs, threads, procs = check_perfetto(out)
    execs = [e for e in xs if e["name"] == "execve"]
    assert len(execs) == 2 and execs[0]["tid"] != execs[1]["tid"]


def test_perfetto_threads_and_show(progs, tmp_path):
    base = record(tmp_path, [progs["threads_fork"]])
    out = tmp_path / "p.json"
    r = show("--format", "perfetto", "-o", out, str(base) + ".veil")
    assert r.returncode == 0, r.stderr
    doc, xs, threads, procs = check_perfetto(out)
    main_pid = Counter(e["pid"] for e in xs).most_common(1)[0][0]
    tids = {e["tid"] for e in xs if e["pid"] == main_pid}
    assert len(tids) > 10  # one track per thread
    assert set(procs.values()) >= {"threads_fork", "true"}


LOOPBACK_PAIR = textwrap.dedent("""
    import socket
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
    cli = socket.create_connection(srv.getsockname())
    conn, _ = srv.accept()
    sent = cli.send(b"hello"); got = conn.recv(100); conn.send(b"ok!"); back = cli.recv(100)
    ports = srv.getsockname()[1], cli.getsockname()[1]
    cli.close(); conn.close(); srv.close()
    print(*ports, sent, len(got), len(back))
""")


def test_perfetto_socket_lifelines(tmp_path):
    """Each socket is an async track (created to closed) with a slice per state and a
    counter of its bytes; the calls themselves stay only those traced."""
    out = tmp_path / "p.json"
    r = run_veil(["trace", "-f", "-e", "trace=%process", "--format", "perfetto", "-o", out, "--",
                  sys.executable, "-c", LOOPBACK_PAIR])
    assert r.returncode == 0, r.stderr
    port, client_port, sent, got, back = map(int, r.stdout.split())
    doc, xs, threads, procs = check_perfetto(out)
    assert not [e for e in xs if e["name"] in ("sendto", "recvfrom", "read", "write")]
    events = [e for e in doc["traceEvents"] if e.get("cat") == "socket"]
    tracks = {}
    for e in events:
        tracks.setdefault(e["id"], []).append(e)
    inet = {sid: evs for sid, evs in tracks.items()
            if evs[0]["args"] == {"family": "AF_INET", "type": "SOCK_STREAM"}}
    assert len(inet) == 3, tracks  # the listener, the client, the accepted one
    for sid, evs in inet.items():
        # balanced and nested: the socket's slice around its state slices, in time order
        assert [e["ph"] for e in evs][:2] == ["b", "b"] and [e["ph"] for e in evs][-2:] == ["e", "e"]
        assert evs[0]["name"] == evs[-1]["name"] == f"socket {sid}"
        assert [e["ts"] for e in evs] == sorted(e["ts"] for e in evs)
        assert sum(1 if e["ph"] == "b" else -1 for e in evs) == 0
    ends = {sid: evs[-1]["args"] for sid, evs in inet.items()}
    states = {sid: [e["name"] for e in evs[1:-1] if e["ph"] == "b"] for sid, evs in inet.items()}
    client = next(sid for sid, a in ends.items() if a["local"] == f"127.0.0.1:{client_port}")
    accepted = next(sid for sid, a in ends.items() if a["remote"] == f"127.0.0.1:{client_port}")
    listener = ({*inet} - {client, accepted}).pop()
    assert "listening" in states[listener]
    assert ends[client]["remote"] == f"127.0.0.1:{port}"
    assert (ends[client]["sent"], ends[client]["received"]) == (sent, back) == (5, 3)
    assert (ends[accepted]["sent"], ends[accepted]["received"]) == (back, got)
    assert "sending" in states[client] and "receiving" in states[accepted]
    counters = [e for e in doc["traceEvents"] if e["ph"] == "C" and e["name"] == f"socket {client} bytes"]
    assert counters and counters[-1]["args"] == {"sent": 5, "received": 3}
    assert [c["args"]["sent"] for c in counters] == sorted(c["args"]["sent"] for c in counters)


# --- robustness: every syscall, random registers and memory ----------------------------------

def test_json_never_fails_on_odd_records():
    """Every table syscall with random registers, captures and results gives a
    JSON object with typed args (no fallback to text), never an exception."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as hs

    from veil import records as R
    from veil.decoders import Call, Ctx, captures_for
    from veil.output.jsonl import call_object
    from veil.syscalls.lookup import SYSCALLS

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(hs.sampled_from(SYSCALLS), hs.lists(hs.integers(0, 2**64 - 1), min_size=6, max_size=6),
           hs.data(), hs.one_of(hs.none(), hs.integers(-4095, 2**20)),
           hs.booleans(), hs.integers(0, 64))
    def check(sc, regs, data, ret, decorate, strsize):
        ctx = Ctx(strsize=strsize, decorate_fds=decorate)
        caps = {}
        for slot, kind, param, limit in captures_for(sc, strsize, decorate):
            blob = data.draw(hs.binary(max_size=min(limit, 300) + 8))
            caps[slot] = R.Capture(kind, blob, data.draw(hs.booleans()), data.draw(hs.booleans()),
                                   data.draw(hs.integers(0, 1 << 20)))
        call = Call(1, 1, 0, sc.nr, tuple(regs), caps, 10**18)
        call.ret = ret
        call.ts_exit = None if ret is None else 10**18 + 5
        obj = call_object(call, ctx)
        assert "decode_error" not in obj, (sc.name, obj)
        json.loads(json.dumps(obj))
    check()


def test_show_attach(progs, tmp_path):
    """-p PID recorded as binary: shown as the text trace writes it (no pid column
    for one task, the attach and detach lines)."""
    import signal

    from conftest import popen_veil, reap, wait_for
    sleeper = subprocess.Popen([progs["sleeper"], "0"], stdout=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True)
    try:
        pid = int(sleeper.stdout.readline())
        out = tmp_path / "a.veil"
        v = popen_veil(["trace", "--format", "binary", "-o", out, "-p", pid],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            from veil.output.binary import read_header
            # wait until the first batch of records is in the file
            def grown():
                with open(out, "rb") as f:
                    return os.path.getsize(out) > read_header(f).header_size
            assert wait_for(lambda: out.exists() and out.stat().st_size > 300 and grown(), 10)
            v.send_signal(signal.SIGINT)
            assert v.wait(timeout=10) == 0
        finally:
            reap(v)
        r = show(out)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0] == f"veil: Process {pid} attached" and lines[-1] == f"veil: Process {pid} detached"
        assert all(not re.match(r"\d+ ", l) for l in lines), lines
        assert any(re.match(r"(clock_)?nanosleep\(|getppid\(", l) for l in lines), lines
        info = show("--info", out).stdout
        assert f"attach to {pid}" in info and "interrupted" in info
    finally:
        reap(sleeper)
