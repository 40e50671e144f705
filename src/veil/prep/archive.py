"""A bundle as one file, ``B.veil``, and where ``veil run B.veil`` unpacks it.

The file is a gzip-compressed tar.  Its first member, ``veil-archive.json``, is
the index: every directory, symlink and file of the bundle with its mode and
time, and for a file the SHA-256 of its content; each distinct content is
stored once, as ``blobs/sha256/HEX`` (a bundle's standalone tree repeats most
of root/, and libraries often have identical copies).

``veil run B.veil`` unpacks into ``$XDG_CACHE_HOME/veil/bundles/KEY`` (else
``~/.cache/veil/bundles/KEY``), KEY being the SHA-256 of the index, which names
every content by its hash: a second run reads only the index.  Unpacking checks
each content against its hash, never writes through a symlink it made, drops
setuid/setgid bits and refuses paths that leave the bundle.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import stat
import tempfile

from ..errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:   # tarfile and hashlib load when an archive is read or written
    import tarfile
    from typing import Any

INDEX = "veil-archive.json"
FORMAT = "veil-archive"
VERSION = 1
BLOBS = "blobs/sha256/"
SUFFIX = ".veil"
CHUNK = 1 << 20


def _digest(path: str) -> str:
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _entries(bundle: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The index entries of BUNDLE (sorted, parents first) and digest -> a file holding it."""
    entries: list[dict[str, Any]] = []
    blobs: dict[str, str] = {}
    for top, dirs, files in os.walk(bundle):
        dirs.sort()
        for name in sorted(dirs) + sorted(files):
            full = os.path.join(top, name)
            rel = os.path.relpath(full, bundle)
            st = os.lstat(full)
            entry: dict[str, Any] = {"path": rel, "mode": stat.S_IMODE(st.st_mode),
                                     "mtime": int(st.st_mtime)}
            if stat.S_ISLNK(st.st_mode):
                entry.update(type="symlink", target=os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                entry["type"] = "dir"
            elif stat.S_ISREG(st.st_mode):
                digest = _digest(full)
                blobs.setdefault(digest, full)
                entry.update(type="file", size=st.st_size, digest="sha256:" + digest)
            else:
                continue            # sockets, fifos: nothing a bundle carries
            entries.append(entry)
    return entries, blobs


def write_archive(bundle: str, archive: str) -> str:
    """BUNDLE (a directory) as the one file ARCHIVE; the SHA-256 of its index."""
    import hashlib
    import tarfile
    entries, blobs = _entries(bundle)
    index = json.dumps({"format": FORMAT, "version": VERSION, "entries": entries},
                       indent=0, sort_keys=True).encode()
    partial = archive + ".part"
    try:
        with tarfile.open(partial, "w:gz", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(INDEX)
            info.size, info.mode = len(index), 0o644
            tar.addfile(info, io.BytesIO(index))
            for digest, path in sorted(blobs.items()):
                info = tarfile.TarInfo(BLOBS + digest)
                info.size, info.mode = os.path.getsize(path), 0o644
                with open(path, "rb") as f:
                    tar.addfile(info, f)
        os.replace(partial, archive)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return hashlib.sha256(index).hexdigest()


def is_archive(path: str) -> bool:
    return path.endswith(SUFFIX) and os.path.isfile(path)


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "veil", "bundles")


def _read_index(tar: tarfile.TarFile, archive: str) -> tuple[dict[str, Any], str]:
    import hashlib
    first = tar.next()
    if first is None or first.name != INDEX or not first.isfile():
        raise UsageError(f"{archive}: not a veil archive (no {INDEX} at its start)")
    raw = tar.extractfile(first).read()     # type: ignore[union-attr]
    try:
        index = json.loads(raw)
    except ValueError as e:
        raise UsageError(f"{archive}: damaged index: {e}") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise UsageError(f"{archive}: not a veil archive")
    if index.get("version") != VERSION:
        raise UsageError(f"{archive}: archive version {index.get('version')!r}; this veil "
                         f"reads version {VERSION}")
    return index, hashlib.sha256(raw).hexdigest()


def _checked(entries: Any, archive: str) -> list[dict[str, Any]]:
    """The entries, refusing any that would leave the bundle or pass through a symlink."""
    if not isinstance(entries, list):
        raise UsageError(f"{archive}: damaged index: no entry list")
    links = set()
    for e in entries:
        path = e.get("path") if isinstance(e, dict) else None
        if (not isinstance(path, str) or not path or path.startswith("/")
                or ".." in path.split("/") or os.path.normpath(path) != path
                or e.get("type") not in ("dir", "file", "symlink")):
            raise UsageError(f"{archive}: refused index entry {str(e)[:120]}")
        parts = path.split("/")
        if any("/".join(parts[:i]) in links for i in range(1, len(parts))):
            raise UsageError(f"{archive}: refused index entry {path}: below a symlink")
        if e["type"] == "symlink":
            links.add(path)
    return entries


def unpack(archive: str, dest: str) -> None:
    """Unpack ARCHIVE into the new directory DEST (checking every content's hash)."""
    import hashlib
    import tarfile
    with tarfile.open(archive, "r:gz") as tar:
        index, _key = _read_index(tar, archive)
        entries = _checked(index.get("entries"), archive)
        wanted: dict[str, list[dict[str, Any]]] = {}
        for e in entries:
            if e["type"] == "file":
                wanted.setdefault(str(e.get("digest", "")).removeprefix("sha256:"), []).append(e)
        os.makedirs(dest)
        for e in entries:
            if e["type"] == "dir":
                os.makedirs(os.path.join(dest, e["path"]), exist_ok=True)
        for member in tar:
            digest = member.name.removeprefix(BLOBS)
            targets = wanted.pop(digest, None)
            if not member.name.startswith(BLOBS) or targets is None or not member.isfile():
                continue
            first = os.path.join(dest, targets[0]["path"])
            h = hashlib.sha256()
            with tar.extractfile(member) as src, open(first, "xb") as out:  # type: ignore[union-attr]
                while chunk := src.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
            if h.hexdigest() != digest:
                raise UsageError(f"{archive}: damaged: {targets[0]['path']} does not match its "
                                 f"hash")
            for e in targets[1:]:
                shutil.copyfile(first, os.path.join(dest, e["path"]))
        if wanted:
            missing = next(iter(wanted.values()))[0]["path"]
            raise UsageError(f"{archive}: damaged: no content for {missing}")
    for e in entries:                       # symlinks last: nothing is written through one
        if e["type"] == "symlink":
            os.symlink(str(e.get("target", "")), os.path.join(dest, e["path"]))
    for e in reversed(entries):             # modes and times last (read-only dirs)
        if e["type"] == "symlink":
            continue
        path = os.path.join(dest, e["path"])
        mode = int(e.get("mode", 0o644)) & 0o1777       # no setuid/setgid from an archive
        os.chmod(path, mode | (0o700 if e["type"] == "dir" else 0))
        mtime = int(e.get("mtime", 0))
        os.utime(path, (mtime, mtime))


def unpacked(archive: str) -> str:
    """The cache directory holding ARCHIVE unpacked (unpacking it the first time)."""
    import tarfile
    try:
        with tarfile.open(archive, "r:gz") as tar:
            _index, key = _read_index(tar, archive)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise UsageError(f"{archive}: not a veil archive ({e})") from None
    cache = cache_dir()
    dest = os.path.join(cache, key[:32])
    if os.path.isdir(dest):
        return dest
    try:
        os.makedirs(cache, exist_ok=True)
        scratch = tempfile.mkdtemp(prefix=f".{key[:32]}-", dir=cache)
    except OSError as e:
        raise UsageError(f"{archive}: cannot unpack into {cache}: {e.strerror} (the cache is "
                         f"$XDG_CACHE_HOME/veil, else ~/.cache/veil)") from None
    try:
        try:
            unpack(archive, os.path.join(scratch, "b"))
        except (tarfile.TarError, EOFError) as e:
            raise UsageError(f"{archive}: damaged archive ({e})") from None
        try:
            os.rename(os.path.join(scratch, "b"), dest)
        except OSError:
            if not os.path.isdir(dest):     # else another run unpacked it first
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return dest
