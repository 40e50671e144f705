"""The socket table (docs/SOCKETS.md, issue 7) and network virtualization.

Real programs on loopback only: python's http.server with urllib and raw
clients, an epoll echo server with 50 concurrent clients, non-blocking connect
to a closed port, shutdown, socketpair + SCM_RIGHTS, a pre-fork server, UDP,
UNIX abstract and path sockets, dup/close_range/close-on-exec, --net-map, and
the kernel's own view (psutil, /proc/PID/fd) compared with a snapshot.

Programs that must be looked at while alive print a line and wait for a line
on stdin; the test sends SIGUSR1 to veil, which writes a snapshot to the
--sockets-out file at once, reads it, and lets the program go on.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from conftest import popen_veil, reap, run_veil, wait_for

STATES = {"unconnected", "bound", "listening", "connecting", "connected", "sending", "receiving",
          "disconnected", "shutdown", "terminated"}
# every entry carries these (last_sent/last_received only matter with --capture-bytes)
FIELDS = {"id", "inode", "family", "type", "protocol", "local", "remote", "state", "shutdown", "error",
          "nonblocking", "interest", "holders", "options", "sent", "received", "send_queue", "recv_queue",
          "backlog", "accepted", "pending", "created_ns", "closed_ns"}
CONNECTED = {"connected", "sending", "receiving"}  # an established connection, whatever it last did
# Pause before SIGUSR1 so that the calls the program made before it printed have
# reached the table (the C loop hands its records over at least every 100 ms).
# test_snapshot_is_immediate checks the snapshot without this pause.
SETTLE = 0.5


# --- helpers ------------------------------------------------------------------------------

def check_table(doc: dict) -> List[dict]:
    """The file's shape (docs/SOCKETS.md); returns the entries."""
    assert isinstance(doc, dict), doc
    assert doc.get("version") == 1, doc.get("version")
    assert isinstance(doc.get("taken_ns"), int) and doc["taken_ns"] > 0, doc.get("taken_ns")
    entries = doc.get("sockets")
    assert isinstance(entries, list), doc
    ids = [e.get("id") for e in entries]
    assert len(ids) == len(set(ids)), f"duplicate socket ids: {ids}"
    for e in entries:
        missing = FIELDS - set(e)
        assert not missing, f"entry {e.get('id')} lacks {sorted(missing)}: {e}"
        assert e["state"] in STATES, e
        assert e["shutdown"] in (None, "read", "write", "both"), e
        assert isinstance(e["holders"], list) and isinstance(e["interest"], list), e
        assert isinstance(e["options"], list), e
        if e["state"] == "terminated":
            assert e["holders"] == [], f"a terminated socket has holders: {e}"
    return entries


def load_table(path: Path) -> List[dict]:
    return check_table(json.loads(Path(path).read_text()))


def holders(e: dict, pid: Optional[int] = None) -> set:
    return {(h["pid"], h["fd"]) for h in e["holders"] if pid is None or h["pid"] == pid}


def find(entries: List[dict], **kw) -> List[dict]:
    return [e for e in entries if all(e.get(k) == v for k, v in kw.items())]


def one(entries: List[dict], **kw) -> dict:
    got = find(entries, **kw)
    assert len(got) == 1, f"expected one socket with {kw}, got {len(got)}:\n" + dump(entries)
    return got[0]


def dump(entries: List[dict]) -> str:
    keys = ("id", "family", "type", "state", "local", "remote", "holders", "sent", "received", "error",
            "shutdown", "backlog", "accepted")
    return "\n".join(json.dumps({k: e.get(k) for k in keys}) for e in entries)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tracee:
    """``veil run --sockets-out FILE [opts] -- argv`` with stdin/stdout pipes.

    ``expect(prefix)`` waits for an output line; ``snapshot()`` sends SIGUSR1 to
    veil and returns the entries of the snapshot it wrote; ``go()`` sends a line
    to the program's stdin (ends a pause); ``finish()`` waits for the end and
    returns the final table."""

    def __init__(self, tmp_path: Path, argv: List[str], opts: List[str] = (), env=None):
        self.out = tmp_path / "table.json"
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self.seen: List[str] = []
        self.proc = popen_veil(["run", "--sockets-out", self.out, *opts, "--", *argv],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
        self.stderr = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix: str, timeout: float = 20) -> str:
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                line = ""
                if time.monotonic() >= end:
                    self.fail(f"no line starting with {prefix!r} within {timeout} s")
                continue
            if line is None:
                self.fail(f"the program ended before printing {prefix!r}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def fail(self, msg: str):
        reap(self.proc)
        try:
            self.stderr = self.proc.stderr.read()
        except (OSError, ValueError):
            pass
        pytest.fail(f"{msg}\nstdout so far: {self.seen}\nveil stderr: {self.stderr[-4000:]}")

    def snapshot(self, timeout: float = 10, settle: float = SETTLE) -> List[dict]:
        time.sleep(settle)
        before = None
        try:
            before = json.loads(self.out.read_text()).get("taken_ns")
        except (OSError, ValueError):
            pass
        self.proc.send_signal(signal.SIGUSR1)

        def fresh():
            try:
                doc = json.loads(self.out.read_text())
            except (OSError, ValueError):
                return None
            return doc if doc.get("taken_ns") != before else None

        doc = wait_for(fresh, timeout)
        if doc is None:
            if self.proc.poll() is not None:
                self.fail(f"veil exited ({self.proc.returncode}) on SIGUSR1 instead of writing a snapshot")
            self.fail(f"SIGUSR1 to veil wrote no new snapshot to {self.out} within {timeout} s")
        return check_table(doc)

    def go(self):
        try:
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def finish(self, timeout: float = 30, rc: int = 0) -> List[dict]:
        try:
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"veil did not finish within {timeout} s")
        # drain the rest of stdout
        while True:
            try:
                line = self.lines.get(timeout=5)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
        self.stderr = self.proc.stderr.read()
        if rc is not None:
            assert self.proc.returncode == rc, \
                f"exit {self.proc.returncode}\nstdout: {self.seen}\nstderr: {self.stderr[-4000:]}"
        assert self.out.exists(), f"no table written at the end\nstderr: {self.stderr[-4000:]}"
        return load_table(self.out)

    def close(self):
        reap(self.proc)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except (OSError, ValueError):
                pass


@pytest.fixture
def tracee(tmp_path):
    started = []

    def start(argv, opts=(), env=None):
        t = Tracee(tmp_path, [str(a) for a in argv], [str(o) for o in opts], env)
        started.append(t)
        return t

    yield start
    for t in started:
        t.close()


def kv(line: str) -> Dict[str, str]:
    """'tag a=1 b=2' -> {'a': '1', 'b': '2'}"""
    return dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)


def py_run(tmp_path: Path, code: str, opts=(), timeout: float = 40, env=None):
    """Run a Python program under veil run --sockets-out; returns (completed, entries)."""
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(code))
    out = tmp_path / "table.json"
    r = run_veil(["run", "--sockets-out", out, *opts, "--", sys.executable, script], timeout=timeout, env=env)
    assert r.returncode == 0, f"rc {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr[-4000:]}"
    assert out.exists(), f"no table written\nstderr: {r.stderr[-4000:]}"
    return r, load_table(out)


# --- python's http.server -----------------------------------------------------------------

HTTP_DRIVER = r"""
import functools, http.server, json, sys, threading, urllib.request

class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass

root = sys.argv[1]
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=root))
port = srv.server_port
t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
t.start()
got = {}
for name in ("a.bin", "b.bin", "c.bin"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/{name}", timeout=15) as r:
        got[name] = len(r.read())
srv.shutdown()
srv.server_close()
t.join()
print(json.dumps({"port": port, "bodies": got, "backlog": srv.request_queue_size}))
"""

BODIES = {"a.bin": 1000, "b.bin": 20000, "c.bin": 150000}


def make_docroot(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    for name, size in BODIES.items():
        (root / name).write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
    return root


def test_http_server_and_urllib_client_in_one_run(tmp_path):
    root = make_docroot(tmp_path)
    driver = tmp_path / "driver.py"
    driver.write_text(HTTP_DRIVER)
    out = tmp_path / "table.json"
    r = run_veil(["run", "--sockets-out", out, "--", sys.executable, driver, root], timeout=45)
    assert r.returncode == 0, r.stderr[-4000:]
    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info["bodies"] == BODIES
    port = info["port"]
    entries = load_table(out)
    here = f"127.0.0.1:{port}"

    lst = [e for e in find(entries, local=here) if e["backlog"] is not None]
    assert len(lst) == 1, dump(entries)
    lst = lst[0]
    assert (lst["family"], lst["type"]) == ("AF_INET", "SOCK_STREAM"), lst
    assert lst["remote"] is None, lst
    assert lst["backlog"] == info["backlog"], lst
    assert lst["accepted"] >= 3, lst
    assert any(o["level"] == "SOL_SOCKET" and o["name"] == "SO_REUSEADDR" and o["value"] == 1
               for o in lst["options"]), lst["options"]  # socketserver.TCPServer.allow_reuse_address

    served = [e for e in find(entries, local=here) if e["remote"] is not None]
    clients = find(entries, remote=here)
    assert len(served) == lst["accepted"] >= 3, dump(entries)
    assert len(clients) >= 3, dump(entries)
    by_local = {c["local"]: c for c in clients}
    bodies = sorted(BODIES.values())
    sent_by_server = []
    for s in served:
        assert s["family"] == "AF_INET" and s["type"] == "SOCK_STREAM", s
        c = by_local.get(s["remote"])
        assert c is not None, f"no client socket for server connection {s['remote']}:\n" + dump(entries)
        # both ends are in this run: what one sent the other received, byte for byte
        assert s["received"] == c["sent"] >= len("GET /a.bin HTTP/1.1\r\n\r\n"), (s, c)
        assert s["sent"] == c["received"], (s, c)
        sent_by_server.append(s["sent"])
        assert s["state"] == c["state"] == "terminated", (s, c)
        assert s["closed_ns"] and s["closed_ns"] >= s["created_ns"], s
    # each response is its body plus headers (headers are < 1 KiB)
    for body, sent in zip(bodies, sorted(sent_by_server)):
        assert body < sent < body + 1024, (bodies, sorted(sent_by_server))


def test_python_m_http_server_with_native_client(tmp_path, tracee):
    """``python -m http.server`` under veil; this test is the client (raw sockets,
    so the exact byte counts are known); SIGTERM to veil ends it (SIGINT would
    not: a shell starts background jobs with SIGINT ignored, and so would veil)."""
    root = make_docroot(tmp_path)
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    t = tracee([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", root, port], env=env)
    t.expect("Serving HTTP on 127.0.0.1 port")
    exchanges = []
    for name in ("a.bin", "b.bin", "c.bin"):
        req = f"GET /{name} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            mine = "%s:%d" % c.getsockname()
            c.sendall(req)
            data = b""
            while chunk := c.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.0 200"), data[:100]
        exchanges.append((mine, len(req), len(data), BODIES[name]))
    snap = t.snapshot()
    lst = one([e for e in snap if e["backlog"] is not None], local=f"127.0.0.1:{port}")
    assert lst["state"] == "listening", lst
    assert lst["accepted"] == 3, lst
    assert lst["pending"] == 0, lst
    assert lst["backlog"] == 5, lst  # socketserver's request_queue_size
    t.proc.send_signal(signal.SIGTERM)
    final = t.finish(rc=128 + signal.SIGTERM)  # the tracee's status, as a shell reports it
    for entries in (snap, final):
        for mine, nreq, nresp, body in exchanges:
            s = one(entries, remote=mine)
            assert s["local"] == f"127.0.0.1:{port}", s
            assert s["received"] == nreq, s
            assert s["sent"] == nresp > body, s
    lst = one([e for e in final if e["backlog"] is not None], local=f"127.0.0.1:{port}")
    assert lst["state"] == "terminated" and lst["accepted"] == 3, lst


# --- the epoll echo server ------------------------------------------------------------------

def test_epoll_echo_server_50_clients(progs, tracee):
    n, msgs, size = 50, 20, 100
    t = tracee([progs["sock_echo"], "server", n])
    port = int(t.expect("port ").split()[1])
    c = subprocess.run([progs["sock_echo"], "client", str(port), str(n), str(msgs), str(size)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=40)
    assert c.returncode == 0, c.stdout
    assert t.expect("done ") == f"done accepted={n}"
    snap = t.snapshot()
    lst = one(snap, local=f"127.0.0.1:{port}", remote=None)
    pid = next(iter(lst["holders"]))["pid"]
    assert lst["state"] == "listening", lst
    assert lst["backlog"] == 64 and lst["accepted"] == n, lst
    assert lst["nonblocking"] is True, lst
    assert any(i["via"] == "epoll" and i["pid"] == pid and "EPOLLIN" in i["events"].split("|")
               for i in lst["interest"]), lst["interest"]
    assert {"level": "SOL_SOCKET", "name": "SO_REUSEADDR", "value": 1} in lst["options"], lst["options"]
    final = t.finish()
    conns = [e for e in final if e["local"] == f"127.0.0.1:{port}" and e["remote"] is not None]
    assert len(conns) == n, dump(final)
    assert len({e["remote"] for e in conns}) == n
    for e in conns:
        assert e["sent"] == e["received"] == msgs * size, e
        assert e["nonblocking"] is True, e  # accept4(SOCK_NONBLOCK)
        assert e["state"] == "terminated" and e["holders"] == [], e
    lst = one(final, local=f"127.0.0.1:{port}", remote=None)
    assert lst["accepted"] == n and lst["state"] == "terminated", lst


def test_threaded_clients_under_veil(progs):
    """50 threads of one process (CLONE_FILES: one fd table) each with a socket."""
    n, msgs, size = 50, 10, 64
    server = subprocess.Popen([progs["sock_echo"], "server", str(n)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline().split()[1])
        out = Path(os.environ.get("TMPDIR", "/tmp")) / f"veil-sock-clients-{os.getpid()}.json"
        try:
            r = run_veil(["run", "--sockets-out", out, "--", progs["sock_echo"], "client", port, n, msgs, size],
                         timeout=40)
            assert r.returncode == 0, (r.stdout, r.stderr[-3000:])
            entries = load_table(out)
        finally:
            if out.exists():
                out.unlink()
        assert server.stdout.readline().strip() == f"done accepted={n}"
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            reap(server)
        server.stdout.close()
    conns = find(entries, remote=f"127.0.0.1:{port}")
    assert len(conns) == n, dump(entries)
    for e in conns:
        assert e["sent"] == e["received"] == msgs * size, e
        assert e["state"] == "terminated" and e["nonblocking"] is False, e
    # each socket's own address (the kernel chose it at connect; veil learns it by then or at close)
    assert len({e["local"] for e in conns}) == n, dump(conns[:3])


# --- connection states ----------------------------------------------------------------------

def test_nonblocking_connect_refused(progs, tracee):
    t = tracee([progs["sock_nbconnect"]])
    port = int(t.expect("port ").split()[1])
    first = t.expect("connect=")
    fd = int(kv(first)["fd"])
    snap1 = t.snapshot()
    t.go()
    second = t.expect("poll=")
    assert kv(second)["so_error"] == "ECONNREFUSED", second
    snap2 = t.snapshot()
    t.go()
    t.finish()
    s1 = one(snap1, remote=f"127.0.0.1:{port}")
    assert s1["nonblocking"] is True, s1
    assert (s1["family"], s1["type"]) == ("AF_INET", "SOCK_STREAM"), s1
    if kv(first)["errno"] == "EINPROGRESS":
        # the program has not learnt the outcome yet: connect is in progress
        assert s1["state"] == "connecting", s1
    else:  # refused at once: allowed by the kernel, then there is no connecting phase
        assert kv(first)["errno"] == "ECONNREFUSED", first
    s2 = one(snap2, id=s1["id"])
    assert s2["state"] == "disconnected", s2
    assert s2["error"] == "ECONNREFUSED", s2
    assert holders(s2) and {h[1] for h in holders(s2)} == {fd}, s2


SHUTDOWN_PROG = r"""
import socket, sys
L = socket.socket(); L.bind(("127.0.0.1", 0)); L.listen(4)
pairs = []
for how in (socket.SHUT_WR, socket.SHUT_RD, socket.SHUT_RDWR):
    c = socket.create_connection(L.getsockname()); a, _ = L.accept()
    pairs.append((c, a))
c, a = pairs[0]
c.sendall(b"abcdef"); c.shutdown(socket.SHUT_WR)
got = b""
while chunk := a.recv(100):
    got += chunk
assert got == b"abcdef", got
pairs[1][0].shutdown(socket.SHUT_RD)
pairs[2][0].shutdown(socket.SHUT_RDWR)
print(" ".join("%s:%d" % p[0].getsockname() for p in pairs), flush=True)
sys.stdin.readline()
"""


def test_shutdown_directions(tmp_path, tracee):
    (tmp_path / "prog.py").write_text(SHUTDOWN_PROG)
    t = tracee([sys.executable, tmp_path / "prog.py"])
    wr, rd, both = t.expect("127.0.0.1:").split()
    snap = t.snapshot()
    t.go()
    t.finish()
    c = one(snap, local=wr)
    assert c["shutdown"] == "write" and c["state"] == "shutdown", c
    assert c["sent"] == 6, c
    peer = one(snap, remote=wr)
    assert peer["received"] == 6, peer
    assert peer["state"] == "disconnected", peer  # read returned 0: the peer closed its side
    assert one(snap, local=rd)["shutdown"] == "read"
    assert one(snap, local=both)["shutdown"] == "both"


# --- sharing: SCM_RIGHTS, fork, dup, exec ----------------------------------------------------

def test_scm_rights_to_forked_child(progs, tracee):
    t = tracee([progs["sock_scm"]])
    child_line = t.expect("child ")
    ready = t.expect("ready ")
    c, r = kv(child_line), kv(ready)
    parent, child = int(r["parent"]), int(r["child"])
    assert int(c["pid"]) == child
    snap = t.snapshot()
    t.go()
    t.expect("released")
    snap2 = t.snapshot()
    t.go()
    final = t.finish()

    udp = one(snap, local=f"127.0.0.1:{r['port']}")
    assert (udp["family"], udp["type"]) == ("AF_INET", "SOCK_DGRAM"), udp
    # one entry, one id, held by both processes under their own fd numbers
    assert holders(udp) == {(parent, int(r["fd"])), (child, int(c["fd"]))}, udp
    pair = [e for e in snap if e["family"] == "AF_UNIX" and e["type"] == "SOCK_STREAM"]
    assert len(pair) == 2, dump(snap)
    mine = [e for e in pair if holders(e) == {(parent, int(r["pairfd"]))}]
    assert len(mine) == 1, dump(pair)
    mine = mine[0]
    other = [e for e in pair if e is not mine][0]
    assert [h["pid"] for h in other["holders"]] == [child], other
    assert mine["sent"] == 1 and mine["received"] == 1, mine      # "x" with the fd, "k" back
    assert other["sent"] == 1 and other["received"] == 1, other

    udp2 = one(snap2, id=udp["id"])
    assert holders(udp2) == {(parent, int(r["fd"]))}, udp2
    assert one(final, id=udp["id"])["state"] == "terminated"


def test_prefork_server_accepted_socket_shared(progs, tracee):
    t = tracee([progs["sock_prefork"]])
    a = kv(t.expect("accepted "))
    parent, worker, fd, port = int(a["parent"]), int(a["worker"]), int(a["fd"]), a["port"]
    snap = t.snapshot()
    t.go()
    t.expect("closed")
    snap2 = t.snapshot()
    t.go()
    final = t.finish()

    conns = [e for e in snap if e["local"] == f"127.0.0.1:{port}" and e["remote"] is not None]
    assert len(conns) == 1, dump(snap)
    acc = conns[0]
    assert holders(acc, parent) == {(parent, fd)}, acc
    assert holders(acc, worker) == {(worker, fd)}, acc   # fork keeps the fd number
    assert len(acc["holders"]) == 2, acc
    assert acc["state"] in CONNECTED, acc
    lst = one(snap, local=f"127.0.0.1:{port}", remote=None)
    assert lst["state"] == "listening" and lst["accepted"] == 1 and lst["backlog"] == 8, lst
    assert {h["pid"] for h in lst["holders"]} == {parent}, lst  # the client and the worker closed it

    acc2 = one(snap2, id=acc["id"])
    assert holders(acc2) == {(worker, fd)}, acc2
    clients = find(final, remote=f"127.0.0.1:{port}")
    assert len(clients) == 1 and clients[0]["sent"] == 5 and clients[0]["received"] == 5, dump(final)
    end = one(final, id=acc["id"])
    assert end["sent"] == 5 and end["received"] == 5 and end["state"] == "terminated", end


def test_dup_close_range_and_cloexec_at_exec(progs, tracee):
    t = tracee([progs["sock_dup"]])
    f = kv(t.expect("fds "))
    pid, s, d, dupfd, u = (int(f[k]) for k in ("pid", "s", "dup", "dupfd", "udp"))
    snap1 = t.snapshot()
    t.go()
    t.expect("closed")
    snap2 = t.snapshot()
    t.go()
    e = kv(t.expect("exec "))
    assert int(e["pid"]) == pid
    snap3 = t.snapshot()
    t.go()
    final = t.finish()

    tcp = one(snap1, local=f"127.0.0.1:{f['port']}")
    udp = one(snap1, local=f"127.0.0.1:{f['uport']}")
    assert holders(tcp) == {(pid, x) for x in (s, d, 10, 12, dupfd)}, tcp
    assert holders(udp) == {(pid, u)}, udp
    assert tcp["nonblocking"] is True, tcp   # ioctl(FIONBIO)
    assert udp["nonblocking"] is True, udp   # fcntl(F_SETFL, O_NONBLOCK)
    assert tcp["state"] == "bound" and udp["state"] == "bound", (tcp, udp)
    assert holders(one(snap2, id=tcp["id"])) == {(pid, s), (pid, dupfd)}
    assert holders(one(snap2, id=udp["id"])) == {(pid, u)}
    # execve closed the F_DUPFD_CLOEXEC copy and the SOCK_CLOEXEC socket
    assert holders(one(snap3, id=tcp["id"])) == {(pid, s)}
    u3 = one(snap3, id=udp["id"])
    assert u3["holders"] == [] and u3["state"] == "terminated", u3
    assert one(final, id=tcp["id"])["state"] == "terminated"


# --- datagrams and UNIX sockets -------------------------------------------------------------

UDP_PROG = r"""
import socket
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(("127.0.0.1", 0))
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.bind(("127.0.0.1", 0))
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.connect(a.getsockname())
for i in range(3):
    b.sendto(b"x" * 100, a.getsockname())
c.send(b"y" * 40)
got = 0
for i in range(4):
    data, frm = a.recvfrom(1000)
    got += len(data)
    a.sendto(data[:10], frm)
for s in (b, b, b, c):
    s.recvfrom(100)
try:
    v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); v6.bind(("::1", 0))
    v6.sendto(b"z" * 7, v6.getsockname()); v6.recvfrom(100)
    six = "[%s]:%d" % v6.getsockname()[:2]
except OSError:
    six = "-"
print(*("%s:%d" % s.getsockname() for s in (a, b, c)), six, got)
"""


def test_udp_sendto_recvfrom(tmp_path):
    r, entries = py_run(tmp_path, UDP_PROG)
    a, b, c, six, got = r.stdout.split()
    assert got == "340"
    ea, eb, ec = one(entries, local=a), one(entries, local=b), one(entries, local=c)
    for e in (ea, eb, ec):
        assert (e["family"], e["type"]) == ("AF_INET", "SOCK_DGRAM"), e
    assert ea["received"] == 340 and ea["sent"] == 40, ea
    assert eb["sent"] == 300 and eb["received"] == 30, eb
    assert ec["sent"] == 40 and ec["received"] == 10, ec
    assert ec["remote"] == a, ec                       # a connected datagram socket has a peer
    # sendto/recvfrom alone do not connect: no remote (the kernel has none), or at
    # most the last peer (see test_snapshot_matches_kernel_view for the kernel's view)
    assert eb["remote"] in (None, a), eb
    assert ea["remote"] in (None, c), ea
    if six != "-":
        e6 = one(entries, local=six)
        assert e6["family"] == "AF_INET6" and e6["sent"] == 7 == e6["received"], e6


UNIX_PROG = r"""
import os, socket, sys
name = "veil-test-%d" % os.getpid()
L = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); L.bind("\0" + name); L.listen(2)
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); c.connect("\0" + name)
a, _ = L.accept()
c.sendall(b"q" * 33); a.recv(100)
path = os.path.join(sys.argv[1], "s.sock")
d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); d.bind(path)
e = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); e.sendto(b"w" * 5, path); d.recv(10)
print(name, path)
"""


def test_unix_abstract_and_path_sockets(tmp_path):
    code = UNIX_PROG.replace("sys.argv[1]", repr(str(tmp_path)))
    r, entries = py_run(tmp_path, code)
    name, path = r.stdout.split()
    L = one([e for e in entries if e["backlog"] is not None], local="@" + name)
    assert (L["family"], L["type"]) == ("AF_UNIX", "SOCK_STREAM"), L
    assert L["backlog"] == 2 and L["accepted"] == 1, L
    c = one(entries, remote="@" + name)
    assert c["sent"] == 33, c
    acc = [e for e in find(entries, local="@" + name) if e["backlog"] is None]
    assert len(acc) == 1 and acc[0]["received"] == 33, dump(entries)
    d = one(entries, local=path)
    assert d["type"] == "SOCK_DGRAM" and d["received"] == 5, d
    sender = [e for e in entries if e["family"] == "AF_UNIX" and e["type"] == "SOCK_DGRAM" and e["sent"] == 5]
    assert len(sender) == 1, dump(entries)


def test_netlink_socket(tmp_path):
    code = """
import socket
n = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0); n.bind((0, 0))
print(n.getsockname()[0])
"""
    r, entries = py_run(tmp_path, code)
    e = one(entries, family="AF_NETLINK")
    assert e["type"] == "SOCK_RAW", e
    assert e["local"] in ("netlink:0", f"netlink:{r.stdout.strip()}"), e


INTEREST_PROG = r"""
import select, socket, sys
L = socket.socket(); L.bind(("127.0.0.1", 0)); L.listen()
U = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); U.bind(("127.0.0.1", 0))
print("poll", "%s:%d" % L.getsockname(), "%s:%d" % U.getsockname(), flush=True)
p = select.poll(); p.register(L, select.POLLIN); p.register(sys.stdin, select.POLLIN)
p.poll()
sys.stdin.readline()
print("select", flush=True)
select.select([U, sys.stdin], [], [])
sys.stdin.readline()
"""


def test_interest_poll_and_select(tmp_path, tracee):
    """A socket a blocked poll()/select() is watching shows it in `interest`."""
    (tmp_path / "prog.py").write_text(INTEREST_PROG)
    t = tracee([sys.executable, tmp_path / "prog.py"])
    _, lst, udp = t.expect("poll ").split()
    snap1 = t.snapshot()
    t.go()
    t.expect("select")
    snap2 = t.snapshot()
    t.go()
    t.finish()
    L = one(snap1, local=lst)
    pid = L["holders"][0]["pid"]
    assert any(i["via"] == "poll" and i["pid"] == pid and "IN" in i["events"] for i in L["interest"]), L
    U = one(snap2, local=udp)
    assert any(i["via"] == "select" and i["pid"] == pid for i in U["interest"]), U


# --- network virtualization -----------------------------------------------------------------

NETMAP_CLIENT = r"""
import socket, sys
port = int(sys.argv[1])
s = socket.create_connection(("10.1.2.3", port), timeout=10)
s.sendall(b"ping")
reply = s.recv(10)
print("%s:%d" % s.getpeername(), "%s:%d" % s.getsockname(), reply.decode())
"""


def test_net_map_client_sees_virtual_peer(tmp_path):
    p1 = 5432
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(30)
    p2 = srv.getsockname()[1]
    seen = {}

    def serve():
        try:
            conn, addr = srv.accept()
            with conn:
                seen["peer"] = "%s:%d" % addr
                seen["data"] = conn.recv(10)
                conn.sendall(b"pong")
        except OSError as e:
            seen["error"] = e

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        script = tmp_path / "client.py"
        script.write_text(NETMAP_CLIENT)
        out = tmp_path / "table.json"
        r = run_veil(["run", "--sockets-out", out, "--net-map", f"10.1.2.3:{p1}=127.0.0.1:{p2}", "--",
                      sys.executable, script, p1], timeout=40)
        th.join(10)
    finally:
        srv.close()
    assert r.returncode == 0, r.stderr[-4000:]
    peer, local, reply = r.stdout.split()
    assert peer == f"10.1.2.3:{p1}", r.stdout
    assert reply == "pong" and seen.get("data") == b"ping", (r.stdout, seen)
    assert seen["peer"] == local  # the real connection came from this socket
    e = one(load_table(out), remote=f"10.1.2.3:{p1}")
    assert e["sent"] == 4 and e["received"] == 4, e
    assert e["family"] == "AF_INET", e


NETMAP_BOTH = r"""
import socket, sys
vport = int(sys.argv[1])
L = socket.socket(); L.bind(("10.1.2.3", vport)); L.listen(1)
c = socket.create_connection(("10.1.2.3", vport), timeout=10)
a, frm = L.accept()
c.sendall(b"hi"); a.recv(10)
print("%s:%d" % L.getsockname(), "%s:%d" % c.getpeername(), "%s:%d" % a.getsockname())
"""


def test_net_map_server_and_client_see_virtual_addresses(tmp_path):
    p1, p2 = 5433, free_port()
    r, entries = py_run(tmp_path, NETMAP_BOTH.replace("sys.argv[1]", str(p1)),
                        opts=["--net-map", f"10.1.2.3:{p1}=127.0.0.1:{p2}"])
    virt = f"10.1.2.3:{p1}"
    assert r.stdout.split() == [virt, virt, virt], r.stdout
    L = one(entries, local=virt, remote=None)
    assert L["backlog"] == 1 and L["accepted"] == 1, L
    c = one(entries, remote=virt)
    assert c["sent"] == 2, c
    assert not any(e["local"] == f"127.0.0.1:{p2}" or e["remote"] == f"127.0.0.1:{p2}" for e in entries), \
        dump(entries)  # the table speaks the program's (virtual) language


NETMAP_UDP = r"""
import socket, sys
vip, vport, how = sys.argv[1], int(sys.argv[2]), sys.argv[3]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3)
if how == "sendto":
    u.sendto(b"abc", (vip, vport)); data, frm = u.recvfrom(100)
else:
    u.sendmsg([b"defg"], [], 0, (vip, vport)); data, anc, flags, frm = u.recvmsg(100)
print("%s:%d" % frm, data.decode())
"""


@pytest.mark.parametrize("how", ["sendto", "sendmsg"])
def test_net_map_udp(tmp_path, how):
    """sendto/sendmsg go to the host address, recvfrom/recvmsg report the virtual one.
    (The virtual address is in 127/8 so that a missed mapping stays on loopback.)"""
    vip, vport = "127.77.0.1", 5353
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    srv.settimeout(20)
    hport = srv.getsockname()[1]

    def echo():
        try:
            data, frm = srv.recvfrom(100)
            srv.sendto(data.upper(), frm)
        except OSError:
            pass

    th = threading.Thread(target=echo, daemon=True)
    th.start()
    try:
        script = tmp_path / "udp.py"
        script.write_text(NETMAP_UDP)
        out = tmp_path / "table.json"
        r = run_veil(["run", "--sockets-out", out, "--net-map", f"{vip}:{vport}=127.0.0.1:{hport}", "--",
                      sys.executable, script, vip, vport, how], timeout=30)
    finally:
        if th.is_alive():  # the datagram never came: wake the echo thread
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as w:
                w.sendto(b"", ("127.0.0.1", hport))
        th.join(5)
        srv.close()
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == [f"{vip}:{vport}", "ABC" if how == "sendto" else "DEFG"], r.stdout
    e = one(load_table(out), type="SOCK_DGRAM")
    assert e["sent"] == e["received"] == (3 if how == "sendto" else 4), e
    assert e["remote"] in (None, f"{vip}:{vport}"), e


NETMAP_IPONLY = r"""
import socket, sys
vport = int(sys.argv[1])
L = socket.socket(); L.bind(("10.1.2.3", vport)); L.listen(1)
c = socket.socket(); c.bind(("10.9.9.9", 0)); c.connect(("10.1.2.3", vport))
a, frm = L.accept()
print("%s:%d" % c.getsockname(), "%s:%d" % frm, "%s:%d" % a.getpeername())
"""


def test_net_map_whole_ip_both_ends_virtual(tmp_path):
    """An IP-only map (every port): the client binds its virtual IP; the server's
    accept and getpeername show the client's virtual address too."""
    p1, p2 = 5434, free_port()
    r, entries = py_run(tmp_path, NETMAP_IPONLY.replace("sys.argv[1]", str(p1)),
                        opts=["--net-map", f"10.1.2.3:{p1}=127.0.0.1:{p2}", "--net-map", "10.9.9.9=127.0.0.2"])
    mine, frm, peer = r.stdout.split()
    assert mine.startswith("10.9.9.9:") and frm == peer == mine, r.stdout
    c = one(entries, local=mine)
    assert c["remote"] == f"10.1.2.3:{p1}", c
    acc = [e for e in find(entries, remote=mine)]
    assert len(acc) == 1 and acc[0]["local"] == f"10.1.2.3:{p1}", dump(entries)


# --- the kernel's view ----------------------------------------------------------------------

KERNEL_PROG = r"""
import os, socket, sys
L = socket.socket(); L.bind(("127.0.0.1", 0)); L.listen(7)
c = socket.create_connection(L.getsockname()); a, _ = L.accept()
waiting = socket.create_connection(L.getsockname())          # never accepted: pending 1
c.sendall(b"k" * 1000)                                        # never read: recv queue 1000
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); v.connect(u.getsockname())
v.send(b"d" * 10); u.recvfrom(100)                            # u stays unconnected: no remote
x = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); x.bind("\0veil-kv-%d" % os.getpid()); x.listen(1)
p, q = socket.socketpair()
print("pid=%d" % os.getpid(), "listen=%d" % L.fileno(), "acc=%d" % a.fileno(), flush=True)
sys.stdin.readline()
"""

PSUTIL_STATE = {"LISTEN": {"listening"}, "ESTABLISHED": CONNECTED,
                "NONE": {"bound", "unconnected"} | CONNECTED}  # UDP: psutil has no state


def test_snapshot_matches_kernel_view(tmp_path, tracee):
    import psutil
    (tmp_path / "prog.py").write_text(KERNEL_PROG)
    t = tracee([sys.executable, tmp_path / "prog.py"])
    info = {k: int(v) for k, v in (w.split("=") for w in t.expect("pid=").split())}
    pid = info["pid"]
    snap = t.snapshot()
    proc = psutil.Process(pid)
    try:
        kconns = proc.net_connections(kind="all")
    except AttributeError:  # psutil < 6
        kconns = proc.connections(kind="all")
    fdinodes = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            fdinodes[int(fd)] = int(link[8:-1])
    t.go()
    t.finish()

    def addr(a):
        if not a:
            return None
        if isinstance(a, str):
            return a
        return f"[{a.ip}]:{a.port}" if ":" in a.ip else f"{a.ip}:{a.port}"

    live = [e for e in snap if holders(e, pid)]
    by_fd = {fd: e for e in live for _, fd in holders(e, pid)}
    # the same sockets, under the same fds and inodes
    assert set(by_fd) == set(fdinodes), (sorted(by_fd), sorted(fdinodes), dump(live))
    for fd, ino in fdinodes.items():
        assert by_fd[fd]["inode"] == ino, (fd, ino, by_fd[fd])
    # the same addresses and states
    for k in kconns:
        e = by_fd.get(k.fd)
        assert e is not None, f"the kernel has {k}, the table has no socket at fd {k.fd}"
        assert e["family"] == k.family.name, (k, e)
        if k.family in (socket.AF_INET, socket.AF_INET6):
            assert e["local"] == addr(k.laddr), (k, e)
            assert e["remote"] == addr(k.raddr), (k, e)
            assert e["state"] in PSUTIL_STATE.get(k.status, {k.status.lower()}), (k, e)
        elif k.laddr:
            assert e["local"] == k.laddr, (k, e)
    assert len(kconns) == len(by_fd) == 9, (kconns, dump(live))
    # the kernel's queues as read at the snapshot
    acc = by_fd[info["acc"]]
    assert acc["recv_queue"] == 1000 and acc["received"] == 0, acc
    lst = by_fd[info["listen"]]
    assert lst["pending"] == 1 and lst["accepted"] == 1 and lst["backlog"] == 7, lst



def test_snapshot_is_immediate(progs, tracee):
    """SIGUSR1 right after the program printed: the snapshot already has every
    call the program made before printing (connect here)."""
    t = tracee([progs["sock_nbconnect"]])
    port = int(t.expect("port ").split()[1])
    t.expect("connect=")
    snap = t.snapshot(settle=0)
    t.go()
    t.expect("poll=")
    t.go()
    t.finish()
    assert find(snap, remote=f"127.0.0.1:{port}"), \
        "the snapshot misses the connect made before the program printed:\n" + dump(snap)


def test_capture_bytes(tmp_path):
    code = """
import socket
L = socket.socket(); L.bind(("127.0.0.1", 0)); L.listen()
c = socket.create_connection(L.getsockname()); a, _ = L.accept()
c.sendall(b"0123456789abcdef"); a.recv(100)
a.sendall(b"XY"); c.recv(100)
print("%s:%d" % c.getsockname())
"""
    r, entries = py_run(tmp_path, code, opts=["--capture-bytes", "8"])
    c = one(entries, local=r.stdout.strip())
    import base64
    assert base64.b64decode(c["last_sent"]) == b"89abcdef", c
    assert base64.b64decode(c["last_received"]) == b"XY", c

# --- the Python API -------------------------------------------------------------------------

def test_python_api_session_sockets(tmp_path):
    import veil
    import veil.sockets
    code = ("import socket\n"
            "L = socket.socket(); L.bind(('127.0.0.1', 0)); L.listen()\n"
            "c = socket.create_connection(L.getsockname()); a, _ = L.accept(); c.sendall(b'12345')\n"
            "a.recv(10)\n"
            "open(__import__('sys').argv[1], 'w').write('%s:%d' % L.getsockname())\n")
    note = tmp_path / "addr"
    session = veil.Session([sys.executable, "-c", code, str(note)], trace="none", sockets=True)
    assert isinstance(session.sockets, veil.sockets.SocketTable)
    result = session.run()
    assert result.exit_code == 0
    assert isinstance(result.sockets, list) and all(isinstance(e, dict) for e in result.sockets)
    entries = check_table({"version": 1, "taken_ns": 1, "sockets": result.sockets})
    here = note.read_text()
    lst = one(entries, local=here, remote=None)
    assert lst["accepted"] == 1
    assert one(entries, remote=here)["sent"] == 5
    acc = [e for e in find(entries, local=here) if e["remote"] is not None]
    assert len(acc) == 1 and acc[0]["received"] == 5


# --- veil sockets FILE ----------------------------------------------------------------------

def sample_table() -> dict:
    base = dict(inode=4242, protocol=6, shutdown=None, error=None, nonblocking=False, interest=[], options=[],
                send_queue=None, recv_queue=None, backlog=None, accepted=None, pending=None,
                last_sent=None, last_received=None, created_ns=1_700_000_000_000_000_000, closed_ns=None)
    return {"version": 1, "taken_ns": 1_700_000_001_000_000_000, "sockets": [
        dict(base, id=1, family="AF_INET", type="SOCK_STREAM", local="127.0.0.1:8080", remote=None,
             state="listening", holders=[{"pid": 100, "fd": 3}], backlog=128, accepted=2, pending=0,
             options=[{"level": "SOL_SOCKET", "name": "SO_REUSEADDR", "value": 1}], sent=0, received=0),
        dict(base, id=2, inode=4243, family="AF_INET", type="SOCK_STREAM", local="127.0.0.1:8080",
             remote="127.0.0.1:51000", state="connected", holders=[{"pid": 100, "fd": 4}, {"pid": 101, "fd": 4}],
             sent=123456, received=789),
        dict(base, id=3, inode=4244, family="AF_INET6", type="SOCK_DGRAM", protocol=17, local="[::1]:53",
             remote=None, state="terminated", holders=[], sent=7, received=9, closed_ns=1_700_000_000_500_000_000),
        dict(base, id=4, inode=4245, family="AF_UNIX", type="SOCK_STREAM", protocol=0, local="@veil-abstract",
             remote=None, state="disconnected", error="ECONNRESET", holders=[{"pid": 100, "fd": 9}],
             sent=1, received=0),
    ]}


def test_veil_sockets_prints_table(tmp_path):
    f = tmp_path / "t.json"
    doc = sample_table()
    f.write_text(json.dumps(doc))
    r = run_veil(["sockets", f], timeout=30)
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    header = lines[0].upper().split()
    for col in ("ID", "FAMILY", "STATE", "LOCAL", "REMOTE", "SENT", "RECV"):
        assert any(h.startswith(col) for h in header), lines[0]
    rows = [l for l in lines[1:] if not set(l.strip()) <= set("-=+| ")]  # ignore rules
    assert len(rows) == 4, r.stdout
    for e, row in zip(doc["sockets"], rows):
        assert row.split()[0] == str(e["id"]), row
        assert e["state"] in row and e["local"] in row, row
        assert str(e["sent"]) in row or f"{e['sent']:,}" in row or e["sent"] > 99999, row
        if e["remote"]:
            assert e["remote"] in row, row
    r = run_veil(["sockets", f, "--format", "json"], timeout=30)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == doc


def test_veil_sockets_json_round_trips_a_real_table(tmp_path):
    _, entries = py_run(tmp_path, "import socket\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n")
    f = tmp_path / "table.json"
    r = run_veil(["sockets", f, "--format", "json"], timeout=30)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == json.loads(f.read_text())
    r = run_veil(["sockets", f], timeout=30)
    assert r.returncode == 0 and ("listening" in r.stdout or "terminated" in r.stdout), r.stdout


@pytest.mark.parametrize("content", [None, "", "{not json", '{"version": 1}', "[]", '{"sockets": 3}'])
def test_veil_sockets_bad_file(tmp_path, content):
    f = tmp_path / "t.json"
    if content is not None:
        f.write_text(content)
    r = run_veil(["sockets", f], timeout=30)
    assert r.returncode != 0, (r.stdout, r.stderr)
    err = r.stderr.strip()
    assert err and "\n" not in err, r.stderr
    assert "Traceback" not in r.stderr
    assert str(f) in err or "t.json" in err, err


def test_capture_bytes_keeps_the_tail_of_long_messages(tmp_path):
    """N smaller than one message: the last N bytes of the stream, not of a prefix."""
    code = """
import socket
L = socket.socket(); L.bind(("127.0.0.1", 0)); L.listen()
c = socket.create_connection(L.getsockname()); a, _ = L.accept()
msg = bytes(range(65, 65 + 60)) * 20
c.sendall(msg); got = b""
while len(got) < len(msg): got += a.recv(7)
print("%s:%d" % c.getsockname())
"""
    r, entries = py_run(tmp_path, code, opts=["--capture-bytes", "5"])
    import base64
    c = one(entries, local=r.stdout.strip())
    server = one(entries, remote=r.stdout.strip())
    tail = (bytes(range(65, 125)) * 20)[-5:]
    assert base64.b64decode(c["last_sent"]) == tail, c
    assert base64.b64decode(server["last_received"]) == tail, server


def test_socket_passed_over_scm_rights_counts_writes_in_the_receiver(tmp_path):
    """The receiver's os.write on a socket it got over SCM_RIGHTS is counted:
    veil gives the passed fd its own filter at the recvmsg exit."""
    code = """
import socket, os, array
L = socket.socket(); L.bind(("127.0.0.1", 0)); L.listen()
c = socket.create_connection(L.getsockname()); a, _ = L.accept()
p, q = socket.socketpair()
if os.fork() == 0:
    msg, anc, flags, addr = q.recvmsg(10, socket.CMSG_SPACE(4))
    fd = array.array("i", anc[0][2])[0]
    os.write(fd, b"abcdef")
    os._exit(0)
p.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [c.fileno()]))])
os.wait()
assert a.recv(10) == b"abcdef"
print("%s:%d" % c.getsockname())
"""
    r, entries = py_run(tmp_path, code)
    c = one(entries, local=r.stdout.strip())
    assert c["sent"] == 6, c


def test_sockets_out_in_a_missing_directory_is_refused_up_front(tmp_path):
    r = run_veil(["run", "--sockets-out", tmp_path / "no" / "t.json", "--", "true"])
    assert r.returncode == 2 and r.stderr.startswith("veil: --sockets-out"), r.stderr


def test_trace_file_keeps_to_its_set_beside_the_table(tmp_path):
    """`-o FILE --trace SET` writes the calls of SET only, though the table records
    every socket call (the table's calls are its own)."""
    out, trace = tmp_path / "t.json", tmp_path / "t.txt"
    prog = "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.close()"
    r = run_veil(["run", "--trace", "%process", "-o", trace, "--sockets-out", out, "--",
                  sys.executable, "-c", prog])
    assert r.returncode == 0, r.stderr
    names = [line.split()[1].split("(")[0] for line in trace.read_text().splitlines()
             if "(" in line and not line.split()[1].startswith(("+++", "---"))]
    assert "execve" in names and "exit_group" in names
    assert not {"socket", "bind", "close"} & set(names), names
    table = json.loads(out.read_text())["sockets"]
    assert [(e["family"], e["local"]) for e in table if e["family"] == "AF_INET"][0][1].startswith("127.0.0.1:")
