"""What is inside a bundle: ``veil prep info``, ``files`` (ReproZip's showfiles) and
``graph`` (processes, execs, files read and written) (issue 24)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import run_veil


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """sh runs cat on an input and writes an output: a process tree with two children."""
    work = tmp_path_factory.mktemp("inspect")
    (work / "input.csv").write_text("a,b\n1,2\n")
    command = ["/bin/sh", "-c", f"cat {work}/input.csv > {work}/result.txt; ls {work} >/dev/null"]
    out = work / "bundle"
    r = run_veil(["prep", "pack", "-o", out, "--", *command], cwd=work)
    assert r.returncode == 0, r.stderr
    return work, out, command


def _json(args):
    r = run_veil(args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_info(bundle):
    work, out, command = bundle
    info = _json(["prep", "info", out, "--json"])
    assert info["program"] == command and info["cwd"] == str(work)
    with open(out / "seccomp.json") as f:
        allowed = json.load(f)["syscalls"][0]["names"]
    assert info["syscalls"] == sorted(allowed) and "openat" in allowed
    assert info["packed_on"]["hostname"] == os.uname().nodename
    assert info["packed_on"]["kernel_release"] == os.uname().release
    files = [os.path.join(top, n) for top, _d, names in os.walk(out / "root") for n in names]
    regular = [f for f in files if not os.path.islink(f)]
    assert info["size"]["files"] == len(regular)
    assert info["size"]["bytes"] == sum(os.path.getsize(f) for f in regular)
    if shutil.which("dpkg-query"):
        packages = {p["package"]: p for p in info["packages"]}
        cat = next(p for p in packages if p != "not in a package"
                   and subprocess.run(["dpkg", "-L", p], capture_output=True,
                                      text=True).stdout.count("/bin/cat\n"))
        version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", cat],
                                 capture_output=True, text=True).stdout
        assert packages[cat]["version"] == version and packages[cat]["included"]
    r = run_veil(["prep", "info", out])
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1].startswith("program:   /bin/sh -c ")
    assert f"syscalls:  {len(allowed)} allowed" in r.stdout


def test_files_inputs_and_outputs(bundle):
    work, out, _ = bundle
    result = _json(["prep", "files", out, "--json"])
    inputs = {f["path"]: f for f in result["inputs"]}
    outputs = {f["path"]: f for f in result["outputs"]}
    assert list(inputs) == [str(work / "input.csv")]
    assert [u["program"] for u in inputs[str(work / "input.csv")]["by"]] == ["cat"]
    # the shell opens the redirection, then runs cat
    assert [u["program"] for u in outputs[str(work / "result.txt")]["by"]] == ["sh"]
    r = run_veil(["prep", "files", out])
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Input files:\n    " + str(work / "input.csv") + "  read by cat (pid ")
    assert "Output files:\n    " + str(work / "result.txt") + "  written by sh (pid " in r.stdout


def test_graph_dot_and_svg(bundle, tmp_path):
    work, out, _ = bundle
    dot = tmp_path / "g.dot"
    r = run_veil(["prep", "graph", out, "-o", dot])
    assert r.returncode == 0, r.stderr
    text = dot.read_text()
    # prep pack wrote the same graph into the bundle (and its SVG where dot is installed)
    assert (out / "graph.dot").read_text() == text
    assert (out / "graph.svg").exists() == bool(shutil.which("dot"))
    procs = dict(re.findall(r'p(\d+) \[shape=box.*label="(\w+) \[', text))
    assert sorted(procs.values()) == ["cat", "ls", "sh"]
    sh = next(pid for pid, name in procs.items() if name == "sh")
    cat = next(pid for pid, name in procs.items() if name == "cat")
    assert f"p{sh} -> p{cat} [style=dashed, label=\"fork\"];" in text
    nodes = dict((path, node) for node, path in re.findall(r'(f\d+) \[shape=ellipse, label="([^"]+)"', text))
    assert f"{nodes[str(work / 'input.csv')]} -> p{cat};" in text          # read
    assert f"p{sh} -> {nodes[str(work / 'result.txt')]}" in text           # written
    assert re.search(rf'{nodes[os.path.realpath("/bin/cat")]} -> p{cat} \[label="exec"', text)
    svg = tmp_path / "g.svg"
    if shutil.which("dot"):
        r = run_veil(["prep", "graph", out, "-o", svg])
        assert r.returncode == 0, r.stderr
        assert "<svg" in svg.read_text() and "input.csv" in svg.read_text()
    # without Graphviz: .svg is a clear error, .dot still works
    bare = {**os.environ, "PATH": "/nonexistent"}
    r = run_veil(["prep", "graph", out, "-o", tmp_path / "h.svg"], env=bare)
    assert r.returncode == 2 and "needs Graphviz's dot" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run_veil(["prep", "graph", out, "-o", tmp_path / "h.png"])
    assert r.returncode == 2 and "write a .dot" in r.stderr


def test_not_a_bundle(tmp_path):
    for sub in ("info", "files"):
        r = run_veil(["prep", sub, tmp_path])
        assert r.returncode == 2 and "not a bundle (no profile.toml" in r.stderr
