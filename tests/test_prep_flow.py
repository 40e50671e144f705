"""Issue 24's whole flow with a Python web app and its config (docs/PREP.md): traced,
planned, packed, moved; it runs from the standalone launcher, then, the host's copy of the
app gone, from the one-file archive, from the directory and from the OCI export (as root,
where umoci is installed) with the native run's output.  Slow (a Python runtime is packed): ``pytest -m slow``."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from conftest import run_veil
from test_prep_standalone import launch, remove_launch_links  # noqa: F401 (a fixture)

APP = """
import configparser, http.server, threading, urllib.request
config = configparser.ConfigParser()
config.read({ini!r})
port = config.getint("server", "port")
greeting = config.get("server", "greeting")

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{{greeting}} {{self.path}}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", port), Handler)
threading.Thread(target=server.handle_request).start()
with urllib.request.urlopen(f"http://127.0.0.1:{{port}}/hello") as reply:
    print(reply.status, reply.read().decode(), end="")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.usefixtures("remove_launch_links")
def test_web_app_everywhere(tmp_path):
    app = tmp_path / "srv" / "app"
    app.mkdir(parents=True)
    ini = app / "app.ini"
    ini.write_text(f"[server]\nport = {free_port()}\ngreeting = Hello from the bundle:\n")
    (app / "app.py").write_text(APP.format(ini=str(ini)))
    command = [os.path.realpath(sys.executable), str(app / "app.py")]
    native = subprocess.run(command, capture_output=True, text=True, cwd=app, timeout=60)
    assert (native.returncode, native.stdout) == (0, "200 Hello from the bundle: /hello\n")
    plan = tmp_path / "plan"
    r = run_veil(["prep", "trace", "-q", "-o", plan, "--", *command], cwd=app, timeout=120)
    assert (r.returncode, r.stdout) == (0, native.stdout), r.stderr
    bundle, archive = tmp_path / "bundle", tmp_path / "web.veil"
    r = run_veil(["prep", "pack", plan, "-q", "--standalone", "-o", bundle, "--archive", archive],
                 timeout=300)
    assert r.returncode == 0, r.stderr
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    bundle.rename(moved / "bundle")
    archive.rename(moved / "web.veil")
    # the launcher runs the bundle's binaries, not its files: the app stays on the host
    r = launch(moved / "bundle", cwd="/")
    assert (r.returncode, r.stdout) == (0, native.stdout), r.stderr
    # under veil, the host's copies can go
    shutil.rmtree(app)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    for target in (moved / "web.veil", moved / "bundle"):
        r = run_veil(["run", target], cwd="/", env=env, timeout=120)
        assert (r.returncode, r.stdout) == (0, native.stdout), r.stderr
    umoci = shutil.which("umoci")
    if umoci is None or os.getuid() != 0:
        return
    layout = tmp_path / "oci"
    r = run_veil(["prep", "export", moved / "web.veil", "--oci", layout], env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    unpacked = tmp_path / "unpacked"
    subprocess.run([umoci, "unpack", "--rootless", "--image", f"{layout}:latest", unpacked],
                   check=True, capture_output=True)
    process = json.loads((unpacked / "config.json").read_text())["process"]

    def enter():
        os.chroot(unpacked / "rootfs")
        os.chdir(process["cwd"])
    out = subprocess.run(process["args"], env=dict(e.split("=", 1) for e in process["env"]),
                         preexec_fn=enter, capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout) == (0, native.stdout), out.stderr
