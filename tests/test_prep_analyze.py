"""``veil prep analyze``: ELF facts, the library closure against ldd, hardening, bad input."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

import veil
from conftest import run_veil
from veil.errors import UsageError
from veil.prep.analyze import analyze
from veil.prep.ldcache import load_cache, parse_cache, parse_ldconfig_p

LDD = shutil.which("ldd")
GCC = shutil.which("gcc")
needs_ldd = pytest.mark.skipif(LDD is None, reason="ldd is not installed")
needs_gcc = pytest.mark.skipif(GCC is None, reason="gcc is not installed")
VEIL_SRC = str(Path(veil.__file__).resolve().parent.parent)


def veil_env() -> Dict[str, str]:
    """Run the CLI from the same source tree these tests import."""
    env = dict(os.environ)
    env["PYTHONPATH"] = VEIL_SRC + os.pathsep + env.get("PYTHONPATH", "")
    return env


def ldd_closure(path: str, env: Optional[Dict[str, str]] = None
                ) -> Tuple[List[Tuple[str, Optional[str]]], List[str]]:
    """(name, path) pairs of ``ldd PATH`` in its order, and the bare-path lines (the interpreter)."""
    out = subprocess.run([LDD, path], capture_output=True, text=True, timeout=30, env=env,
                         check=True).stdout
    pairs: List[Tuple[str, Optional[str]]] = []
    bare: List[str] = []
    for line in out.splitlines():
        line = line.strip()
        if " => " in line:
            name, _, rest = line.partition(" => ")
            where = rest.split(" (0x")[0].strip()
            pairs.append((name, None if where == "not found" else where))
        elif line.startswith("/"):
            bare.append(line.split(" (0x")[0])
    return pairs, bare


def assert_matches_ldd(path: str, env: Optional[Dict[str, str]] = None) -> Dict:
    result = analyze(path, env=env)
    pairs, bare = ldd_closure(path, env)
    interp = result["interpreter"]
    ours = [(lib["name"], lib["path"]) for lib in result["libraries"] if lib["path"] != interp]
    assert ours == pairs, f"veil: {ours}\nldd:  {pairs}"
    loader = [lib["path"] for lib in result["libraries"] if lib["path"] == interp]
    assert set(loader) <= set(bare)
    return result


def real_python() -> str:
    for candidate in ("/root/.pyenv/versions/3.11.7/bin/python3.11", "/usr/bin/python3"):
        if os.path.exists(candidate):
            return candidate
    return os.path.realpath(shutil.which("python3") or "/usr/bin/python3")


def cc1() -> str:
    return subprocess.run([GCC, "-print-prog-name=cc1"], capture_output=True, text=True,
                          check=True).stdout.strip()


@needs_ldd
@pytest.mark.parametrize("which", ["ls", "python3", "usr-python3", "cc1"])
def test_closure_equals_ldd(which: str) -> None:
    if which == "ls":
        path = "/bin/ls"
    elif which == "python3":
        path = real_python()
    elif which == "usr-python3":
        path = "/usr/bin/python3"
        if not os.path.exists(path):
            pytest.skip("no /usr/bin/python3")
    else:
        if GCC is None:
            pytest.skip("gcc is not installed")
        path = cc1()
    result = assert_matches_ldd(path)
    assert result["libraries"], "a dynamic program has libraries"
    assert not result["static"]
    assert any(lib["name"] == "libc.so.6" for lib in result["libraries"])


# --- programs built here -------------------------------------------------------------------

MAIN_C = 'int foo(void);\nint main(void) { return foo() == 42 ? 0 : 1; }\n'
FOO_C = 'int bar(void);\nint foo(void) { return bar() + 41; }\n'
BAR_C = 'int bar(void) { return 1; }\n'
HELLO_C = ('#include <stdio.h>\n#include <string.h>\n'
           'int main(int argc, char **argv) {\n  char buf[16];\n'
           '  strcpy(buf, argc > 5 ? argv[1] : "hi");\n  printf("%s %d\\n", buf, argc);\n'
           '  return 0;\n}\n')


def gcc(*args: str) -> None:
    r = subprocess.run([GCC, *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"gcc {' '.join(args)}: {r.stderr}"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Dict[str, str]:
    """libbar (lib/), libfoo needing libbar (lib/, no RUNPATH of its own) and programs."""
    if GCC is None:
        pytest.skip("gcc is not installed")
    d = tmp_path_factory.mktemp("prep")
    lib = d / "app" / "lib"
    lib.mkdir(parents=True)
    (d / "main.c").write_text(MAIN_C)
    (d / "foo.c").write_text(FOO_C)
    (d / "bar.c").write_text(BAR_C)
    (d / "hello.c").write_text(HELLO_C)
    gcc("-shared", "-fPIC", "-o", str(lib / "libbar.so"), str(d / "bar.c"))
    gcc("-shared", "-fPIC", "-o", str(lib / "libfoo.so"), str(d / "foo.c"),
        f"-L{lib}", "-lbar")
    out = {"dir": str(d), "lib": str(lib)}
    for name, extra in (("runpath", []), ("rpath", ["-Wl,--disable-new-dtags"])):
        path = d / "app" / f"main-{name}"
        gcc("-o", str(path), str(d / "main.c"), f"-L{lib}", "-lfoo",
            "-Wl,-rpath-link," + str(lib), "-Wl,-rpath,$ORIGIN/lib", *extra)
        out[name] = str(path)
    gcc("-o", str(d / "app" / "main-plain"), str(d / "main.c"), f"-L{lib}", "-lfoo",
        "-Wl,-rpath-link," + str(lib))
    out["plain"] = str(d / "app" / "main-plain")
    gcc("-static", "-O1", "-o", str(d / "hello-static"), str(d / "hello.c"))
    out["static"] = str(d / "hello-static")
    gcc("-O1", "-no-pie", "-fno-pie", "-z", "norelro", "-z", "execstack",
        "-fno-stack-protector", "-U_FORTIFY_SOURCE", "-o", str(d / "hello-weak"),
        str(d / "hello.c"))
    out["weak"] = str(d / "hello-weak")
    gcc("-O2", "-pie", "-fPIE", "-fstack-protector-all", "-D_FORTIFY_SOURCE=2",
        "-Wl,-z,relro,-z,now", "-z", "noexecstack", "-o", str(d / "hello-strong"),
        str(d / "hello.c"))
    out["strong"] = str(d / "hello-strong")
    return out


@needs_ldd
def test_origin_runpath_is_per_object(built) -> None:
    """RUNPATH $ORIGIN/lib finds libfoo; libfoo has no RUNPATH, so libbar is not found (as ldd)."""
    result = assert_matches_ldd(built["runpath"])
    assert result["runpath"] == "$ORIGIN/lib" and result["rpath"] is None
    by_name = {lib["name"]: lib for lib in result["libraries"]}
    assert by_name["libfoo.so"]["path"] == os.path.join(built["lib"], "libfoo.so")
    assert by_name["libfoo.so"]["needed_by"] == [built["runpath"]]
    assert by_name["libbar.so"]["path"] is None
    assert by_name["libbar.so"]["needed_by"] == [by_name["libfoo.so"]["path"]]


@needs_ldd
def test_origin_rpath_is_inherited(built) -> None:
    """DT_RPATH of the program also serves its libraries: libbar is found through it."""
    result = assert_matches_ldd(built["rpath"])
    assert result["rpath"] == "$ORIGIN/lib" and result["runpath"] is None
    paths = {lib["name"]: lib["path"] for lib in result["libraries"]}
    assert paths["libfoo.so"] == os.path.join(built["lib"], "libfoo.so")
    assert paths["libbar.so"] == os.path.join(built["lib"], "libbar.so")


def test_origin_of_a_symlinked_program_is_its_real_directory(built, tmp_path) -> None:
    """The kernel gives ld.so the real path (/proc/self/exe): $ORIGIN follows the symlink.

    (ldd runs the program through ld.so under the symlink's name and so disagrees here;
    the program itself runs, which is what a bundle needs.)"""
    link = tmp_path / "elsewhere"
    link.symlink_to(built["rpath"])
    assert subprocess.run([str(link)], timeout=30).returncode == 0
    paths = {lib["name"]: lib["path"] for lib in analyze(str(link))["libraries"]}
    assert paths["libfoo.so"] == os.path.join(built["lib"], "libfoo.so")
    assert paths["libbar.so"] == os.path.join(built["lib"], "libbar.so")


@needs_ldd
def test_ld_library_path(built) -> None:
    env = dict(os.environ, LD_LIBRARY_PATH=built["lib"])
    result = assert_matches_ldd(built["plain"], env=env)
    paths = {lib["name"]: lib["path"] for lib in result["libraries"]}
    assert paths["libfoo.so"] == os.path.join(built["lib"], "libfoo.so")
    assert paths["libbar.so"] == os.path.join(built["lib"], "libbar.so")
    env.pop("LD_LIBRARY_PATH")
    missing = assert_matches_ldd(built["plain"], env=env)
    assert {lib["name"] for lib in missing["libraries"] if lib["path"] is None} == {"libfoo.so"}


def test_static_binary(built) -> None:
    result = analyze(built["static"])
    assert result["static"] is True
    assert result["interpreter"] is None
    assert result["needed"] == [] and result["libraries"] == []
    assert result["class"] == "ELF64" and result["machine"] == "x86_64"


def test_setuid_and_setgid(tmp_path) -> None:
    copy = tmp_path / "true"
    shutil.copy("/bin/true", copy)
    plain = analyze(str(copy))
    assert (plain["setuid"], plain["setgid"]) == (False, False)
    os.chmod(copy, os.stat(copy).st_mode | stat.S_ISUID)
    assert (analyze(str(copy))["setuid"], analyze(str(copy))["setgid"]) == (True, False)
    os.chmod(copy, os.stat(copy).st_mode | stat.S_ISGID)
    assert analyze(str(copy))["setgid"] is True


def _readelf_bind_now(path: str) -> bool:
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True).stdout
    return "BIND_NOW" in out or any("FLAGS_1" in line and " NOW" in line
                                    for line in out.splitlines())


def test_hardening_of_ls() -> None:
    result = analyze("/bin/ls")
    h = result["hardening"]
    assert result["type"] == "pie" and h["pie"] is True
    assert h["nx"] is True and h["canary"] is True
    assert h["relro"] != "none"
    if shutil.which("readelf"):
        assert h["relro"] == ("full" if _readelf_bind_now("/bin/ls") else "partial")


def test_hardening_weak_vs_strong(built) -> None:
    weak = analyze(built["weak"])
    assert weak["type"] == "executable"
    assert weak["hardening"] == {"relro": "none", "nx": False, "canary": False, "pie": False,
                                 "fortify": False}
    strong = analyze(built["strong"])
    assert strong["type"] == "pie"
    assert strong["hardening"] == {"relro": "full", "nx": True, "canary": True, "pie": True,
                                   "fortify": True}


def test_versions_and_min_glibc() -> None:
    result = analyze("/bin/ls")
    assert result["min_glibc"].startswith("2.")
    libc = result["versions_needed"]["libc.so.6"]
    assert "GLIBC_2.2.5" in libc
    assert f"GLIBC_{result['min_glibc']}" in libc


def test_shared_library_type() -> None:
    libc = [lib["path"] for lib in analyze("/bin/ls")["libraries"] if lib["name"] == "libc.so.6"]
    result = analyze(libc[0])
    assert result["type"] == "shared library"


def test_ld_so_cache_matches_ldconfig() -> None:
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    if not os.path.exists("/etc/ld.so.cache") or not os.path.exists(ldconfig):
        pytest.skip("no ld.so.cache or ldconfig")
    with open("/etc/ld.so.cache", "rb") as f:
        ours = parse_cache(f.read())
    text = subprocess.run([ldconfig, "-p"], capture_output=True, text=True).stdout
    theirs = parse_ldconfig_p(text)
    flat = lambda entries: sorted((n, e.path) for n, es in entries.items() for e in es)  # noqa: E731
    assert flat(ours) == flat(theirs)
    assert load_cache().source == "/etc/ld.so.cache"


# --- the command line ------------------------------------------------------------------------

def test_cli_json_and_text() -> None:
    r = run_veil(["prep", "analyze", "--json", "/bin/ls"], env=veil_env())
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    for key in ("class", "machine", "type", "static", "interpreter", "needed", "libraries",
                "versions_needed", "min_glibc", "setuid", "setgid", "hardening"):
        assert key in obj
    assert all(set(lib) == {"name", "path", "needed_by"} for lib in obj["libraries"])
    r = run_veil(["prep", "analyze", "/bin/ls"], env=veil_env())
    assert r.returncode == 0, r.stderr
    assert "libc.so.6" in r.stdout and "hardening:" in r.stdout and "minimal glibc: 2." in r.stdout


def _bad_inputs(tmp: Path) -> Dict[str, str]:
    text = tmp / "notes.txt"
    text.write_text("hello, this is not a program\n")
    empty = tmp / "empty"
    empty.write_bytes(b"")
    data = Path("/bin/ls").read_bytes()
    cut = tmp / "ls-cut"
    cut.write_bytes(data[:4096])
    header_only = tmp / "ls-header"
    header_only.write_bytes(data[:30])
    return {"missing": str(tmp / "no-such-file"), "non-ELF": str(text), "empty": str(empty),
            "truncated": str(cut), "truncated header": str(header_only), "directory": str(tmp)}


def test_bad_input_in_process(tmp_path) -> None:
    for kind, path in _bad_inputs(tmp_path).items():
        with pytest.raises(UsageError) as info:
            analyze(path)
        assert str(info.value).startswith(f"prep analyze {path}: "), kind


def test_bad_input_cli(tmp_path) -> None:
    expected = {"missing": "No such file", "non-ELF": "not an ELF", "empty": "not an ELF",
                "truncated": "truncated", "truncated header": "truncated",
                "directory": "directory"}
    for kind, path in _bad_inputs(tmp_path).items():
        r = run_veil(["prep", "analyze", path], env=veil_env())
        assert r.returncode == 2, (kind, r.stderr)
        assert r.stdout == ""
        lines = r.stderr.splitlines()
        assert len(lines) == 1, (kind, r.stderr)
        assert lines[0].startswith(f"veil: prep analyze {path}: "), (kind, lines[0])
        assert expected[kind] in lines[0], (kind, lines[0])
        assert "Traceback" not in r.stderr
