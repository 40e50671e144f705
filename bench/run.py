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
import json
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
import summary  # noqa: E402  (bench/summary.py)

CFLAGS = ["-O2", "-Wall", "-Wextra", "-Werror"]


# --------------------------------------------------------------------------
# workloads

class Workload:
    """A command to benchmark, parametrised by one size.

    `cmd(ctx, size)` gives the argv (ctx.build: compiled workloads, ctx.scratch:
    a scratch directory on /dev/shm where there is one); `prepare(ctx, size)`,
    if given, runs before every run, untimed (tar: a fresh, empty destination).
    """

    def __init__(self, name, default, quick, what, unit, cmd, prepare=None, warm=None,
                 quiet=False, only=None, linear=False, runs_factor=1):
        self.name = name
        self.default = default      # size of the default run
        self.quick = quick          # size for --quick (and the warm-up floor)
        self.what = what            # one line for the table header / README
        self.unit = unit            # what the size counts
        self._cmd = cmd
        self._prepare = prepare
        self.warm = warm            # size of the warm-up run (default: a tenth)
        self.quiet = quiet          # stdout to /dev/null (find prints every entry)
        self.only = only            # the peers it runs under (None: every one)
        self.linear = linear        # syscalls grow linearly with the size: count small ones
        self.runs_factor = runs_factor  # short and noisy: this many times --runs

    def argv(self, ctx, size):
        return self._cmd(ctx, size)

    def runs_under(self, peer):
        return self.only is None or peer in self.only

    def prepare(self, ctx, size):
        if self._prepare:
            self._prepare(ctx, size)

    def warm_size(self, size):
        return min(size, self.warm or max(self.quick, size // 10))


class Context:
    """Where the workloads live: build (compiled, generated make trees), scratch (tar)."""

    def __init__(self, build, scratch):
        self.build, self.scratch = build, scratch


def _make_argv(ctx, nfiles):
    tree = gen_make.generate(os.path.join(ctx.build, "make-%d" % nfiles), nfiles)
    # -B: rebuild everything every time, so every run does the same work.
    return ["make", "-B", "-j2", "-s", "-C", tree]


# the system's python3 (not a pyenv shim: that is a shell script that execs more)
PYTHON = next((p for p in ("/usr/bin/python3", sys.executable) if os.access(p, os.X_OK)))
IMPORTS = "import json, email, http.client, sqlite3"


def _python_argv(ctx, n):
    return ["sh", "-c", 'i=0; while [ $i -lt %d ]; do %s -c "%s" || exit 1; i=$((i+1)); done'
            % (n, PYTHON, IMPORTS)]


def _tarball(ctx, nfiles):
    """bench scratch/tar-N.tar: N files of 1-3 KiB in directories of 50, made once."""
    path = os.path.join(ctx.scratch, "tar-%d.tar" % nfiles)
    if not os.path.exists(path):
        import io
        import tarfile
        with tarfile.open(path + ".tmp", "w") as tf:
            for i in range(nfiles):
                data = (b"veil bench file %d\n" % i) * (64 + (i * 37) % 128)
                info = tarfile.TarInfo("tree/d%03d/f%05d.txt" % (i // 50, i))
                info.size, info.mtime, info.mode = len(data), 1700000000 + i, 0o644
                tf.addfile(info, io.BytesIO(data))
        os.rename(path + ".tmp", path)
    return path


def _tar_dest(ctx, nfiles):
    return os.path.join(ctx.scratch, "tar-%d.out" % nfiles)


def _tar_prepare(ctx, nfiles):
    dest = _tar_dest(ctx, nfiles)
    shutil.rmtree(dest, ignore_errors=True)
    os.mkdir(dest)


def _tar_argv(ctx, nfiles):
    return ["tar", "-C", _tar_dest(ctx, nfiles), "-xf", _tarball(ctx, nfiles)]


def _fileread_argv(ctx, mib):
    """bench scratch/read-1M: 1 MiB, made once; fileread goes over it again and again."""
    path = os.path.join(ctx.scratch, "read-1M")
    if not os.path.exists(path):
        with open(path + ".tmp", "wb") as f:
            f.write(bytes(range(256)) * 4096)
        os.rename(path + ".tmp", path)
    return [os.path.join(ctx.build, "fileread"), path, str(mib), "4096"]


# the peers under which a workload's calls never stop (what the kernel's filter
# costs them: seccomp-floor has a filter that allows everything)
OUTSIDE_POLICY_PEERS = ("native", "seccomp-floor", "veil-layout", "veil-file")
UNTRACED_PEERS = ("native", "seccomp-floor")  # no tracer: no stops


def _bin(name, *fixed):
    return lambda ctx, n: [os.path.join(ctx.build, name), str(n), *fixed]


WORKLOADS = {
    w.name: w for w in [
        # the per-stop targets' workloads: each run is short (~0.3 s under a
        # tracer) and the VM's speed drifts by 10-20%, so they get more runs
        Workload("getppid", 30000, 2000, "N x syscall(SYS_getppid)", "calls", _bin("getppid"),
                 runs_factor=3),
        Workload("fileloop", 10000, 500, "N x {openat /etc/passwd, fstat, close}", "loops",
                 _bin("fileloop"), runs_factor=3),
        Workload("forkexec", 500, 20, "N x {fork, child execs /bin/true, waitpid}", "children",
                 _bin("forkexec")),
        Workload("python", 5, 1, "N x python3 -c '%s' in an sh loop" % IMPORTS, "imports",
                 _python_argv),
        Workload("tar", 4000, 100, "tar -xf of a generated tarball of N files onto /dev/shm",
                 "files", _tar_argv, prepare=_tar_prepare),
        Workload("make", 40, 2, "make -B -j2 of N generated C files", "files", _make_argv),
        Workload("find", 5, 2, "find /usr -xdev -maxdepth N, output to /dev/null", "depth",
                 lambda ctx, n: ["find", "/usr", "-xdev", "-maxdepth", str(n)], warm=2,
                 quiet=True),
        Workload("echo", 5000, 200, "N x 64-byte round trips over TCP on 127.0.0.1, "
                 "server thread + client thread", "round trips", _bin("echo", "64", "send")),
        Workload("threads", 15000, 1000, "2 threads x N getppid (multi-threaded)", "calls/thread",
                 _bin("threads", "2"), runs_factor=3),
        # calls outside the policy: long enough (native ~0.5 s) that the
        # session's fixed cost is noise (and they time their own loop), so only under the peers that let it pass
        Workload("getppid-big", 4000000, 20000, "N x getppid under the peers that do not stop it",
                 "calls", _bin("getppid"), only=OUTSIDE_POLICY_PEERS, linear=True,
                 runs_factor=3),
        Workload("read-big", 4096, 16, "read N MiB of a 1 MiB file in 4 KiB read()s, under "
                 "the peers that do not stop it", "MiB", _fileread_argv,
                 only=OUTSIDE_POLICY_PEERS, quiet=True, linear=True, runs_factor=3),
    ]
}
DEFAULT_WORKLOADS = list(WORKLOADS)


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
        ("echo", [os.path.join(wdir, "echo.c")], [common], ["-pthread"]),
        ("fileread", [os.path.join(wdir, "fileread.c")], [common], []),
        ("mintracer", [os.path.join(BENCH, "mintracer.c")], [], []),
        ("seccomp_allow", [os.path.join(BENCH, "seccomp_allow.c")], [], []),
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


class Files:
    """Per-run paths a peer may use: the trace output, veil's stats file."""

    def __init__(self, tmpdir, tag):
        self.out = os.path.join(tmpdir, tag + ".trace")
        self.stats = os.path.join(tmpdir, tag + ".stats")
        self.err = os.path.join(tmpdir, tag + ".stderr")

    def remove(self):
        for f in (self.out, self.stats, self.err):
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass


class Peer:
    """A way of running a command: natively, or under some tracer.

    `prefix(files)` returns the argv to put in front of the workload's argv.
    `pin` runs the peer (tracer and tracees) on a single CPU.  `collect`
    returns what the peer itself reported about one run: (stops, seconds
    inside its session), each None if it does not say.
    """

    env = None   # the environment of its runs (None: the runner's, less PYTHONPATH)

    def __init__(self, name, pin=False):
        self.name = name
        self.pin = pin
        self.info = ""  # one line for the results header, if any

    def prefix(self, files):
        raise NotImplementedError

    def argv(self, cmd, files):
        return self.prefix(files) + cmd

    def probe(self, tmpdir, pin_cpu):
        """Raise Skip if the peer cannot run; called once before the runs.
        The run on /bin/true is kept as self.probed."""
        try:
            self.probed = run = run_once(self, ["/bin/true"], tmpdir, "probe", 120, pin_cpu)
        except OSError as e:
            raise Skip("%s: %s" % (shlex.join(self.argv(["/bin/true"], Files(tmpdir, "probe"))),
                                   e))
        if run.rc != 0:
            argv = self.argv(["/bin/true"], Files(tmpdir, "probe"))
            tail = run.err.strip().splitlines()[-1:] or ["(no output)"]
            e = Skip("`%s` exited %d: %s" % (shlex.join(argv), run.rc, tail[0]))
            e.short = "exited %d: %s" % (run.rc, tail[0])
            raise e

    def run_env(self):
        if self.env is not None:
            return dict(self.env, BENCH_LOOP="1")
        # the runner's own PYTHONPATH (e.g. a veil checkout) is not the workload's;
        # BENCH_LOOP: the workloads that can time their loop say so on stderr
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["BENCH_LOOP"] = "1"
        return env

    def collect(self, files, stderr_text):
        return None, None


class Native(Peer):
    def prefix(self, files):
        return []


class SeccompFloor(Peer):
    """The workload natively, under a one-instruction allow-all seccomp filter
    (bench/seccomp_allow.c): what any filter costs calls that never stop."""

    def __init__(self, name, build_dir, pin=False):
        super().__init__(name, pin)
        self.exe = os.path.join(build_dir, "seccomp_allow")

    def prefix(self, files):
        return [self.exe]


class Strace(Peer):
    def __init__(self, name, pin=False, extra=()):
        super().__init__(name, pin)
        self.extra = list(extra)

    def prefix(self, files):
        return [self.exe, "-f", *self.extra, "-o", files.out]

    def probe(self, tmpdir, pin_cpu):
        self.exe = shutil.which("strace")
        if not self.exe:
            raise Skip("strace not installed (apt-get install strace)")
        super().probe(tmpdir, pin_cpu)


class Proot(Peer):
    """`proot CMD`; with seccomp=False, PROOT_NO_SECCOMP=1 in its environment."""

    def __init__(self, name, pin=False, seccomp=True):
        super().__init__(name, pin)
        self.seccomp = seccomp

    def prefix(self, files):
        return [self.exe]

    def run_env(self):
        env = super().run_env()
        if not self.seccomp:
            env["PROOT_NO_SECCOMP"] = "1"
        return env

    def probe(self, tmpdir, pin_cpu):
        self.exe = shutil.which("proot")
        if not self.exe:
            raise Skip("proot not installed (apt-get install proot)")
        super().probe(tmpdir, pin_cpu)
        self.info = proot_seccomp_info(self.exe, self.run_env())


def proot_seccomp_info(exe, env):
    """Whether this proot can use seccomp: its own -V line, and the tracee's
    Seccomp field in /proc/self/status (2 = a filter is installed)."""
    def out(argv):
        try:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, env=env, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired) as e:
            return str(e)
    ver = out([exe, "-V"])
    v = re.search(r"\b(\d+\.\d+\.\d+)\b", ver)
    acc = re.search(r"built-in accelerators: (.*)", ver)
    status = re.search(r"^Seccomp:\s*(\d+)", out([exe, "grep", "^Seccomp:", "/proc/self/status"]),
                       re.M)
    return "proot %s (%s); tracee's Seccomp: %s%s" % (
        v.group(1) if v else "?", acc.group(1).strip() if acc else "accelerators: ?",
        status.group(1) if status else "?",
        " (PROOT_NO_SECCOMP=1)" if env.get("PROOT_NO_SECCOMP") else "")


class Mintracer(Peer):
    STATS = re.compile(r"mintracer: (\d+) syscall-entry, (\d+) syscall-exit, (\d+) seccomp, "
                       r"(\d+) event, (\d+) signal, (\d+) group stops")

    def __init__(self, name, build_dir, seccomp, pin=False):
        super().__init__(name, pin)
        self.exe = os.path.join(build_dir, "mintracer")
        self.flags = ["--seccomp"] if seccomp else []

    def prefix(self, files):
        return [self.exe, "--stats"] + self.flags + ["--"]

    def collect(self, files, stderr_text):
        m = None
        for m in self.STATS.finditer(stderr_text):
            pass
        return (sum(int(g) for g in m.groups()) if m else None), None


# `python -m veil.cli.benchchild --child STATS VEIL-ARGS` from a given src/ directory,
# without putting it on the workload's PYTHONPATH
_FROM_SRC = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
             "from veil.cli.benchchild import run; run()")


class Veil(Peer):
    """`veil SUBCOMMAND EXTRA... -- CMD` (`trace -f -o FILE`, `run -r / ...`).

    Which veil: --veil CMD if given; else this checkout's src/ (if its C part
    is built), else the installed package, the first that can trace /bin/true.
    The last two run as `python -m veil.cli.benchchild --child STATS` (the veil CLI
    unchanged; STATS gets the engine's stop count and the time spent inside
    the session, which leaves Python's start-up out of the cost per stop).
    """

    def __init__(self, name, subcmd, extra, veil_cmd, pin=False):
        super().__init__(name, pin)
        self.subcmd = subcmd
        self.extra = extra
        self.veil_cmd = veil_cmd
        self.base = None
        self.with_stats = False

    def prefix(self, files):
        base = self.base + (["--child", files.stats] if self.with_stats else [])
        words = self.extra + (["-f", "-o", files.out] if self.subcmd == "trace" else [])
        return base + [self.subcmd] + words + ["--"]

    def candidates(self):
        """(label, argv prefix, env, reports stats?) for each way of running veil to try."""
        if self.veil_cmd:
            yield self.veil_cmd, shlex.split(self.veil_cmd), dict(os.environ), False
            return
        src = os.path.join(REPO, "src")
        if os.path.isdir(os.path.join(src, "veil")):
            # an installed package has its bytecode compiled, a checkout may not
            # (PYTHONDONTWRITEBYTECODE): compiling every module at each start
            # would triple veil's start-up
            subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(src, "veil")],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            yield "veil from %s" % os.path.relpath(src), [sys.executable, "-c", _FROM_SRC, src], \
                None, True
        yield "installed veil", [sys.executable, "-m", "veil.cli.benchchild"], None, True

    def probe(self, tmpdir, pin_cpu):
        reasons = []
        for label, base, env, stats in self.candidates():
            self.base, self.env, self.with_stats = base, env, stats
            try:
                super().probe(tmpdir, pin_cpu)
                self.label = label
                return
            except Skip as e:
                why = getattr(e, "short", str(e)).replace(sys.executable, "python3")
                if ("%s: %s" % (label, why)) not in reasons:
                    reasons.append("%s: %s" % (label, why))
        self.base = self.env = None
        raise Skip("veil not runnable (%s)" % "; ".join(reasons))

    def collect(self, files, stderr_text):
        try:
            with open(files.stats) as f:
                st = json.load(f)
        except (OSError, ValueError):
            return None, None
        return st.get("engine", {}).get("stops"), st.get("duration")


VEIL_PEERS = {
    # name: (subcommand, extra words)
    "veil": ("trace", []),                                 # text trace to a file
    "veil-noaffinity": ("trace", ["--affinity", "off"]),
    "veil-binary": ("trace", ["--format", "binary"]),      # raw records: the C loop's stops
    "veil-binary-noaffinity": ("trace", ["--format", "binary", "--affinity", "off"]),
    # -e raw=all: the same stops and records without reading argument memory,
    # i.e. the work mintracer does (GET_SYSCALL_INFO, resume) plus the record
    "veil-binary-raw": ("trace", ["--format", "binary", "-e", "raw=all"]),
    "veil-json": ("trace", ["--format", "json"]),
    "veil-python": ("trace", ["--backend", "python"]),     # python-ptrace: what C buys
    "veil-python-binary": ("trace", ["--backend", "python", "--format", "binary"]),
    # one class traced: the C engine's seccomp filter stops only those calls,
    # the python-ptrace backend (no seccomp) still stops at every one
    "veil-file": ("trace", ["-e", "trace=%file"]),
    "veil-python-file": ("trace", ["--backend", "python", "-e", "trace=%file"]),
    # a layout (a bind makes veil resolve every path call in the guest's view);
    # calls that take no path are not stopped at all
    "veil-layout": ("run", ["-r", "/", "-b", "/tmp:/tmp"]),
    # the same under --strict: auto takes the mount engine (user, mount and pid
    # namespaces), capabilities dropped, unknown calls refused
    "veil-strict": ("run", ["-r", "/", "-b", "/tmp:/tmp", "--strict"]),
    # --strict with the translating engine: every path pinned
    "veil-strict-ptrace": ("run", ["-r", "/", "-b", "/tmp:/tmp", "--strict",
                                   "--layout-engine", "ptrace"]),
    "veil-layout-ptrace": ("run", ["-r", "/", "-b", "/tmp:/tmp", "--layout-engine", "ptrace"]),
    "veil-layout-ptrace-noaffinity": ("run", ["-r", "/", "-b", "/tmp:/tmp", "--layout-engine",
                                              "ptrace", "--affinity", "off"]),
}
PEER_NAMES = ["native", "seccomp-floor", "strace", "strace-seccomp", "proot", "proot-noseccomp",
              "mintracer", "mintracer-seccomp", *VEIL_PEERS]
# mintracer-pin is the floor for veil's default placement (loop on the
# tracee's core); plain mintracer is the floor for veil-noaffinity;
# mintracer-seccomp-pin takes the stops veil takes (a seccomp stop, then the
# exit stop) and is the like-for-like floor of veil-binary(-raw).
DEFAULT_PEERS = ["native", "seccomp-floor", "strace", "strace-seccomp", "proot", "proot-noseccomp",
                 "mintracer", "mintracer-pin", "mintracer-seccomp-pin", "veil", "veil-noaffinity",
                 "veil-pin", "veil-binary", "veil-binary-raw", "veil-binary-noaffinity",
                 "veil-binary-pin", "veil-layout", "veil-strict", "veil-python", "veil-python-binary",
                 "veil-file", "veil-python-file"]
# --quick checks that every mode works: the default peers (the -pin of veil's
# binary trace and its --affinity off are veil-pin's and veil-noaffinity's
# modes again), and mintracer --seccomp
QUICK_PEERS = [p for p in DEFAULT_PEERS if p not in ("veil-binary-noaffinity", "veil-binary-pin",
                                                     "veil-binary-raw", "mintracer-seccomp-pin")
               ] + ["mintracer-seccomp"]


def make_peer(name, build_dir, veil_cmd):
    """Peer by name; NAME-pin is NAME with tracer and tracee pinned to one CPU."""
    pin = name.endswith("-pin")
    base = name[:-4] if pin else name
    if base == "native":
        return Native(name, pin)
    if base == "seccomp-floor":
        return SeccompFloor(name, build_dir, pin)
    if base == "strace":
        return Strace(name, pin)
    if base == "strace-seccomp":
        # strace's own kernel filter, tracing one class (all syscalls would stop anyway)
        return Strace(name, pin, ["--seccomp-bpf", "-e", "trace=%file"])
    if base in ("proot", "proot-noseccomp"):
        return Proot(name, pin, seccomp=base == "proot")
    if base in ("mintracer", "mintracer-seccomp"):
        return Mintracer(name, build_dir, seccomp=base == "mintracer-seccomp", pin=pin)
    if base in VEIL_PEERS:
        return Veil(name, *VEIL_PEERS[base], veil_cmd, pin)
    raise ValueError(name)


# --------------------------------------------------------------------------
# measuring

LOOP_LINE = re.compile(r"^bench: loop ([0-9.]+) s$", re.M)


class Run:
    """One run: exit status, wall and CPU seconds, and what the peer reported
    (stops taken, seconds inside its session), None where it reports nothing."""

    def __init__(self, rc, wall, user, sys_, stops, inner, err):
        self.rc, self.wall, self.user, self.sys, self.err = rc, wall, user, sys_, err
        self.stops, self.inner = stops, inner
        # the workload's own timing of its loop (workloads/common.h), if it has one
        m = LOOP_LINE.search(err)
        self.loop = float(m.group(1)) if m else None

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


def run_once(peer, cmd, tmpdir, tag, timeout, pin_cpu, quiet=False):
    """Run `cmd` under `peer` once; returns a Run.  quiet: its stdout to /dev/null."""
    files = Files(tmpdir, tag)
    argv = peer.argv(cmd, files)
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
        with open(files.err, "w+") as ferr, open(os.devnull, "w") as null:
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            try:
                p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=null if quiet else ferr, stderr=ferr,
                                     env=peer.run_env(), **NEW_GROUP)
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
        stops, inner = peer.collect(files, err)
    finally:
        timer.cancel()
        files.remove()
    if holder.get("timed_out"):
        err += "\n(killed after %d s)" % timeout
    return Run(rc, t1 - t0, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime,
               stops, inner, err)


def workload_syscalls(wl, ctx, size, tmpdir):
    """count_syscalls of the workload at this size; a linear one is counted at
    its quick size and twice that, and extrapolated (strace -c of 2,000,000
    getppid calls would take minutes)."""
    if not wl.linear or size <= 2 * wl.quick:
        return count_syscalls(wl.argv(ctx, size), tmpdir)
    (a, why), (b, why2) = (count_syscalls(wl.argv(ctx, n), tmpdir) for n in (wl.quick,
                                                                            2 * wl.quick))
    if a is None or b is None:
        return None, why or why2
    return a + (b - a) * (size - wl.quick) // wl.quick, None


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
        self.startup = None  # the peer's Run-medians on /bin/true: (wall, inner or None)

    def ok_runs(self):
        return [r for r in self.runs if r.rc == 0]

    def median(self, attr="wall"):
        vals = [getattr(r, attr) for r in self.ok_runs()]
        return statistics.median(vals) if vals and None not in vals else None

    def wall_range(self):
        vals = [r.wall for r in self.ok_runs()]
        return (min(vals), max(vals)) if vals else (None, None)

    def net(self):
        """Seconds the workload adds to the peer's own start-up: the median
        minus the peer's time on /bin/true.  For veil both are the time inside
        its session (Python's start-up is left out); for the others wall."""
        if self.startup is None:
            return None
        inner, inner0 = self.median("inner"), self.startup[1]
        if inner is not None and inner0 is not None:
            return inner - inner0
        wall = self.median()
        return None if wall is None else wall - self.startup[0]

    def stops(self):
        """(stops per run, measured?) -- measured if the peer counts them,
        else estimated as two per syscall for a tracer (entry + exit)."""
        measured = [r.stops for r in self.ok_runs() if r.stops is not None]
        if measured:
            return int(statistics.median(measured)), True
        if self.peer.startswith(UNTRACED_PEERS):
            return 0, True
        if self.syscalls:
            return 2 * self.syscalls, False
        return None, False

    def ratio(self, other):
        if other is None:
            return None
        a, b = self.median(), other.median()
        return a / b if a and b else None

    def net_ratio(self):
        """net / native's net: what the peer costs the workload, start-up aside."""
        if self.native is None:
            return None
        a, b = self.net(), self.native.net()
        return a / b if a is not None and b and b > 0 else None

    def loop_ratio(self):
        """The workload's own loop time under the peer / natively (None if it does not time it)."""
        if self.native is None:
            return None
        a, b = self.median("loop"), self.native.median("loop")
        return a / b if a is not None and b else None

    def per_stop_us(self):
        """Microseconds the peer adds per stop; None where the peer stops at few
        of the calls (under 5%: then the cost is not the stops').  Where the
        workload times its own loop, (loop - native loop) / stops: no peer's
        start-up or shut-down in it; else overhead_us per stop."""
        stops, _ = self.stops()
        if not stops or (self.syscalls and stops < 0.05 * self.syscalls):
            return None
        if self.peer.startswith(UNTRACED_PEERS):
            return None
        a = self.median("loop")
        b = self.native.median("loop") if self.native is not None else None
        if a is not None and b is not None:
            return (a - b) / stops * 1e6
        return self.overhead_us(stops)

    def overhead_us(self, per):
        """Microseconds the peer adds over native (start-ups aside), per syscall or stop."""
        if self.peer.startswith(UNTRACED_PEERS) or self.native is None or not per:
            return None
        a, b = self.net(), self.native.net()
        if a is None or b is None:
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
            "net x native", "x strace", "syscalls", "stops", "us/stop"]
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
            fmt(r.startup[0] * 1e3 if r.startup is not None else None, ".1f"),
            fmt_ratio(r.ratio(r.native)), fmt_ratio(r.net_ratio()), fmt_ratio(r.ratio(r.strace)),
            fmt(r.syscalls, "d"),
            "-" if stops is None else ("%d" % stops if measured else "~%d" % stops),
            fmt(r.per_stop_us(), ".1f"),
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
              "wall_max_s", "cpu_median_s", "startup_s", "user_median_s", "sys_median_s",
              "inner_median_s", "startup_inner_s", "net_s", "ratio_native", "ratio_native_net",
              "ratio_strace", "syscalls", "stops", "stops_measured", "us_per_syscall",
              "us_per_stop", "loop_median_s", "ratio_native_loop", "walls_s"]


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
                "startup_s": num(r.startup and r.startup[0], ".4f"),
                "inner_median_s": num(r.median("inner"), ".4f"),
                "startup_inner_s": num(r.startup and r.startup[1], ".4f"),
                "net_s": num(r.net(), ".4f"), "ratio_native_net": num(r.net_ratio(), ".3f"),
                "user_median_s": num(r.median("user"), ".4f"),
                "sys_median_s": num(r.median("sys"), ".4f"),
                "ratio_native": num(r.ratio(r.native), ".3f"),
                "ratio_strace": num(r.ratio(r.strace), ".3f"),
                "syscalls": num(r.syscalls, "d"), "stops": num(stops, "d"),
                "stops_measured": int(measured) if stops is not None else "",
                "us_per_syscall": num(r.overhead_us(r.syscalls), ".2f"),
                "us_per_stop": num(r.per_stop_us(), ".2f"),
                "loop_median_s": num(r.median("loop"), ".4f"),
                "ratio_native_loop": num(r.loop_ratio(), ".3f"),
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
        "runs: %d per peer (median; %s), %s; sizes: %s" % (
            args.runs, "x3 on %s, python-ptrace aside" % ", ".join(
                n for n, w in WORKLOADS.items() if w.runs_factor > 1)
            if not args.quick else "no more for any",
            "no warm-up" if args.quick or args.no_warmup else "1 small warm-up round",
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
    ap.add_argument("--peers", default=None,
                    type=lambda s: csv_list(s, PEER_NAMES, "peer"),
                    help="comma list (default: %s; --quick adds %s)" % (
                        ",".join(DEFAULT_PEERS), ",".join(QUICK_PEERS[len(DEFAULT_PEERS):])))
    ap.add_argument("--size", default={}, type=parse_sizes, metavar="NAME=N,...",
                    help="override workload sizes, e.g. getppid=200000,make=80")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every default size")
    ap.add_argument("--csv", default=None,
                    help="write results here (default bench/results/latest.csv; "
                         "with --quick only if given); a .txt with the table is written beside it")
    ap.add_argument("--no-csv", action="store_true", help="write no result files")
    ap.add_argument("--plot", default=None, metavar="F.png",
                    help="the chart (matplotlib; default: beside the CSV, .png)")
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
    if args.peers is None:
        args.peers = QUICK_PEERS if args.quick else DEFAULT_PEERS
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
    plot_path = args.plot or (os.path.splitext(csv_path)[0] + ".png" if csv_path else None)

    sizes = {}
    for name in args.workloads:
        wl = WORKLOADS[name]
        base = wl.quick if args.quick else max(1, int(round(wl.default * args.scale)))
        sizes[name] = args.size.get(name, base)

    started = time.perf_counter()
    build(args.build_dir, args.cc)
    tmpdir = tempfile.mkdtemp(prefix="veil-bench-")
    # tar extracts onto a tmpfs: onto this VM's disk, writeback makes it vary 10x run to run
    scratch = tempfile.mkdtemp(prefix="veil-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm")
                               else None)
    ctx = Context(args.build_dir, scratch)
    try:
        # Which peers can run here at all.
        peers, skipped = [], {}
        for name in args.peers:
            peer = make_peer(name, args.build_dir, args.veil)
            try:
                peer.probe(tmpdir, args.pin_cpu)
                peers.append(peer)
            except Skip as e:
                skipped[name] = str(e)
                print("peer %s: skipped: %s" % (name, e))
                continue
            # Fixed cost of the peer itself (tracer start-up, imports, exit):
            # its time on /bin/true, median of 3 (--quick: of the probe).
            runs = [peer.probed] + [
                run_once(peer, ["/bin/true"], tmpdir, "startup", args.timeout, args.pin_cpu)
                for _ in range(0 if args.quick else 3)]
            runs = runs[1:] or runs
            inner = [r.inner for r in runs]
            peer.startup = (statistics.median(r.wall for r in runs),
                            None if None in inner else statistics.median(inner))
            print("peer %s: ok, start-up %.1f ms%s" % (
                name, peer.startup[0] * 1e3, " (%s)" % peer.label if hasattr(peer, "label") else ""))
        header = machine_info(args, sizes)
        header += sorted({p.info for p in peers if p.info})
        header += ["veil: %s" % next((p.label for p in peers if hasattr(p, "label")), "not run")]
        print("\n".join(header))

        results, failed = [], []
        for wname in args.workloads:
            wl = WORKLOADS[wname]
            size = sizes[wname]
            cmd = wl.argv(ctx, size)
            wl.prepare(ctx, size)
            syscalls, why = workload_syscalls(wl, ctx, size, tmpdir)
            print("\n== %s (%s, %s=%d): %s syscalls%s" % (
                wname, wl.what, wl.unit, size, syscalls if syscalls is not None else "?",
                "" if why is None else " (%s)" % why), flush=True)

            by_peer = {}
            for name in filter(wl.runs_under, args.peers):
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
                wsize = wl.warm_size(size)
                warm = wl.argv(ctx, wsize)
                for peer in filter(lambda p: p.name in by_peer, peers):
                    wl.prepare(ctx, wsize)
                    run_once(peer, warm, tmpdir, "warmup", args.timeout, args.pin_cpu, wl.quiet)

            nruns = args.runs if args.quick else args.runs * wl.runs_factor
            for rnd in range(nruns):
                order = peers if rnd % 2 == 0 else peers[::-1]
                for peer in order:
                    res = by_peer.get(peer.name)
                    if res is None or res.status != "ok":
                        continue  # failed earlier: don't keep paying for it
                    if rnd >= args.runs and "python" in peer.name:
                        continue  # the factor against C needs no precision (and takes ~10x longer)
                    wl.prepare(ctx, size)
                    run = run_once(peer, cmd, tmpdir, "%s-%s-%d" % (wname, peer.name, rnd),
                                   args.timeout, args.pin_cpu, wl.quiet)
                    res.runs.append(run)
                    tail = run.err.strip().splitlines()[-1:] or [""]
                    if run.rc != 0:
                        res.status = "failed"
                        res.note = "exit %d: %s" % (run.rc, tail[0][:200])
                        failed.append("%s/%s" % (wname, peer.name))
                    print("  %-8s %-22s run %d/%d: %8.3f s  cpu %7.3f s%s" % (
                        wname, peer.name, rnd + 1,
                        args.runs if "python" in peer.name else nruns, run.wall, run.cpu,
                        "" if run.rc == 0 else "  FAILED (%s)" % res.note), flush=True)
            results.extend(by_peer.values())

        text = render(table_rows(results))
        extra = summary.sections(results, args.workloads)
        print("\n" + text + "\n\n" + extra)
        elapsed = time.perf_counter() - started
        footer = "(%d runs per peer; whole suite %.0f s; load average at end: %s)" % (
            args.runs, elapsed, loadavg())
        print("\n" + footer)

        if csv_path:
            write_csv(csv_path, results)
            txt = os.path.splitext(csv_path)[0] + ".txt"
            with open(txt, "w") as f:
                f.write("\n".join(header) + "\n\n" + text + "\n\n" + extra + "\n\n" + footer + "\n")
                for name, why in skipped.items():
                    f.write("\nskipped %s: %s" % (name, why))
                f.write("\n")
            print("wrote %s and %s" % (os.path.relpath(csv_path), os.path.relpath(txt)))
        if plot_path:
            why = summary.plot(results, args.workloads, plot_path, header)
            print("wrote %s" % os.path.relpath(plot_path) if why is None else
                  "no chart: %s" % why)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)

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
