"""Start-up weight (issue 22) and optional dependencies (issue 23).

A command imports what it uses and no more: the guard counts the modules of
veil a command loads and names the heavy ones it must not load, in a fresh
interpreter (no timing, so no flakiness).  A missing extra (lief for veil
prep, python-ptrace for --backend python) is one line naming the pip command.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Dict, List, Sequence

import pytest

from conftest import DEFAULT_TIMEOUT

HEAVY = ("construct", "lief", "psutil", "ptrace")   # third-party: never at start
DECODING = ("veil.decoders", "veil.output.text")
# the standard library's modules neither command uses on a plain run (each a few ms:
# json and socket with their own imports, traceback with linecache's and textwrap's)
UNUSED_STDLIB = ("json", "socket", "selectors", "traceback", "runpy", "textwrap", "tarfile")
# ... and those a plain trace has no use for: dataclasses (with inspect, ast, dis and
# tokenize, 16-25 ms), ipaddress (no address to parse), shutil (no bare command
# name to look up, no help to fit to the terminal), locale (argparse's gettext),
# typing (~6 ms: annotations are never evaluated; names only they use are imported
# under ``TYPE_CHECKING = False``), argparse with gettext, re and enum (~11 ms:
# veil.cli.options reads the usual lines; signal's enums: _signal's ints instead),
# importlib and contextlib (~1 ms each), collections (operator, reprlib, heapq,
# keyword: veil.tuples makes Syscall and SockAddr, collections.abc is for type
# checkers), functools, threading and queue (the loop's thread is _thread's,
# veil.handoff its queue; ~5 ms with collections), types
TRACE_UNUSED_STDLIB = ("dataclasses", "inspect", "ipaddress", "shutil", "locale", "typing",
                       "argparse", "gettext", "re", "enum", "signal", "importlib", "contextlib",
                       "collections", "functools", "threading", "queue", "types")
# a plain run has none of these either: veil.spec's sections and RunSpec are
# veil.record's records, not dataclasses (~20-35 ms with inspect and re); nor
# tempfile (only a private /tmp, glue, bubblewrap's scratch or served files)
RUN_UNUSED_STDLIB = TRACE_UNUSED_STDLIB + ("tempfile",)
# veil's modules a plain `veil run` has no use for: a policy file, an OCI profile,
# veil's self-protection (only when confined), bundles and archives, the identity
# (none asked: its Policy, verdicts and fake ids), guest ptrace (the hooks stay
# watched; the emulation loads at a guest's first ptrace call), the ring's
# assembler (no observer), the profile reader, socket addresses, the fake ids'
# hooks (veil.fakeroot: -0 and -i only) and the translator's tables (a layout only)
RUN_UNUSED = ("veil.policyfile", "veil.oci", "veil.protect", "veil.prep", "veil.identity",
              "veil.policy", "veil.verdicts", "veil.fakeids", "veil.guest_ptrace",
              "veil.assembler", "veil.spec.toml", "veil.sockaddr", "veil.fakeroot",
              "veil.translations")

# veil's modules a command may load at most: today's count and a little room,
# so that a new eager import (a whole package at module level) shows here.  The
# session's features (features/), its rule database, the ABI constants, socket
# addresses and the syscall table's properties are modules of their own (issue 20)
BUDGET = {"run": 40, "trace": 52}   # `import veil`, --help: tests/test_imports.py

_COUNT = r"""
import sys
before = set(sys.modules)
blocked = sys.argv[2].split(",") if sys.argv[2] else []
for name in blocked:          # a missing package: `import name` raises ImportError
    sys.modules[name] = None
from veil.cli import main
code = main(sys.argv[3:])
modules = sorted(set(sys.modules) - before - set(blocked))
import json                   # after the count: veil's own use of json must show
with open(sys.argv[1], "w") as f:
    json.dump({"exit": code, "modules": modules}, f)
"""


def loaded(tmp_path, args: Sequence[str], blocked: Sequence[str] = ()) -> Dict:
    """Run ``veil ARGS`` in a fresh interpreter: its exit status, stderr and the
    modules it imported (beyond those Python's start-up had)."""
    out = tmp_path / "modules.json"
    # without site (-S) but with this interpreter's path: a .pth file that imports
    # modules at start-up (a certificate bundle's shutil, tempfile, ipaddress) would
    # hide them from the count
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, "-S", "-c", _COUNT, str(out), ",".join(blocked), *args],
                       capture_output=True, text=True, timeout=DEFAULT_TIMEOUT,
                       stdin=subprocess.DEVNULL, env=env)
    assert out.exists(), r.stderr
    found = json.loads(out.read_text())
    found["stdout"], found["stderr"] = r.stdout, r.stderr
    return found


def veil_modules(modules: List[str]) -> List[str]:
    return [m for m in modules if m == "veil" or m.startswith("veil.")]


def heavy(modules: List[str]) -> List[str]:
    return [m for m in modules if m.split(".")[0] in HEAVY]


def test_run_loads_no_decoder_and_nothing_heavy(tmp_path):
    found = loaded(tmp_path, ["run", "--", "/bin/true"])
    assert found["exit"] == 0, found["stderr"]
    mods = found["modules"]
    assert heavy(mods) == []
    assert [m for m in mods if m.startswith(DECODING)] == [], "veil run loaded the decoders"
    assert {"veil.session", "veil.engine", "veil.spec"} <= set(mods)   # it did run
    assert len(veil_modules(mods)) <= BUDGET["run"], veil_modules(mods)
    assert [m for m in mods if m.startswith(RUN_UNUSED)] == []
    assert [m for m in mods if m.split(".")[0] in UNUSED_STDLIB] == []
    assert [m for m in mods if m in RUN_UNUSED_STDLIB] == []


def test_trace_loads_the_decoders_and_nothing_heavy(tmp_path):
    found = loaded(tmp_path, ["trace", "-o", str(tmp_path / "t"), "--", "/bin/true"])
    assert found["exit"] == 0, found["stderr"]
    mods = found["modules"]
    assert "exit_group(0)" in (tmp_path / "t").read_text()
    assert heavy(mods) == []                      # construct is for JSON and binary only
    assert "veil.decoders" in mods
    # the families /bin/true's calls need (veil.decoders.index), not the others
    assert {"veil.decoders.proc", "veil.decoders.mem", "veil.decoders.fs"} <= set(mods)
    assert {"veil.decoders.net", "veil.decoders.netlink", "veil.decoders.ipc",
            "veil.decoders.time", "veil.decoders.sockaddr", "veil.sockaddr"} & set(mods) == set()
    assert "veil.spec.model" not in mods          # a bare trace makes no RunSpec
    # nor a layout, a socket table, verdicts (no hook) or a policy (no inject=)
    assert {"veil.layout", "veil.sockets", "veil.verdicts", "veil.policy"} & set(mods) == set()
    assert len(veil_modules(mods)) <= BUDGET["trace"], veil_modules(mods)
    assert [m for m in mods if m.split(".")[0] in UNUSED_STDLIB] == []
    assert not any(m.startswith("veil.prep") for m in mods)


@pytest.mark.parametrize("follow", [[], ["-f"]])
def test_a_plain_trace_loads_no_dataclasses_argparse_re_enum_or_typing(tmp_path, follow):
    found = loaded(tmp_path, ["trace", *follow, "-o", str(tmp_path / "t"), "--", "/bin/true"])
    assert found["exit"] == 0, found["stderr"]
    assert "exit_group(0)" in (tmp_path / "t").read_text()
    assert [m for m in found["modules"] if m in TRACE_UNUSED_STDLIB] == []


def test_the_unused_modules_load_when_used(tmp_path):
    """The other side: a policy file loads its loader, an ownership database json."""
    policy = tmp_path / "p.py"
    policy.write_text("from veil import Policy\npolicy = Policy()\n")
    found = loaded(tmp_path, ["run", "--policy", str(policy), "-0", "--ownership-db",
                              str(tmp_path / "owners.json"), "--", "/bin/true"])
    assert found["exit"] == 0, found["stderr"]
    assert {"veil.policyfile", "json", "veil.fakeroot"} <= set(found["modules"])


def test_identity_and_guest_ptrace_load_when_used(tmp_path, progs):
    """The other side of RUN_UNUSED: an identity option loads the identity and is
    shown; a guest's ptrace call loads the emulation, which answers it as the
    kernel would (the parent traces its child)."""
    found = loaded(tmp_path, ["run", "--hostname", "lazy-host", "--cpus", "2", "--", "hostname"])
    assert found["exit"] == 0, found["stderr"]
    assert found["stdout"] == "lazy-host\n"
    assert {"veil.identity", "veil.policy", "veil.verdicts"} <= set(found["modules"])
    assert "veil.fakeroot" not in found["modules"]   # no -0 or -i: no fake ids' hooks
    # its verdicts and fake ids are records and its files' directory is veil.scratch's:
    # no dataclasses, re or tempfile either
    assert [m for m in found["modules"] if m in RUN_UNUSED_STDLIB] == []
    want = subprocess.run([progs["ptrace_child"]], capture_output=True, text=True,
                          timeout=DEFAULT_TIMEOUT)
    found = loaded(tmp_path, ["run", "--", progs["ptrace_child"]])
    assert found["exit"] == 0, found["stderr"]
    assert "enter 257 \"/etc/hostname\" = ok" in want.stdout
    assert found["stdout"] == want.stdout
    assert "veil.guest_ptrace" in found["modules"]


def test_json_needs_no_construct_and_show_loads_it(tmp_path):
    """JSON lines read kernel structs with struct (veil.decoders.kstructs); the other
    side of the guard: what a command uses does load (show: the file's construct
    definitions)."""
    trace = tmp_path / "t.veil"
    found = loaded(tmp_path, ["trace", "--format", "json", "-o", str(tmp_path / "t"),
                              "--", "/bin/true"])
    assert found["exit"] == 0, found["stderr"]
    assert "veil.output.jsonl" in found["modules"] and heavy(found["modules"]) == []
    found = loaded(tmp_path, ["trace", "--format", "binary", "-o", str(trace), "--", "/bin/true"])
    assert found["exit"] == 0, found["stderr"]
    found = loaded(tmp_path, ["show", str(trace)])
    assert found["exit"] == 0, found["stderr"]
    assert "construct" in found["modules"]


@pytest.mark.parametrize("args, extra", [
    (["prep", "analyze", "/bin/true"], "prep"),
    (["trace", "--backend", "python", "-o", "/dev/null", "--", "/bin/true"], "ptrace"),
])
def test_a_missing_extra_is_one_line_naming_pip(tmp_path, args, extra):
    found = loaded(tmp_path, args, blocked=["lief", "ptrace"])
    assert found["exit"] == 1
    lines = found["stderr"].splitlines()
    assert len(lines) == 1, found["stderr"]
    assert lines[0].startswith("veil: ") and f"pip install 'veil[{extra}]'" in lines[0]


def test_the_pytest_plugin_loads_none_of_the_engine():
    code = ("import sys; before = set(sys.modules); import veil.pytest_plugin; "
            "print(' '.join(sorted(m for m in set(sys.modules) - before "
            "if m.startswith('veil') or m.split('.')[0] in %r)))" % (HEAVY,))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=DEFAULT_TIMEOUT, check=True)
    assert r.stdout.split() == ["veil", "veil.pytest_plugin"]


def test_the_plugin_sees_that_this_process_may_trace():
    """The fixtures run here (the suite traces everywhere), so the probe says yes;
    in a child whose ptrace is refused by seccomp it gives the reason."""
    from veil.pytest_plugin import ptrace_unavailable
    assert ptrace_unavailable() is None
    code = ("import veil.session, sys; from veil import Policy; from veil.pytest_plugin import "
            "ptrace_unavailable as p; print(p())")
    r = subprocess.run([sys.executable, "-m", "veil", "run", "--deny", "ptrace", "--",
                        sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=DEFAULT_TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ptrace is not permitted here: EPERM"), r.stdout


def test_descendants_match_psutil():
    """The socket table's process tree (read from /proc, no psutil) is psutil's."""
    psutil = pytest.importorskip("psutil")
    from veil.sockets import descendants
    p = subprocess.Popen(["sh", "-c", "sleep 30 & (sleep 30 & wait) & wait"])
    try:
        root = psutil.Process(p.pid)
        deadline = time.monotonic() + 10
        while len(root.children(recursive=True)) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        expected = {p.pid, *(c.pid for c in root.children(recursive=True))}
        assert len(expected) == 4
        assert descendants(p.pid) == expected
    finally:
        for c in psutil.Process(p.pid).children(recursive=True):
            c.kill()
        p.kill()
        p.wait()
    assert descendants(p.pid) == set()
    assert os.getpid() in descendants(os.getppid())


def test_garbage_collection_is_on_while_the_program_runs(tmp_path):
    """veil's start-up runs without the collector; the session must not."""
    seen = tmp_path / "gc"
    policy = tmp_path / "p.py"
    policy.write_text("import gc\n"
                      "def configure(session):\n"
                      "    def note(stop):\n"
                      f"        open({str(seen)!r}, 'w').write(str(gc.isenabled()))\n"
                      "    session.watch(['exit_group'], note)\n")
    r = subprocess.run([sys.executable, "-m", "veil", "run", "--policy", str(policy), "--",
                        "/bin/true"], capture_output=True, text=True, timeout=DEFAULT_TIMEOUT,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert seen.read_text() == "True"


def _veil_command(args: Sequence[str], **kw) -> subprocess.CompletedProcess:
    """``python -m veil ARGS``: the entry point the ``veil`` script uses."""
    return subprocess.run([sys.executable, "-m", "veil", *args], capture_output=True,
                          timeout=DEFAULT_TIMEOUT, stdin=subprocess.DEVNULL, **kw)


def test_the_quick_exit_keeps_status_output_and_cleanup(tmp_path):
    """The command ends without tearing the interpreter down (issue 22's start-up):
    the tracee's status, everything veil printed to a pipe and the atexit cleanup
    (the identity's files) are as a normal exit leaves them."""
    r = _veil_command(["run", "--", "sh", "-c", "exit 7"])
    assert r.returncode == 7, r.stderr
    r = _veil_command(["syscalls", "all"], text=True)
    assert r.returncode == 0, r.stderr
    in_process = subprocess.run(
        [sys.executable, "-c", "import sys; from veil.cli import main; "
         "sys.exit(main(['syscalls', 'all']))"], capture_output=True, text=True,
        timeout=DEFAULT_TIMEOUT)
    assert r.stdout == in_process.stdout and len(r.stdout.splitlines()) > 300
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    r = _veil_command(["run", "--hostname", "quick", "--cpus", "1", "--", "sh", "-c",
                       "cat /proc/sys/kernel/hostname; ls $TMPDIR"], env=env, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "quick" and len(r.stdout.split()) > 1   # files were there
    assert list(tmp_path.iterdir()) == []                                  # and are gone


def test_the_bench_child_starts_as_the_veil_command(tmp_path):
    """veil bench and bench/run.py time each veil mode through veil.cli.benchchild:
    it must load no more than the veil command (no argparse, json, shutil or
    tempfile of veil.cli.bench), and its STATS file is JSON with the stop count."""
    stats, out = tmp_path / "stats", tmp_path / "t"
    probe = ("import sys\n"
             "from veil.cli.benchchild import child\n"
             f"code = child([{str(stats)!r}, 'trace', '-o', {str(out)!r}, '--', '/bin/true'])\n"
             "print(' '.join(sorted(sys.modules)))\n"
             "sys.exit(code)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True,
                       timeout=DEFAULT_TIMEOUT, env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    mods = r.stdout.split()
    assert [m for m in mods if m in TRACE_UNUSED_STDLIB + ("json", "tempfile")] == []
    assert "veil.benchcmd" not in mods and "veil.cli.bench" not in mods
    found = json.loads(stats.read_text())
    assert found["engine"]["stops"] > 10 and found["duration"] > 0
    assert "exit_group(0)" in out.read_text()
