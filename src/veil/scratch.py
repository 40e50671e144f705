"""Directories of veil's own for the files it serves a program (its identity's
/proc and /sys files, its fake ids' /proc/PID/status), made without tempfile and
shutil: their imports (random, fnmatch, re and enum) were ~8 ms of the start-up
of a run with --hostname or --cpus."""
from __future__ import annotations

import atexit
import os


def private_dir(prefix: str, mode: int = 0o700) -> str:
    """A new directory under $TMPDIR (else /tmp), named ``prefix`` and a random
    suffix, removed with the files in it when veil exits (it holds no directory)."""
    base = os.environ.get("TMPDIR") or "/tmp"
    for _ in range(100):
        path = os.path.join(base, prefix + os.urandom(6).hex())
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        except OSError:     # TMPDIR unusable: tempfile looks in the other usual places
            import tempfile
            path = tempfile.mkdtemp(prefix=prefix)
        os.chmod(path, mode)    # mkdir's mode went through the umask
        atexit.register(_remove, path)
        return path
    raise FileExistsError(f"no free name for {prefix}* in {base}")


def _remove(path: str) -> None:
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        try:
            os.unlink(os.path.join(path, name))
        except OSError:
            pass
    try:
        os.rmdir(path)
    except OSError:
        pass
