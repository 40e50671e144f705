#!/usr/bin/env python3
"""veil's layout (`veil run -r / -- CMD`) against PRoot: the benchmark of issue 5.

    python3 bench/layout_vs_proot.py [--quick] [--runs 5] [--workloads tar,python,...]
                                     [--peers native,proot,veil,veil-nolayout] [--size NAME=V,...]

Runs each workload natively, under `proot -r /`, under `veil run -r / --` and
under `veil run --` (no layout, the reference), interleaved round by round
(A B C D, D C B A, ...) so that slow drift of the machine falls on every peer
alike, and reports the median wall time of each as a ratio to native, beside
the issue's strong anchor (PRoot 5.4 with seccomp, `-r /`, measured on these
machines). Every run checks that the workload did its work (exit status 0 and
the output it must leave), so a broken peer shows as FAIL, not as a fast time.

See bench/README.md ("Layout against PRoot") for the workloads and peers.
"""
import argparse
import csv
import datetime
import os
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
import run as benchrun  # noqa: E402  (bench/run.py: compiles the C workloads)

# Issue 5, Benchmark: PRoot 5.4 with seccomp, -r /, ratio to native, medians of 5.
ISSUE_ANCHOR = {"fileloop": 49, "tar": 1.46, "python": 2.18, "find": 9.3, "make": 2.51,
                "git": 17.6, "forkexec": 2.43}
ANCHOR_COL = "proot-seccomp (issue)"

REAL_PYTHON_CANDIDATES = ["/usr/bin/python3", "/root/.pyenv/versions/3.11.7/bin/python3"]
VEIL_PYTHON_CANDIDATES = ["/root/.pyenv/versions/3.11.7/bin/python3"]


def which(name):
    exe = shutil.which(name, path="/usr/local/bin:/usr/bin:/bin")
    if not exe:
        raise SystemExit("layout bench: %s not installed" % name)
    return exe


def count_entries(top):
    """Entries under `top` (directories, files, symlinks), `top` itself excluded."""
    n = 0
    for _dirpath, dirnames, filenames in os.walk(top):
        n += len(dirnames) + len(filenames)
    return n


def sh_loop(n, body, out):
    """`sh -c` running `body` n times (stopping at the first failure), stdout to `out`."""
    script = 'i=0; while [ "$i" -lt %d ]; do %s || exit 1; i=$((i+1)); done > %s' % (
        n, body, shlex.quote(out))
    return [which("sh"), "-c", script]


# --------------------------------------------------------------------------
# workloads
#
# Each has a size (a number, or for find a directory), set up once natively
# (which also warms the caches and gives the expected output), then for every
# run: before() (outside the timing), argv(), and check(rc) after it.

class Workload:
    name = what = unit = None
    default = quick = None

    def __init__(self, ctx, size):
        self.ctx, self.size = ctx, size
        self.stdout = None      # file the command's stdout goes to (else /dev/null)

    def setup(self):
        pass

    def argv(self):
        raise NotImplementedError

    def before(self):
        pass

    def check(self):
        """None if the run did its work, else what is wrong."""
        return None

    def after(self):
        pass

    @classmethod
    def parse_size(cls, text):
        if not text.isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError("%s: want a positive number, not %r" % (cls.name, text))
        return int(text)


class Tar(Workload):
    name, unit = "tar", "copies of the tree"
    default, quick = 2, 1
    what = "tar -C DEST -xf T (T: N copies of /usr/include), DEST fresh each run"

    def setup(self):
        tree = self.ctx.quick_tree if self.ctx.quick else self.ctx.tree
        parent, base = os.path.split(tree.rstrip("/"))
        self.tarball = os.path.join(self.ctx.scratch, "tree-%d.tar" % self.size)
        for k in range(self.size):
            # Each copy under its own top directory cK/ (symlink targets untouched).
            subprocess.run([which("tar"), "-C", parent, "-rf" if k else "-cf", self.tarball,
                            "--transform", "s,^%s,c%d,S" % (re.escape(base), k), base],
                           check=True, stdin=subprocess.DEVNULL)
        listing = subprocess.run([which("tar"), "-tf", self.tarball], check=True,
                                 stdout=subprocess.PIPE, text=True).stdout
        self.expected = len({p.rstrip("/") for p in listing.splitlines()})
        self.probe_files = ["c%d/%s" % (k, f) for k in range(self.size)
                            for f in self.ctx.tree_probe(tree)]
        self.dest = os.path.join(self.ctx.scratch, "tar-dest")

    def argv(self):
        return [which("tar"), "-C", self.dest, "-xf", self.tarball]

    def before(self):
        shutil.rmtree(self.dest, ignore_errors=True)
        os.mkdir(self.dest)

    def check(self):
        missing = [f for f in self.probe_files if not os.path.lexists(os.path.join(self.dest, f))]
        if missing:
            return "%s not extracted" % missing[0]
        n = count_entries(self.dest)
        if n != self.expected:
            return "%d entries extracted, the tarball has %d" % (n, self.expected)
        return None

    def after(self):
        shutil.rmtree(self.dest, ignore_errors=True)


class Python(Workload):
    name, unit = "python", "interpreters"
    default, quick = 8, 1
    what = "N x python3 -c 'import json, email, http.client' (in one sh loop)"

    def setup(self):
        self.out = os.path.join(self.ctx.scratch, "python.out")

    def argv(self):
        body = "%s -c 'import json, email, http.client' && echo ok" % shlex.quote(self.ctx.python)
        return sh_loop(self.size, body, self.out)

    def before(self):
        if os.path.exists(self.out):
            os.unlink(self.out)

    def check(self):
        try:
            with open(self.out) as f:
                n = f.read().split().count("ok")
        except FileNotFoundError:
            return "no output file"
        return None if n == self.size else "%d of %d imports succeeded" % (n, self.size)


class Make(Workload):
    name, unit = "make", "C files"
    default, quick = 40, 4
    what = "make -B -j2 of N generated C files (bench/gen_make.py)"

    def setup(self):
        self.tree = gen_make.generate(os.path.join(self.ctx.scratch, "make-%d" % self.size),
                                      self.size)
        self.prog = os.path.join(self.tree, "prog")

    def argv(self):
        return [which("make"), "-B", "-j2", "-s", "-C", self.tree]

    def before(self):
        for f in os.listdir(self.tree):
            if f == "prog" or f.endswith(".o"):
                os.unlink(os.path.join(self.tree, f))

    def check(self):
        objs = [f for f in os.listdir(self.tree) if f.endswith(".o")]
        if not os.access(self.prog, os.X_OK):
            return "no %s built" % os.path.relpath(self.prog, self.ctx.scratch)
        if len(objs) != self.size + 1:
            return "%d objects built, want %d" % (len(objs), self.size + 1)
        return None


class Find(Workload):
    name, unit = "find", "directory"
    default, quick = "/usr", "/usr/include"
    what = "find DIR -xdev (stdout to a file, its line count checked)"

    def setup(self):
        self.stdout = os.path.join(self.ctx.scratch, "find.out")
        # The expected count, from a native run (which also warms the dentry cache).
        res = subprocess.run(self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        self.expected = res.stdout.count(b"\n")

    def argv(self):
        return [which("find"), self.size, "-xdev"]

    def check(self):
        try:
            with open(self.stdout, "rb") as f:
                n = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        except FileNotFoundError:
            return "no output file"
        return None if n == self.expected else "%d lines, natively %d" % (n, self.expected)

    @classmethod
    def parse_size(cls, text):
        if not os.path.isdir(text):
            raise argparse.ArgumentTypeError("find: %r is not a directory" % text)
        return text


class Git(Workload):
    name, unit = "git", "git status runs"
    default, quick = 15, 1
    what = "N x git status (one sh loop) in a repo of a copy of /usr/include, committed"

    def setup(self):
        tree = self.ctx.quick_tree if self.ctx.quick else self.ctx.tree
        self.repo = os.path.join(self.ctx.scratch, "git-%s" % ("quick" if self.ctx.quick else "full"))
        self.out = os.path.join(self.ctx.scratch, "git.out")
        if not os.path.isdir(os.path.join(self.repo, ".git")):
            shutil.copytree(tree, os.path.join(self.repo, os.path.basename(tree.rstrip("/"))),
                            symlinks=True)
            # Every file an hour old: no entry is "racily clean", so git status
            # never rehashes a file nor rewrites the index, run after run.
            old = time.time() - 3600
            for dirpath, dirnames, filenames in os.walk(self.repo):
                for f in dirnames + filenames:
                    os.utime(os.path.join(dirpath, f), (old, old), follow_symlinks=False)
            git = [which("git"), "-C", self.repo, "-c", "user.name=bench",
                   "-c", "user.email=bench@localhost"]
            for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "tree"],
                         ["update-index", "--refresh"], ["status", "-s"]):
                subprocess.run(git + args, check=True, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL)
            self.files = int(subprocess.run(git + ["ls-files", "-z"], check=True,
                                            stdout=subprocess.PIPE).stdout.count(b"\0"))

    def argv(self):
        return sh_loop(self.size, "%s -C %s status" % (shlex.quote(which("git")),
                                                       shlex.quote(self.repo)), self.out)

    def before(self):
        if os.path.exists(self.out):
            os.unlink(self.out)

    def check(self):
        try:
            with open(self.out) as f:
                n = f.read().count("nothing to commit, working tree clean")
        except FileNotFoundError:
            return "no output file"
        return None if n == self.size else "%d of %d git status saw a clean tree" % (n, self.size)


class CLoop(Workload):
    """A C loop of bench/workloads/: it exits 1 at the first failing call. Run
    as `sh -c 'PROG N && echo ok > OUT'` so that a peer that exits 0 without
    running it shows as failed (the sh costs ~1 ms natively)."""

    def setup(self):
        self.out = os.path.join(self.ctx.scratch, self.name + ".out")

    def before(self):
        if os.path.exists(self.out):
            os.unlink(self.out)

    def check(self):
        return None if os.path.exists(self.out) else "no output file"


def proves_it_ran(argv, out):
    return [which("sh"), "-c", "%s && echo ok > %s" % (shlex.join(argv), shlex.quote(out))]


class ForkExec(CLoop):
    name, unit = "forkexec", "children"
    default, quick = 500, 20
    what = "N x {fork, child execs /bin/true, waitpid} (bench/workloads/forkexec.c)"

    def argv(self):
        return proves_it_ran([os.path.join(self.ctx.build_dir, "forkexec"), str(self.size)],
                             self.out)


class FileLoop(CLoop):
    name, unit = "fileloop", "loops"
    default, quick = 80000, 500
    what = "N x {openat /etc/passwd, fstat, close} (bench/workloads/fileloop.c)"

    def argv(self):
        return proves_it_ran([os.path.join(self.ctx.build_dir, "fileloop"), str(self.size)],
                             self.out)


WORKLOADS = {w.name: w for w in [Tar, Python, Make, Find, Git, ForkExec, FileLoop]}
DEFAULT_WORKLOADS = list(WORKLOADS)


# --------------------------------------------------------------------------
# peers

class Skip(Exception):
    pass


class Peer:
    env = None

    def __init__(self, name):
        self.name = name

    def prefix(self):
        return []

    def probe(self, tmpdir):
        argv = self.prefix() + ["/bin/true"]
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


class Native(Peer):
    what = "the command itself"


class Proot(Peer):
    what = "proot -r / CMD"

    def probe(self, tmpdir):
        self.exe = shutil.which("proot", path="/usr/local/bin:/usr/bin:/bin")
        if not self.exe:
            raise Skip("proot not installed (apt-get install proot)")
        super().probe(tmpdir)

    def prefix(self):
        return [self.exe, "-r", "/"]

    def version(self):
        res = subprocess.run([self.exe, "--version"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        text = res.stdout
        ver = re.search(r"(\d+\.\d+(?:\.\d+)?)\s*$", text.split("built-in")[0].strip())
        acc = re.search(r"built-in accelerators:.*", text)
        return "proot %s (%s)" % (ver.group(1) if ver else "?",
                                  acc.group(0) if acc else "accelerators unknown")


class Veil(Peer):
    """`python3 -m veil run [-r /] -- CMD`, with the real interpreter (not the
    pyenv shim), from the installed package or else from this checkout's src/
    (PYTHONPATH, as bench/run.py does; then `--unset PYTHONPATH`, so the
    workload does not inherit it)."""

    def __init__(self, name, layout, veil_cmd, veil_src, binds=(), engine=None):
        super().__init__(name)
        self.layout = layout
        self.binds = list(binds)
        self.engine = engine  # --layout-engine (None: veil's choice)
        self.veil_cmd = veil_cmd
        self.veil_src = veil_src
        self.what = "veil run %s%s-- CMD" % (
            "--layout-engine %s " % engine if engine else "",
            "-r / " + "".join("-b %s " % b for b in self.binds) if layout else "")
        self.base = self.run_args = None

    def prefix(self):
        binds = [a for b in self.binds for a in ("-b", b)]
        engine = ["--layout-engine", self.engine] if self.engine else []
        return (self.base + ["run"] + self.run_args + engine
                + (["-r", "/"] + binds if self.layout else []) + ["--"])

    def candidates(self):
        if self.veil_cmd:
            yield self.veil_cmd, shlex.split(self.veil_cmd), None, []
            return
        py = next((p for p in VEIL_PYTHON_CANDIDATES if os.access(p, os.X_OK)),
                  os.path.realpath(sys.executable))
        if not self.veil_src:
            yield "%s -m veil" % py, [py, "-m", "veil"], None, []
        src = self.veil_src or os.path.join(REPO, "src")
        env = dict(os.environ)
        unset = []
        if env.get("PYTHONPATH"):
            env["PYTHONPATH"] = src + os.pathsep + env["PYTHONPATH"]
        else:
            env["PYTHONPATH"] = src
            unset = ["--unset", "PYTHONPATH"]
        yield "PYTHONPATH=%s %s -m veil" % (src if self.veil_src else "src", py), \
            [py, "-m", "veil"], env, unset

    def probe(self, tmpdir):
        reasons = []
        for label, base, env, run_args in self.candidates():
            self.base, self.env, self.run_args = base, env, run_args
            try:
                super().probe(tmpdir)
                self.label = label
                return
            except Skip as e:
                reasons.append("%s: %s" % (label, getattr(e, "short", e)))
        raise Skip("; ".join(reasons))


PEER_NAMES = ["native", "proot", "veil", "veil-bind", "veil-mount", "veil-nolayout"]


def make_peer(name, veil_cmd, veil_src=None):
    if name == "native":
        return Native(name)
    if name == "proot":
        return Proot(name)
    if name == "veil":
        return Veil(name, True, veil_cmd, veil_src)
    if name == "veil-bind":
        # a bind makes the ptrace engine translate (and rewrite) every path, as a rootfs does
        return Veil(name, True, veil_cmd, veil_src, binds=["/dev/shm:/dev/shm"], engine="ptrace")
    if name == "veil-mount":
        # the same layout made by the kernel (a mount namespace): no stop for path calls
        return Veil(name, True, veil_cmd, veil_src, binds=["/dev/shm:/dev/shm"], engine="mount")
    if name == "veil-nolayout":
        return Veil(name, False, veil_cmd, veil_src)
    raise ValueError(name)


# --------------------------------------------------------------------------
# measuring

class Run:
    def __init__(self, rc, wall, cpu, err, problem):
        self.rc, self.wall, self.cpu, self.err, self.problem = rc, wall, cpu, err, problem


NEW_GROUP = {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}


def _kill_group(holder):
    p = holder.get("p")
    if p is not None and p.poll() is None:
        holder["timed_out"] = True
        try:
            os.killpg(p.pid, 9)
        except ProcessLookupError:
            pass


def run_once(peer, argv, stdout_path, env, tmpdir, timeout):
    """Run argv under peer; (rc, wall s, user+sys s of the tree, stderr text)."""
    holder = {}
    timer = threading.Timer(timeout, _kill_group, [holder])
    timer.daemon = True
    errfile = os.path.join(tmpdir, "stderr")
    full_env = dict(peer.env if peer.env is not None else os.environ)
    full_env.update(env)
    timer.start()
    try:
        with open(errfile, "w+") as ferr, \
                open(stdout_path or os.devnull, "w") as fout:
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            p = subprocess.Popen(peer.prefix() + argv, stdin=subprocess.DEVNULL, stdout=fout,
                                 stderr=ferr, env=full_env, **NEW_GROUP)
            holder["p"] = p
            rc = p.wait()
            t1 = time.perf_counter()
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            timer.cancel()
            ferr.seek(0)
            err = ferr.read()
    finally:
        timer.cancel()
    if holder.get("timed_out"):
        err += "\n(killed after %d s)" % timeout
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return rc, t1 - t0, cpu, err


class Result:
    def __init__(self, workload, peer):
        self.workload, self.peer = workload, peer
        self.runs = []
        self.status, self.note = "ok", ""
        self.startup = None
        self.native = None

    def median(self, attr="wall"):
        vals = [getattr(r, attr) for r in self.runs]
        return statistics.median(vals) if vals and self.status == "ok" else None

    def range(self):
        vals = [r.wall for r in self.runs]
        return (min(vals), max(vals)) if vals and self.status == "ok" else (None, None)

    def ratio(self):
        if self.native is None or self.native.status != "ok":
            return None
        a, b = self.median(), self.native.median()
        return a / b if a and b else None


# --------------------------------------------------------------------------
# output

def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def fmt_ratio(v):
    if v is None:
        return "-"
    for limit, spec in ((100, ".0f"), (10, ".1f"), (0.1, ".2f")):
        if v >= limit:
            return format(v, spec)
    return format(v, ".3f")


def render(rows, left=1):
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        out.append("  ".join(c.ljust(widths[i]) if i < left else c.rjust(widths[i])
                             for i, c in enumerate(row)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def short(note, n=60):
    note = " ".join(note.split())
    return note if len(note) <= n else note[:n - 3] + "..."


def summary_table(workloads, results, peer_names):
    """One row per workload: native seconds, each peer as x native, the issue's anchor."""
    head = ["workload", "size", "native s"] + ["%s x" % p for p in peer_names if p != "native"]
    head.append(ANCHOR_COL)
    rows = [head]
    for wl in workloads:
        by = results[wl.name]
        nat = by.get("native")
        row = [wl.name, str(wl.size), fmt(nat.median() if nat else None, ".3f")
               if not nat or nat.status == "ok" else nat.status.upper()]
        for p in peer_names:
            if p == "native":
                continue
            r = by[p]
            if r.status == "ok":
                row.append(fmt_ratio(r.ratio()))
            else:
                row.append("FAIL" if r.status == "failed" else r.status)
        row.append(fmt_ratio(ISSUE_ANCHOR.get(wl.name)))
        rows.append(row)
    return render(rows, left=2)


def detail_table(workloads, results, peer_names):
    head = ["workload", "peer", "median s", "min-max s", "cpu s", "start ms", "x native", "runs"]
    rows = [head]
    notes = []
    for wl in workloads:
        for p in peer_names:
            r = results[wl.name][p]
            if r.status != "ok":
                rows.append([wl.name, p, r.status.upper(), "", "", "", "", str(len(r.runs))])
                note = ("%s skipped: %s" % (p, r.note) if r.status == "skipped"
                        else "%s/%s %s: %s" % (wl.name, p, r.status, r.note))
                if note not in notes:
                    notes.append(note)
                continue
            lo, hi = r.range()
            rows.append([wl.name, p, fmt(r.median(), ".3f"),
                         "%s-%s" % (fmt(lo, ".3f"), fmt(hi, ".3f")), fmt(r.median("cpu"), ".3f"),
                         fmt(r.startup * 1e3 if r.startup is not None else None, ".1f"),
                         fmt_ratio(r.ratio()), str(len(r.runs))])
    return render(rows, left=2), notes


CSV_FIELDS = ["workload", "size", "peer", "status", "note", "runs", "wall_median_s", "wall_min_s",
              "wall_max_s", "cpu_median_s", "startup_s", "ratio_native",
              "issue_proot_seccomp_ratio", "walls_s"]


def write_csv(path, workloads, results, peer_names):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for wl in workloads:
            for p in peer_names:
                r = results[wl.name][p]
                lo, hi = r.range()

                def num(v, spec="%.4f"):
                    return "" if v is None else spec % v
                w.writerow({
                    "workload": wl.name, "size": wl.size, "peer": p, "status": r.status,
                    "note": r.note, "runs": len(r.runs), "wall_median_s": num(r.median()),
                    "wall_min_s": num(lo), "wall_max_s": num(hi),
                    "cpu_median_s": num(r.median("cpu")), "startup_s": num(r.startup),
                    "ratio_native": num(r.ratio(), "%.3f"),
                    "issue_proot_seccomp_ratio": ISSUE_ANCHOR.get(wl.name, ""),
                    "walls_s": " ".join("%.4f" % x.wall for x in r.runs),
                })


def first_line(argv):
    try:
        res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=10)
        lines = res.stdout.strip().splitlines()
        return lines[0] if lines else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "n/a"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def veil_c_stale():
    """The C accelerator in src/ older than csrc/ (a src/ checkout not rebuilt)."""
    so = [os.path.join(REPO, "src", "veil", f) for f in os.listdir(os.path.join(REPO, "src", "veil"))
          if f.startswith("_veil_c") and f.endswith(".so")] if os.path.isdir(
              os.path.join(REPO, "src", "veil")) else []
    csrc = os.path.join(REPO, "csrc")
    if not so or not os.path.isdir(csrc):
        return None
    newest = max(os.path.getmtime(os.path.join(csrc, f)) for f in os.listdir(csrc))
    if os.path.getmtime(so[0]) < newest:
        return "warning: %s is older than csrc/ (rebuild it)" % os.path.relpath(so[0], REPO)
    return None


def snapshot_veil(rev, dest):
    """This checkout's veil at commit `rev`, extracted into `dest` with its C
    part built (cffi, as setup.py would): returns the src/ directory to run.
    So that the figures are those of one commit, whatever the working tree holds."""
    os.makedirs(dest)
    archive = subprocess.run(["git", "-C", REPO, "archive", rev], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, check=False)
    if archive.returncode != 0:
        raise SystemExit("layout bench: git archive %s: %s" % (rev, archive.stderr.decode().strip()))
    subprocess.run([which("tar"), "-x", "-C", dest], input=archive.stdout, check=True)
    # cffi compiles in its tmpdir with the sources' relative paths; not in the
    # root itself, where distutils would read pyproject.toml.
    cdir = os.path.join(dest, "build", "cffi")
    os.makedirs(cdir)
    os.symlink(os.path.join(dest, "csrc"), os.path.join(cdir, "csrc"))
    py = next((p for p in VEIL_PYTHON_CANDIDATES if os.access(p, os.X_OK)),
              os.path.realpath(sys.executable))
    res = subprocess.run(
        [py, "-c", "import sys; sys.path.insert(0, 'src/veil'); import _build; "
                   "print(_build.ffibuilder.compile(tmpdir='build/cffi'))"],
        cwd=dest, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if res.returncode != 0:
        raise SystemExit("layout bench: building veil's C part at %s failed:\n%s"
                         % (rev, res.stdout[-2000:]))
    built = res.stdout.strip().splitlines()[-1]
    shutil.copy(built, os.path.join(dest, "src", "veil", os.path.basename(built)))
    # Byte-compiled now: with PYTHONDONTWRITEBYTECODE set, every start would
    # compile veil from source again (~60 ms).
    subprocess.run([py, "-m", "compileall", "-q", os.path.join(dest, "src")], check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(dest, "src")


# --------------------------------------------------------------------------
# main

class Ctx:
    pass


def default_scratch_parent():
    """A tmpfs if there is one with room (tar extraction on a disk is dominated
    by writeback and varies 10x run to run), else the usual temporary dir."""
    for d in ("/dev/shm",):
        try:
            st = os.statvfs(d)
            if os.access(d, os.W_OK) and st.f_bavail * st.f_frsize > (2 << 30):
                return d
        except OSError:
            pass
    return tempfile.gettempdir()


def parse_sizes(text):
    sizes = {}
    for item in filter(None, (text or "").split(",")):
        name, _, v = item.partition("=")
        if name not in WORKLOADS or not v:
            raise argparse.ArgumentTypeError("bad --size item %r (want NAME=VALUE)" % item)
        sizes[name] = WORKLOADS[name].parse_size(v)
    return sizes


def csv_list(text, known, what):
    items = [x for x in text.split(",") if x]
    for x in items:
        if x not in known:
            raise argparse.ArgumentTypeError("unknown %s %r (known: %s)" % (what, x, ", ".join(known)))
    return items


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="one run of each workload at a small size: only check that every peer "
                         "works (exit 1 if one fails); writes no files unless --csv is given")
    ap.add_argument("--runs", type=int, default=None, help="measured runs per peer (default 5)")
    ap.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS),
                    type=lambda s: csv_list(s, list(WORKLOADS), "workload"),
                    help="comma list (default: %(default)s)")
    ap.add_argument("--peers", default=",".join(PEER_NAMES),
                    type=lambda s: csv_list(s, PEER_NAMES, "peer"),
                    help="comma list (default: %(default)s)")
    ap.add_argument("--size", default={}, type=parse_sizes, metavar="NAME=V,...",
                    help="override sizes, e.g. fileloop=20000,find=/usr/share,tar=1")
    ap.add_argument("--tree", default="/usr/include",
                    help="the tree tar and git use (default %(default)s)")
    ap.add_argument("--python", default=None,
                    help="interpreter of the python workload (default: the first of %s)"
                         % ", ".join(REAL_PYTHON_CANDIDATES))
    ap.add_argument("--veil", default=os.environ.get("VEIL"), metavar="CMD",
                    help="how to run veil, e.g. 'python3 -m veil' (default: autodetect)")
    ap.add_argument("--veil-src", default=None, metavar="DIR",
                    help="run veil from this src/ directory (PYTHONPATH=DIR, not passed on to "
                         "the workload), e.g. a snapshot of one commit with its C part built")
    ap.add_argument("--veil-commit", default=None, metavar="REV",
                    help="run veil as of this commit of the checkout (git archive into the "
                         "scratch dir, C part built there): the working tree may be mid-change")
    ap.add_argument("--tmp", default=None,
                    help="where the scratch directory goes (default /dev/shm if a tmpfs with room)")
    ap.add_argument("--csv", default=None,
                    help="results here (default bench/results/layout.csv; with --quick only if "
                         "given); the tables go to a .txt beside it")
    ap.add_argument("--no-csv", action="store_true", help="write no result files")
    ap.add_argument("--require", default="", type=lambda s: csv_list(s, PEER_NAMES, "peer"),
                    help="exit 1 if any of these peers is skipped")
    ap.add_argument("--timeout", type=int, default=None,
                    help="seconds before a run is killed (default 600, --quick 60)")
    ap.add_argument("--build-dir", default=os.path.join(BENCH, "build"))
    ap.add_argument("--cc", default=os.environ.get("CC", "gcc"))
    args = ap.parse_args(argv)

    if args.runs is None:
        args.runs = 1 if args.quick else 5
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    if args.timeout is None:
        args.timeout = 60 if args.quick else 600
    csv_path = args.csv
    if csv_path is None and not args.quick:
        csv_path = os.path.join(BENCH, "results", "layout.csv")
    if args.no_csv:
        csv_path = None

    ctx = Ctx()
    ctx.quick = args.quick
    ctx.build_dir = args.build_dir
    ctx.tree = os.path.abspath(args.tree)
    # --quick: a small corner of the tree, so that setting up takes no time.
    ctx.quick_tree = os.path.join(ctx.tree, "linux") if os.path.isdir(
        os.path.join(ctx.tree, "linux")) else ctx.tree
    ctx.python = args.python or next(p for p in REAL_PYTHON_CANDIDATES + [sys.executable]
                                     if os.access(p, os.X_OK))
    ctx.tree_probe = lambda tree: sorted(f for f in os.listdir(tree)
                                         if os.path.isfile(os.path.join(tree, f)))[:3]

    started = time.perf_counter()
    benchrun.build(args.build_dir, args.cc)

    scratch_parent = args.tmp or default_scratch_parent()
    ctx.scratch = tempfile.mkdtemp(prefix="veil-layout-bench-", dir=scratch_parent)
    tmpdir = os.path.join(ctx.scratch, "run")
    os.mkdir(tmpdir)
    # Same locale for every peer, so that the outputs checked are English.
    run_env = {"LC_ALL": "C"}
    rc = 0
    try:
        if args.veil_commit:
            rev = first_line(["git", "-C", REPO, "rev-parse", "--verify", "--short",
                              args.veil_commit + "^{commit}"])
            if not re.fullmatch(r"[0-9a-f]+", rev):
                raise SystemExit("layout bench: no commit %r" % args.veil_commit)
            t = time.perf_counter()
            args.veil_src = snapshot_veil(rev, os.path.join(ctx.scratch, "veil-" + rev))
            print("veil: commit %s extracted and built in %.1f s" % (rev, time.perf_counter() - t))
        peers, skipped = [], {}
        for name in args.peers:
            peer = make_peer(name, args.veil, args.veil_src and os.path.abspath(args.veil_src))
            try:
                peer.probe(tmpdir)
            except Skip as e:
                skipped[name] = str(e)
                print("peer %s: skipped: %s" % (name, e), flush=True)
                continue
            walls = [run_once(peer, ["/bin/true"], None, run_env, tmpdir, args.timeout)[1]
                     for _ in range(3)]
            peer.startup = statistics.median(walls)
            peers.append(peer)
            print("peer %s: ok (%s%s), start-up %.1f ms" % (
                name, peer.what, ", " + peer.label if isinstance(peer, Veil) else "",
                peer.startup * 1e3), flush=True)

        if args.veil_commit:
            commit = first_line(["git", "-C", REPO, "log", "-1", "--format=%h %s", rev])
            commit += " (extracted and built apart from the working tree)"
        elif args.veil_src:
            commit = "(src/ at %s)" % args.veil_src
        else:
            commit = first_line(["git", "-C", REPO, "log", "-1", "--format=%h %s"])
            if first_line(["git", "-C", REPO, "status", "--porcelain", "--", "src",
                           "csrc"]) not in ("?", ""):
                commit += " (src/ or csrc/ modified in the working tree)"
        u = os.uname()
        proot = next((p for p in peers if isinstance(p, Proot)), None)
        veils = [p for p in peers if isinstance(p, Veil)]
        header = [
            "date: %s" % datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "machine: %s %s %s, %d CPUs (%d usable); load average at start: %s" % (
                u.sysname, u.release, u.machine, os.cpu_count() or 0,
                len(os.sched_getaffinity(0)), loadavg()),
            "veil: commit %s; run as %s" % (commit, veils[0].label if veils else "(not run)"),
            "%s" % (proot.version() if proot else "proot: not run"),
            "workloads: python %s (%s); %s; %s; %s; %s; %s" % (
                first_line([ctx.python, "--version"]).replace("Python ", ""), ctx.python,
                first_line([which("tar"), "--version"]), first_line([which("git"), "--version"]),
                first_line([which("find"), "--version"]), first_line([which("make"), "--version"]),
                first_line([args.cc, "--version"])),
            "runs: %d per peer (median), peers alternated A B C D, D C B A, ...; "
            "scratch on %s" % (args.runs, scratch_parent),
            "%s: PRoot 5.4 with seccomp, -r /, ratio to native (issue 5)" % ANCHOR_COL,
        ]
        stale = None if args.veil_src else veil_c_stale()
        if stale:
            header.append(stale)
        print("\n" + "\n".join(header), flush=True)

        workloads, results, failed = [], {}, []
        for wname in args.workloads:
            cls = WORKLOADS[wname]
            size = args.size.get(wname, cls.quick if args.quick else cls.default)
            wl = cls(ctx, size)
            t = time.perf_counter()
            wl.setup()
            workloads.append(wl)
            by = results[wname] = {}
            for name in args.peers:
                r = by[name] = Result(wname, name)
                if name in skipped:
                    r.status, r.note = "skipped", skipped[name]
                else:
                    r.startup = next(p.startup for p in peers if p.name == name)
            for r in by.values():
                r.native = by.get("native")
            print("\n== %s (%s; %s=%s; set up in %.1f s)" % (
                wname, wl.what, wl.unit, size, time.perf_counter() - t), flush=True)
            # A native reference run, not counted: warms the caches, and a
            # workload that fails natively is broken, not slow.
            if not args.quick:
                wl.before()
                res = run_once(Native("native"), wl.argv(), wl.stdout, run_env, tmpdir, args.timeout)
                problem = ("exit %d: %s" % (res[0], short(res[3], 200))) if res[0] else wl.check()
                wl.after()
                if problem:
                    for r in by.values():
                        if r.status == "ok":
                            r.status, r.note = "failed", "native reference run: " + problem
                    failed.append(wname + "/native")
                    print("  native reference run FAILED: %s" % problem, flush=True)
                    continue
            for rnd in range(args.runs):
                for peer in (peers if rnd % 2 == 0 else peers[::-1]):
                    r = by[peer.name]
                    if r.status != "ok":
                        continue  # failed earlier: don't keep paying for it
                    wl.before()
                    rc_, wall, cpu, err = run_once(peer, wl.argv(), wl.stdout, run_env, tmpdir,
                                                   args.timeout)
                    if rc_ != 0:
                        tail = err.strip().splitlines()[-1:] or ["(no stderr)"]
                        problem = "exit %d: %s" % (rc_, tail[0][:200])
                    else:
                        problem = wl.check()
                    wl.after()
                    if problem:
                        r.status, r.note = "failed", problem
                        failed.append("%s/%s" % (wname, peer.name))
                    else:
                        r.runs.append(Run(rc_, wall, cpu, err, None))
                    print("  %-8s %-14s run %d/%d: %8.3f s  cpu %7.3f s%s" % (
                        wname, peer.name, rnd + 1, args.runs, wall, cpu,
                        "  FAILED (%s)" % problem if problem else ""), flush=True)

        summary = summary_table(workloads, results, args.peers)
        detail, notes = detail_table(workloads, results, args.peers)
        footer = "(%d runs per peer; whole suite %.0f s; load average at end: %s)" % (
            args.runs, time.perf_counter() - started, loadavg())
        text = "\n".join(header) + "\n\n" + summary + "\n\n" + detail + "\n"
        if notes:
            text += "\n" + "\n".join(notes) + "\n"
        text += "\n" + footer + "\n"
        print("\n" + text, end="")
        if csv_path:
            os.makedirs(os.path.dirname(os.path.abspath(csv_path)), exist_ok=True)
            write_csv(csv_path, workloads, results, args.peers)
            txt = os.path.splitext(csv_path)[0] + ".txt"
            with open(txt, "w") as f:
                f.write(text)
            print("wrote %s and %s" % (os.path.relpath(csv_path), os.path.relpath(txt)))
        if failed:
            print("FAILED: " + ", ".join(failed), file=sys.stderr)
            rc = 1
        missing = [p for p in args.require if p in skipped]
        if missing:
            print("required peers skipped: " + ", ".join(missing), file=sys.stderr)
            rc = 1
        if args.quick and rc == 0:
            print("quick check passed: every available peer ran every workload and did its work")
    finally:
        shutil.rmtree(ctx.scratch, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
