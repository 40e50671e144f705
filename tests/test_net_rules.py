"""Network rules (--net-allow/--net-deny/--net-default and the profile's [security])."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest

CLIENT = r"""
import socket, sys
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect((host, int(port)))
        print(target, "connected")
    except OSError as e:
        print(target, __import__("errno").errorcode[e.errno])
    s.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    u.sendto(b"x", ("127.0.0.9", 9))
    print("udp sent")
except OSError as e:
    print("udp", __import__("errno").errorcode[e.errno])
"""


@pytest.fixture
def listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                srv.accept()[0].close()
            except OSError:
                pass
    th = threading.Thread(target=accept, daemon=True)
    th.start()
    yield port
    stop.set()
    th.join()
    srv.close()


def run(tmp_path, opts, targets):
    prog = tmp_path / "client.py"
    prog.write_text(CLIENT)
    r = subprocess.run([sys.executable, "-m", "veil", "run", *opts, "--", sys.executable, str(prog),
                        *targets], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return dict(line.rsplit(" ", 1) for line in r.stdout.splitlines())


def test_deny_with_errno_and_allow_rest(tmp_path, listener):
    out = run(tmp_path, ["--net-deny", f"127.0.0.0/8:{listener}=ECONNREFUSED"],
              [f"127.0.0.1:{listener}"])
    assert out[f"127.0.0.1:{listener}"] == "ECONNREFUSED"
    assert out["udp"] == "sent"
    # without the rule the same connect works: the refusal was veil's
    assert run(tmp_path, [], [f"127.0.0.1:{listener}"])[f"127.0.0.1:{listener}"] == "connected"


def test_default_deny_outside_the_allowed_list(tmp_path, listener):
    out = run(tmp_path, ["--net-default", "deny", "--net-allow", f"127.0.0.1:{listener}-{listener}"],
              [f"127.0.0.1:{listener}", f"127.0.0.2:{listener}"])
    assert out[f"127.0.0.1:{listener}"] == "connected"
    assert out[f"127.0.0.2:{listener}"] == "EACCES"
    assert out["udp"] == "EACCES"  # sendto is ruled too


def test_deny_inside_an_allowed_range_wins(tmp_path, listener):
    out = run(tmp_path, ["--net-allow", "127.0.0.0/8", "--net-deny", f"127.0.0.1:{listener}",
                         "--net-default", "deny"], [f"127.0.0.1:{listener}"])
    assert out[f"127.0.0.1:{listener}"] == "EACCES"


def test_profile_security_net_rules(tmp_path, listener):
    prof = tmp_path / "p.toml"
    prof.write_text(f'[security]\nnet_default = "deny"\nnet_allow = ["127.0.0.1:{listener}"]\n')
    out = run(tmp_path, ["--profile", str(prof)], [f"127.0.0.1:{listener}", "127.0.0.3:80"])
    assert out[f"127.0.0.1:{listener}"] == "connected" and out["127.0.0.3:80"] == "EACCES"
    prof.write_text('[security]\nnet_deny = ["10.0.0.0/33"]\n')
    r = subprocess.run([sys.executable, "-m", "veil", "run", "--profile", str(prof), "true"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "p.toml:2" in r.stderr and "net_deny" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("flag,value", [("--net-deny", "300.1.1.1"), ("--net-allow", "10.0.0.0/8:99999"),
                                        ("--net-deny", "10.0.0.1=ENOTANERRNO"),
                                        ("--net-map", "10.0.0.1:80")])
def test_bad_rules_one_line(flag, value):
    r = subprocess.run([sys.executable, "-m", "veil", "run", flag, value, "true"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("veil: invalid"), r.stderr
