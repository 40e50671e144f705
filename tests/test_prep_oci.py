"""``veil prep export BUNDLE --oci DIR`` / ``--docker-archive F.tar`` (issue 24): the
layout's JSON is checked against the OCI image spec (v1.0: image-layout.md, descriptor.md,
image-index.md, manifest.md, config.md), and where umoci is installed the image is
unpacked as a runtime would and run, with the native run's output; where podman is
installed it runs the image (OCI layout and docker archive) with ``veil run``'s output."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from conftest import run_veil

# descriptor.md: the digest grammar; sha256's encoded part is 64 lowercase hex digits
DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
SHA256 = re.compile(r"^sha256:[a-f0-9]{64}$")
MEDIA = {"index": "application/vnd.oci.image.index.v1+json",
         "manifest": "application/vnd.oci.image.manifest.v1+json",
         "config": "application/vnd.oci.image.config.v1+json"}
LAYERS = {"application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
          "application/vnd.oci.image.layer.v1.tar+zstd"}


def blob(layout, descriptor) -> bytes:
    """descriptor.md: mediaType, digest and size are REQUIRED; the content matches both."""
    assert isinstance(descriptor.get("mediaType"), str), descriptor
    assert DIGEST.match(descriptor["digest"]) and SHA256.match(descriptor["digest"]), descriptor
    assert isinstance(descriptor.get("size"), int) and descriptor["size"] >= 0, descriptor
    data = (layout / "blobs" / "sha256" / descriptor["digest"][7:]).read_bytes()
    assert len(data) == descriptor["size"]
    assert "sha256:" + hashlib.sha256(data).hexdigest() == descriptor["digest"]
    return data


def check_layout(layout):
    """Every REQUIRED field and media type of the layout; (config, layer bytes)."""
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((layout / "index.json").read_text())
    assert index["schemaVersion"] == 2 and index.get("mediaType", MEDIA["index"]) == MEDIA["index"]
    assert isinstance(index["manifests"], list) and len(index["manifests"]) == 1
    descriptor = index["manifests"][0]
    assert descriptor["mediaType"] == MEDIA["manifest"]
    assert descriptor["annotations"]["org.opencontainers.image.ref.name"] == "latest"
    manifest = json.loads(blob(layout, descriptor))
    assert manifest["schemaVersion"] == 2
    assert manifest.get("mediaType", MEDIA["manifest"]) == MEDIA["manifest"]
    assert manifest["config"]["mediaType"] == MEDIA["config"]
    config = json.loads(blob(layout, manifest["config"]))
    assert isinstance(manifest["layers"], list) and len(manifest["layers"]) == 1
    assert manifest["layers"][0]["mediaType"] in LAYERS
    layer = blob(layout, manifest["layers"][0])
    # config.md: architecture, os and rootfs are REQUIRED; rootfs.type is "layers"; one
    # diff_id per layer, the digest of the uncompressed tar
    assert config["architecture"] == {"x86_64": "amd64"}.get(os.uname().machine, os.uname().machine)
    assert config["os"] == "linux"
    assert config["rootfs"]["type"] == "layers"
    plain = gzip.decompress(layer)
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(plain).hexdigest()]
    run = config["config"]
    assert all(isinstance(e, str) and "=" in e for e in run["Env"])
    assert isinstance(run["WorkingDir"], str) and isinstance(run["User"], str)
    assert all(isinstance(v, str) for v in run["Labels"].values())
    return config, plain


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    work = tmp_path_factory.mktemp("oci")
    (work / "data.txt").write_text("from the image\n")
    command = ["/bin/sh", "-c", 'cat /etc/hostname data.txt; pwd; id -u; echo "TZ=$TZ"']
    env = {**os.environ, "TZ": "Europe/Paris"}
    native = subprocess.run(command, capture_output=True, text=True, cwd=work, env=env).stdout
    bundle = work / "bundle"
    r = run_veil(["prep", "pack", "-o", bundle, "-q", "--", *command], cwd=work, env=env)
    assert r.returncode == 0, r.stderr
    layout, docker = work / "oci", work / "image.tar"
    r = run_veil(["prep", "export", bundle, "--oci", layout, "--docker-archive", docker])
    assert r.returncode == 0, r.stderr
    assert "veil/bundle:latest" in r.stderr
    return work, bundle, layout, docker, command, native


def test_layout_follows_the_image_spec(exported):
    work, bundle, layout, _docker, command, _ = exported
    config, plain = check_layout(layout)
    run = config["config"]
    assert run["Entrypoint"] == command and run["WorkingDir"] == str(work)
    assert "TZ=Europe/Paris" in run["Env"] and any(e.startswith("PATH=") for e in run["Env"])
    assert run["User"] == f"{os.getuid()}:{os.getgid()}"
    seccomp = json.loads((bundle / "seccomp.json").read_text())
    assert json.loads(run["Labels"]["org.veil.seccomp"]) == seccomp
    assert json.loads((layout / "seccomp.json").read_text()) == seccomp
    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    data = members[str(work / "data.txt").lstrip("/")]
    assert data.isreg() and data.uid == 0 and data.size == len("from the image\n")
    assert not any(name.startswith(("/", "../")) for name in members)


def test_docker_archive(exported):
    _work, _bundle, layout, docker, _command, _ = exported
    with tarfile.open(docker) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        assert len(manifest) == 1 and manifest[0]["RepoTags"] == ["veil/bundle:latest"]
        config = tar.extractfile(manifest[0]["Config"]).read()
        layer = tar.extractfile(manifest[0]["Layers"][0]).read()
    oci_config, plain = check_layout(layout)
    assert json.loads(config) == oci_config and layer == plain


def test_image_runs_like_the_native_program(exported, tmp_path):
    umoci = shutil.which("umoci")
    if umoci is None:
        pytest.skip("umoci is needed (apt install umoci)")
    _work, _bundle, layout, _docker, command, native = exported
    unpacked = tmp_path / "unpacked"
    r = subprocess.run([umoci, "unpack", "--rootless", "--image", f"{layout}:latest", unpacked],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    process = json.loads((unpacked / "config.json").read_text())["process"]
    assert process["args"] == command
    rootfs = unpacked / "rootfs"
    env = dict(e.split("=", 1) for e in process["env"])
    if os.getuid() == 0:        # the runtime's view: chroot into the image, its env and cwd

        def enter():
            os.chroot(rootfs)
            os.chdir(process["cwd"])
        out = subprocess.run(process["args"], env=env, preexec_fn=enter, capture_output=True,
                             text=True)
    else:                       # no chroot: veil shows the tree as the root
        out = run_veil(["run", "-r", rootfs, "-w", process["cwd"], "--clear-env",
                        *[f"--env={k}={v}" for k, v in env.items()], "--", *process["args"]])
    assert (out.returncode, out.stdout) == (0, native), out.stderr


def test_export_errors(exported, tmp_path):
    _work, bundle, layout, _docker, _command, _ = exported
    r = run_veil(["prep", "export", bundle])
    assert r.returncode == 2 and "give --oci DIR, --docker-archive F.tar or both" in r.stderr
    r = run_veil(["prep", "export", bundle, "--oci", layout])
    assert r.returncode == 2 and "exists and is not an empty directory" in r.stderr
    r = run_veil(["prep", "export", tmp_path, "--oci", tmp_path / "x"])
    assert r.returncode == 2 and "not a bundle" in r.stderr


def podman_command(storage) -> list:
    """podman with its own storage (nothing left in the host's; podman wants its
    runroot path under 50 characters)."""
    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("podman is needed (apt install podman)")
    # crun refuses a host whose cgroup v2 tree (hybrid mode) has a controller enabled;
    # runc runs there
    runtime = ["--runtime", shutil.which("runc")] if shutil.which("runc") else []
    return [podman, "--root", str(storage / "root"), "--runroot", str(storage / "run"),
            "--storage-driver", "vfs", *runtime]


def test_podman_runs_the_image_like_veil_run(tmp_path):
    """The exported image, run by podman from the OCI layout and from the docker archive
    (podman load), prints what ``veil run BUNDLE`` prints: its files, cwd, user, env."""
    storage = Path(tempfile.mkdtemp(prefix="veil-podman-"))
    try:
        podman_run(podman_command(storage), tmp_path)
    finally:
        shutil.rmtree(storage, ignore_errors=True)


def podman_run(podman, tmp_path):
    work = tmp_path / "work"
    (work / "conf").mkdir(parents=True)
    (work / "conf" / "app.conf").write_text("port = 8080\n")
    command = ["/bin/sh", "-c", f'cat {work}/conf/app.conf; ls conf; pwd; id -u; '
               'echo "TZ=$TZ"']
    env = {**os.environ, "TZ": "Asia/Tokyo"}
    bundle, layout, docker = tmp_path / "bundle", tmp_path / "oci", tmp_path / "image.tar"
    r = run_veil(["prep", "pack", "-o", bundle, "-q", "--", *command], cwd=work, env=env)
    assert r.returncode == 0, r.stderr
    r = run_veil(["prep", "export", bundle, "--oci", layout, "--docker-archive", docker])
    assert r.returncode == 0, r.stderr
    r = run_veil(["run", bundle])
    assert r.returncode == 0 and "TZ=Asia/Tokyo" in r.stdout, r.stderr
    expected = r.stdout
    # limits a root without CAP_SYS_RESOURCE may set (podman's default nofile, 1048576,
    # is above this VM's hard limit)
    run = ["run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024",
           "--ulimit", "nproc=1024:1024"]
    out = subprocess.run([*podman, *run, f"oci:{layout}:latest"], capture_output=True,
                         text=True, timeout=120)
    assert (out.returncode, out.stdout) == (0, expected), out.stderr
    out = subprocess.run([*podman, "load", "-q", "-i", docker], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "veil/bundle:latest" in out.stdout, out.stderr
    out = subprocess.run([*podman, *run, "veil/bundle:latest"], capture_output=True, text=True,
                         timeout=120)
    assert (out.returncode, out.stdout) == (0, expected), out.stderr
