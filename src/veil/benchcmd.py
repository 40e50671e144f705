"""``veil bench``: what veil costs YOUR program, side by side with native (and strace, PRoot).

    veil bench [--mode MODE ...] [--runs N] [--warmup N] [--against native,strace,proot]
               [--csv F] [--plot F.png] [--json] -- CMD ARGS

Every measured run is a fresh process: the command itself (native), ``strace -f``,
``proot -r /``, or ``sys.executable -m veil.benchcmd --child STATS VEIL-ARGS`` for the
veil modes: that is ``veil.cli.main(VEIL-ARGS)`` unchanged, with ``Session.run``
wrapped to write ``result.engine_stats`` and ``result.duration`` to STATS at the
end, so every veil run reports its own ptrace stops at no measurable cost.  Runs
alternate A B C, C B A, ... so that drift of the machine falls on all alike.
Wall time is perf_counter around the child; user/sys time come from ``os.wait4``
(the child and every descendant it reaped); peak RSS from one more run of each
under GNU time (see peak_rss).  The number of syscalls
the command makes is counted once, untimed, by an in-process Session.
See docs/BENCH.md; tables, CSV, JSON and the chart are in veil.benchreport.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

from .errors import UsageError

MODES_HELP = ("trace, trace-binary, trace-raw, trace-class:CLASS (e.g. trace-class:%file), run, "
              "layout, sockets, hook:SYSCALL, python")
PEERS = ("native", "strace", "proot")


class Mode:
    """One way of running the command; ``argv(cmd)`` is what is timed."""

    def __init__(self, name: str, prefix: Sequence[str], veil: bool = False):
        self.name, self.prefix, self.veil = name, list(prefix), veil
        self.skip: Optional[str] = None      # why it is not measured
        self.failed: Optional[str] = None    # what went wrong in a run
        self.samples: List[Dict[str, float]] = []
        self.rss_kb: Optional[int] = None    # peak RSS, from one run under GNU time

    def argv(self, cmd: Sequence[str], stats: Optional[str]) -> List[str]:
        if self.veil:
            return [sys.executable, "-m", "veil.benchcmd", "--child", stats, *self.prefix,
                    "--", *cmd]
        return self.prefix + list(cmd)

    def shown(self, cmd: Sequence[str]) -> List[str]:
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
        from .cli import _trace_parser
        if "--backend" not in _trace_parser().format_help():
            m.skip = "not available yet (no python-ptrace backend in this veil)"
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


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        raise UsageError(f"bench: {message}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="veil bench", description="Measure what veil costs a command.")
    p.add_argument("--mode", action="append", default=[], metavar="MODE",
                   help=f"repeatable; one of: {MODES_HELP} (default: trace and run)")
    p.add_argument("--runs", type=int, default=5, metavar="N", help="measured runs of each (5)")
    p.add_argument("--warmup", type=int, default=1, metavar="N",
                   help="unmeasured rounds first (1); they also check every mode works")
    p.add_argument("--against", default="native", metavar="native,strace,proot",
                   help="peers measured besides veil (native always is)")
    p.add_argument("--csv", metavar="FILE", help="write the results as CSV")
    p.add_argument("--plot", metavar="FILE.png", help="write a bar chart (needs matplotlib)")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("command", nargs=argparse.REMAINDER)
    return p


def count_syscalls(cmd: Sequence[str]) -> Optional[int]:
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


def run_once(mode: Mode, cmd: Sequence[str], tmp: str) -> Dict[str, float]:
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


def measure(modes: List[Mode], cmd: Sequence[str], runs: int, warmup: int, tmp: str,
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


def peak_rss(modes: List[Mode], cmd: Sequence[str], tmp: str) -> Optional[str]:
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


def cmd_bench(argv: Sequence[str]) -> int:
    from . import benchreport as R
    from .session import resolve_command

    args = _parser().parse_args(list(argv))
    cmd = list(args.command)
    if cmd[:1] == ["--"]:
        cmd = cmd[1:]
    if not cmd:
        raise UsageError("bench: no command; usage: veil bench [--mode MODE ...] [--runs N] -- CMD ARGS")
    if args.runs < 1 or args.warmup < 0:
        raise UsageError("bench: --runs must be 1 or more and --warmup 0 or more")
    against = [a.strip() for a in args.against.split(",") if a.strip()]
    bad = [a for a in against if a not in PEERS]
    if bad:
        raise UsageError(f"bench: unknown --against peer {bad[0]!r}; peers: {', '.join(PEERS)}")
    if args.plot:
        R.check_plot()
    resolve_command(cmd[0])  # CommandNotFound: exit 127 (126) like veil run
    tmp = tempfile.mkdtemp(prefix="veil-bench-")
    try:
        modes = [make_peer("native")] + [make_peer(a) for a in PEERS[1:] if a in against]
        names = args.mode or ["trace", "run"]
        modes += [make_mode(n, tmp) for n in dict.fromkeys(names)]
        tty = sys.stderr.isatty()

        def progress(line: str) -> None:
            if tty:
                sys.stderr.write("\r\033[K" + line)
                sys.stderr.flush()

        progress("bench: counting syscalls")
        syscalls = count_syscalls(cmd)
        measure(modes, cmd, args.runs, args.warmup, tmp, progress)
        progress("bench: peak RSS (one run each under GNU time)")
        rss_note = peak_rss(modes, cmd, tmp)
        if tty:
            sys.stderr.write("\r\033[K")
        report = R.summarise(modes, cmd, args.runs, syscalls, rss_note)
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            R.print_table(report, sys.stdout)
        if args.csv:
            R.write_csv(report, args.csv)
        if args.plot:
            R.write_plot(report, args.plot)
        return 1 if any(r["status"] == "failed" for r in report["modes"]) else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _child(argv: List[str]) -> int:
    """``--child STATS VEIL-ARGS``: the veil CLI as is, Session.run's result noted in STATS."""
    from veil import session as S
    from veil.cli import main
    stats, rest = argv[0], argv[1:]
    real_run = S.Session.run

    def run(self):
        result = real_run(self)
        with open(stats, "w") as f:
            json.dump({"engine": result.engine_stats, "duration": result.duration}, f)
        return result
    S.Session.run = run
    return main(rest)


if __name__ == "__main__":
    if sys.argv[1:2] != ["--child"] or len(sys.argv) < 3:
        sys.exit("usage: python -m veil.benchcmd --child STATS VEIL-ARGS (used by veil bench)")
    sys.exit(_child(sys.argv[2:]))
