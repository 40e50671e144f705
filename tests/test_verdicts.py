"""Verdicts and rules check their values when they are made (issue 16).

``Deny("ECONNREFUSED")`` is ``Deny(111)``; ``Deny("EFOO")`` raises a one-line
VerdictError where it is built (in the hook), not a TypeError from the engine
later.  The runs go through a separate Python process with a timeout, as in
test_api.py: the tracer runs in the calling process.
"""
from __future__ import annotations

import copy
import errno
import json
import pickle
import signal
import subprocess
import sys
import textwrap

import pytest

import veil
from conftest import run_veil
from veil.errors import UsageError, VeilError, VerdictError
from veil.policy import Policy, parse_errno, parse_signal, path_of  # noqa: F401 (public names)
from veil.verdicts import Deny, Emulate, Inject, Kill, Rewrite

# --- what is accepted ------------------------------------------------------------

@pytest.mark.parametrize("given", [errno.ECONNREFUSED, "ECONNREFUSED", "econnrefused", "111"])
def test_deny_takes_numbers_and_names(given):
    d = Deny(given)
    assert d == Deny(errno.ECONNREFUSED) and d.errno == errno.ECONNREFUSED
    assert repr(d) == "Deny(errno=111)" and hash(d) == hash(Deny(111))
    assert Deny(errno=given) == d


def test_defaults_and_edges():
    assert Deny().errno == errno.EPERM and Emulate().retval == 0 and Kill().reason == ""
    assert Deny(0).errno == 0 and Deny(4095).errno == 4095  # 0: returns 0, as Policy.deny(errno=0)
    assert Deny("EWOULDBLOCK") == Deny(errno.EAGAIN)  # aliases of the errno module
    assert Emulate(-1).retval == -1 and Emulate(2**63 - 1).retval == 2**63 - 1
    assert Emulate(2**64 - 1) == Emulate(-1)  # as the register reads back
    assert Emulate(-2**63).retval == -2**63


@pytest.mark.parametrize("given", [signal.SIGUSR1, "SIGUSR1", "USR1", "usr1", "sigusr1", "10"])
def test_inject_takes_signal_names_and_numbers(given):
    assert Inject(signal=given) == Inject(signal=signal.SIGUSR1)
    assert Inject(signal=given).signal == 10


def test_inject_error_and_retval_as_deny_and_emulate():
    i = Inject(signal="TERM", error="enospc")
    assert (i.signal, i.error, i.retval) == (signal.SIGTERM, errno.ENOSPC, None)
    assert Inject(retval=2**64 - 2).retval == -2
    assert Inject() == Inject(signal=0, error=None, retval=None)
    assert Inject(signal=64).signal == 64


def test_rewrite_values():
    r = Rewrite(path="/tmp/x", flags=0, buf=bytearray(b"\0ab"), addr=("::1", 8080), arg5=2**64 - 1)
    assert dict(r.args) == {"path": "/tmp/x", "flags": 0, "buf": b"\0ab", "addr": ("::1", 8080),
                            "arg5": 2**64 - 1}
    assert r == Rewrite(path="/tmp/x", flags=0, buf=b"\0ab", addr=("::1", 8080), arg5=2**64 - 1)
    assert r != Rewrite(path="/tmp/y", flags=0, buf=b"\0ab", addr=("::1", 8080), arg5=2**64 - 1)
    assert repr(Rewrite(path="/x")) == "Rewrite(path='/x')"
    assert hash(Rewrite(a=1, b="x")) == hash(Rewrite(b="x", a=1))
    assert Rewrite(addr=("127.0.0.1", 0)).args["addr"] == ("127.0.0.1", 0)


def test_verdicts_are_immutable_values():
    d, e, k, i, r = Deny("EACCES"), Emulate(3), Kill("why"), Inject(signal="USR1"), Rewrite(path="/x")
    for v, attr in ((d, "errno"), (e, "retval"), (k, "reason"), (i, "signal"), (r, "args")):
        with pytest.raises(AttributeError):
            setattr(v, attr, 1)
    with pytest.raises(TypeError):
        r.args["path"] = "/y"  # type: ignore[index]
    for v in (d, e, k, i, r):
        assert pickle.loads(pickle.dumps(v)) == v and copy.deepcopy(v) == v
    assert len({d, Deny(errno.EACCES), e, Emulate(3), k, i, r, Rewrite(path="/x")}) == 5


# --- what is refused: one line, at construction ----------------------------------

BAD = [
    (lambda: Deny("EFOO"), "Deny('EFOO'): unknown errno name"),
    (lambda: Deny("ECONNREFUSED "), "Deny('ECONNREFUSED '): unknown errno name"),
    (lambda: Deny(-3), "Deny(-3): errno must be 0..4095"),
    (lambda: Deny(4096), "Deny(4096): errno must be 0..4095"),
    (lambda: Deny(True), "Deny(True): errno must be an int or a name"),
    (lambda: Deny(13.0), "Deny(13.0): errno must be an int or a name"),
    (lambda: Deny(None), "Deny(None): errno must be an int or a name"),
    (lambda: Emulate(True), "Emulate(True): retval must be an int, not a bool"),
    (lambda: Emulate("0"), "Emulate('0'): retval must be an int, not str"),
    (lambda: Emulate(2**64), "Emulate(18446744073709551616): retval does not fit in a 64-bit"),
    (lambda: Emulate(-2**63 - 1), "does not fit in a 64-bit register"),
    (lambda: Kill(3), "Kill(3): reason must be a str"),
    (lambda: Inject(signal="SIGFOO"), "Inject(signal='SIGFOO'): unknown signal name"),
    (lambda: Inject(signal=65), "Inject(signal=65): signal must be 0..64"),
    (lambda: Inject(signal=-1), "Inject(signal=-1): signal must be 0..64"),
    (lambda: Inject(signal="USR1", error="EBOGUS"), "Inject(signal='USR1', error='EBOGUS'): "
                                                    "unknown errno name"),
    (lambda: Inject(retval=1.5), "Inject(retval=1.5): retval must be an int"),
    (lambda: Inject(error=1, retval=0), "Inject(error=1, retval=0): give error= or retval=, not both"),
    (lambda: Rewrite(), "Rewrite(): give at least one argument"),
    (lambda: Rewrite(path=3.5), "Rewrite(path=3.5): takes an int, str, bytes or (host, port)"),
    (lambda: Rewrite(path=None), "Rewrite(path=None): takes an int, str, bytes or (host, port)"),
    (lambda: Rewrite(path="a\0b"), "cannot hold NUL"),
    (lambda: Rewrite(flags=True), "Rewrite(flags=True): takes an int, str"),
    (lambda: Rewrite(arg0=2**64), "Rewrite(arg0=18446744073709551616): does not fit"),
    (lambda: Rewrite(arg6=0), "Rewrite(arg6=0): arguments are arg0..arg5"),
    (lambda: Rewrite(addr=("localhost", 80)), "'localhost' is not an IPv4 or IPv6 address"),
    (lambda: Rewrite(addr=("10.0.0.1", 65536)), "the port of (host, port) must be an int 0..65535"),
    (lambda: Rewrite(addr=("10.0.0.1",)), "a socket address is a (host, port) tuple"),
]


@pytest.mark.parametrize("make,message", BAD, ids=[m for _, m in BAD])
def test_bad_values_raise_one_line_verdict_error(make, message):
    with pytest.raises(VerdictError) as info:
        make()
    text = str(info.value)
    assert message in text and "\n" not in text
    assert isinstance(info.value, VeilError) and info.value.exit_code == 2
    e = info.value  # no chained ValueError in the traceback
    assert e.__cause__ is None and (e.__context__ is None or e.__suppress_context__)


# --- rules: the same names, checked when the rule is made ------------------------

def test_rules_take_errno_and_signal_names():
    p = Policy()
    p.deny("mkdir", errno="erofs").deny(["socket"], "EAFNOSUPPORT", where=veil.Arg(0) == 10)
    p.deny("getuid", errno=0)  # "returns 0", as identity.py uses it
    p.inject("write", error="ENOSPC", when="2").inject("read", signal="usr1", error=5)
    p.inject("getpid", retval=2**64 - 1)
    p.deny_paths("/etc/shadow", errno="ENOENT").deny_paths(["/srv/**"])
    assert [r[1] for r in p.rules] == [("deny", errno.EROFS), ("deny", errno.EAFNOSUPPORT),
                                       ("deny", 0)]
    assert [(i.error, i.signal, i.retval) for i in p.injects] == [
        (errno.ENOSPC, 0, None), (5, signal.SIGUSR1, None), (None, 0, -1)]
    assert p.path_rules == [("/etc/shadow", errno.ENOENT, False), ("/srv/**", errno.EACCES, False)]
    assert parse_errno("enospc") == parse_errno("28") == 28
    assert parse_signal("usr1") == parse_signal("SIGUSR1") == parse_signal(10) == 10


RULE_BAD = [
    (lambda p: p.deny("openat", errno="EFOO"), "invalid errno='EFOO': unknown errno name"),
    (lambda p: p.deny("openat", errno=5000), "invalid errno=5000: errno must be 0..4095"),
    (lambda p: p.deny("openat", errno=-1), "invalid errno=-1: errno must be 0..4095"),
    (lambda p: p.deny("nosuchcall"), "nosuchcall"),
    (lambda p: p.deny([3.5]), "3.5 is not a syscall"),
    (lambda p: p.kill("openat", where=3), "where= takes conditions such as veil.Arg(0) == 3"),
    (lambda p: p.inject("write", error="nope"), "invalid error='nope': unknown errno name"),
    (lambda p: p.inject("write", error=0), "invalid error=0: errno must be 1..4095"),
    (lambda p: p.inject("write", signal="USR9"), "invalid signal='USR9': unknown signal name"),
    (lambda p: p.inject("write", signal=0), "invalid signal=0: signal must be 1..64"),
    (lambda p: p.inject("write", retval="x"), "inject: invalid retval='x'"),
    (lambda p: p.inject("write", retval=2**64), "does not fit in a 64-bit register"),
    (lambda p: p.inject("write", delay_enter="1"), "inject: delay_enter is a number of seconds"),
    (lambda p: p.inject("write", delay_exit=-1), "inject: delay_exit must be 0.."),
    (lambda p: p.inject("write", error=1, fd="3"), "inject: fd must be an int"),
    (lambda p: p.inject("write", error=1, when="0"), "invalid when='0'"),
    (lambda p: p.inject("write"), "inject: give error=, retval=, signal="),
    (lambda p: p.deny_paths("etc/shadow"), "deny_paths: 'etc/shadow' is not an absolute path"),
    (lambda p: p.deny_paths(["/etc"], errno="ENOPE"), "invalid errno='ENOPE': unknown errno name"),
    (lambda p: p.deny_paths(["/etc"], errno=0), "invalid errno=0: errno must be 1..4095"),
    (lambda p: p.readonly_paths(["relative"]), "readonly_paths: 'relative' is not an absolute"),
    (lambda p: p.on_enter(lambda call: None), "on_enter takes syscall names"),
    (lambda p: p.on_exit("openat")(42), "on_exit(...) decorates a function"),
]


@pytest.mark.parametrize("call,message", RULE_BAD, ids=[m for _, m in RULE_BAD])
def test_bad_rule_values_raise_one_line_usage_error(call, message):
    p = Policy()
    with pytest.raises(UsageError) as info:
        call(p)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not p.rules and not p.injects and not p.path_rules and not p.hooks  # nothing half-added


# --- in a real traced program -------------------------------------------------

PRELUDE = """\
import errno, json, os, signal, socket, sys
import veil
R = {}
def _save():
    with open(sys.argv[1], "w") as f:
        json.dump(R, f)
import atexit
atexit.register(_save)
"""

# Listens on a free port, then connects to it: only a verdict can refuse it.
CONNECT = """
import errno, os, signal, socket, time
got = []
signal.signal(signal.SIGUSR1, lambda *a: got.append("USR1"))
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
c = socket.socket()
try:
    c.connect(srv.getsockname())
    print("connected")
except OSError as e:
    print(errno.errorcode[e.errno])
try:
    os.mkdir(os.environ["DIR"])
    print("made")
except OSError as e:
    for _ in range(100):  # the handler runs at Python's next check
        if got:
            break
        time.sleep(0.01)
    print(errno.errorcode[e.errno], *got)
"""


def run_api(tmp_path, body, timeout=60):
    script = tmp_path / "snippet.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    result = tmp_path / "result.json"
    try:
        p = subprocess.run([sys.executable, str(script), str(result)], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout, cwd=str(tmp_path))
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the API snippet did not finish within {timeout} s (veil hangs)\n"
                    f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}")
    return p, json.loads(result.read_text()) if result.exists() else {}


def test_named_verdicts_in_a_traced_program(tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text(CONNECT)
    p, r = run_api(tmp_path, f"""
        policy = veil.Policy()

        @policy.on_enter("connect")
        def refuse_connect(call):
            return veil.Deny("ECONNREFUSED")

        @policy.on_enter("mkdir", "mkdirat")
        def full_disk(call):
            return veil.Inject(signal="usr1", error="enospc")

        os.environ["DIR"] = {str(tmp_path / "d")!r}
        R["code"] = veil.run([sys.executable, {str(prog)!r}], policy=policy).exit_code
    """)
    assert r.get("code") == 0, p.stderr
    assert p.stdout.split("\n") == ["ECONNREFUSED", "ENOSPC USR1", ""], p.stdout
    assert not (tmp_path / "d").exists()


def test_rules_with_errno_names_in_a_traced_program(tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text(CONNECT)
    p, r = run_api(tmp_path, f"""
        policy = veil.Policy().deny("connect", errno="econnrefused")
        policy.inject(["mkdir", "mkdirat"], error="EDQUOT", signal="SIGUSR1")
        os.environ["DIR"] = {str(tmp_path / "d")!r}
        R["code"] = veil.run([sys.executable, {str(prog)!r}], policy=policy).exit_code
    """)
    assert r.get("code") == 0, p.stderr
    assert p.stdout.split("\n") == ["ECONNREFUSED", "EDQUOT USR1", ""], p.stdout


def test_bad_verdict_in_a_hook_names_the_hook_and_kills(tmp_path):
    """The error comes from the hook's own line, with the Session's note naming
    the hook; the tracee does not go on."""
    p, r = run_api(tmp_path, """
        def bogus(call):
            return veil.Deny("EBOGUS")
        s = veil.Session(["cat", "/etc/hostname"], trace="none")
        s.watch(["openat"], bogus)
        try:
            s.run()
            R["raised"] = None
        except veil.VeilError as e:
            R["raised"] = [type(e).__name__, str(e), getattr(e, "__notes__", [])]
    """)
    assert r.get("raised"), (r, p.stderr)
    kind, message, notes = r["raised"]
    assert kind == "VeilError"
    assert message.endswith("hook bogus at enter of openat (pid %s): Deny('EBOGUS'): unknown "
                            "errno name (use e.g. 'EACCES' or a number 0..4095)" % message.split(
                                "(pid ")[1].split(")")[0]), message
    assert "snippet.py:11: hook bogus" in message, message  # the line that made the verdict
    assert p.stdout == ""  # cat never read the file


# --- veil run --policy FILE ------------------------------------------------------

def test_cli_hook_with_a_bad_verdict(tmp_path):
    """A hook of a policy file builds a bad verdict: the run stops with one line
    naming the file, its line and the hook, never the engine's TypeError."""
    pf = tmp_path / "pol.py"
    pf.write_text("import veil\n"
                  "policy = veil.Policy()\n"
                  "@policy.on_enter('openat')\n"
                  "def refuse(call):\n"
                  "    if call.args.path == '/etc/hostname':\n"
                  "        return veil.Deny('EBOGUS')\n")
    r = run_veil(["run", "--policy", pf, "--", "cat", "/etc/hostname"])
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(f"veil: {pf}:6: hook refuse at enter of openat (pid "), r.stderr
    assert r.stderr.count("\n") == 1 and "Deny('EBOGUS'): unknown errno name" in r.stderr
    assert "TypeError" not in r.stderr and "an integer is required" not in r.stderr


def test_cli_rule_with_a_bad_errno_is_one_line(tmp_path):
    pf = tmp_path / "rules.py"
    pf.write_text("import veil\n"
                  "policy = veil.Policy()\n"
                  "policy.deny('mkdir', errno='EBOGUS')\n")
    r = run_veil(["run", "--policy", pf, "--", "true"])
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        f"veil: {pf}:3: UsageError: invalid errno='EBOGUS': unknown errno name "
        "(use e.g. 'EACCES' or a number 0..4095)"]


def test_cli_rule_with_an_errno_name_works(tmp_path):
    pf = tmp_path / "rules.py"
    pf.write_text("import veil\n"
                  "policy = veil.Policy().deny(['mkdir', 'mkdirat'], errno='erofs')\n")
    r = run_veil(["run", "--policy", pf, "--", "mkdir", str(tmp_path / "d")])
    assert r.returncode == 1 and "Read-only file system" in r.stderr
    assert not (tmp_path / "d").exists()
