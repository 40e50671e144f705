#!/usr/bin/env python3
"""What veil's socket table costs (`veil run --sockets-out T -- CMD`): the benchmark of issue 7.

    python3 bench/sockets_bench.py [--quick] [--runs 5] [--workloads echo,echo-rw,fileread]
                                   [--peers native,strace,...] [--size echo=8000,fileread=200]
                                   [--veil-commit HEAD | --veil-src DIR | --veil CMD]

Workloads (bench/workloads/echo.c, fileread.c):
  echo      N round trips of 64 bytes over TCP on 127.0.0.1 (client in the main
            thread, server thread in the same process), send/recv
  echo-rw   the same with write/read (the table counts those; strace's %net does not see them)
  fileread  MB MiB read from a 1 MiB file on /dev/shm in 4 KiB read() calls: no
            socket at all, what the table costs a program that does no networking

Peers: native; strace (`strace -f -qq -e trace=%net -o /dev/null CMD`, the
issue's anchor); strace-seccomp (the same with --seccomp-bpf: strace stops only
at the %net calls); veil-table (`veil run --sockets-out T --`); veil-capture
(`... --capture-bytes 64`); veil (`veil run --`, no table, the reference).
Runs alternate A B C D, D C B A, ...; the tables give medians, and ratios to
native, to strace and to veil without the table. Every run is checked: exit 0,
the program's own count of what it did, and for the table peers the table
itself (the TCP sockets with sent/received equal to the bytes moved, the
captured bytes equal to the last message; no socket at all for fileread).

veil runs on the real interpreter (not the pyenv shim) from a snapshot of a
commit (default HEAD: `git archive` into a scratch dir on /dev/shm, its C part
built there), so that the engineer may edit src/ meanwhile. See bench/README.md
("Socket table").
"""
import argparse
import base64
import csv
import datetime
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
import layout_vs_proot as lvp  # noqa: E402  (snapshot_veil, run_once, tables)

CFLAGS = ["-O2", "-Wall", "-Wextra", "-Werror"]
VEIL_PYTHON = "/root/.pyenv/versions/3.11.7/bin/python3"
MSG_SIZE = 64
FILE_MB = 1          # the file fileread reads over and over
CHUNK = 4096


def which(name):
    exe = shutil.which(name, path="/usr/local/bin:/usr/bin:/bin")
    if not exe:
        raise SystemExit("sockets bench: %s not installed" % name)
    return exe


def build(build_dir, cc):
    """Compile echo and fileread into build_dir (only if out of date)."""
    os.makedirs(build_dir, exist_ok=True)
    wdir = os.path.join(BENCH, "workloads")
    common = os.path.join(wdir, "common.h")
    for name, extra in (("echo", ["-pthread"]), ("fileread", [])):
        src = os.path.join(wdir, name + ".c")
        out = os.path.join(build_dir, name)
        if os.path.exists(out) and os.path.getmtime(out) >= max(
                os.path.getmtime(p) for p in (src, common, __file__)):
            continue
        argv = [cc] + CFLAGS + extra + ["-o", out, src]
        res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        if res.returncode != 0:
            raise SystemExit("sockets bench: compiling %s failed:\n$ %s\n%s"
                             % (name, shlex.join(argv), res.stdout))


# --------------------------------------------------------------------------
# workloads: argv(), check(peer, stdout text) -> problem or None, calls

class Workload:
    name = what = unit = None
    default = quick = None
    net = True

    def __init__(self, ctx, size):
        self.ctx, self.size = ctx, size
        self.calls = None   # data calls one run makes (send/recv/read/write)


class Echo(Workload):
    name, unit = "echo", "round trips"
    default, quick = 8000, 500
    mode = "send"
    what = "N x 64-byte round trips over TCP on 127.0.0.1, send/recv (workloads/echo.c)"

    def __init__(self, ctx, size):
        super().__init__(ctx, size)
        self.calls = 4 * size   # one send and one recv on each side per round trip
        self.bytes = size * MSG_SIZE

    def argv(self):
        return [os.path.join(self.ctx.build_dir, "echo"), str(self.size), str(MSG_SIZE), self.mode]

    def stream_tail(self, n):
        """The last n bytes of the stream each way (message i is bytes (i + k) & 0xff)."""
        first = max(0, self.size - (n + MSG_SIZE - 1) // MSG_SIZE)
        data = bytes((i + k) & 0xFF for i in range(first, self.size) for k in range(MSG_SIZE))
        return data[-n:]

    def check(self, peer, out):
        want = "echo: %d round trips, %d bytes each way (mode %s)" % (self.size, self.bytes,
                                                                     self.mode)
        if want not in out:
            return "output %r, not %r" % (lvp.short(out, 80), want)
        if not peer.table:
            return None
        socks, problem = read_table(peer)
        if problem:
            return problem
        tcp = [s for s in socks if s.get("family") == "AF_INET" and s.get("type") == "SOCK_STREAM"]
        conn = [s for s in tcp if s.get("remote")]
        listen = [s for s in tcp if not s.get("remote")]
        if len(conn) != 2 or len(listen) != 1:
            return "table: %d TCP sockets with a peer and %d without, want 2 and 1" % (
                len(conn), len(listen))
        for s in conn:
            if s.get("sent") != self.bytes or s.get("received") != self.bytes:
                return "table: socket %s %s->%s sent %s received %s, want %d each" % (
                    s.get("id"), s.get("local"), s.get("remote"), s.get("sent"),
                    s.get("received"), self.bytes)
        if listen[0].get("accepted") != 1:
            return "table: listening socket accepted %r, want 1" % listen[0].get("accepted")
        if peer.capture:
            last = self.stream_tail(peer.capture)
            for s in conn:
                for key in ("last_sent", "last_received"):
                    got = base64.b64decode(s.get(key) or "")
                    if got != last:
                        return ("table: socket %s %s is %d bytes %s..., want the stream's last %d "
                                "bytes %s..." % (s.get("id"), key, len(got), got[:8].hex(),
                                                 len(last), last[:8].hex()))
        return None


class EchoRW(Echo):
    name = "echo-rw"
    mode = "rw"
    what = "the same with write/read instead of send/recv (workloads/echo.c N 64 rw)"


class FileRead(Workload):
    name, unit = "fileread", "MiB"
    default, quick = 200, 8
    net = False
    what = ("N MiB read in 4 KiB read() calls from a 1 MiB file on /dev/shm, lseek to 0 at "
            "each end (workloads/fileread.c)")

    def __init__(self, ctx, size):
        super().__init__(ctx, size)
        self.bytes = size << 20
        # a 4 KiB read per chunk, and one read returning 0 at each end of the file
        self.calls = self.bytes // CHUNK + size // FILE_MB

    def argv(self):
        return [os.path.join(self.ctx.build_dir, "fileread"), self.ctx.data_file,
                str(self.size), str(CHUNK)]

    def check(self, peer, out):
        m = re.search(r"fileread: (\d+) bytes in (\d+) reads", out)
        if not m or int(m.group(1)) != self.bytes:
            return "output %r, want %d bytes" % (lvp.short(out, 80), self.bytes)
        self.calls = int(m.group(2))
        if not peer.table:
            return None
        socks, problem = read_table(peer)
        if problem:
            return problem
        if socks:
            return "table: %d sockets, want none" % len(socks)
        return None


WORKLOADS = {w.name: w for w in [Echo, EchoRW, FileRead]}


def read_table(peer):
    try:
        with open(peer.table) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        return None, "table %s: %s" % (peer.table, e)
    if doc.get("version") != 1 or not isinstance(doc.get("sockets"), list):
        return None, "table: not a version 1 table"
    return doc["sockets"], None


# --------------------------------------------------------------------------
# peers

class Peer:
    env = None
    table = None      # the --sockets-out file, for the check
    capture = 0
    is_veil = False
    net_only = False  # a peer only worth running on the network workloads

    def __init__(self, name):
        self.name = name

    def prefix(self):
        return []

    def before(self):
        pass

    def probe(self, tmpdir):
        argv = self.prefix() + ["/bin/true"]
        try:
            res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, env=self.env, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise lvp.Skip("%s: %s" % (shlex.join(argv), e))
        if res.returncode != 0:
            tail = res.stdout.strip().splitlines()[-1:] or ["(no output)"]
            raise lvp.Skip("`%s` exited %d: %s" % (shlex.join(argv), res.returncode, tail[0]))


class Native(Peer):
    what = "CMD"


class Strace(Peer):
    net_only = True

    def __init__(self, name, seccomp):
        super().__init__(name)
        self.seccomp = seccomp
        self.what = "strace -f %s-qq -e trace=%%net -o /dev/null CMD" % (
            "--seccomp-bpf " if seccomp else "")

    def prefix(self):
        return ([which("strace"), "-f"] + (["--seccomp-bpf"] if self.seccomp else [])
                + ["-qq", "-e", "trace=%net", "-o", os.devnull])


class Veil(Peer):
    is_veil = True

    def __init__(self, name, table, capture, base, env, tmpdir):
        super().__init__(name)
        self.base, self.env = base, env
        self.table = os.path.join(tmpdir, "%s.json" % name) if table else None
        self.capture = capture
        self.args = ["--unset", "PYTHONPATH"] if env is not None else []
        if table:
            self.args += ["--sockets-out", self.table]
        if capture:
            self.args += ["--capture-bytes", str(capture)]
        self.what = "veil run %s%s-- CMD" % ("--sockets-out T " if table else "",
                                             "--capture-bytes %d " % capture if capture else "")
        self.net_only = bool(capture)

    def prefix(self):
        return self.base + ["run"] + self.args + ["--"]

    def before(self):
        if self.table:
            try:
                os.unlink(self.table)
            except FileNotFoundError:
                pass


PEER_NAMES = ["native", "strace", "strace-seccomp", "veil-table", "veil-capture", "veil"]


def make_peer(name, veil_base, veil_env, capture, tmpdir):
    if name == "native":
        return Native(name)
    if name in ("strace", "strace-seccomp"):
        return Strace(name, name == "strace-seccomp")
    if name == "veil-table":
        return Veil(name, True, 0, veil_base, veil_env, tmpdir)
    if name == "veil-capture":
        return Veil(name, True, capture, veil_base, veil_env, tmpdir)
    if name == "veil":
        return Veil(name, False, 0, veil_base, veil_env, tmpdir)
    raise ValueError(name)


# --------------------------------------------------------------------------
# results and output

class Run:
    def __init__(self, wall, cpu):
        self.wall, self.cpu = wall, cpu


Result = lvp.Result  # runs, status, median(), range(): the same bookkeeping


def ratio(by, peer, ref):
    a, b = by.get(peer), by.get(ref)
    if not a or not b or a.status != "ok" or b.status != "ok":
        return None
    x, y = a.median(), b.median()
    return x / y if x and y else None


def per_call(by, peer, ref, calls):
    """(peer median - ref median) / calls, in microseconds."""
    a, b = by.get(peer), by.get(ref)
    if not a or not b or a.status != "ok" or b.status != "ok" or not calls:
        return None
    return (a.median() - b.median()) / calls * 1e6


def peers_of(wl, peer_names, peer_objs):
    return [p for p in peer_names if wl.net or not peer_objs[p].net_only]


def detail_table(workloads, results, peer_names, peer_objs):
    head = ["workload", "size", "peer", "median s", "min-max s", "cpu s", "start ms",
            "x native", "x strace", "x veil", "us/call", "table us/call"]
    rows = [head]
    notes = []
    for wl in workloads:
        by = results[wl.name]
        for p in peers_of(wl, peer_names, peer_objs):
            r = by[p]
            if r.status != "ok":
                rows.append([wl.name, str(wl.size), p, r.status.upper()] + [""] * 8)
                note = ("%s skipped: %s" % (p, r.note) if r.status == "skipped"
                        else "%s/%s %s: %s" % (wl.name, p, r.status, r.note))
                if note not in notes:
                    notes.append(note)
                continue
            lo, hi = r.range()
            table_cost = per_call(by, p, "veil", wl.calls) if peer_objs[p].table else None
            rows.append([
                wl.name, str(wl.size), p, lvp.fmt(r.median(), ".3f"),
                "%s-%s" % (lvp.fmt(lo, ".3f"), lvp.fmt(hi, ".3f")),
                lvp.fmt(r.median("cpu"), ".3f"),
                lvp.fmt(r.startup * 1e3 if r.startup is not None else None, ".1f"),
                lvp.fmt_ratio(ratio(by, p, "native")),
                lvp.fmt_ratio(ratio(by, p, "strace")) if wl.net else "-",
                lvp.fmt_ratio(ratio(by, p, "veil")),
                lvp.fmt(per_call(by, p, "native", wl.calls), ".2f") if p != "native" else "-",
                lvp.fmt(table_cost, ".2f"),
            ])
    return lvp.render(rows, left=3), notes


def key_lines(workloads, results, capture):
    """The issue's questions, answered in one line each."""
    out = []
    for wl in workloads:
        by = results[wl.name]
        if wl.net:
            for p, label in (("veil-table", "veil --sockets-out"),
                             ("veil-capture", "veil --sockets-out --capture-bytes %d" % capture)):
                x = ratio(by, p, "strace")
                if x is not None:
                    out.append("%-8s %s / strace %%net: %.2fx (target <= 1.3x: %s)%s" % (
                        wl.name, label, x, "met" if x <= 1.3 else "NOT met",
                        "; / strace --seccomp-bpf: %.2fx" % ratio(by, p, "strace-seccomp")
                        if ratio(by, p, "strace-seccomp") else ""))
            x = ratio(by, "veil-table", "veil")
            if x is not None:
                out.append("%-8s table on / off (veil): %.2fx, +%.2f us per data call (%d calls)"
                           % (wl.name, x, per_call(by, "veil-table", "veil", wl.calls), wl.calls))
        else:
            x = ratio(by, "veil-table", "veil")
            if x is not None:
                out.append("%-8s table on / off (veil): %.2fx, +%.2f us per read (%d reads); "
                           "off / native: %s" % (
                               wl.name, x, per_call(by, "veil-table", "veil", wl.calls),
                               wl.calls, lvp.fmt_ratio(ratio(by, "veil", "native"))))
    return out


CSV_FIELDS = ["workload", "size", "calls", "peer", "command", "status", "note", "runs",
              "wall_median_s", "wall_min_s", "wall_max_s", "cpu_median_s", "startup_s",
              "ratio_native", "ratio_strace", "ratio_veil", "us_per_call_vs_native",
              "table_us_per_call", "walls_s"]


def write_csv(path, workloads, results, peer_names, peer_objs):
    def num(v, spec="%.4f"):
        return "" if v is None else spec % v
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for wl in workloads:
            by = results[wl.name]
            for p in peers_of(wl, peer_names, peer_objs):
                r = by[p]
                lo, hi = r.range()
                w.writerow({
                    "workload": wl.name, "size": wl.size, "calls": wl.calls, "peer": p,
                    "command": peer_objs[p].what, "status": r.status, "note": r.note,
                    "runs": len(r.runs), "wall_median_s": num(r.median()),
                    "wall_min_s": num(lo), "wall_max_s": num(hi),
                    "cpu_median_s": num(r.median("cpu")), "startup_s": num(r.startup),
                    "ratio_native": num(ratio(by, p, "native"), "%.3f"),
                    "ratio_strace": num(ratio(by, p, "strace"), "%.3f") if wl.net else "",
                    "ratio_veil": num(ratio(by, p, "veil"), "%.3f"),
                    "us_per_call_vs_native": num(per_call(by, p, "native", wl.calls), "%.3f")
                    if p != "native" else "",
                    "table_us_per_call": num(per_call(by, p, "veil", wl.calls), "%.3f")
                    if peer_objs[p].table else "",
                    "walls_s": " ".join("%.4f" % x.wall for x in r.runs),
                })


# --------------------------------------------------------------------------
# main

class Ctx:
    pass


def parse_sizes(text):
    sizes = {}
    for item in filter(None, (text or "").split(",")):
        name, _, v = item.partition("=")
        if name not in WORKLOADS or not v.isdigit() or int(v) < 1:
            raise argparse.ArgumentTypeError("bad --size item %r (want NAME=N, N >= 1)" % item)
        sizes[name] = int(v)
    return sizes


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="one run of each workload at a small size (< 30 s): check that every "
                         "peer works (exit 1 if one fails); writes no files unless --csv is given")
    ap.add_argument("--runs", type=int, default=None, help="measured runs per peer (default 5)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS),
                    type=lambda s: lvp.csv_list(s, list(WORKLOADS), "workload"),
                    help="comma list (default: %(default)s)")
    ap.add_argument("--peers", default=",".join(PEER_NAMES),
                    type=lambda s: lvp.csv_list(s, PEER_NAMES, "peer"),
                    help="comma list (default: %(default)s); strace* and veil-capture run only "
                         "on the echo workloads")
    ap.add_argument("--size", default={}, type=parse_sizes, metavar="NAME=N,...",
                    help="override sizes: echo=ROUND_TRIPS,echo-rw=ROUND_TRIPS,fileread=MIB "
                         "(defaults echo 8000, fileread 200)")
    ap.add_argument("--capture-bytes", type=int, default=64, metavar="N",
                    help="veil-capture's --capture-bytes (default %(default)s)")
    ap.add_argument("--veil-commit", default=None, metavar="REV",
                    help="run veil as of this commit (git archive into the scratch dir, C part "
                         "built there); the default is HEAD unless --veil-src or --veil is given")
    ap.add_argument("--veil-src", default=None, metavar="DIR",
                    help="run veil from this src/ directory (with its C part built)")
    ap.add_argument("--veil", default=None, metavar="CMD",
                    help="run veil as this command, e.g. an installed 'veil'")
    ap.add_argument("--tmp", default=None, help="scratch directory parent (default /dev/shm)")
    ap.add_argument("--csv", default=None,
                    help="results here (default bench/results/sockets.csv; with --quick only if "
                         "given); the tables go to a .txt beside it")
    ap.add_argument("--no-csv", action="store_true", help="write no result files")
    ap.add_argument("--timeout", type=int, default=None,
                    help="seconds before a run is killed (default 300, --quick 60)")
    ap.add_argument("--build-dir", default=os.path.join(BENCH, "build"))
    ap.add_argument("--cc", default=os.environ.get("CC", "gcc"))
    args = ap.parse_args(argv)

    if args.runs is None:
        args.runs = 1 if args.quick else 5
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    if args.timeout is None:
        args.timeout = 60 if args.quick else 300
    if sum(bool(x) for x in (args.veil_commit, args.veil_src, args.veil)) > 1:
        ap.error("give one of --veil-commit, --veil-src, --veil")
    if not (args.veil_src or args.veil):
        args.veil_commit = args.veil_commit or "HEAD"
    csv_path = args.csv
    if csv_path is None and not args.quick:
        csv_path = os.path.join(BENCH, "results", "sockets.csv")
    if args.no_csv:
        csv_path = None

    started = time.perf_counter()
    ctx = Ctx()
    ctx.build_dir = args.build_dir
    build(args.build_dir, args.cc)
    scratch_parent = args.tmp or (lvp.default_scratch_parent())
    ctx.scratch = tempfile.mkdtemp(prefix="veil-sockets-bench-", dir=scratch_parent)
    tmpdir = os.path.join(ctx.scratch, "run")
    os.mkdir(tmpdir)
    ctx.data_file = os.path.join(ctx.scratch, "data-%dMiB" % FILE_MB)
    with open(ctx.data_file, "wb") as f:
        f.write(os.urandom(FILE_MB << 20))
    run_env = {"LC_ALL": "C"}
    rc = 0
    try:
        py = VEIL_PYTHON if os.access(VEIL_PYTHON, os.X_OK) else os.path.realpath(sys.executable)
        rev = None
        if args.veil_commit:
            rev = lvp.first_line(["git", "-C", REPO, "rev-parse", "--verify", "--short",
                                  args.veil_commit + "^{commit}"])
            if not re.fullmatch(r"[0-9a-f]+", rev):
                raise SystemExit("sockets bench: no commit %r" % args.veil_commit)
            t = time.perf_counter()
            args.veil_src = lvp.snapshot_veil(rev, os.path.join(ctx.scratch, "veil-" + rev))
            print("veil: commit %s extracted and built in %.1f s" % (rev, time.perf_counter() - t),
                  flush=True)
        if args.veil:
            veil_base, veil_env, veil_label = shlex.split(args.veil), None, args.veil
        else:
            veil_base = [py, "-m", "veil"]
            veil_env = dict(os.environ, PYTHONPATH=os.path.abspath(args.veil_src))
            veil_label = "PYTHONPATH=%s %s -m veil" % (
                "(snapshot)/src" if rev else os.path.abspath(args.veil_src), py)

        peer_objs, skipped = {}, {}
        for name in args.peers:
            peer = make_peer(name, veil_base, veil_env, args.capture_bytes, tmpdir)
            peer_objs[name] = peer
            try:
                peer.probe(tmpdir)
            except lvp.Skip as e:
                skipped[name] = str(e)
                print("peer %s: skipped: %s" % (name, e), flush=True)
                continue
            walls = []
            for _ in range(3):
                peer.before()
                walls.append(lvp.run_once(peer, ["/bin/true"], None, run_env, tmpdir,
                                          args.timeout)[1])
            peer.startup = statistics.median(walls)
            print("peer %s: ok (%s), start-up %.1f ms" % (name, peer.what, peer.startup * 1e3),
                  flush=True)

        if rev:
            commit = lvp.first_line(["git", "-C", REPO, "log", "-1", "--format=%h %s", rev])
            commit += " (extracted and built apart from the working tree)"
        elif args.veil_src:
            commit = "(src/ at %s)" % args.veil_src
        else:
            commit = "(%s)" % args.veil
        u = os.uname()
        header = [
            "date: %s" % datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "machine: %s %s %s, %d CPUs (%d usable); load average at start: %s" % (
                u.sysname, u.release, u.machine, os.cpu_count() or 0,
                len(os.sched_getaffinity(0)), lvp.loadavg()),
            "veil: commit %s; run as %s" % (commit, veil_label),
            "%s; %s" % (lvp.first_line([which("strace"), "-V"]),
                        lvp.first_line([args.cc, "--version"])),
            "runs: %d per peer (median), peers alternated A B C D, D C B A, ...; scratch on %s"
            % (args.runs, scratch_parent),
            "peers: " + "; ".join("%s = %s" % (n, peer_objs[n].what) for n in args.peers),
            "columns: x strace = ratio to `strace -f -qq -e trace=%net -o /dev/null` (the issue's "
            "anchor); x veil = ratio to `veil run --` (no table); us/call = (median - native) / "
            "data calls; table us/call = (median - veil) / data calls (echo: 4 per round trip, "
            "fileread: the reads)",
        ]
        print("\n" + "\n".join(header), flush=True)

        workloads, results, failed = [], {}, []
        for wname in args.workloads:
            cls = WORKLOADS[wname]
            size = args.size.get(wname, cls.quick if args.quick else cls.default)
            wl = cls(ctx, size)
            workloads.append(wl)
            names = peers_of(wl, args.peers, peer_objs)
            by = results[wname] = {}
            for name in names:
                r = by[name] = Result(wname, name)
                if name in skipped:
                    r.status, r.note = "skipped", skipped[name]
                else:
                    r.startup = peer_objs[name].startup
            print("\n== %s (%s; %s=%d)" % (wname, wl.what, wl.unit, size), flush=True)
            if wl.name == "echo-rw":
                print("   (strace's %net sees the socket calls but not read/write: it records "
                      "~10 calls here, and without --seccomp-bpf still stops at every syscall)",
                      flush=True)
            active = [peer_objs[n] for n in names if n not in skipped]
            # a native run, not counted: warms the caches; a workload that
            # fails natively is broken, not slow
            out_path = os.path.join(tmpdir, "stdout")
            if not args.quick:
                res = lvp.run_once(Native("native"), wl.argv(), out_path, run_env, tmpdir,
                                   args.timeout)
                with open(out_path) as f:
                    problem = ("exit %d: %s" % (res[0], lvp.short(res[3], 200)) if res[0]
                               else wl.check(Native("native"), f.read()))
                if problem:
                    for r in by.values():
                        if r.status == "ok":
                            r.status, r.note = "failed", "native reference run: " + problem
                    failed.append(wname + "/native")
                    print("  native reference run FAILED: %s" % problem, flush=True)
                    continue
            for rnd in range(args.runs):
                for peer in (active if rnd % 2 == 0 else active[::-1]):
                    r = by[peer.name]
                    if r.status != "ok":
                        continue
                    peer.before()
                    rc_, wall, cpu, err = lvp.run_once(peer, wl.argv(), out_path, run_env,
                                                       tmpdir, args.timeout)
                    with open(out_path) as f:
                        out = f.read()
                    if rc_ != 0:
                        tail = err.strip().splitlines()[-1:] or ["(no stderr)"]
                        problem = "exit %d: %s" % (rc_, tail[0][:200])
                    else:
                        problem = wl.check(peer, out)
                    if problem:
                        r.status, r.note = "failed", problem
                        failed.append("%s/%s" % (wname, peer.name))
                    else:
                        r.runs.append(Run(wall, cpu))
                    print("  %-8s %-14s run %d/%d: %8.3f s  cpu %7.3f s%s" % (
                        wname, peer.name, rnd + 1, args.runs, wall, cpu,
                        "  FAILED (%s)" % problem if problem else ""), flush=True)

        detail, notes = detail_table(workloads, results, args.peers, peer_objs)
        keys = key_lines(workloads, results, args.capture_bytes)
        footer = "(%d runs per peer; whole suite %.0f s; load average at end: %s)" % (
            args.runs, time.perf_counter() - started, lvp.loadavg())
        text = "\n".join(header) + "\n\n" + detail + "\n"
        if keys:
            text += "\n" + "\n".join(keys) + "\n"
        if any(w.name == "echo-rw" for w in workloads):
            text += ("\necho-rw: strace -e trace=%net does not see read/write (it records only "
                     "socket/bind/listen/accept/connect/setsockopt...), the table counts them.\n")
        if notes:
            text += "\n" + "\n".join(notes) + "\n"
        text += "\n" + footer + "\n"
        print("\n" + text, end="")
        if csv_path:
            os.makedirs(os.path.dirname(os.path.abspath(csv_path)), exist_ok=True)
            write_csv(csv_path, workloads, results, args.peers, peer_objs)
            txt = os.path.splitext(csv_path)[0] + ".txt"
            with open(txt, "w") as f:
                f.write(text)
            print("wrote %s and %s" % (os.path.relpath(csv_path), os.path.relpath(txt)))
        if failed:
            print("FAILED: " + ", ".join(failed), file=sys.stderr)
            rc = 1
        elif args.quick:
            print("quick check passed: every available peer ran every workload and did its work")
    finally:
        shutil.rmtree(ctx.scratch, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
