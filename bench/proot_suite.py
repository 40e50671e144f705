"""Run PRoot's own test suite (the test/ directory of its v5.4.0 sources) with
``veil run`` in PRoot's place, or with any other command, and count the results.

    python3 bench/proot_suite.py [--tool veil|proot|CMD] [--src GIT_DIR] [--keep DIR]
                                 [--timeout S] [--json] [TEST...]

The sources come from a PRoot git repository (--src, default the mirror
/work/.mirror/proot-me+proot/repo, or $PROOT_GIT): its tag v5.4.0's test/ is
extracted into a temporary directory (never into this checkout) and built with
the suite's own GNUmakefile (``make setup``: static helper programs in a small
rootfs).  Each test runs as the suite runs it (``sh -ex test-*.sh`` with
$PROOT, $ROOTFS, $CARE; the test-*.c ones through the GNUmakefile's rules), its
exit status read as the suite reads it: 0 ok, 125 skipped, anything else
failed.  TEST names select tests (test-0228fbe7.sh, test-16573e73.c).

--tool veil (the default) runs ``python3 -m veil run`` from this checkout's src/;
``proot`` the proot on PATH.  Prints one line per test and a summary; --json
prints {"ok": [...], "failed": [...], "skipped": [...]} instead.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
DEFAULT_GIT = os.environ.get("PROOT_GIT", "/work/.mirror/proot-me+proot/repo")
TAG = "v5.4.0"
RESULT = re.compile(r"^\s*CHECK\s+(\S+)\s+(ok|FAILED|skipped)\s*$")


def extract(git_dir: str, dest: Path) -> Path:
    """PRoot's test/ at TAG, unpacked under DEST; the path of test/."""
    if not Path(git_dir).exists():
        raise FileNotFoundError(f"no PRoot repository at {git_dir}")
    archive = subprocess.run(["git", f"--git-dir={git_dir}", "archive", TAG, "test"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if archive.returncode != 0:
        raise RuntimeError(f"git archive {TAG} test: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "x", "-C", str(dest)], input=archive.stdout, check=True, timeout=120)
    return dest / "test"


def wrapper(tool: str, where: Path, timeout: float) -> str:
    """An executable that runs TOOL with PRoot's arguments, each run bounded."""
    path = where / "tool"
    timeout_cmd = shutil.which("timeout") or "timeout"  # tests run the tool with their own PATH
    unshare = shutil.which("unshare")
    if os.geteuid() == 0 and unshare:
        # test-5996858d runs `hostname hostname2` as root: PRoot 5.4 lets it reach the
        # host's name; each run gets a UTS namespace of its own
        timeout_cmd = f"{unshare} -u {timeout_cmd}"
    if tool == "veil":
        line = (f'PYTHONPATH="{SRC}${{PYTHONPATH:+:$PYTHONPATH}}" '
                f'exec {timeout_cmd} -k 5 {timeout:g} "{sys.executable}" -m veil run "$@"')
    elif tool == "proot":
        found = shutil.which("proot")
        if not found:
            raise FileNotFoundError("no proot on PATH")
        line = f'exec {timeout_cmd} -k 5 {timeout:g} "{found}" "$@"'
    else:
        line = f'exec {timeout_cmd} -k 5 {timeout:g} {tool} "$@"'
    path.write_text(f"#!/bin/sh\n{line}\n")
    path.chmod(0o755)
    return str(path)


def run_suite(test_dir: Path, proot: str, only: Optional[List[str]] = None,
              timeout: float = 1800) -> Dict[str, List[str]]:
    """Build the suite's rootfs and run its checks; test name -> result lists."""
    env = dict(os.environ, PROOT=proot, PROOT_RAW=proot, CARE="/nonexistent/care", Q="")
    setup = subprocess.run(["make", "-k", "setup"], cwd=test_dir, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if not (test_dir / "rootfs/bin/true").exists():
        raise RuntimeError("make setup built no rootfs:\n" + setup.stdout[-3000:])
    targets = [f"check-{t}" for t in only] if only else ["check_failure"]
    r = subprocess.run(["make", "-k", f"PROOT={proot}", f"PROOT_RAW={proot}",
                        "CARE=/nonexistent/care", *targets], cwd=test_dir, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    out: Dict[str, List[str]] = {"ok": [], "failed": [], "skipped": []}
    seen = set()
    for line in r.stdout.splitlines():
        m = RESULT.match(line)
        if m and m.group(1) not in seen:
            seen.add(m.group(1))
            out[{"ok": "ok", "FAILED": "failed", "skipped": "skipped"}[m.group(2)]].append(m.group(1))
        elif m and m.group(2) == "FAILED" and m.group(1) not in out["failed"]:
            # a test checked twice (test-16573e73.c): failed if either run failed
            out["ok"].remove(m.group(1)) if m.group(1) in out["ok"] else None
            out["failed"].append(m.group(1))
    out["log"] = r.stdout.splitlines()  # type: ignore[assignment]
    return out


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tool", default="veil", help="veil (default), proot, or a command")
    ap.add_argument("--src", default=DEFAULT_GIT, help="PRoot git directory (bare is fine)")
    ap.add_argument("--keep", help="unpack and build here, and keep it")
    ap.add_argument("--timeout", type=float, default=60, help="seconds per tool run")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("tests", nargs="*")
    a = ap.parse_args(argv)
    top = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="proot-suite-"))
    top.mkdir(parents=True, exist_ok=True)
    try:
        test_dir = top / "test" if (top / "test/GNUmakefile").exists() else extract(a.src, top)
        res = run_suite(test_dir, wrapper(a.tool, top, a.timeout), a.tests or None)
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        print(f"proot_suite: {e}", file=sys.stderr)
        return 2
    finally:
        if not a.keep:
            shutil.rmtree(top, ignore_errors=True)
    log = res.pop("log")
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        for kind in ("ok", "failed", "skipped"):
            for name in res[kind]:
                print(f"{kind:8} {name}")
        print(f"{a.tool}: {len(res['ok'])} ok, {len(res['failed'])} failed, "
              f"{len(res['skipped'])} skipped")
        if not any(res.values()):
            print("\n".join(log[-40:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
