"""Per-syscall properties live in one place: the `@` tokens of
tools/syscall_signatures.txt, generated into the syscall table.  A property
changed there reaches the Python sets derived from the table and, through the
action table, what C does at the stop."""

import errno
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GEN = REPO / "tools" / "gen_syscalls.py"
SIGNATURES = REPO / "tools" / "syscall_signatures.txt"
HEADERS = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")

pytestmark = pytest.mark.skipif(not HEADERS.exists(), reason="kernel uapi headers not installed")

# Runs under a given copy of veil: mkdir in a directory a read-only path rule covers
# (C refuses it only if the action table marks mkdir as mutating), and the sets the
# rest of veil derives from the table.
_PROBE = r"""
import errno, json, sys
import veil
from veil.decoders.registry import SPLIT
from veil.translations import DENIED, SCRATCH_GUARDS, translated_calls
from veil.prep.learn import WRITING
from veil.session import MUTATING_CALLS
from veil.sockets import SENDS, SOCKFD_CALLS

d = sys.argv[1]
# the program exits with mkdir's errno (0: made)
mkdir = ("import os, sys\ntry:\n    os.mkdir(sys.argv[1])\n"
         "except OSError as e:\n    sys.exit(e.errno)")
s = veil.Session([sys.executable, "-c", mkdir, d + "/new"])
s.add_path_rule(d + "/**", errno.EROFS, writes_only=True)
res = s.run()
print(json.dumps({
    "code": res.exit_code,
    "mutating": sorted(MUTATING_CALLS), "writing": sorted(WRITING), "denied": sorted(DENIED),
    "sockfd": SOCKFD_CALLS, "sends": sorted(SENDS), "split": SPLIT,
    "readlink_nofollow": translated_calls()["readlink"].nofollow,
    "guards": sorted(SCRATCH_GUARDS),
}))
"""


def _edit_line(text: str, name: str, old: str, new: str) -> str:
    """*text* with token *old* of syscall *name*'s line replaced by *new*."""
    pattern = re.compile(rf"(?m)^({re.escape(name)}\(.*?)(\s){re.escape(old)}(?=\s|$)")
    out, n = pattern.subn(lambda m: m.group(1) + (m.group(2) + new if new else ""), text)
    assert n == 1, f"{name}: no token {old!r}"
    return out


def _veil_with_table(tmp_path: Path, signatures: str) -> Path:
    """A copy of the veil package whose table is generated from *signatures*."""
    sigs = tmp_path / "sigs.txt"
    sigs.write_text(signatures)
    gen = tmp_path / "gen"
    r = subprocess.run([sys.executable, str(GEN), "--signatures", str(sigs), "--root", str(gen)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    pkg = tmp_path / "pkg"
    shutil.copytree(REPO / "src" / "veil", pkg / "veil",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(gen / "src" / "veil" / "syscalls" / "table.py",
                pkg / "veil" / "syscalls" / "table.py")
    return pkg


def _probe(src: Path, tmp_path: Path, tag: str) -> dict:
    ro = tmp_path / f"ro-{tag}"
    ro.mkdir()
    r = subprocess.run([sys.executable, "-c", _PROBE, str(ro)], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(src)}, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.splitlines()[-1])
    out["made"] = (ro / "new").is_dir()
    return out


def test_a_property_changed_in_the_table_reaches_python_and_c(tmp_path):
    text = SIGNATURES.read_text()
    edited = text
    for name in ("mkdir", "mkdirat"):
        edited = _edit_line(edited, name, "@mutates=file", "")
    edited = _edit_line(edited, "acct", "@layout_denied", "")
    edited = _edit_line(edited, "clone", "@split=2", "@split=3")
    edited = _edit_line(edited, "readlink", "@nofollow=0", "")
    edited = _edit_line(edited, "madvise", "@maps=addr:0", "")
    edited = _edit_line(edited, "pwrite64", "%desc", "%desc @sockfd=0 @moves=send")

    before = _probe(REPO / "src", tmp_path, "committed")
    after = _probe(_veil_with_table(tmp_path, edited), tmp_path, "edited")

    # C: with the committed table the read-only rule refuses mkdir; once the table
    # no longer says mkdir mutates, the action row lacks VEIL_F_MUTATES and C lets it be
    assert (before["code"], before["made"]) == (errno.EROFS, False), before
    assert (after["code"], after["made"]) == (0, True), after

    # Python: every derived set follows the table
    assert {"mkdir", "mkdirat"} <= set(before["mutating"]) & set(before["writing"])
    assert set(before["mutating"]) - set(after["mutating"]) == {"mkdir", "mkdirat"}
    assert set(before["writing"]) - set(after["writing"]) == {"mkdir", "mkdirat"}
    assert set(before["denied"]) - set(after["denied"]) == {"acct"}
    assert (before["split"]["clone"], after["split"]["clone"]) == (2, 3)
    assert (before["readlink_nofollow"], after["readlink_nofollow"]) == ([0], [])
    assert set(before["guards"]) - set(after["guards"]) == {"madvise"}
    assert "pwrite64" not in before["sockfd"] and after["sockfd"]["pwrite64"] == 0
    assert set(after["sends"]) - set(before["sends"]) == {"pwrite64"}


def test_check_passes_on_the_committed_tree_and_fails_when_stale(tmp_path):
    r = subprocess.run([sys.executable, str(GEN), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # a property edited in the signatures but not regenerated is caught
    sigs = tmp_path / "sigs.txt"
    sigs.write_text(_edit_line(SIGNATURES.read_text(), "mkdir", "@mutates=file", ""))
    r = subprocess.run([sys.executable, str(GEN), "--check", "--signatures", str(sigs)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "out of date" in r.stderr and "table.py" in r.stderr


def test_check_refuses_a_literal_syscall_number_in_c(tmp_path):
    root = tmp_path / "root"
    for rel in ("src/veil/syscalls/table.py", "src/veil/syscalls/foreign.py", "docs/syscalls.md"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, root / rel)
    (root / "csrc").mkdir()
    (root / "csrc" / "ok.c").write_text("int f(long nr) { return nr == __NR_getdents64; }\n")
    r = subprocess.run([sys.executable, str(GEN), "--check", "--root", str(root)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (root / "csrc" / "bad.c").write_text(
        "int f(struct task *t) {\n    return t->nr == 217 /* getdents64 */;\n}\n")
    r = subprocess.run([sys.executable, str(GEN), "--check", "--root", str(root)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "csrc/bad.c:2:" in r.stderr, r.stderr


@pytest.mark.parametrize("token,msg", [
    ("@frobs", "unknown property 'frobs'"),
    ("@mutates=maybe", "'maybe' is not one of file, system"),
    ("@split=9", "argument index '9' out of range"),
    ("@layout_denied=1", "@layout_denied takes no value"),
    ("@path_op=teleport:1", "'teleport' is not one of"),
    ("@maps=fixed:0", "fixed needs a flags:mremap_flags argument"),
])
def test_generator_rejects_bad_properties(tmp_path, token, msg):
    sigs = tmp_path / "sigs.txt"
    sigs.write_text(_edit_line(SIGNATURES.read_text(), "close", "%desc", "%desc " + token))
    r = subprocess.run([sys.executable, str(GEN), "--signatures", str(sigs),
                        "--root", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 2 and msg in r.stderr, r.stderr
