"""``veil prep pack --standalone``: the bundle runs without veil, through BUNDLE/run, with
the bundle's own loader and libraries; the host's files are never changed."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

import pytest

from conftest import run_veil
from veil.prep.elfinfo import read_elf

SCRIPT = """#!/bin/sh
# a shell script calling coreutils found through PATH
printf 'pear\\napple\\n' | sort | tr a-z A-Z
echo "words: $(echo one two three | wc -w)"
cat /proc/self/maps
"""


@pytest.fixture(autouse=True)
def remove_launch_links(tmp_path):
    """The /tmp/.veil-ID directories the launchers of this test's bundles made go after it."""
    yield
    for summary in tmp_path.rglob("summary.json"):
        link = json.loads(summary.read_text()).get("standalone", {}).get("link")
        if link and link.startswith("/tmp/.veil-"):
            shutil.rmtree(link, ignore_errors=True)


def sha(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def mapped_files(maps: str):
    """The files a /proc/PID/maps text maps (no [heap], [vdso], anonymous)."""
    return {line.split(None, 5)[5] for line in maps.splitlines()
            if len(line.split(None, 5)) == 6 and line.split(None, 5)[5].startswith("/")}


def shared_objects(files):
    return {f for f in files if ".so" in os.path.basename(f)}


def launch(bundle, *args, **kw):
    r = subprocess.run([bundle / "run", *map(str, args)], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL, **kw)
    return r


def pack(tmp_path, bundle, *args):
    r = run_veil(["prep", "pack", "--standalone", "-o", bundle, *args], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return r


def test_shell_script_standalone_and_moved(tmp_path):
    script = tmp_path / "tool.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    host_files = [script, *(os.path.realpath(shutil.which(p)) for p in
                            ("sh", "sort", "tr", "wc", "cat"))]
    host_files += [os.path.realpath("/lib/x86_64-linux-gnu/libc.so.6"),
                   os.path.realpath("/lib64/ld-linux-x86-64.so.2")]
    before = {str(p): sha(p) for p in host_files}
    bundle = tmp_path / "bundle"
    r = pack(tmp_path, bundle, "--", script)
    assert r.stdout.startswith("APPLE\nPEAR\nwords: 3\n")
    assert "standalone: " in r.stderr and "launcher" in r.stderr
    # the originals are never changed; root/ keeps plain copies (veil needs no patching)
    assert {str(p): sha(p) for p in host_files} == before
    sh_real = os.path.realpath(shutil.which("sh"))
    assert sha(bundle / "root" / sh_real.lstrip("/")) == before[sh_real]
    # the standalone copies: PT_INTERP through the launcher's link, RPATH from $ORIGIN
    summary = json.loads((bundle / "summary.json").read_text())
    link = summary["standalone"]["link"]
    patched = read_elf(str(bundle / "standalone" / sh_real.lstrip("/")), full=False)
    assert patched.interpreter == link + "/s/lib64/ld-linux-x86-64.so.2"
    assert patched.runpath is None and patched.rpath.startswith("$ORIGIN/")
    assert (bundle / "standalone" / str(script).lstrip("/")).read_text().startswith(
        f"#!{link}/s/bin/sh\n")

    for where in (bundle, tmp_path / "moved" / "b"):
        if where != bundle:
            where.parent.mkdir()
            bundle.rename(where)
        r = launch(where, cwd="/")
        assert r.returncode == 0, r.stderr
        text, maps = r.stdout.split("words: 3\n")
        assert text == "APPLE\nPEAR\n"
        # `cat` (a program the script found through PATH) and every library it maps
        # are the bundle's, wherever the bundle is now
        files = mapped_files(maps)
        tree = str(where / "standalone") + "/"
        assert os.path.join(tree, "usr/bin/cat") in files
        libs = shared_objects(files)
        assert libs and all(f.startswith(tree) for f in libs), libs
        assert any(os.path.basename(f) == "libc.so.6" for f in libs)
        r = run_veil(["run", where], cwd="/")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("APPLE\nPEAR\nwords: 3\n")


ORIGIN_LIB = "const char *greeting(void) { return \"hello from libgreet\"; }\n"
ORIGIN_MAIN = r"""
#include <stdio.h>
const char *greeting(void);
int main(void) {
    puts(greeting());
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) fputs(line, stdout);
    return 0;
}
"""


def test_origin_runpath_program(tmp_path):
    """A program finding its library through $ORIGIN: packed, its host directory deleted,
    it runs from the bundle with veil and without."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed")
    app = tmp_path / "app"
    (app / "bin").mkdir(parents=True)
    (app / "lib").mkdir()
    (tmp_path / "greet.c").write_text(ORIGIN_LIB)
    (tmp_path / "main.c").write_text(ORIGIN_MAIN)
    # the library's own RUNPATH names a host directory: the standalone copy loses it
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", app / "lib/libgreet.so",
                    tmp_path / "greet.c", f"-Wl,--enable-new-dtags,-rpath,{app}/lib"],
                   check=True)
    subprocess.run(["gcc", "-o", app / "bin/hello", tmp_path / "main.c", "-L", app / "lib",
                    "-lgreet", "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib"], check=True)
    assert read_elf(str(app / "bin/hello"), full=False).runpath == "$ORIGIN/../lib"
    bundle = tmp_path / "bundle"
    r = pack(tmp_path, bundle, "--", app / "bin/hello")
    assert r.stdout.startswith("hello from libgreet\n")
    lib = str(app / "lib/libgreet.so").lstrip("/")
    original = read_elf(str(bundle / "root" / lib), full=False)
    assert original.runpath == f"{app}/lib"
    copy = read_elf(str(bundle / "standalone" / lib), full=False)
    assert (copy.runpath, copy.rpath, copy.needed) == (None, None, original.needed)
    hello = read_elf(str(bundle / "standalone" / str(app / "bin/hello").lstrip("/")), full=False)
    assert hello.runpath is None and hello.rpath.split(":")[0] == "$ORIGIN/../lib"
    shutil.rmtree(app)
    assert not app.exists()
    r = run_veil(["run", bundle])
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("hello from libgreet\n")
    r = launch(bundle)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("hello from libgreet\n")
    libs = shared_objects(mapped_files(r.stdout))
    greet = str(bundle / "standalone" / str(app / "lib/libgreet.so").lstrip("/"))
    assert greet in libs
    assert all(f.startswith(str(bundle / "standalone") + "/") for f in libs), libs


def test_setuid_dropped_and_launcher_errors(tmp_path):
    """A patched copy never keeps setuid (its loader comes through the user's link); the
    launcher without its tree says so in one line."""
    prog = tmp_path / "suid-true"
    shutil.copy2("/bin/true", prog)
    prog.chmod(0o4755)
    bundle = tmp_path / "bundle"
    pack(tmp_path, bundle, "--", prog)
    copy = bundle / "standalone" / str(prog).lstrip("/")
    assert read_elf(str(copy), full=False).interpreter.startswith("/tmp/.veil-")
    assert not copy.stat().st_mode & 0o6000
    assert prog.stat().st_mode & 0o4000
    assert launch(bundle).returncode == 0
    shutil.rmtree(bundle / "standalone")
    r = launch(bundle)
    assert r.returncode == 126
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "standalone is missing" in lines[0]


APP = """#!/bin/sh
# reads its configuration and data by their absolute host paths
data={work}/data
cat {work}/conf/app.conf
cat "$data/greeting.txt"
ls "$data"
"""


def test_moved_bundle_serves_the_inputs_named_by_host_paths(tmp_path):
    """Moved to another directory with the original files gone (as on another machine),
    the launcher runs the program on the bundle's copies of the files it names by their
    absolute host paths (a script's text, the command's arguments), as ``veil run``
    does; the files in root/ are left as they were."""
    work = tmp_path / "work"
    (work / "conf").mkdir(parents=True)
    (work / "data").mkdir()
    (work / "conf" / "app.conf").write_text("port = 8080\n")
    (work / "data" / "greeting.txt").write_text("hello\n")
    script = work / "app.sh"
    script.write_text(APP.format(work=work))
    script.chmod(0o755)
    native = subprocess.run([script], capture_output=True, text=True, cwd="/")
    assert native.returncode == 0 and native.stdout.startswith("port = 8080\nhello\n")
    cases = (("direct", [script]), ("argument", ["/bin/sh", script]),
             ("relative", ["/bin/sh", "app.sh"]))           # packed in work
    for name, command in cases:
        r = run_veil(["prep", "pack", "--standalone", "-q", "-o", tmp_path / f"bundle-{name}",
                      "--", *command], cwd=work)
        assert r.returncode == 0, r.stderr
    away = tmp_path / "away"
    work.rename(away)
    for name, _ in cases:
        moved = tmp_path / "moved" / name
        moved.parent.mkdir(exist_ok=True)
        (tmp_path / f"bundle-{name}").rename(moved)
        r = launch(moved, cwd="/")
        assert (r.returncode, r.stdout) == (0, native.stdout), (name, r.stderr)
        r = run_veil(["run", moved], cwd="/")      # (the profile's cwd: work, in the bundle)
        assert (r.returncode, r.stdout) == (0, native.stdout), (name, r.stderr)
        # the standalone tree's copy names the files under the launcher's link
        link = json.loads((moved / "summary.json").read_text())["standalone"]["link"]
        text = (moved / "standalone" / str(script).lstrip("/")).read_text()
        assert f"cat {link}/s{work}/conf/app.conf\n" in text and f"data={link}/s{work}/data\n" in text
        assert (moved / "root" / str(script).lstrip("/")).read_text() == APP.format(work=work)
    assert not work.exists()
