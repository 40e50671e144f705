"""What veil costs YOUR program, side by side with native (and strace, PRoot): the
measuring behind ``veil bench`` (veil.cli.bench, which parses the flags).

    veil bench [--mode MODE ...] [--runs N] [--warmup N] [--against native,strace,proot]
               [--csv F] [--plot F.png] [--json] -- CMD ARGS

Every measured run is a fresh process: the command itself (native), ``strace -f``,
``proot -r /``, or ``sys.executable -m veil.cli.benchchild --child STATS VEIL-ARGS`` for the
veil modes: that is ``veil.cli.main(VEIL-ARGS)`` unchanged, within
``veil.session.results_to`` to write ``result.engine_stats`` and ``result.duration``
to STATS at the end, so every veil run reports its own ptrace stops at no measurable cost.  Runs
alternate A B C, C B A, ... so that drift of the machine falls on all alike.
Wall time is perf_counter around the child; user/sys time come from ``os.wait4``
(the child and every descendant it reaped); peak RSS from one more run of each
under GNU time (see peak_rss).  The number of syscalls
the command makes is counted once, untimed, by an in-process Session.
See docs/BENCH.md; tables, CSV, JSON and the chart are in veil.benchreport.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from .errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

MODES_HELP = ("trace, trace-binary, trace-raw, trace-class:CLASS (e.g. trace-class:%file), run, "
              "layout, sockets, hook:SYSCALL, python")
PEERS = ("native", "strace", "proot")
CHILD_MODULE = "veil.cli.benchchild"   # python -m CHILD_MODULE --child STATS VEIL-ARGS


class Mode:
    """One way of running the command; ``argv(cmd)`` is what is timed."""

    def __init__(self, name: str, prefix: Sequence[str], veil: bool = False):
        self.name, self.prefix, self.veil = name, list(prefix), veil
        self.skip: str | None = None      # why it is not measured
        self.failed: str | None = None    # what went wrong in a run
        self.samples: list[dict[str, float]] = []
        self.rss_kb: int | None = None    # peak RSS, from one run under GNU time

    def argv(self, cmd: Sequence[str], stats: str | None) -> list[str]:
        if self.veil:
            return [sys.executable, "-m", CHILD_MODULE, "--child", stats, *self.prefix,
                    "--", *cmd]
        return self.prefix + list(cmd)

    def shown(self, cmd: Sequence[str]) -> list[str]:
        """The command line as a user would type it."""
        return ["veil", *self.prefix, "--", *cmd] if self.veil else self.prefix + list(cmd)


def _check_set(spec: str, what: str) -> None:
    from .syscalls.lookup import UnknownSyscallError, resolve_set
    try:
        resolve_set(spec)
    except UnknownSyscallError as e:
        raise UsageError(f"bench: mode {what!r}: {e}") from None


def make_mode(name: str, tmp: str) -> Mode:
    """The Mode a user's --mode NAME means (UsageError naming it if unknown)."""
    kind, _, arg = name.partition(":")
    if name == "trace":
        return Mode(name, ["trace", "-f", "-o", os.devnull], veil=True)
    if name in ("trace-binary", "trace-raw"):
        # the C loop's records, written unformatted: what the engine itself costs
        raw = ["-e", "raw=all"] if name == "trace-raw" else []
        return Mode(name, ["trace", "--format", "binary", *raw, "-f", "-o",
                           os.path.join(tmp, name + ".veil")], veil=True)
    if kind == "trace-class" and arg:
        _check_set(arg, name)
        return Mode(name, ["trace", "-f", "-o", os.devnull, "-e", "trace=" + arg], veil=True)
    if name == "run":
        return Mode(name, ["run"], veil=True)
    if name == "layout":
        return Mode(name, ["run", "-r", "/", "-b", "/tmp:/tmp"], veil=True)
    if name == "sockets":
        return Mode(name, ["run", "--sockets-out", os.path.join(tmp, "sockets.json")], veil=True)
    if kind == "hook" and arg:
        _check_set(arg, name)
        policy = os.path.join(tmp, "hook-%s.py" % "".join(c if c.isalnum() else "_" for c in arg))
        with open(policy, "w") as f:
            f.write("import veil\npolicy = veil.Policy()\n"
                    "policy.on_enter(%r)(lambda call: None)\n" % arg)
        return Mode(name, ["run", "--policy", policy], veil=True)
    if name == "python":
        m = Mode(name, ["trace", "--backend", "python", "-f", "-o", os.devnull], veil=True)
        import importlib.util
        if importlib.util.find_spec("ptrace") is None:
            m.skip = "python-ptrace is not installed (pip install python-ptrace)"
        return m
    raise UsageError(f"bench: unknown mode {name!r}; modes: {MODES_HELP}")


def make_peer(name: str) -> Mode:
    if name == "native":
        return Mode("native", [])
    exe = shutil.which(name)
    m = Mode(name, [exe or name, "-f", "-o", os.devnull] if name == "strace" else
             [exe or name, "-r", "/"])
    if not exe:
        m.skip = f"{name} not installed"
    return m


def count_syscalls(cmd: Sequence[str]) -> int | None:
    """Syscalls the command makes, counted once under veil (None if that fails)."""
    from .observers import Observer
    from .session import Session

    class Count(Observer):  # calls entered: exit_group (which never returns) included
        n = 0

        def enter(self, call):
            self.n += 1
    counter = Count()
    null = os.open(os.devnull, os.O_RDWR)
    try:
        Session(list(cmd), trace="all", observers=[counter], stdin=null, stdout=null,
                stderr=null).run()
    except Exception:
        return None
    finally:
        os.close(null)
    return counter.n


def run_once(mode: Mode, cmd: Sequence[str], tmp: str) -> dict[str, float]:
    """One timed run; the sample, with 'status' (exit code) and 'err' (stderr tail)."""
    stats = os.path.join(tmp, "stats.json")
    if os.path.exists(stats):
        os.unlink(stats)
    with tempfile.TemporaryFile(dir=tmp) as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(mode.argv(cmd, stats), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read().decode(errors="replace").strip().splitlines()[-1:]
    s = {"wall": wall, "user": ru.ru_utime, "sys": ru.ru_stime,
         "status": proc.returncode, "err": tail[0] if tail else ""}
    if mode.veil and os.path.exists(stats):
        with open(stats) as f:
            st = json.load(f)
        s["stops"] = st["engine"].get("stops", 0)
        s["syscall_stops"] = st["engine"].get("syscall_stops", 0)
        s["session"] = st["duration"]
    return s


def measure(modes: list[Mode], cmd: Sequence[str], runs: int, warmup: int, tmp: str,
            progress) -> None:
    """Warm-up rounds, then `runs` rounds alternating forward and back."""
    live = [m for m in modes if m.skip is None]
    expected = None
    total = (warmup + runs) * len(live)
    done = 0
    for rnd in range(warmup + runs):
        order = live if rnd % 2 == 0 else live[::-1]
        for m in order:
            done += 1
            if m.failed:
                continue
            progress(f"bench: {'warm-up' if rnd < warmup else 'round %d/%d' % (rnd - warmup + 1, runs)}"
                     f" {m.name:<18} [{done}/{total}]")
            s = run_once(m, cmd, tmp)
            if m.name == "native" and expected is None:
                expected = s["status"]
            elif s["status"] != expected:
                m.failed = (f"exit status {s['status']}, natively {expected}"
                            + (f": {s['err']}" if s["err"] else ""))
                continue
            if m.veil and "stops" not in s:
                m.failed = "veil reported no engine stats" + (f": {s['err']}" if s["err"] else "")
                continue
            if rnd >= warmup:
                m.samples.append(s)


def peak_rss(modes: list[Mode], cmd: Sequence[str], tmp: str) -> str | None:
    """One more run of each mode under GNU time for its peak RSS (m.rss_kb); None, or why not.

    Not ru_maxrss of the timed runs: a child forked by this Python process carries the
    parent's peak into its own at exec, so /bin/true would show ~20 MB."""
    exe = shutil.which("time", path="/usr/bin:/bin")
    out = os.path.join(tmp, "rss")
    try:
        ok = exe and subprocess.run([exe, "-f", "%M", "-o", out, "--", "true"],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        ok = False
    if not ok:
        return "peak RSS needs GNU time (/usr/bin/time; apt-get install time)"
    for m in modes:
        if m.skip is None and not m.failed:
            subprocess.run([exe, "-f", "%M", "-o", out, "--", *m.argv(cmd, os.path.join(
                tmp, "stats.json"))], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            with open(out) as f:
                last = f.read().strip().splitlines()[-1:]
            m.rss_kb = int(last[0]) if last and last[0].isdigit() else None
    return None
