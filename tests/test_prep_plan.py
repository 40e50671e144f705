"""``veil prep trace -o DIR -- CMD`` writes a plan a person reviews and edits;
``veil prep pack DIR -o BUNDLE`` packs what it says (issue 24)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from conftest import run_veil
from veil import tomlread as tomllib
from veil.prep.dpkg import Packages
from veil.prep.plan import dump_plan, load_plan

NEEDS_DPKG = pytest.mark.skipif(not os.path.isdir("/var/lib/dpkg/info"),
                                reason="a Debian system (dpkg's database) is needed")


def dpkg_says(path: str) -> str:
    """dpkg -S's owner of PATH; since the /usr merge dpkg knows /bin/cat, not /usr/bin/cat."""
    real = os.path.realpath(path)
    for candidate in (path, real, real.removeprefix("/usr")):
        out = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        owners = [line.split(": ", 1)[0] for line in out.stdout.splitlines()
                  if not line.startswith("diversion by ")]
        if out.returncode == 0 and owners:
            return owners[0].split(",")[0].split(":")[0]
    return "not in a package"


def script(tmp: str) -> list:
    return ["/bin/sh", "-c", f"cat /etc/hostname {tmp}/in.txt > {tmp}/out.txt; "
                             f"cat {tmp}/out.txt"]


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """One learning run, shared: (work dir, plan dir, the command, its native output)."""
    work = tmp_path_factory.mktemp("plan")
    (work / "in.txt").write_text("input line\n")
    command = script(str(work))
    native = subprocess.run(command, capture_output=True, text=True).stdout
    plan = work / "plan"
    r = run_veil(["prep", "trace", "-o", plan, "--", *command], cwd=work)
    assert r.returncode == 0, r.stderr
    assert r.stdout == native                   # the learning run is the program's real run
    assert f"veil prep pack {plan} -o BUNDLE" in r.stderr
    return work, plan, command, native


def _groups(plan_dir):
    return tomllib.loads((plan_dir / "plan.toml").read_text())["group"]


def _set_include(text: str, package: str, value: str) -> str:
    head = f'package = "{package}"\n'
    start = text.index(head)
    end = text.index("include = ", start)
    line_end = text.index("\n", end)
    return text[:end] + f"include = {value}" + text[line_end:]


@NEEDS_DPKG
def test_plan_groups_files_by_package(traced):
    work, plan, command, _ = traced
    data = tomllib.loads((plan / "plan.toml").read_text())
    assert data["run"]["argv"] == command and data["run"]["cwd"] == str(work)
    assert data["identity"]["hostname"] == os.uname().nodename
    assert data["identity"]["uid"] == os.getuid()
    assert {"openat", "execve", "read"} <= set(data["syscalls"]["allowed"])
    by_package = {g["package"]: g for g in data["group"]}
    # the owners are dpkg's own answer for the same files
    for group in by_package.values():
        for path in group.get("executed", []) + group.get("read", [])[:1]:
            assert dpkg_says(path) == group["package"], path
    cat_group = next(g for g in data["group"] if "/usr/bin/cat" in g.get("executed", []))
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", cat_group["package"]],
                             capture_output=True, text=True).stdout
    assert cat_group["version"] == version and cat_group["include"] is True
    assert cat_group["size"] == os.path.getsize(os.path.realpath("/usr/bin/cat"))
    mine = by_package["not in a package"]
    assert str(work / "in.txt") in mine["read"]
    assert str(work / "out.txt") in mine["written"]
    assert str(work / "in.txt") in data["security"]["read"]
    assert str(work / "out.txt") in data["security"]["write"]


def test_dpkg_owner_matches_dpkg_query():
    if shutil.which("dpkg") is None:
        pytest.skip("dpkg is needed")
    packages = Packages()
    for path in ("/bin/sh", "/usr/bin/cat", "/lib/x86_64-linux-gnu/libc.so.6",
                 "/usr/lib/x86_64-linux-gnu/libc.so.6", "/etc/hostname"):
        if os.path.exists(path):
            assert (packages.owner_of(path) or "not in a package") == dpkg_says(path), path


def test_plan_round_trips(traced):
    _work, plan, _command, _ = traced
    text = (plan / "plan.toml").read_text()
    assert dump_plan(load_plan(str(plan))) == text


@NEEDS_DPKG
def test_pack_from_plan_and_leave_a_group_to_the_host(traced, tmp_path):
    work, plan, _command, native = traced
    edited = tmp_path / "plan"
    shutil.copytree(plan, edited)
    cat_package = next(g["package"] for g in _groups(plan) if "/usr/bin/cat" in g.get("executed", []))
    text = (edited / "plan.toml").read_text()
    (edited / "plan.toml").write_text(_set_include(text, cat_package, "false"))
    bundle = tmp_path / "bundle"
    r = run_veil(["prep", "pack", edited, "-o", bundle], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""                          # packing a plan runs nothing
    assert "left to the host (bound at run time)" in r.stderr
    cat = os.path.realpath("/usr/bin/cat")
    copy = bundle / "root" / cat.lstrip("/")
    assert copy.stat().st_size == 0                # a stand-in, not a copy
    prof = tomllib.loads((bundle / "profile.toml").read_text())
    assert {"host": cat, "guest": cat, "readonly": True} in prof["layout"]["binds"]
    assert (bundle / "root" / str(work / "in.txt").lstrip("/")).read_text() == "input line\n"
    os.unlink(work / "out.txt")
    r = run_veil(["run", bundle])
    assert (r.returncode, r.stdout) == (0, native), r.stderr
    # the bundle carries its plan: the same text
    assert (bundle / "plan.toml").read_text() == (edited / "plan.toml").read_text()


def test_one_step_pack_equals_trace_then_pack(traced, tmp_path):
    work, plan, command, native = traced
    one = tmp_path / "one"
    r = run_veil(["prep", "pack", "-o", one, "--", *command], cwd=work)
    assert r.returncode == 0, r.stderr
    two = tmp_path / "two"
    r = run_veil(["prep", "pack", "-o", two, plan], cwd=work)     # -o first, plan after
    assert r.returncode == 0, r.stderr

    def tree(root):
        return sorted(os.path.relpath(os.path.join(t, n), root)
                      for t, ds, fs in os.walk(root) for n in ds + fs)
    assert tree(one / "root") == tree(two / "root")
    r = run_veil(["run", two])
    assert (r.returncode, r.stdout) == (0, native), r.stderr


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("include = true", "inclde = true", 2),
     "[group] inclde: unknown key (known: package, version, include, size, executed"),
    (lambda t: t.replace("include = true", 'include = "yes"', 1),
     '[group] include: expected true or false, got "yes"'),
    (lambda t: t.replace("[security]\nenforce = true", "[security]\nenforce = true\nwide = 1"),
     "[security] wide: unknown key"),
    (lambda t: t.replace("[syscalls]\nallowed = [\n", '[syscalls]\nallowed = [\n    "opnat",\n'),
     '[syscalls] allowed[0]: unknown syscall "opnat"'),
    (lambda t: t + "\n[extra]\nx = 1\n", "[extra]: unknown section"),
])
def test_bad_plan_names_the_key_and_line(traced, tmp_path, edit, message):
    _work, plan, _command, _ = traced
    edited = tmp_path / "plan"
    shutil.copytree(plan, edited)
    text = edit((edited / "plan.toml").read_text())
    (edited / "plan.toml").write_text(text)
    r = run_veil(["prep", "pack", edited, "-o", tmp_path / "b"])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and message in line, line
    m = re.match(rf"veil: {re.escape(str(edited / 'plan.toml'))}:(\d+): ", line)
    assert m, line
    key = message.split("]")[1].split(":")[0].strip().split("[")[0]
    shown = text.splitlines()[int(m[1]) - 1]
    assert (key or message.split("]")[0][1:]) in shown, (shown, message)


def test_pack_plan_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    r = run_veil(["prep", "pack", tmp_path / "empty", "-o", tmp_path / "b"])
    assert r.returncode == 2 and "not a plan (no plan.toml" in r.stderr
    r = run_veil(["prep", "trace", "-o", tmp_path / "p"])
    assert r.returncode == 2 and "a command to learn is needed" in r.stderr
    r = run_veil(["prep", "pack", "--", "true"])
    assert r.returncode == 2 and "give -o BUNDLE, --archive B.veil or both" in r.stderr


def test_listed_only_files_say_why_and_the_plan_can_take_them(tmp_path):
    """A file the program only saw in a listing is skipped when large, in words a user
    understands, and moving it to listed_only in the plan packs it."""
    data = tmp_path / "lib"
    data.mkdir()
    (data / "small.so").write_bytes(b"s" * 100)
    (data / "big.so").write_bytes(b"b" * (2 << 20))
    plan = tmp_path / "plan"
    r = run_veil(["prep", "trace", "-o", plan, "--", "/bin/ls", data], cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == "big.so\nsmall.so\n", r.stderr
    text = (plan / "plan.toml").read_text()
    group = next(g for g in tomllib.loads(text)["group"] if g["package"] == "not in a package")
    assert group["listed_only"] == [str(data / "small.so")]
    assert group["listed_only_skipped"] == [str(data / "big.so")]
    assert "the program only listed it and it is larger than 1 MiB" in text
    bundle = tmp_path / "b1"
    r = run_veil(["prep", "pack", plan, "-o", bundle])
    assert r.returncode == 0, r.stderr
    assert "the program only listed it and it is larger than 1 MiB" in r.stderr
    assert not (bundle / "root" / str(data / "big.so").lstrip("/")).exists()
    # as a person would: the line moves from listed_only_skipped to listed_only
    text = re.sub(r"listed_only_skipped = \[\n.*\n\]\n", "", text)
    text = re.sub(r"listed_only = \[[^]]*\]",
                  f'listed_only = [\n    "{data}/small.so",\n    "{data}/big.so",\n]', text)
    (plan / "plan.toml").write_text(text)
    bundle = tmp_path / "b2"
    r = run_veil(["prep", "pack", plan, "-o", bundle])
    assert r.returncode == 0, r.stderr
    assert (bundle / "root" / str(data / "big.so").lstrip("/")).stat().st_size == 2 << 20
    r = run_veil(["run", bundle])
    assert (r.returncode, r.stdout) == (0, "big.so\nsmall.so\n"), r.stderr


def test_trace_progress_counts_what_it_learns(tmp_path):
    """--progress (or a terminal): the paths and processes learned so far, redrawn in place."""
    r = run_veil(["prep", "trace", "--progress", "-o", tmp_path / "p", "--", "/bin/sh", "-c",
                  "ls /usr/share/doc/dash; cat /etc/hostname"], cwd=tmp_path, text=False)
    assert r.returncode == 0, r.stderr
    counts = re.findall(rb"\rveil: learning: (\d+) paths, (\d+) processes, 0:\d\d", r.stderr)
    assert counts and all(int(paths) >= 1 and int(procs) >= 1 for paths, procs in counts)
    assert r.stderr.rstrip().endswith(b"-o BUNDLE")          # cleared, then the summary
    r = run_veil(["prep", "trace", "-o", tmp_path / "q", "--", "/bin/true"], text=False)
    assert b"\r" not in r.stderr                             # a pipe gets no bar


def test_progress_says_the_time_left(monkeypatch):
    import io

    from veil.prep import progress as bar
    now = [100.0]
    monkeypatch.setattr(bar.time, "monotonic", lambda: now[0])
    out = io.StringIO()
    shown = bar.Progress(True, out)
    shown.phase("copying", 40)
    now[0] += 10
    shown.step(files=1, nbytes=2048, items=10)    # a quarter in 10 s: 30 s to go
    assert out.getvalue().endswith("copying [######..................] 10/40, 1 files, "
                                   "2.0 KiB, 0:30 left\x1b[K")
