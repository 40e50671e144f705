"""veil run --policy FILE: a Python policy file, errors reported with file and line."""
from conftest import run_veil


def test_policy_file(tmp_path):
    pf = tmp_path / "pol.py"
    pf.write_text(
        "import errno, veil\n"
        "policy = veil.Policy()\n"
        "@policy.on_enter('openat')\n"
        "def deny_hostname(call):\n"
        "    if call.args.path == '/etc/hostname':\n"
        "        return veil.Deny(errno.EACCES)\n")
    r = run_veil(["run", "--policy", pf, "--", "cat", "/etc/hostname"])
    assert r.returncode == 1 and "Permission denied" in r.stderr


def test_configure_function(tmp_path):
    pf = tmp_path / "conf.py"
    pf.write_text("import veil\n"
                  "def configure(session):\n"
                  "    session.watch(['getuid'], lambda stop: veil.Emulate(777))\n")
    r = run_veil(["run", "--policy", pf, "--", "id", "-ru"])
    assert r.stdout.strip() == "777"


def test_policy_file_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import veil\npolicy = veil.Policy()\npolicy.deny('nosuchcall')\n")
    r = run_veil(["run", "--policy", bad, "--", "true"])
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert f"{bad}:3" in r.stderr or "nosuchcall" in r.stderr
    syn = tmp_path / "syn.py"
    syn.write_text("x = (\n")
    r = run_veil(["run", "--policy", syn, "--", "true"])
    assert r.returncode != 0 and f"{syn}:" in r.stderr and "Traceback" not in r.stderr
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    r = run_veil(["run", "--policy", empty, "--", "true"])
    assert r.returncode != 0 and "neither" in r.stderr


def test_hook_error_in_policy_file_shows_traceback_and_kills(tmp_path):
    pf = tmp_path / "boom.py"
    pf.write_text("import veil\npolicy = veil.Policy()\n"
                  "@policy.on_enter('openat')\n"
                  "def boom(call):\n"
                  "    raise ValueError('bad policy')\n")
    r = run_veil(["run", "--policy", pf, "--", "cat", "/etc/hostname"])
    assert r.returncode != 0 and r.stdout == ""
    assert "ValueError: bad policy" in r.stderr and "raised by hook boom" in r.stderr
    assert f'File "{pf}", line 5' in r.stderr


def test_missing_command_in_run():
    r = run_veil(["run", "--", "nosuchcmd-xyz"])
    assert r.returncode == 127 and r.stderr.strip() == "veil: nosuchcmd-xyz: command not found"


def test_kill_verdict_kills_the_tree_and_says_why(tmp_path):
    pf = tmp_path / "kill.py"
    pf.write_text("import veil\npolicy = veil.Policy()\n"
                  "@policy.on_enter('mkdir', 'mkdirat')\n"
                  "def no_mkdir(call):\n"
                  "    return veil.Kill('mkdir is not allowed here')\n")
    marker = tmp_path / "parent-went-on"
    r = run_veil(["run", "--policy", pf, "--", "sh", "-c",
                  f"mkdir {tmp_path}/d; touch {marker}"], timeout=30)
    assert r.returncode == 137  # sh itself was killed too
    assert not marker.exists() and not (tmp_path / "d").exists()
    assert "mkdir is not allowed here" in r.stderr and "called mkdir" in r.stderr
