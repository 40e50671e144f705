"""``veil prep export``: a bundle as an OCI image (image-spec v1.0).

``--oci DIR`` writes an image layout: ``oci-layout``, ``index.json`` and
``blobs/sha256/`` holding the manifest, the config and one gzip layer, the
bundle's root/ tree (owned by root, modes and times kept).  The config
carries the profile's argv (Entrypoint: arguments given to ``docker run``
follow it, as they follow ``veil run BUNDLE --``), environment, working
directory and user (the packing uid:gid), and the learned seccomp profile as
the label ``org.veil.seccomp`` (an image cannot impose one: give it to the
runtime, ``docker run --security-opt seccomp=DIR/seccomp.json``).
``--docker-archive F.tar`` writes what ``docker load`` reads (manifest.json,
the config, the uncompressed layer).  Files a plan left to the host are not in
the image: they are named on stderr.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile

from ..errors import UsageError
from .inspect import Bundle

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYOUT_VERSION = "1.0.0"
REF_NAME = "org.opencontainers.image.ref.name"
SECCOMP_LABEL = "org.veil.seccomp"
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm",
                 "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


class _Hashing(io.RawIOBase):
    """A write-only stream that hashes and counts what goes through it to TARGET."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target, self.sha, self.size = target, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.size

    def write(self, data: Any) -> int:
        data = bytes(data)
        self.sha.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


def _layer(bundle: Bundle, tar_path: str, gz_path: str) -> tuple[str, str, int]:
    """root/ as an uncompressed tar (TAR_PATH) and its gzip (GZ_PATH): (diff_id, digest,
    size of the gzip)."""
    root = os.path.join(bundle.directory, "root")
    left = set(bundle.summary.get("from_host", []))
    with open(tar_path, "wb") as raw:
        plain = _Hashing(raw)
        with tarfile.open(fileobj=plain, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for top, dirs, files in os.walk(root):
                dirs.sort()
                for name in sorted(dirs) + sorted(files):
                    full = os.path.join(top, name)
                    guest = "/" + os.path.relpath(full, root)
                    if guest in left:
                        continue    # an empty stand-in for a file bound from the host
                    info = tar.gettarinfo(full, arcname=guest.lstrip("/"))
                    info.uid = info.gid = 0
                    info.uname = info.gname = "root"
                    info.mode &= 0o1777 if info.isdir() else 0o777
                    if info.isreg():
                        with open(full, "rb") as f:
                            tar.addfile(info, f)
                    elif info.isdir() or info.issym():
                        tar.addfile(info)
    with open(tar_path, "rb") as src, open(gz_path, "wb") as raw:
        packed = _Hashing(raw)
        with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as gz:  # type: ignore[arg-type]
            shutil.copyfileobj(src, gz, 1 << 20)
    return plain.digest, packed.digest, packed.size


def _seccomp(bundle: Bundle) -> dict[str, Any] | None:
    for profile in bundle.profile.get("security", {}).get("seccomp_profile", []):
        try:
            with open(os.path.join(bundle.directory, profile), encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            continue
    return None


def image_config(bundle: Bundle, diff_id: str) -> dict[str, Any]:
    env = bundle.profile.get("environment", {})
    system = bundle.profile.get("system", {})
    identity = bundle.plan.identity if bundle.plan else {}
    machine = identity.get("machine") or system.get("machine") or os.uname().machine
    config: dict[str, Any] = {
        "Env": [f"{k}={v}" for k, v in env.get("env", {}).items()],
        "Entrypoint": list(env.get("argv", [])),
        "WorkingDir": env.get("cwd", "/"),
        "Labels": {"org.veil.bundle": bundle.name},
    }
    if "uid" in identity:
        config["User"] = f"{identity['uid']}:{identity.get('gid', identity['uid'])}"
    seccomp = _seccomp(bundle)
    if seccomp is not None:
        config["Labels"][SECCOMP_LABEL] = json.dumps(seccomp, separators=(",", ":"))
    return {
        "architecture": ARCHITECTURES.get(machine, machine),
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "veil prep export", "comment": "the bundle's root tree"}],
    }


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=1, sort_keys=True).encode()


def _blob(directory: str, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(directory, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def _tag(bundle: Bundle, tag: str | None) -> tuple[str, str]:
    if tag is None:
        name = "".join(c if c.isalnum() or c in "._-" else "-" for c in bundle.name.lower())
        name = name.removesuffix(".veil").strip("._-") or "bundle"
        return f"veil/{name}", "latest"
    repo, _, version = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "")
    return repo, version or "latest"


def export(bundle: Bundle, oci: str | None = None, docker_archive: str | None = None,
           tag: str | None = None, quiet: bool = False) -> dict[str, Any]:
    """Write the OCI layout OCI and/or the docker-load tar DOCKER_ARCHIVE; what was written."""
    if oci and os.path.exists(oci) and (not os.path.isdir(oci) or os.listdir(oci)):
        raise UsageError(f"prep export: {oci} exists and is not an empty directory")
    if docker_archive and os.path.exists(docker_archive):
        raise UsageError(f"prep export: {docker_archive} exists")
    repo, version = _tag(bundle, tag)
    left = bundle.summary.get("from_host", [])
    if left and not quiet:
        shown = ", ".join(left[:4]) + (f" and {len(left) - 4} more" if len(left) > 4 else "")
        print(f"veil: prep export: {len(left)} files the plan left to the host are not in the "
              f"image: {shown}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="veil-export-") as scratch:
        tar_path, gz_path = os.path.join(scratch, "layer.tar"), os.path.join(scratch, "layer.gz")
        diff_id, layer_digest, layer_size = _layer(bundle, tar_path, gz_path)
        config = _json(image_config(bundle, diff_id))
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        written: dict[str, Any] = {"config": config_digest, "layer": layer_digest,
                                   "diff_id": diff_id}
        if oci:
            written["manifest"] = _write_layout(oci, config, gz_path, layer_digest, layer_size,
                                                version, _seccomp(bundle))
        if docker_archive:
            _write_docker_archive(docker_archive, config, config_digest, tar_path, diff_id,
                                  f"{repo}:{version}")
    if not quiet:
        what = " and ".join(x for x in (oci and f"the OCI layout {oci}",
                                        docker_archive and f"{docker_archive} (docker load -i "
                                                           f"{docker_archive})") if x)
        print(f"veil: exported {bundle.name} as {repo}:{version}: {what}", file=sys.stderr)
    return written


def _write_layout(directory: str, config: bytes, gz_path: str, layer_digest: str,
                  layer_size: int, version: str, seccomp: dict[str, Any] | None) -> str:
    blobs = os.path.join(directory, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    shutil.copyfile(gz_path, os.path.join(blobs, layer_digest.split(":", 1)[1]))
    config_digest, config_size = _blob(directory, config)
    manifest = _json({
        "schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": MEDIA_LAYER, "digest": layer_digest, "size": layer_size}],
    })
    manifest_digest, manifest_size = _blob(directory, manifest)
    index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX,
             "manifests": [{"mediaType": MEDIA_MANIFEST, "digest": manifest_digest,
                            "size": manifest_size, "annotations": {REF_NAME: version}}]}
    with open(os.path.join(directory, "index.json"), "wb") as f:
        f.write(_json(index))
    with open(os.path.join(directory, "oci-layout"), "wb") as f:
        f.write(_json({"imageLayoutVersion": LAYOUT_VERSION}))
    if seccomp is not None:     # beside the layout, for: --security-opt seccomp=...
        with open(os.path.join(directory, "seccomp.json"), "wb") as f:
            f.write(_json(seccomp))
    return manifest_digest


def _write_docker_archive(path: str, config: bytes, config_digest: str, tar_path: str,
                          diff_id: str, repo_tag: str) -> None:
    config_name = config_digest.split(":", 1)[1] + ".json"
    layer_name = diff_id.split(":", 1)[1] + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [repo_tag],
                            "Layers": [layer_name]}]).encode()
    partial = path + ".part"
    try:
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            for name, data in (("manifest.json", manifest), (config_name, config)):
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
            tar.add(tar_path, arcname=layer_name)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)

