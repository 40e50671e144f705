"""``veil prep pack`` and ``veil run BUNDLE``: learn a program, bundle it, run the bundle."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import run_veil
from test_prep_standalone import remove_launch_links  # noqa: F401 (a fixture)
from veil import tomlread as tomllib

APP_C = r"""
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    const char *files[] = {CONF, DATA};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "r");
        if (!f) { perror(files[i]); return 3; }
        char line[256];
        while (fgets(line, sizeof line, f)) fputs(line, stdout);
        fclose(f);
    }
    for (int i = 1; i < argc; i++) printf("arg %s\n", argv[i]);
    return 0;
}
"""


@pytest.fixture
def app(tmp_path):
    """A C program reading a config file and a data file by absolute paths on the host."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed")
    conf = tmp_path / "etc" / "app.conf"
    data = tmp_path / "data" / "table.txt"
    conf.parent.mkdir()
    data.parent.mkdir()
    conf.write_text("greeting = hello\n")
    data.write_text("row 1\nrow 2\n")
    src = tmp_path / "app.c"
    src.write_text(APP_C)
    exe = tmp_path / "bin" / "app"
    exe.parent.mkdir()
    subprocess.run(["gcc", "-O1", f'-DCONF="{conf}"', f'-DDATA="{data}"', "-o", str(exe),
                    str(src)], check=True)
    return exe, conf, data


def pack(tmp_path, bundle, *args, cwd=None):
    r = run_veil(["prep", "pack", "-o", bundle, *args], cwd=cwd or tmp_path)
    assert r.returncode == 0, r.stderr
    return r


def test_pack_shell_and_run(tmp_path):
    command = ["/bin/sh", "-c", "cat /etc/os-release; ls /usr/share/doc | head -3"]
    native = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    bundle = tmp_path / "bundle"
    r = run_veil(["prep", "pack", "-o", bundle, "--", *command], cwd=tmp_path, text=False)
    assert r.returncode == 0, r.stderr
    assert b"\r" not in r.stderr           # no progress bar into a pipe
    r = subprocess.CompletedProcess(r.args, 0, r.stdout.decode(), r.stderr.decode())
    assert r.stdout == native.stdout
    lines = r.stderr.strip().splitlines()
    summary = next(line for line in lines if line.startswith("veil: packed"))
    assert summary.startswith(f"veil: packed {bundle}:") and "libraries" in summary
    assert "skipped" in summary
    # what was skipped, and why, one line per reason
    assert any(line.startswith("veil:   skipped ") and "shared (bound from the host)" in line
               and "/proc" in line for line in lines)
    prof = tomllib.loads((bundle / "profile.toml").read_text())
    assert prof["environment"]["argv"] == command
    assert prof["layout"]["root"] == "root"
    assert {b["host"] for b in prof["layout"]["binds"]} >= {"/proc", "/dev"}
    assert "/etc/os-release" in prof["security"]["paths_read"]
    assert prof["system"]["hostname"] == os.uname().nodename
    # the packing ids are recorded, not applied (faking them would emulate set*id)
    assert "uid" not in prof["system"]
    assert (f"# packed by uid {os.getuid()} gid {os.getgid()}; to present them: "
            f"--set system.uid={os.getuid()}") in (bundle / "profile.toml").read_text()
    # symlinks are kept as symlinks (Debian: /etc/os-release -> ../usr/lib/os-release)
    if os.path.islink("/etc/os-release"):
        assert os.readlink(bundle / "root/etc/os-release") == os.readlink("/etc/os-release")
    if os.path.islink("/bin"):
        assert os.path.islink(bundle / "root/bin")
    r = run_veil(["run", bundle])
    assert r.returncode == 0, r.stderr
    assert r.stdout == native.stdout


def test_bundle_world_only(tmp_path, app):
    """Everything comes from the bundle: the host's copies can go, the bundle can move."""
    exe, conf, data = app
    bundle = tmp_path / "bundle"
    r = pack(tmp_path, bundle, "--config", conf, "--", exe, "one")
    expected = "greeting = hello\nrow 1\nrow 2\narg one\n"
    assert r.stdout == expected
    assert (bundle / "root" / str(conf).lstrip("/")).read_text() == "greeting = hello\n"
    prof = tomllib.loads((bundle / "profile.toml").read_text())
    assert str(data) in prof["security"]["paths_read"]
    # the host's files go away: the native program fails, the bundle still works
    conf.rename(conf.with_suffix(".gone"))
    data.unlink()
    assert subprocess.run([exe], capture_output=True).returncode == 3
    r = run_veil(["run", bundle])
    assert (r.returncode, r.stdout) == (0, expected), r.stderr
    # relocatable: moved elsewhere, run from another directory
    moved = tmp_path / "elsewhere" / "b2"
    moved.parent.mkdir()
    bundle.rename(moved)
    r = run_veil(["run", moved], cwd="/")
    assert (r.returncode, r.stdout) == (0, expected), r.stderr
    # the packed program is the bundle's copy (the host one removed too)
    exe.unlink()
    r = run_veil(["run", "--", moved, "--", "two"])
    assert (r.returncode, r.stdout) == (0, expected + "arg two\n"), r.stderr


def test_args_and_set_override(tmp_path):
    bundle = tmp_path / "bundle"
    pack(tmp_path, bundle, "--", "/bin/sh", "-c", 'echo "args: $*"; hostname', "sh")
    r = run_veil(["run", bundle, "--", "x", "y"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "args: x y"
    r = run_veil(["run", bundle, "--set", "system.hostname=db2"])
    assert r.returncode == 0, r.stderr
    # hostname(1) is not in the bundle: the shell says so; uname -n is not either,
    # so check the name through /etc/hostname, which the identity layer answers; another
    # command than the packed one may need calls the learned allowlist lacks (dup2 for the
    # redirection): the bundle's seccomp profile is dropped with an empty list
    r = run_veil(["run", bundle, "--set", "system.hostname=db2",
                  "--set", "security.seccomp_profile=[]", "--set",
                  'environment.argv=["/bin/sh", "-c", "read h </etc/hostname; echo $h"]'])
    assert (r.returncode, r.stdout) == (0, "db2\n"), r.stderr


def test_bad_bundle(tmp_path):
    empty = tmp_path / "notabundle"
    empty.mkdir()
    r = run_veil(["run", empty])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a bundle" in lines[0] and "profile.toml" in lines[0]


def test_pack_errors(tmp_path):
    r = run_veil(["prep", "pack", "-o", tmp_path / "b", "--config", tmp_path / "nope",
                  "--", "/bin/true"])
    assert r.returncode == 2 and "nope" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    r = run_veil(["prep", "pack", "-o", tmp_path / "full", "--", "/bin/true"])
    assert r.returncode == 2 and "not an empty directory" in r.stderr
    r = run_veil(["prep", "pack", "-o", tmp_path / "b"])
    assert r.returncode == 2 and "command" in r.stderr
    for args in (["--bogus", "-o", tmp_path / "b", "--", "/bin/true"], ["--", "/bin/true"]):
        r = run_veil(["prep", "pack", *args])       # an unknown option, no -o: no usage block
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("veil: prep pack:")


def test_created_not_copied_and_share(tmp_path):
    """What the learning run made is not in the bundle; a --share path is a bind, and a
    symlink inside it still brings its target in."""
    work = tmp_path / "work"
    work.mkdir()
    bundle = tmp_path / "bundle"
    script = f"mkdir {work}/out && echo x >{work}/out/f && cat {work}/out/f /etc/os-release"
    r = pack(tmp_path, bundle, "--share", "/etc", "--", "/bin/sh", "-c", script)
    assert r.stdout.startswith("x\n")
    assert "created by the run" in r.stderr
    assert not (bundle / "root" / str(work).lstrip("/") / "out").exists()
    assert (bundle / "root" / str(work).lstrip("/")).is_dir()
    assert not (bundle / "root/etc").exists()
    prof = tomllib.loads((bundle / "profile.toml").read_text())
    assert {"host": "/etc", "guest": "/etc", "readonly": False} in prof["layout"]["binds"]
    assert f"{work}/out/f" in prof["security"]["paths_written"]
    shutil.rmtree(work / "out")
    r = run_veil(["run", bundle])
    assert (r.returncode, r.stdout) == (0, "x\n" + open("/etc/os-release").read()), r.stderr


def test_rewrite(tmp_path):
    """--rewrite changes the bundle's copies of the --config/--data files, never the host's."""
    conf = tmp_path / "etc" / "svc.conf"
    conf.parent.mkdir()
    text = "server = db.example.com:5432\nbackup = db.example.com:5433\n"
    conf.write_text(text)
    blob = tmp_path / "data" / "blob.bin"
    blob.parent.mkdir()
    blob.write_bytes(b"\0\1db.example.com\0")
    bundle = tmp_path / "bundle"
    r = pack(tmp_path, bundle, "--config", conf, "--data", blob.parent,
             "--rewrite", "db.example.com=db2.internal", "--rewrite", ":5432=:6543",
             "--", "/bin/cat", conf)
    assert r.stdout == text                    # the learning run saw the original
    assert "rewrote 1 files (3 replacements)" in r.stderr
    assert "1 binary files not rewritten" in r.stderr
    new = "server = db2.internal:6543\nbackup = db2.internal:5433\n"
    assert (bundle / "root" / str(conf).lstrip("/")).read_text() == new
    assert (bundle / "root" / str(blob).lstrip("/")).read_bytes() == b"\0\1db.example.com\0"
    assert conf.read_text() == text
    assert blob.read_bytes() == b"\0\1db.example.com\0"
    r = run_veil(["run", bundle])
    assert (r.returncode, r.stdout) == (0, new), r.stderr


@pytest.mark.parametrize("spec", ["nosign", "=x"])
def test_rewrite_bad_spec(tmp_path, spec):
    r = run_veil(["prep", "pack", "-o", tmp_path / "b", "--rewrite", spec, "--", "/bin/true"])
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--rewrite" in lines[0] and "OLD=NEW" in lines[0]
    assert not (tmp_path / "b").exists()


def test_seccomp_profile(tmp_path, app):
    """The learned syscall allowlist is a side-by-side OCI profile the bundle run applies."""
    import json
    exe, conf, data = app
    bundle = tmp_path / "bundle"
    pack(tmp_path, bundle, "--config", conf, "--", exe)
    spec = json.loads((bundle / "seccomp.json").read_text())
    assert spec["defaultAction"] == "SCMP_ACT_ERRNO"
    names = {n for rule in spec["syscalls"] for n in rule["names"]}
    assert {"openat", "execve", "read", "write"} <= names
    assert "reboot" not in names
    prof = tomllib.loads((bundle / "profile.toml").read_text())
    assert prof["security"]["seccomp_profile"] == ["seccomp.json"]
    expected = "greeting = hello\nrow 1\nrow 2\n"
    r = run_veil(["run", bundle])
    assert (r.returncode, r.stdout) == (0, expected), r.stderr
    # it is applied: without openat in the allowlist, the program cannot open its files
    spec["syscalls"][0]["names"].remove("openat")
    (bundle / "seccomp.json").write_text(json.dumps(spec))
    r = run_veil(["run", bundle])
    assert r.returncode != 0 and r.stdout == "", r.stderr       # ld.so cannot open libc
    # relocatable: the profile's path is relative to the bundle
    moved = tmp_path / "moved"
    bundle.rename(moved)
    (moved / "seccomp.json").write_text(json.dumps(
        {**spec, "syscalls": [{"names": sorted(names), "action": "SCMP_ACT_ALLOW"}]}))
    r = run_veil(["run", moved], cwd="/")
    assert (r.returncode, r.stdout) == (0, expected), r.stderr


PY_APP = """
import json, os, sqlite3, sys, tempfile
rows = json.load(open(sys.argv[1]))
with tempfile.TemporaryDirectory() as d:
    db = sqlite3.connect(os.path.join(d, "t.db"))
    db.execute("create table fruit (name text, n int)")
    db.executemany("insert into fruit values (?, ?)", rows)
    db.commit()
    print(db.execute("select name, sum(n) from fruit group by name order by name").fetchall())
print("exists", [os.path.exists(p) for p in sys.argv[2:]])
print("libsqlite3", [line.split()[-1] for line in open("/proc/self/maps")
                     if "/libsqlite3.so" in line][0])
"""


@pytest.mark.usefixtures("remove_launch_links")
def test_pack_python_json_sqlite(tmp_path):
    """python3 with json and sqlite3 doing real work; in the bundle run only what was packed
    exists (a stdlib module the run never imported is not there)."""
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps([["pear", 2], ["apple", 1], ["pear", 3]]))
    # a stdlib package the program never imports (the directories python lists are copied
    # one level deep, so a file at the top of the stdlib would be there)
    unused = subprocess.run([python, "-c", "import os; print(os.path.dirname(os.__file__))"],
                             capture_output=True, text=True).stdout.strip() + "/xml/dom/minidom.py"
    if not os.path.exists(unused):
        pytest.skip(f"{unused} is not installed")
    bundle = tmp_path / "bundle"
    r = pack(tmp_path, bundle, "--standalone", "--", python, "-c", PY_APP, rows)
    result = "[('apple', 1), ('pear', 5)]\n"
    out, lib = r.stdout.rsplit("libsqlite3 ", 1)
    assert out == result + "exists []\n" and lib.startswith("/usr/lib/")
    # without veil: the bundle's python, and the bundle's libsqlite3 (python dlopens it)
    standalone = subprocess.run([bundle / "run"], capture_output=True, text=True, timeout=60)
    assert standalone.stdout == f"{result}exists []\nlibsqlite3 {bundle}/standalone{lib}", \
        standalone.stderr
    rows.unlink()
    # the extra argument (appended to the packed argv) is a host file the run never used
    r = run_veil(["run", bundle, "--", unused])
    # (/proc/self/maps is not translated: it shows the host path of the bundle's copy)
    assert (r.returncode, r.stdout) == (0, f"{result}exists [False]\nlibsqlite3 "
                                           f"{bundle}/root{lib}"), r.stderr
    assert os.path.exists(unused)


def test_missing_program(tmp_path):
    """A missing program: exit 127 and one line, as a shell; no bundle is left."""
    r = run_veil(["prep", "pack", "-o", tmp_path / "b", "--", tmp_path / "nope"])
    assert r.returncode == 127
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope" in lines[0] and "No such file" in lines[0]
    assert not (tmp_path / "b").exists()
    r = run_veil(["prep", "pack", "-o", tmp_path / "b", "--", "no-such-command-here"])
    assert r.returncode == 127 and "command not found" in r.stderr


def test_bundle_missing_files(tmp_path):
    """A bundle whose program or seccomp profile went missing: one line naming it."""
    bundle = tmp_path / "bundle"
    pack(tmp_path, bundle, "--", "/bin/echo", "hi")
    (bundle / "seccomp.json").rename(tmp_path / "seccomp.json")
    r = run_veil(["run", bundle])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "seccomp.json" in lines[0]
    (tmp_path / "seccomp.json").rename(bundle / "seccomp.json")
    echo = bundle / "root" / os.path.realpath("/bin/echo").lstrip("/")
    echo.unlink()
    r = run_veil(["run", bundle])
    assert (r.returncode, r.stdout) == (127, "")
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "/bin/echo: not in the bundle" in lines[0], lines
    # a library gone: the loader's own line (the learned allowlist lets it be written)
    shutil.copy2("/bin/echo", echo)
    libc = bundle / "root" / os.path.realpath("/lib/x86_64-linux-gnu/libc.so.6").lstrip("/")
    libc.unlink()
    r = run_veil(["run", bundle])
    assert (r.returncode, r.stdout) == (127, "")
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "libc.so.6: cannot open shared object file" in lines[0], lines


def test_bad_profile_in_bundle(tmp_path):
    """An edited profile.toml with an unknown key or a wrong type: the key and its line."""
    bundle = tmp_path / "bundle"
    pack(tmp_path, bundle, "--", "/bin/true")
    profile = bundle / "profile.toml"
    text = profile.read_text()
    lineno = len(text.splitlines()) + 1
    for line, key, why in (("bogus = 1", "bogus", "unknown key"),
                           ('strict = "yes"', "strict", "expected true or false")):
        profile.write_text(text + line + "\n")        # [security] is the last section
        r = run_veil(["run", bundle])
        assert r.returncode == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert f"profile.toml:{lineno}: [security] {key}: {why}" in lines[0], lines[0]


def test_progress_and_skipped_summary(tmp_path):
    """--progress draws a bar even into a pipe; the summary names what was skipped and why
    (a socket among the --data files, a --share path) and summary.json has it all."""
    import socket
    data = tmp_path / "data"
    data.mkdir()
    (data / "table.txt").write_text("1\n")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(data / "control.sock"))
    try:
        bundle = tmp_path / "bundle"
        r = run_veil(["prep", "pack", "--progress", "-o", bundle, "--data", data,
                      "--share", "/etc", "--", "/bin/cat", "/etc/hostname"], cwd=tmp_path,
                     text=False)
    finally:
        sock.close()
    assert r.returncode == 0, r.stderr
    bar, _, rest = r.stderr.decode().rpartition("\r\x1b[K")
    assert "\rveil: copying [" in bar and "files" in bar
    lines = rest.strip().splitlines()
    assert lines[0].startswith(f"veil: packed {bundle}:")
    assert any("skipped 1, a socket: " + str(data / "control.sock") in ln for ln in lines)
    assert any("shared (bound from the host)" in ln and "/etc" in ln for ln in lines)
    summary = json.loads((bundle / "summary.json").read_text())
    assert summary["skipped"][str(data / "control.sock")] == "a socket"
    assert summary["files"] >= 3 and summary["bytes"] > 0 and summary["libraries"] >= 1
    assert (bundle / "root" / str(data / "table.txt").lstrip("/")).read_text() == "1\n"


def test_progress_only_on_a_terminal(tmp_path):
    """Without --progress the bar is drawn when stderr is a terminal, and -q silences it."""
    import pty
    for quiet in ([], ["-q"]):
        master, slave = pty.openpty()
        bundle = tmp_path / f"bundle{len(quiet)}"
        proc = subprocess.Popen([sys.executable, "-m", "veil", "prep", "pack", *quiet, "-o",
                                 str(bundle), "--", "/bin/true"], stdout=subprocess.DEVNULL,
                                stderr=slave, stdin=subprocess.DEVNULL, cwd=tmp_path)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:            # EIO: the other side is closed
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        assert proc.wait(timeout=60) == 0, out
        if quiet:
            assert out == b""
        else:
            assert b"\rveil: copying [" in out and b"veil: packed" in out
