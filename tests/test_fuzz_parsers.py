"""Bad input, fuzzed: the OCI seccomp profile loader, the binary trace reader
(`veil show F.veil`) and the -e expression parser either accept their input or
fail with one VeilError line; never another exception, never a hang.

The decoders are fuzzed in test_decoders_fuzz.py (every decoder, every
syscall's argument formatter); the profile, --set, net/bind flags and socket
tables in test_fuzz_inputs.py.
"""
from __future__ import annotations

import io
import json
import re
import struct
import subprocess
import sys
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_veil
from veil import records as R
from veil.errors import VeilError
from veil.output import binary as B

FAST = settings(max_examples=150, deadline=2000,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def one_line(e: BaseException) -> None:
    assert isinstance(e, VeilError), f"{type(e).__name__}: {e}"
    assert str(e) and "\n" not in str(e)


# --- OCI seccomp profiles ----------------------------------------------------------

def _apply(policy) -> None:
    """Apply a policy to a session and build its filter, as session.start() does
    before it spawns anything."""
    from veil import filter as bpf
    from veil.session import Session
    session = Session(["/bin/true"])
    policy.apply(session)
    _, filt = session._actions()
    bpf.pack(bpf.compile_filter(filt, bpf.allow(), bpf.allow()))


JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-2**65, 2**65) | st.floats()
                       | st.text(max_size=6), lambda c: st.lists(c, max_size=3)
                       | st.dictionaries(st.text(max_size=4), c, max_size=3), max_leaves=6)
ACTIONS = st.sampled_from(["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_LOG",
                           "SCMP_ACT_TRACE", "SCMP_ACT_KILL_PROCESS", "x"]) | JSONISH
NAMES = st.lists(st.sampled_from(["read", "write", "openat", "stat64", "bogus", ""]) | JSONISH,
                 max_size=3) | JSONISH
ARG = st.fixed_dictionaries({}, optional={
    "index": st.integers(-1, 7) | JSONISH, "value": st.integers(-2**64, 2**65) | JSONISH,
    "valueTwo": st.integers(-2**64, 2**65) | JSONISH,
    "op": st.sampled_from(["SCMP_CMP_EQ", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_GE", "NOPE"]) | JSONISH})
RULE = st.fixed_dictionaries({}, optional={
    "names": NAMES, "name": st.sampled_from(["read", "bogus"]) | JSONISH, "action": ACTIONS,
    "errnoRet": st.integers(-3, 5000) | JSONISH, "args": st.lists(ARG, max_size=3) | JSONISH,
    "comment": JSONISH, "includes": JSONISH, "x": JSONISH})
PROFILE = st.fixed_dictionaries({}, optional={
    "defaultAction": ACTIONS, "defaultErrnoRet": st.integers(-3, 5000) | JSONISH,
    "architectures": st.lists(st.sampled_from(["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"]) | JSONISH,
                              max_size=2) | JSONISH,
    "syscalls": st.lists(RULE, max_size=4) | JSONISH, "flags": JSONISH, "bogus": JSONISH})


def _load_oci(tmp_path_factory, text: str) -> None:
    from veil.oci import load_profile
    path = tmp_path_factory.mktemp("oci") / "p.json"
    path.write_text(text)
    try:
        _apply(load_profile(str(path)))
    except Exception as e:
        one_line(e)


@FAST
@given(PROFILE)
def test_oci_profile_structured(tmp_path_factory, doc):
    _load_oci(tmp_path_factory, json.dumps(doc))


@FAST
@given(st.text(max_size=120) | JSONISH.map(json.dumps))
def test_oci_profile_any_text(tmp_path_factory, text):
    _load_oci(tmp_path_factory, text)


def test_oci_profile_that_loads_is_enforced(tmp_path):
    """The fuzzed loader is the real one: a profile it accepts decides the run."""
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}))
    r = run_veil(["run", "--seccomp-profile", path, "--", "mkdir", tmp_path / "d"])
    assert r.returncode == 1 and "Permission denied" in r.stderr, r.stderr
    assert not (tmp_path / "d").exists()


# --- the binary trace reader ----------------------------------------------------------

@pytest.fixture(scope="module")
def trace_file(tmp_path_factory) -> bytes:
    """A real binary trace of a small forking shell run, uncompressed and compressed."""
    d = tmp_path_factory.mktemp("bin")
    r = run_veil(["trace", "-f", "-y", "--format", "binary", "-o", d / "t.veil", "--", "sh", "-c",
                  "ls / > /dev/null; echo hi > /dev/null; cat /dev/null"])
    assert r.returncode == 0, r.stderr
    return (d / "t.veil").read_bytes()


def _show(data: bytes, tmp_path_factory, flags=()) -> None:
    from veil.cli.show import cmd_show
    d = tmp_path_factory.mktemp("show")
    (d / "f.veil").write_bytes(data)
    try:
        cmd_show([*flags, "-o", str(d / "out"), str(d / "f.veil")])
    except Exception as e:
        one_line(e)


SHOW_FLAGS = st.sampled_from([(), ("-f", "-T", "-y"), ("--format", "json"), ("-C",),
                              ("--info",), ("-e", "trace=%file", "-x")])


def test_trace_file_reads_back(trace_file, tmp_path):
    """The fixture is a valid file (so the mutations below start from one)."""
    from veil.cli.show import cmd_show
    (tmp_path / "f.veil").write_bytes(trace_file)
    assert cmd_show(["-o", str(tmp_path / "out"), str(tmp_path / "f.veil")]) == 0
    assert (tmp_path / "out").read_text().endswith("+++ exited with 0 +++\n")


@FAST
@given(st.data(), SHOW_FLAGS)
def test_trace_file_truncated(trace_file, tmp_path_factory, data, flags):
    cut = data.draw(st.integers(0, len(trace_file) - 1))
    _show(trace_file[:cut], tmp_path_factory, flags)


@FAST
@given(st.data(), SHOW_FLAGS)
def test_trace_file_corrupted(trace_file, tmp_path_factory, data, flags):
    buf = bytearray(trace_file)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    _show(bytes(buf), tmp_path_factory, flags)


@FAST
@given(st.binary(min_size=1, max_size=3000), st.booleans(), SHOW_FLAGS)
def test_trace_file_random_after_header(tmp_path_factory, junk, keep_header, flags):
    head = B.build_header(argv=["x"], traced=range(400)) if keep_header else B.MAGIC
    _show(head + junk, tmp_path_factory, flags)


# records that pass the chunk checksums: plausible headers, random bodies
RECORD = st.builds(
    lambda rtype, arch, ncap, pid, nr, value, aux, body, size_fix: (rtype, arch, ncap, pid, nr,
                                                                    value, aux, body, size_fix),
    st.integers(0, 12), st.sampled_from([0, 0, 0, 1, 2, 7]), st.integers(0, 8),
    st.sampled_from([100, 101, 102, 0, -1]), st.integers(-5, 1100) | st.integers(-2**63, 2**63 - 1),
    st.integers(-2**63, 2**63 - 1), st.integers(-2**63, 2**63 - 1),
    st.binary(max_size=300) | st.lists(st.integers(0, 2**32 - 1), max_size=60).map(
        lambda ws: b"".join(w.to_bytes(4, "little") for w in ws)),
    st.sampled_from([0, 0, 0, 8, -8, 3]))


def _record(rtype, arch, ncap, pid, nr, value, aux, body, size_fix) -> bytes:
    body = body + bytes(-len(body) % 8)
    size = R.HEADER_SIZE + len(body) + size_fix
    return R.HEADER.pack(size & 0xFFFFFFFF, rtype, arch, ncap, pid, pid, 1_000, nr, value,
                         aux) + body


@FAST
@given(st.lists(RECORD, max_size=12), st.booleans(), st.booleans(), SHOW_FLAGS)
def test_trace_file_random_records(tmp_path_factory, recs, compress, end, flags):
    out = io.BytesIO()
    w = B.BinaryWriter(out, compress=compress, argv=["x"], traced=range(450))
    w.write(b"".join(_record(*r) for r in recs))
    if end:
        w.finish()
    _show(out.getvalue(), tmp_path_factory, flags)


def test_show_bad_files_one_line(tmp_path, trace_file):
    """From the command line: one line on stderr, exit 1 (shown what was readable) or 2."""
    cases = {"empty": b"", "random": bytes(range(256)) * 4, "header-only": trace_file[:120],
             "half": trace_file[:len(trace_file) // 2],
             "crc": trace_file[:200] + bytes([trace_file[200] ^ 0xFF]) + trace_file[201:]}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        r = run_veil(["show", tmp_path / name])
        assert r.returncode == 1, (name, r.returncode, r.stderr)
        assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("veil: "), (name, r.stderr)
    r = run_veil(["show", tmp_path])
    assert r.returncode == 2 and r.stderr == f"veil: cannot read {tmp_path}: Is a directory\n"


# --- the -e expression parser ------------------------------------------------------------

QUALIFIERS = ["trace", "t", "status", "inject", "signal", "abbrev", "verbose", "raw", "fault", ""]
VALUES = st.one_of(
    st.text(max_size=20),
    st.lists(st.sampled_from(["open", "read", "%file", "%net", "!write", "/^re", "/(", "?bogus",
                              "all", "none", "bogus", "99999", "1", "successful", "failed",
                              "stat64"]), max_size=3).map(",".join),
    st.lists(st.sampled_from(["open", "error=ENOSPC", "error=99999", "error=0", "retval=-1",
                              "retval=0x", "signal=SIGUSR1", "signal=FOO", "when=2..1",
                              "when=3+", "when=0", "delay_enter=100", "delay_exit=x",
                              "delay_enter=99999999999999999999999", "path=/tmp/*", "fd=3",
                              "fd=-", "x=1", "", ":"]), max_size=4).map(":".join))


def _parse_e(exprs):
    from veil.cli.common import inject_policy, parse_exprs
    from veil.syscalls.lookup import UnknownSyscallError, resolve_set
    try:
        trace, _, _ = parse_exprs(exprs)
        try:
            resolve_set(trace)
        except UnknownSyscallError as e:  # what veil trace and veil show make of it
            raise VeilError(str(e)) from None
        _apply(inject_policy(exprs))
    except Exception as e:
        one_line(e)


@FAST
@given(st.lists(st.tuples(st.sampled_from(QUALIFIERS), VALUES).map(
    lambda kv: f"{kv[0]}={kv[1]}" if kv[0] else kv[1]), min_size=1, max_size=3))
def test_e_expressions(exprs):
    _parse_e(exprs)


@FAST
@given(st.lists(st.text(max_size=40), min_size=1, max_size=3))
def test_e_any_text(exprs):
    _parse_e(exprs)


def test_e_bad_values_from_the_command_line():
    for expr in ("inject=read:delay_enter=99999999999999999999", "inject=bogus:error=EPERM",
                 "signal=SIGFOO", "signal=", "trace=/(", "status=maybe"):
        r = run_veil(["trace", "-o", "/dev/null", "-e", expr, "--", "/bin/true"])
        assert r.returncode == 2, (expr, r.stderr)
        assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("veil: "), (expr, r.stderr)


# --- one clear line each ---------------------------------------------------------------

def _one_line_error(r, *expected):
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("veil: "), r.stderr
    for part in expected:
        assert part in lines[0], (part, lines[0])


def test_bad_bundles(tmp_path):
    (tmp_path / "empty").mkdir()
    _one_line_error(run_veil(["run", tmp_path / "empty"]), "not a bundle")
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "profile.toml").write_text("[environment\nargv = [[[\n")
    _one_line_error(run_veil(["run", garbage]), "profile.toml:1", "invalid TOML")
    (garbage / "profile.toml").write_bytes(bytes(range(256)))
    _one_line_error(run_veil(["run", garbage, "--", "x"]), "profile.toml")
    (garbage / "profile.toml").write_text('[layout]\nroot = "root"\n[environment]\nargv = ["/x"]\n')
    _one_line_error(run_veil(["run", garbage]), "root")   # BUNDLE/root is missing


def test_unreadable_rootfs(tmp_path):
    (tmp_path / "file").write_text("x")
    _one_line_error(run_veil(["run", "-r", tmp_path / "file", "--", "/bin/true"]), "not a directory")
    _one_line_error(run_veil(["run", "-r", tmp_path / "missing", "--", "/bin/true"]),
                    "no such directory")


def test_rootfs_mode_000_as_another_user():
    """A guest root veil cannot search (mode 000, veil not root): said before the run."""
    import os
    import shutil
    import subprocess
    import tempfile
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run veil as another user")
    top = tempfile.mkdtemp(prefix="veil-r000-")
    try:
        os.chmod(top, 0o755)
        root = os.path.join(top, "root")
        os.mkdir(root, 0o000)
        src = os.path.dirname(os.path.dirname(os.path.abspath(__import__("veil").__file__)))
        as_nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "env",
                     f"PYTHONPATH={src}"]
        # an interpreter that user may run (ours may live under /root) and that loads veil
        python = next((p for p in (sys.executable, "/usr/bin/python3") if subprocess.run(
            [*as_nobody, p, "-c", "import veil._veil_c"], capture_output=True,
            timeout=60).returncode == 0), None)
        if python is None:
            pytest.skip("no Python interpreter that user 65534 may run loads veil")
        r = subprocess.run([*as_nobody, python, "-m", "veil", "run", "-r", root, "--", "/bin/true"],
                           capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(top)
    _one_line_error(r, f"-r {root}: permission denied")


def test_bind_of_a_missing_path(tmp_path):
    """An error under --strict (a warning otherwise, as PRoot: test_layout_binds.py)."""
    _one_line_error(run_veil(["run", "--strict", "-b", f"{tmp_path}/nope:/data", "--", "/bin/true"]),
                    f"-b {tmp_path}/nope: no such file or directory")
    _one_line_error(run_veil(["run", "--strict", "-r", "/", "-b", tmp_path / "nope", "--",
                              "/bin/true"]), "no such file or directory")


@pytest.mark.parametrize("text,expected", [
    ("import veil\npolicy = veil.Policy(\n", "p.py:2: '(' was never closed"),
    ("import veil\n\nraise RuntimeError('boom')\n", "p.py:3: RuntimeError: boom"),
    ("import veil\npolicy = veil.Policy()\npolicy.deny('no_such_call')\n", "p.py:3: "),
    ("def configure(session):\n    raise ValueError('in configure')\n",
     "p.py:2: ValueError: in configure"),
    ("def configure(session):\n    session.deny('no_such_call')\n", "p.py:2: "),
    ("policy = 3\n", "`policy` must be a veil.Policy"),
    ("x = 1\n", "defines neither"),
], ids=["syntax", "raises", "bad-rule", "configure-raises", "configure-bad-rule", "not-policy",
        "nothing"])
def test_bad_policy_file(tmp_path, text, expected):
    (tmp_path / "p.py").write_text(text)
    r = run_veil(["run", "--policy", "p.py", "--", "/bin/true"], cwd=tmp_path)
    _one_line_error(r, expected)


@pytest.mark.parametrize("sigset", ["none", "!USR1", "CHLD,usr1"])
def test_e_signal_sets_as_strace(progs, strace, tmp_path, sigset):
    """-e signal=SET shows the signals strace shows with the same set (trace and show)."""
    cmd = ["sh", "-c", f"{progs['signals']}; /bin/true"]
    masked = lambda text: re.sub(r"\d+", "N", "\n".join(
        l.split(" ", 1)[-1].strip() for l in text.splitlines() if "--- SIG" in l))
    subprocess.run([strace, "-f", "-qq", "-o", tmp_path / "s", "-e", f"signal={sigset}", *cmd],
                   check=True, timeout=60, capture_output=True)
    want = masked((tmp_path / "s").read_text())
    r = run_veil(["trace", "-f", "-o", tmp_path / "v", "-e", f"signal={sigset}", "--", *cmd])
    assert r.returncode == 0, r.stderr
    assert masked((tmp_path / "v").read_text()) == want
    r = run_veil(["trace", "-f", "--format", "binary", "-o", tmp_path / "b.veil", "--", *cmd])
    assert r.returncode == 0, r.stderr
    r = run_veil(["show", "-e", f"signal={sigset}", tmp_path / "b.veil"])
    assert r.returncode == 0 and masked(r.stdout) == want, r.stderr
