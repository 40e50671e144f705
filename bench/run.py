#!/usr/bin/env python3
"""veil benchmark runner: what does interception cost, side by side in one run.

    python3 bench/run.py [--quick] [--runs N] [--workloads getppid,fileloop,...]
                         [--peers native,strace,veil,...] [--csv FILE]

Compiles the workloads (bench/workloads/*.c) and the floor tracer
(bench/mintracer.c) into bench/build/, then runs every workload under every
peer, interleaving the peers round by round (A B C, C B A, A B C, ...) so that
slow drift of the machine falls on all of them alike, after one small warm-up
round. For each run it takes the wall time (perf_counter around the child) and
the user+sys CPU of the whole child tree (RUSAGE_CHILDREN deltas). The number
of syscalls a workload makes is counted once with `strace -f -c`, which gives
the cost per syscall and per stop of each peer.

A peer that is not available (veil not installed yet, proot missing, seccomp
refused) is reported as "skipped: reason"; the rest still runs.

See bench/README.md for what the workloads and peers are.
"""
import argparse
import csv
import datetime
import os
import platform
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
import gen_make  # noqa: E402  (bench/gen_make.py)

CFLAGS = ["-O2", "-Wall", "-Wextra", "-Werror"]


# --------------------------------------------------------------------------
# workloads

class Workload:
    """A command to benchmark, parametrised by one size."""

    def __init__(self, name, default, quick, what, unit, cmd):
        self.name = name
        self.default = default      # size of the default run
        self.quick = quick          # size for --quick (and the warm-up floor)
        self.what = what            # one line for the table header / README
        self.unit = unit            # what the size counts
        self._cmd = cmd             # (build_dir, size) -> argv

    def argv(self, build_dir, size):
        return self._cmd(build_dir, size)


def _make_argv(build_dir, nfiles):
    tree = gen_make.generate(os.path.join(build_dir, "make-%d" % nfiles), nfiles)
    # -B: rebuild everything every time, so every run does the same work.
    return ["make", "-B", "-j2", "-s", "-C", tree]


WORKLOADS = {
    w.name: w for w in [
        Workload("getppid", 30000, 2000, "N x syscall(SYS_getppid)", "calls",
                 lambda b, n: [os.path.join(b, "getppid"), str(n)]),
        Workload("fileloop", 10000, 500, "N x {openat /etc/passwd, fstat, close}", "loops",
                 lambda b, n: [os.path.join(b, "fileloop"), str(n)]),
        Workload("forkexec", 500, 20, "N x {fork, child execs /bin/true, waitpid}", "children",
                 lambda b, n: [os.path.join(b, "forkexec"), str(n)]),
        Workload("make", 40, 4, "make -B -j2 of N generated C files", "files",
                 _make_argv),
        Workload("threads", 15000, 1000, "2 threads x N getppid (multi-threaded)", "calls/thread",
                 lambda b, n: [os.path.join(b, "threads"), str(n), "2"]),
    ]
}
DEFAULT_WORKLOADS = ["getppid", "fileloop", "forkexec", "make", "threads"]


def build(build_dir, cc):
    """Compile the workloads and mintracer; only what is out of date."""
    os.makedirs(build_dir, exist_ok=True)
    wdir = os.path.join(BENCH, "workloads")
    common = os.path.join(wdir, "common.h")
    targets = [
        ("getppid", [os.path.join(wdir, "getppid.c")], [common], []),
        ("fileloop", [os.path.join(wdir, "fileloop.c")], [common], []),
        ("forkexec", [os.path.join(wdir, "forkexec.c")], [common], []),
        ("threads", [os.path.join(wdir, "threads.c")], [common], ["-pthread"]),
        ("mintracer", [os.path.join(BENCH, "mintracer.c")], [], []),
    ]
    for name, srcs, deps, extra in targets:
        out = os.path.join(build_dir, name)
        if os.path.exists(out):
            newest = max(os.path.getmtime(p) for p in srcs + deps + [__file__])
            if os.path.getmtime(out) >= newest:
                continue
        argv = [cc] + CFLAGS + extra + ["-o", out] + srcs
        res = subprocess.run(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if res.returncode != 0:
            sys.exit("bench: compiling %s failed:\n$ %s\n%s" % (name, shlex.join(argv), res.stdout))


# --------------------------------------------------------------------------
# peers

class Skip(Exception):
    """A peer cannot run here; the message says why."""


class Peer:
    """A way of running a command: natively, or under some tracer.

    `prefix(outfile)` returns the argv to put in front of the workload's argv.
    `pin` runs the peer (tracer and tracees) on a single CPU.
    """

    measures_stops = False

    def __init__(self, name, pin=False):
        self.name = name
        self.pin = pin
        self.env = None

    def prefix(self, outfile):
        raise NotImplementedError

    def argv(self, cmd, outfile):
        return self.prefix(outfile) + cmd

    def probe(self, tmpdir):
        """Raise Skip if the peer cannot run; called once before the runs."""
        argv = self.argv(["/bin/true"], os.path.join(tmpdir, "probe.out"))
        try:
            res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, env=self.env, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise Skip("%s: %s" % (shlex.join(argv), e))
        if res.returncode != 0:
            tail = res.stdout.strip().splitlines()[-1:] or ["(no output)"]
            e = Skip("`%s` exited %d: %s" % (shlex.join(argv), res.returncode, tail[0]))
            e.short = "exited %d: %s" % (res.returncode, tail[0])
            raise e

    def stops(self, stderr_text):
        """Stops taken in one run, if the peer reports them."""
        return None


class Native(Peer):
    def prefix(self, outfile):
        return []


class Strace(Peer):
    def __init__(self, name, pin=False, extra=()):
        super().__init__(name, pin)
        self.extra = list(extra)

    def prefix(self, outfile):
        return [self.exe, "-f", *self.extra, "-o", outfile]

    def probe(self, tmpdir):
        self.exe = shutil.which("strace")
        if not self.exe:
            raise Skip("strace not installed (apt-get install strace)")
        super().probe(tmpdir)


class Proot(Peer):
    def prefix(self, outfile):
        return [self.exe]

    def probe(self, tmpdir):
        self.exe = shutil.which("proot")
        if not self.exe:
            raise Skip("proot not installed (apt-get install proot)")
        super().probe(tmpdir)


class Mintracer(Peer):
    measures_stops = True
    STATS = re.compile(r"mintracer: (\d+) syscall-entry, (\d+) syscall-exit, (\d+) seccomp, "
                       r"(\d+) event, (\d+) signal, (\d+) group stops")

    def __init__(self, name, build_dir, seccomp, pin=False):
        super().__init__(name, pin)
        self.exe = os.path.join(build_dir, "mintracer")
        self.flags = ["--seccomp"] if seccomp else []

    def prefix(self, outfile):
        return [self.exe, "--stats"] + self.flags + ["--"]

    def stops(self, stderr_text):
        m = None
        for m in self.STATS.finditer(stderr_text):
            pass
        return sum(int(g) for g in m.groups()) if m else None


class Veil(Peer):
    """`veil trace -f -o FILE -- CMD`, optionally with `--affinity off` or `--format binary|json`.

    Which veil: --veil CMD if given; else `veil` on PATH, `python3 -m veil`,
    and `python3 -m veil` with this checkout's src/ on PYTHONPATH, the first
    that can trace /bin/true.
    """

    def __init__(self, name, extra, veil_cmd, pin=False):
        super().__init__(name, pin)
        self.extra = extra
        self.veil_cmd = veil_cmd
        self.base = None

    def prefix(self, outfile):
        return self.base + ["trace"] + self.extra + ["-f", "-o", outfile, "--"]

    def candidates(self):
        """(label, argv prefix, env) for each way of running veil to try."""
        if self.veil_cmd:
            yield self.veil_cmd, shlex.split(self.veil_cmd), None
            return
        exe = shutil.which("veil")
        if exe:
            yield "veil", [exe], None
        yield "python3 -m veil", [sys.executable, "-m", "veil"], None
        src = os.path.join(REPO, "src")
        env = dict(os.environ)
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        yield "PYTHONPATH=src python3 -m veil", [sys.executable, "-m", "veil"], env

    def probe(self, tmpdir):
        reasons = []
        for label, base, env in self.candidates():
            self.base, self.env = base, env
            try:
                super().probe(tmpdir)
                self.label = label
                return
            except Skip as e:
                why = getattr(e, "short", str(e)).replace(sys.executable, "python3")
                if ("%s: %s" % (label, why)) not in reasons:
                    reasons.append("%s: %s" % (label, why))
        self.base = self.env = None
        raise Skip("veil not runnable (%s)" % "; ".join(reasons))


PEER_NAMES = ["native", "strace", "strace-seccomp", "mintracer", "mintracer-seccomp", "veil",
              "veil-noaffinity", "veil-binary", "veil-json", "veil-python", "proot"]
# mintracer-pin is the floor for veil's default placement (loop on the
# tracee's core); plain mintracer is the floor for veil-noaffinity.
DEFAULT_PEERS = ["native", "strace", "mintracer", "mintracer-seccomp", "mintracer-pin", "veil",
                 "veil-noaffinity", "proot"]


def make_peer(name, build_dir, veil_cmd):
    """Peer by name; NAME-pin is NAME with tracer and tracee pinned to one CPU."""
    pin = name.endswith("-pin")
    base = name[:-4] if pin else name
    if base == "native":
        return Native(name, pin)
    if base == "strace":
        return Strace(name, pin)
    if base == "strace-seccomp":
        # strace's own kernel filter, tracing one class (all syscalls would stop anyway)
        return Strace(name, pin, ["--seccomp-bpf", "-e", "trace=%file"])
    if base == "proot":
        return Proot(name, pin)
    if base == "mintracer":
        return Mintracer(name, build_dir, seccomp=False, pin=pin)
    if base == "mintracer-seccomp":
        return Mintracer(name, build_dir, seccomp=True, pin=pin)
    if base == "veil":
        return Veil(name, [], veil_cmd, pin)
    if base == "veil-noaffinity":
        return Veil(name, ["--affinity", "off"], veil_cmd, pin)
    if base == "veil-binary":
        return Veil(name, ["--format", "binary"], veil_cmd, pin)
    if base == "veil-json":
        return Veil(name, ["--format", "json"], veil_cmd, pin)
    if base == "veil-python":
        # the python-ptrace reference backend: what the C accelerator buys
        return Veil(name, ["--backend", "python"], veil_cmd, pin)
    raise ValueError(name)


# --------------------------------------------------------------------------
# measuring

class Run:
    def __init__(self, rc, wall, user, sys_, stops, err):
        self.rc, self.wall, self.user, self.sys, self.stops, self.err = rc, wall, user, sys_, stops, err

    @property
    def cpu(self):
        return self.user + self.sys


def _kill_group(holder):
    p = holder.get("p")
    if p is not None and p.poll() is None:
        holder["timed_out"] = True
        try:
            os.killpg(p.pid, 9)
        except ProcessLookupError:
            pass


# Each run in its own process group, so that a timeout kills the whole tree.
NEW_GROUP = {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}


def run_once(peer, cmd, tmpdir, tag, timeout, pin_cpu):
    """Run `cmd` under `peer` once; returns a Run."""
    outfile = os.path.join(tmpdir, tag + ".trace")
    errfile = os.path.join(tmpdir, tag + ".stderr")
    argv = peer.argv(cmd, outfile)
    holder = {}
    # The watchdog sleeps in one timed wait (no polling while we measure).
    timer = threading.Timer(timeout, _kill_group, [holder])
    timer.daemon = True
    timer.start()
    saved_affinity = None
    if peer.pin:
        # Children inherit the mask: tracer and every tracee on one CPU.
        saved_affinity = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {pin_cpu})
    try:
        with open(errfile, "w+") as ferr:
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            try:
                p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=ferr, stderr=ferr,
                                     env=peer.env, **NEW_GROUP)
            finally:
                if saved_affinity is not None:
                    os.sched_setaffinity(0, saved_affinity)
            holder["p"] = p
            rc = p.wait()
            t1 = time.perf_counter()
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            timer.cancel()
            ferr.seek(0)
            err = ferr.read()
    finally:
        timer.cancel()
        for f in (outfile, errfile):
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass
    if holder.get("timed_out"):
        err += "\n(killed after %d s)" % timeout
    return Run(rc, t1 - t0, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime,
               peer.stops(err), err)


def count_syscalls(cmd, tmpdir):
    """Syscalls `cmd` makes, from the total line of `strace -f -c`."""
    exe = shutil.which("strace")
    if not exe:
        return None, "strace not installed"
    out = os.path.join(tmpdir, "count.txt")
    res = subprocess.run([exe, "-f", "-c", "-o", out, "--"] + cmd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if res.returncode != 0:
        return None, "strace -c exited %d: %s" % (res.returncode, res.stderr.strip()[-200:])
    with open(out) as f:
        text = f.read()
    os.unlink(out)
    for line in text.splitlines():
        fields = line.split()
        # % time, seconds, usecs/call, calls, [errors,] "total"
        if fields and fields[-1] == "total" and len(fields) >= 5:
            return int(fields[3]), None
    return None, "no total line in strace -c output"


# --------------------------------------------------------------------------
# results

class Result:
    def __init__(self, workload, size, peer):
        self.workload, self.size, self.peer = workload, size, peer
        self.runs = []
        self.status = "ok"
        self.note = ""
        self.syscalls = None
        self.native = None   # Result of native on this workload, if measured
        self.strace = None
        self.startup = None  # the peer's wall time on /bin/true

    def ok_runs(self):
        return [r for r in self.runs if r.rc == 0]

    def median(self, attr="wall"):
        vals = [getattr(r, attr) for r in self.ok_runs()]
        return statistics.median(vals) if vals else None

    def wall_range(self):
        vals = [r.wall for r in self.ok_runs()]
        return (min(vals), max(vals)) if vals else (None, None)

    def stops(self):
        """(stops per run, measured?) -- measured if the peer counts them,
        else estimated as two per syscall for a tracer (entry + exit)."""
        measured = [r.stops for r in self.ok_runs() if r.stops is not None]
        if measured:
            return int(statistics.median(measured)), True
        if self.peer.startswith("native"):
            return 0, True
        if self.syscalls:
            return 2 * self.syscalls, False
        return None, False

    def ratio(self, other):
        if other is None:
            return None
        a, b = self.median(), other.median()
        return a / b if a and b else None

    def overhead_us(self, per):
        """Microseconds added over native, per syscall or per stop."""
        if self.peer.startswith("native") or self.native is None:
            return None
        a, b = self.median(), self.native.median()
        if a is None or b is None or not per:
            return None
        return (a - b) / per * 1e6


def fmt(v, spec, dash="-"):
    return dash if v is None else format(v, spec)


def fmt_ratio(v):
    if v is None:
        return "-"
    for limit, spec in ((100, ".0f"), (10, ".1f"), (0.1, ".2f")):
        if v >= limit:
            return format(v, spec)
    return format(v, ".3f")


def table_rows(results):
    head = ["workload", "peer", "median s", "min-max s", "cpu s", "start ms", "x native",
            "x strace", "syscalls", "stops", "us/syscall", "us/stop"]
    rows = [head]
    for r in results:
        if r.status != "ok":
            note = r.note if len(r.note) <= 80 else r.note[:77] + "..."
            rows.append([r.workload, r.peer, r.status + (": " + note if note else "")])
            continue
        lo, hi = r.wall_range()
        stops, measured = r.stops()
        rows.append([
            r.workload, r.peer, fmt(r.median(), ".3f"),
            "%s-%s" % (fmt(lo, ".3f"), fmt(hi, ".3f")),
            fmt(r.median("cpu"), ".3f"),
            fmt(r.startup * 1e3 if r.startup is not None else None, ".1f"),
            fmt_ratio(r.ratio(r.native)), fmt_ratio(r.ratio(r.strace)),
            fmt(r.syscalls, "d"),
            "-" if stops is None else ("%d" % stops if measured else "~%d" % stops),
            fmt(r.overhead_us(r.syscalls), ".1f"),
            fmt(r.overhead_us(stops) if stops else None, ".1f"),
        ])
    return rows


def render(rows):
    widths = [0] * len(rows[0])
    for row in rows:
        if len(row) == len(widths):
            for i, c in enumerate(row):
                widths[i] = max(widths[i], len(c))
    out = []
    for n, row in enumerate(rows):
        if len(row) == len(widths):
            cells = [c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]) for i, c in enumerate(row)]
            out.append("  ".join(cells).rstrip())
        else:  # skipped / failed: free text after the names
            out.append("  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1])] + row[2:]))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


CSV_FIELDS = ["workload", "size", "peer", "status", "note", "runs", "wall_median_s", "wall_min_s",
              "wall_max_s", "cpu_median_s", "startup_s", "user_median_s", "sys_median_s", "ratio_native",
              "ratio_strace", "syscalls", "stops", "stops_measured", "us_per_syscall",
              "us_per_stop", "walls_s"]


def write_csv(path, results):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for r in results:
            lo, hi = r.wall_range()
            stops, measured = r.stops()

            def num(v, spec):
                return "" if v is None else format(v, spec)
            w.writerow({
                "workload": r.workload, "size": r.size, "peer": r.peer, "status": r.status,
                "note": r.note, "runs": len(r.ok_runs()),
                "wall_median_s": num(r.median(), ".4f"), "wall_min_s": num(lo, ".4f"),
                "wall_max_s": num(hi, ".4f"), "cpu_median_s": num(r.median("cpu"), ".4f"),
                "startup_s": num(r.startup, ".4f"),
                "user_median_s": num(r.median("user"), ".4f"),
                "sys_median_s": num(r.median("sys"), ".4f"),
                "ratio_native": num(r.ratio(r.native), ".3f"),
                "ratio_strace": num(r.ratio(r.strace), ".3f"),
                "syscalls": num(r.syscalls, "d"), "stops": num(stops, "d"),
                "stops_measured": int(measured) if stops is not None else "",
                "us_per_syscall": num(r.overhead_us(r.syscalls), ".2f"),
                "us_per_stop": num(r.overhead_us(stops) if stops else None, ".2f"),
                "walls_s": " ".join("%.4f" % x.wall for x in r.ok_runs()),
            })


def loadavg():
    """The 1/5/15-minute load averages: anything else running skews the figures."""
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def machine_info(args, sizes):
    def first_line(argv):
        try:
            res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, timeout=10)
            return res.stdout.strip().splitlines()[0] if res.stdout.strip() else "?"
        except (OSError, subprocess.TimeoutExpired):
            return "n/a"
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    commit = first_line(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    u = os.uname()
    return [
        "date: %s" % datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine: %s %s %s, %s, %d CPUs (%d usable)" % (
            u.sysname, u.release, u.machine, cpu, os.cpu_count() or 0,
            len(os.sched_getaffinity(0))),
        "python %s; %s; %s" % (platform.python_version(), first_line(["strace", "-V"]),
                               first_line([args.cc, "--version"])),
        "commit: %s; load average at start: %s" % (
            commit if re.fullmatch(r"[0-9a-f]+", commit) else "(none)", loadavg()),
        "runs: %d per peer (median), %s; sizes: %s" % (
            args.runs, "no warm-up" if args.quick or args.no_warmup else "1 small warm-up round",
            ", ".join("%s=%d" % kv for kv in sizes.items())),
    ]


# --------------------------------------------------------------------------
# main

def parse_sizes(text):
    sizes = {}
    for item in filter(None, (text or "").split(",")):
        name, _, n = item.partition("=")
        if name not in WORKLOADS or not n.isdigit() or int(n) < 1:
            raise argparse.ArgumentTypeError("bad --size item %r (want NAME=N)" % item)
        sizes[name] = int(n)
    return sizes


def csv_list(text, known, what):
    items = [x for x in text.split(",") if x]
    for x in items:
        base = x[:-4] if x.endswith("-pin") else x
        if base not in known:
            raise argparse.ArgumentTypeError("unknown %s %r (known: %s)" % (what, x, ", ".join(known)))
    return items


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Benchmark veil against native, strace, a minimal C tracer and proot.",
        epilog="Any peer name with -pin appended (strace-pin, mintracer-pin, native-pin, ...) "
               "runs that peer with tracer and tracees pinned to one CPU.")
    ap.add_argument("--quick", action="store_true",
                    help="each workload once at a small size; only check that every peer runs "
                         "and exits 0 (for CI)")
    ap.add_argument("--runs", type=int, default=None, help="measured runs per peer (default 3)")
    ap.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS),
                    type=lambda s: csv_list(s, list(WORKLOADS), "workload"),
                    help="comma list (default: %(default)s)")
    ap.add_argument("--peers", default=",".join(DEFAULT_PEERS),
                    type=lambda s: csv_list(s, PEER_NAMES, "peer"),
                    help="comma list (default: %(default)s)")
    ap.add_argument("--size", default={}, type=parse_sizes, metavar="NAME=N,...",
                    help="override workload sizes, e.g. getppid=200000,make=80")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every default size")
    ap.add_argument("--csv", default=None,
                    help="write results here (default bench/results/latest.csv; "
                         "with --quick only if given); a .txt with the table is written beside it")
    ap.add_argument("--no-csv", action="store_true", help="write no result files")
    ap.add_argument("--build-dir", default=os.path.join(BENCH, "build"))
    ap.add_argument("--cc", default=os.environ.get("CC", "gcc"))
    ap.add_argument("--veil", default=os.environ.get("VEIL"), metavar="CMD",
                    help="how to run veil, e.g. 'python3 -m veil' (default: autodetect)")
    ap.add_argument("--require", default="", type=lambda s: csv_list(s, PEER_NAMES, "peer"),
                    help="fail (exit 1) if any of these peers is skipped")
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument("--timeout", type=int, default=None,
                    help="seconds before a run is killed (default 600, --quick 60)")
    ap.add_argument("--pin-cpu", type=int, default=None,
                    help="CPU for the -pin peers (default: the first usable CPU)")
    args = ap.parse_args(argv)

    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    if args.timeout is None:
        args.timeout = 60 if args.quick else 600
    if args.pin_cpu is None:
        args.pin_cpu = min(os.sched_getaffinity(0))
    csv_path = args.csv
    if csv_path is None and not args.quick:
        csv_path = os.path.join(BENCH, "results", "latest.csv")
    if args.no_csv:
        csv_path = None

    sizes = {}
    for name in args.workloads:
        wl = WORKLOADS[name]
        base = wl.quick if args.quick else max(1, int(round(wl.default * args.scale)))
        sizes[name] = args.size.get(name, base)

    started = time.perf_counter()
    build(args.build_dir, args.cc)
    header = machine_info(args, sizes)
    for line in header:
        print(line)

    tmpdir = tempfile.mkdtemp(prefix="veil-bench-")
    try:
        # Which peers can run here at all.
        peers, skipped = [], {}
        for name in args.peers:
            peer = make_peer(name, args.build_dir, args.veil)
            try:
                peer.probe(tmpdir)
                peers.append(peer)
            except Skip as e:
                skipped[name] = str(e)
                print("peer %s: skipped: %s" % (name, e))
                continue
            # Fixed cost of the peer itself (tracer start-up, imports, exit):
            # the wall time of /bin/true under it, median of 3.
            walls = [run_once(peer, ["/bin/true"], tmpdir, "startup", args.timeout,
                              args.pin_cpu).wall for _ in range(3)]
            peer.startup = statistics.median(walls)
            print("peer %s: ok, start-up %.1f ms" % (name, peer.startup * 1e3))

        results, failed = [], []
        for wname in args.workloads:
            wl = WORKLOADS[wname]
            size = sizes[wname]
            cmd = wl.argv(args.build_dir, size)
            syscalls, why = count_syscalls(cmd, tmpdir)
            print("\n== %s (%s, %s=%d): %s syscalls%s" % (
                wname, wl.what, wl.unit, size, syscalls if syscalls is not None else "?",
                "" if why is None else " (%s)" % why), flush=True)

            by_peer = {}
            for name in args.peers:
                res = Result(wname, size, name)
                res.syscalls = syscalls
                if name in skipped:
                    res.status, res.note = "skipped", skipped[name]
                else:
                    res.startup = next(p.startup for p in peers if p.name == name)
                by_peer[name] = res
            for res in by_peer.values():
                res.native = by_peer.get("native")
                res.strace = by_peer.get("strace")
                if res.native is not None and res.native.status != "ok":
                    res.native = None
                if res.strace is not None and res.strace.status != "ok":
                    res.strace = None

            if not args.quick and not args.no_warmup:
                warm = wl.argv(args.build_dir, min(size, max(wl.quick, size // 10)))
                for peer in peers:
                    run_once(peer, warm, tmpdir, "warmup", args.timeout, args.pin_cpu)

            for rnd in range(args.runs):
                order = peers if rnd % 2 == 0 else peers[::-1]
                for peer in order:
                    res = by_peer[peer.name]
                    if res.status != "ok":
                        continue  # failed earlier: don't keep paying for it
                    run = run_once(peer, cmd, tmpdir, "%s-%s-%d" % (wname, peer.name, rnd),
                                   args.timeout, args.pin_cpu)
                    res.runs.append(run)
                    tail = run.err.strip().splitlines()[-1:] or [""]
                    if run.rc != 0:
                        res.status = "failed"
                        res.note = "exit %d: %s" % (run.rc, tail[0][:200])
                        failed.append("%s/%s" % (wname, peer.name))
                    print("  %-8s %-20s run %d/%d: %8.3f s  cpu %7.3f s%s" % (
                        wname, peer.name, rnd + 1, args.runs, run.wall, run.cpu,
                        "" if run.rc == 0 else "  FAILED (%s)" % res.note), flush=True)
            results.extend(by_peer.values())

        rows = table_rows(results)
        text = render(rows)
        print("\n" + text)
        elapsed = time.perf_counter() - started
        footer = "(%d runs per peer; whole suite %.0f s; load average at end: %s)" % (
            args.runs, elapsed, loadavg())
        print("\n" + footer)

        if csv_path:
            write_csv(csv_path, results)
            txt = os.path.splitext(csv_path)[0] + ".txt"
            with open(txt, "w") as f:
                f.write("\n".join(header) + "\n\n" + text + "\n\n" + footer + "\n")
                for name, why in skipped.items():
                    f.write("\nskipped %s: %s" % (name, why))
                f.write("\n")
            print("wrote %s and %s" % (os.path.relpath(csv_path), os.path.relpath(txt)))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)

    rc = 0
    if failed:
        print("FAILED: " + ", ".join(failed), file=sys.stderr)
        rc = 1
    missing = [p for p in args.require if p in skipped]
    if missing:
        print("required peers skipped: " + ", ".join(missing), file=sys.stderr)
        rc = 1
    if args.quick and rc == 0:
        print("quick check passed: every available peer ran every workload and exited 0")
    return rc


if __name__ == "__main__":
    sys.exit(main())
