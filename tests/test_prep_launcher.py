"""The standalone launcher of a program started through a shell-script shim (issue 24):
pyenv's ``python3`` shim takes another branch when it finds itself under a new path
(the bundle's tree) and runs ``tr`` and ``sed``, which the learning run never ran.
The launcher's PATH has the bundle's directories first, then the host's."""
from __future__ import annotations

import os
import subprocess

import pytest

from conftest import run_veil
from test_prep_standalone import launch, remove_launch_links  # noqa: F401 (a fixture)

SHIM = """#!/bin/sh
# as pyenv's shims: elsewhere than where it was installed, it names itself with tr
case "$0" in
    {home}/*) exec {real} "$@" ;;
    *) name=$(echo "${{0##*/}}" | tr a-z A-Z); echo "shim moved: $name" >&2; exec {real} "$@" ;;
esac
"""


@pytest.mark.usefixtures("remove_launch_links")
def test_shim_launcher_finds_the_commands_the_learning_run_never_ran(tmp_path):
    home = tmp_path / "shims"
    home.mkdir()
    shim = home / "greet"
    shim.write_text(SHIM.format(home=home, real="/bin/echo"))
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{home}:/usr/bin:/bin"}
    native = subprocess.run(["greet", "hello"], capture_output=True, text=True, env=env)
    assert (native.returncode, native.stdout, native.stderr) == (0, "hello\n", "")
    bundle = tmp_path / "bundle"
    r = run_veil(["prep", "pack", "-o", bundle, "-q", "--standalone", "--", "greet", "hello"],
                 env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    tree_tr = bundle / "standalone" / os.path.realpath("/usr/bin/tr").lstrip("/")
    assert not tree_tr.exists()                     # the learning run never ran tr
    r = launch(bundle, "again", cwd="/")
    assert (r.returncode, r.stdout) == (0, "hello again\n"), r.stderr
    assert r.stderr == "shim moved: GREET\n"        # the host's tr did it
    r = run_veil(["run", bundle, "--", "again"], cwd="/")
    assert (r.returncode, r.stdout, r.stderr) == (0, "hello again\n", "")
