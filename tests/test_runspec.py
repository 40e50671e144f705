"""One description of a run (veil.RunSpec), whoever starts it: the command line's
flags, a profile, a bundle, veil.run(spec=...), veil.Session(spec=...) and the
pytest plugin all see the same guest and get the same protections."""
from __future__ import annotations

import errno
import re
import socket
import subprocess
import sys
import threading

import pytest

import veil
from conftest import run_veil
from test_escapes import escapes, hostonly, results  # noqa: F401
from veil.cli.run import spec_of
from veil.pytest_plugin import run_under_policy
from veil.spec import Environment, Layout, Network, RunSpec, Security, SpecError, System

PROBE = r"""
import errno, os, socket, sys
def attempt(f):
    try:
        return f()
    except OSError as e:
        return errno.errorcode[e.errno]
def write_ro():
    with open("/mnt/data/new", "w") as f:
        f.write("x")
def connect(addr):
    s = socket.create_connection(addr, timeout=5)
    try:
        return "%s:%d" % s.getpeername()
    finally:
        s.close()
print("cwd", os.getcwd())
print("data", sorted(os.listdir("/mnt/data")))
print("hidden", os.path.exists("/etc/hostname"))
print("readonly", attempt(write_ro))
print("host", socket.gethostname(), os.uname().release)
print("ids", os.getuid(), os.getgid(), os.geteuid())
print("cpus", len(os.sched_getaffinity(0)), os.cpu_count())
print("mkdir", attempt(lambda: os.mkdir("/tmp/veil-runspec-never")))
print("mapped", attempt(lambda: connect(("127.9.9.9", 80))))
print("denied", attempt(lambda: connect(("127.0.0.3", 9))))
print("env", os.environ.get("VEIL_SPEC_TEST"), "PATH" in os.environ)
print("signal veil", attempt(lambda: os.kill(os.getppid(), 0)))
"""


@pytest.fixture
def listener():
    """A loopback TCP server that accepts and closes; its port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                conn.close()
            except OSError:
                pass
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    srv.close()


def the_spec(data, port) -> RunSpec:
    return RunSpec(
        environment=Environment(argv=[sys.executable, "-S", "-c", PROBE], cwd="/mnt/data",
                                env={"VEIL_SPEC_TEST": "yes"}, clear_env=True),
        layout=Layout(root="/", binds=[f"{data}:/mnt/data:ro"], hidden=["/etc/hostname"]),
        system=System(hostname="spec-host", kernel_release="9.8.7-spec", uid=1234, gid=99,
                      cpus=1),
        network=Network(map=[f"127.9.9.9:80=127.0.0.1:{port}"],
                        deny=["127.0.0.3/32=ECONNREFUSED"]),
        security=Security(deny=["mkdir"]))


def test_one_spec_three_ways_same_guest(tmp_path, listener, capfd):
    data = tmp_path / "data"
    data.mkdir()
    (data / "in").write_text("x")
    spec = the_spec(data, listener)
    flags = ["-r", "/", "-b", f"{data}:/mnt/data:ro", "--hidden", "/etc/hostname",
             "--hostname", "spec-host", "--kernel-release", "9.8.7-spec", "-i", "1234:99",
             "--cpus", "1", "--net-map", f"127.9.9.9:80=127.0.0.1:{listener}",
             "--net-deny", "127.0.0.3/32=ECONNREFUSED", "--deny", "mkdir", "-w", "/mnt/data",
             "--clear-env", "--env", "VEIL_SPEC_TEST=yes"]
    command = [sys.executable, "-S", "-c", PROBE]
    parsed, parsed_command, _, _ = spec_of([*flags, "--", *command])
    assert parsed == spec.replace(environment={"argv": ()}) and parsed_command == command

    shell = run_veil(["run", *flags, "--", *command])
    assert shell.returncode == 0, shell.stderr

    result = veil.run(spec=spec)
    api = capfd.readouterr().out
    assert result.exit_code == 0
    # mkdir is denied by a rule (not reported); signalling veil is refused and reported
    assert [(r.name, r.errno) for r in result.refusals] == [("kill", errno.EPERM)]

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "profile.toml").write_text(spec.to_profile(relative_to=str(bundle)))
    assert RunSpec.from_bundle(str(bundle)) == spec
    packed = run_veil(["run", str(bundle)])
    assert packed.returncode == 0, packed.stderr

    fixture = run_under_policy([], spec=spec)
    assert fixture.exit_code == 0, fixture.stderr

    expected = (
        "cwd /mnt/data\n"
        "data ['in']\n"
        "hidden False\n"
        "readonly EROFS\n"
        "host spec-host 9.8.7-spec\n"
        "ids 1234 99 1234\n"
        "cpus 1 1\n"
        "mkdir EPERM\n"
        "mapped 127.9.9.9:80\n"
        "denied ECONNREFUSED\n"
        "env yes False\n"
        "signal veil EPERM\n")
    assert shell.stdout == expected, shell.stdout
    assert api == expected
    assert packed.stdout == expected
    assert fixture.stdout == expected
    for run in (shell, packed):  # the same refusal, reported once
        refused = [l for l in run.stderr.splitlines() if l.startswith("veil: refused")]
        assert len(refused) == 1 and re.fullmatch(
            r"veil: refused kill \(EPERM\) in process \d+: the program reaches only processes "
            r"veil traces", refused[0]), run.stderr


ATTACKS = ("kill_veil", "clone_untraced", "seccomp_listener")


@pytest.mark.parametrize("strict", [False, True], ids=["plain", "strict"])
@pytest.mark.parametrize("confined_by", ["layout", "identity", "policy"])
def test_protections_are_the_same_from_python_and_the_shell(escapes, hostonly, strict,  # noqa: F811
                                                            confined_by, capfd):
    """veil's protections (it cannot be signalled, traced or read; no untraced
    child; no seccomp listener) hold for a run from Python exactly as from the
    shell, whatever confines the run."""
    d, marker = hostonly
    spec = {"layout": RunSpec(layout=Layout(root="/", binds=["/tmp"])),
            "identity": RunSpec(system=System(hostname="guest")),
            "policy": RunSpec(security=Security(deny=["acct"]))}[confined_by]
    flags = {"layout": ["-r", "/", "-b", "/tmp"], "identity": ["--hostname", "guest"],
             "policy": ["--deny", "acct"]}[confined_by]
    if strict:
        spec = spec.replace(security={"strict": True})
        flags = [*flags, "--strict"]
    for attack in ATTACKS:
        argv = [escapes[attack]] + ([str(d / "target"), marker] if attack == "clone_untraced"
                                    else [])
        shell = run_veil(["run", *flags, "--", *argv])
        capfd.readouterr()
        result = veil.run(argv, spec=spec)
        api = capfd.readouterr()
        assert result.exit_code == shell.returncode, (attack, api.err, shell.stderr)
        assert results(api.out) == results(shell.stdout), (attack, api.out, shell.stdout)
        outcomes = results(api.out)
        assert outcomes and not any(v.startswith("ESCAPED") for v in outcomes.values()), outcomes
        assert marker not in api.out + shell.stdout
        # the Python run reports what it refused, as the shell prints it
        refused = {r.name for r in result.refusals}
        for line in shell.stderr.splitlines():
            if line.startswith("veil: refused "):
                assert line.split()[2] in refused, (line, refused)


def test_session_with_a_spec_is_confined_like_the_cli(escapes):  # noqa: F811
    session = veil.Session([escapes["kill_veil"]], spec=RunSpec(layout=Layout(root="/")),
                           stdout=subprocess.DEVNULL)
    result = session.run()
    assert {"kill", "tgkill", "pidfd_open", "ptrace"} <= {r.name for r in result.refusals}


def test_spec_values_are_checked_when_made():
    with pytest.raises(SpecError, match=r"^\[system\] cpus: expected an integer >= 1, got 0$"):
        System(cpus=0)
    with pytest.raises(SpecError, match=r"^\[layout\] binds\[0\]: expected an absolute guest path"):
        Layout(binds=["/tmp:relative"])
    with pytest.raises(SpecError, match=r"^\[network\] deny\[0\]: "):
        Network(deny=["not-an-address"])
    with pytest.raises(SpecError, match=r"^\[security\] deny\[0\]: .*nosuchcall"):
        Security(deny=["nosuchcall"])
    with pytest.raises(SpecError, match=r"^\[system\] fake_root: "):
        System(fake_root=True, uid=3)
    with pytest.raises(SpecError, match=r"^\[environment\] rlimits.bogus: unknown resource limit"):
        Environment(rlimits={"bogus": 1})
    spec = RunSpec(system={"hostname": "a"})
    with pytest.raises(AttributeError):
        spec.system.hostname = "b"  # type: ignore[misc]
    assert spec.replace(system={"cpus": 2}).system == System(hostname="a", cpus=2)


def test_host_errors_name_the_key_in_python_and_the_flag_in_the_shell(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(SpecError, match=rf"^\[layout\] root: {missing}: no such directory$"):
        veil.run(["true"], spec=RunSpec(layout=Layout(root=str(missing))))
    r = run_veil(["run", "-r", str(missing), "true"])
    assert r.returncode == 2 and r.stderr == f"veil: -r {missing}: no such directory\n"
    # a missing bind source is an error under strict, a warning otherwise (as PRoot)
    with pytest.raises(SpecError, match=r"^\[layout\] binds\[0\]: "):
        veil.run(["true"], spec=RunSpec(layout=Layout(binds=[str(missing)]),
                                        security={"strict": True}))
    r = run_veil(["run", "--strict", "-b", str(missing), "true"])
    assert r.returncode == 2 and r.stderr == f"veil: -b {missing}: no such file or directory\n"
    r = run_veil(["run", "-b", str(missing), "true"])
    assert r.returncode == 0 and r.stderr.startswith("veil: warning: "), r.stderr


def test_a_profile_error_found_at_run_time_names_the_profile(tmp_path):
    prof = tmp_path / "p.toml"
    prof.write_text(f'[layout]\nroot = "{tmp_path}/nope"\n')
    r = run_veil(["run", "--profile", str(prof), "true"])
    assert r.returncode == 2
    assert r.stderr == f"veil: {prof}: [layout] root: {tmp_path}/nope: no such directory\n"


def test_session_refuses_settings_given_twice():
    with pytest.raises(veil.VeilError, match="give env, cwd in the spec"):
        veil.Session(["true"], spec=RunSpec(), env={}, cwd="/")
    with pytest.raises(veil.VeilError, match="nothing to run"):
        veil.Session(spec=RunSpec())
