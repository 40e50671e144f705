"""``veil prep pack --archive B.veil`` and ``veil run B.veil``: one file, content-hashed,
unpacked once into a cache (issue 24)."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile

import pytest

from conftest import run_veil
from veil.errors import UsageError
from veil.prep.archive import BLOBS, INDEX, unpacked


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    """A program reading two identical data files and its arguments, packed as B.veil."""
    work = tmp_path_factory.mktemp("arch")
    for name in ("a.txt", "b.txt"):
        (work / name).write_text("same content\n" * 50)
    command = ["/bin/sh", "-c", f'cat {work}/a.txt {work}/b.txt | wc -l; echo "$@"', "sh", "x"]
    native = subprocess.run(command, capture_output=True, text=True).stdout
    archive = work / "app.veil"
    r = run_veil(["prep", "pack", "-o", work / "bundle", "--archive", archive, "--", *command],
                 cwd=work)
    assert r.returncode == 0, r.stderr
    assert f"veil run {archive}" in r.stderr
    return work, archive, native


def _members(archive):
    with tarfile.open(archive, "r:gz") as tar:
        names = tar.getnames()
        index = json.load(tar.extractfile(INDEX))
    return names, index


def test_archive_has_an_index_and_stores_a_content_once(packed):
    work, archive, _ = packed
    names, index = _members(archive)
    assert names[0] == INDEX and index["format"] == "veil-archive"
    files = [e for e in index["entries"] if e["type"] == "file"]
    paths = {e["path"]: e for e in files}
    a, b = (paths[f"root{work}/{n}"] for n in ("a.txt", "b.txt"))
    expected = hashlib.sha256((work / "a.txt").read_bytes()).hexdigest()
    assert a["digest"] == b["digest"] == "sha256:" + expected
    blobs = [n for n in names if n.startswith(BLOBS)]
    assert len(blobs) == len({e["digest"] for e in files}) < len(files)
    assert {"profile.toml", "plan.toml", "seccomp.json"} <= set(paths)


def test_run_archive_moved_and_cached(packed, tmp_path):
    work, archive, native = packed
    moved = tmp_path / "elsewhere" / "app.veil"
    moved.parent.mkdir()
    shutil.copy(archive, moved)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    r = run_veil(["run", moved], cwd="/", env=env)
    assert (r.returncode, r.stdout) == (0, native), r.stderr
    cached = os.listdir(tmp_path / "cache" / "veil" / "bundles")
    assert len(cached) == 1
    stamp = os.stat(tmp_path / "cache" / "veil" / "bundles" / cached[0]).st_mtime_ns
    # arguments follow the bundle's argv; the second run reuses the unpacked copy
    r = run_veil(["run", moved, "--", "y"], cwd="/", env=env)
    assert (r.returncode, r.stdout) == (0, native.replace("x\n", "x y\n")), r.stderr
    assert os.listdir(tmp_path / "cache" / "veil" / "bundles") == cached
    assert os.stat(tmp_path / "cache" / "veil" / "bundles" / cached[0]).st_mtime_ns == stamp
    # HOME's ~/.cache without XDG_CACHE_HOME
    env = {k: v for k, v in os.environ.items() if k != "XDG_CACHE_HOME"}
    env["HOME"] = str(tmp_path / "home")
    r = run_veil(["run", moved], cwd="/", env=env)
    assert (r.returncode, r.stdout) == (0, native), r.stderr
    assert len(os.listdir(tmp_path / "home" / ".cache" / "veil" / "bundles")) == 1


def _rewrite(archive, out, change):
    """A copy of ARCHIVE with CHANGE(name, data, index) -> (name, data) applied to members."""
    with tarfile.open(archive, "r:gz") as src, tarfile.open(out, "w:gz") as dst:
        for member in src:
            data = src.extractfile(member).read()
            name, data = change(member.name, data)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))


def test_damaged_or_hostile_archive_is_refused(packed, tmp_path, monkeypatch):
    work, archive, _ = packed
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _names, index = _members(archive)
    digest = next(e["digest"] for e in index["entries"] if e["path"] == f"root{work}/a.txt")

    def flip(name, data):
        return name, data.replace(b"same", b"SAME") if name == BLOBS + digest[7:] else data
    bad = tmp_path / "bad.veil"
    _rewrite(archive, bad, flip)
    r = run_veil(["run", bad], env=env)
    assert r.returncode != 0 and "damaged" in r.stderr and "does not match its hash" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not os.listdir(tmp_path / "cache" / "veil" / "bundles")    # nothing half-unpacked

    def with_entries(name, *entries):
        """A copy of the archive whose index has ENTRIES too."""
        def change(member, data):
            if member != INDEX:
                return member, data
            index = json.loads(data)
            index["entries"] += entries
            return member, json.dumps(index).encode()
        _rewrite(archive, tmp_path / name, change)
        return tmp_path / name

    evil = with_entries("evil.veil", {"path": "root/../../../escaped", "type": "dir",
                                      "mode": 493})
    with pytest.raises(UsageError, match="refused index entry"):
        unpacked(str(evil))
    assert not (tmp_path / "escaped").exists()
    evil = with_entries("evil2.veil", {"path": "root/out", "type": "symlink",
                                       "target": str(tmp_path)},
                        {"path": "root/out/planted", "type": "dir", "mode": 493})
    with pytest.raises(UsageError, match="below a symlink"):
        unpacked(str(evil))
    assert not (tmp_path / "planted").exists()
    (tmp_path / "plain.veil").write_text("not an archive\n")
    with pytest.raises(UsageError, match="not a veil archive"):
        unpacked(str(tmp_path / "plain.veil"))


def test_archive_and_directory_are_the_same_bundle(packed, tmp_path):
    """-o and --archive together: the archive unpacks to the directory, file for file."""
    from veil.prep.archive import unpack
    work, archive, _ = packed
    unpack(str(archive), str(tmp_path / "u"))
    bundle = work / "bundle"

    def tree(root):
        out = {}
        for top, dirs, files in os.walk(root):
            for name in dirs + files:
                full = os.path.join(top, name)
                rel = os.path.relpath(full, root)
                out[rel] = (os.readlink(full) if os.path.islink(full) else
                            "dir" if os.path.isdir(full) else open(full, "rb").read())
        return out
    assert tree(tmp_path / "u") == tree(bundle)
    r = run_veil(["prep", "pack", "--archive", archive, "--", "/bin/true"])
    assert r.returncode == 2 and f"{archive} exists" in r.stderr
