"""The environment veil was started with, which the guest gets unchanged.

Python's locale coercion (PEP 538) sets LC_CTYPE=C.UTF-8 in its own
environment when the locale is C or unset; the guest must not inherit that.
The kernel keeps the environment a process was started with at the top of its
stack (/proc/self/environ); setenv() does not change it.
"""
from __future__ import annotations

import os

# what CPython's coercion may set (Python/pylifecycle.c, _TARGET_LOCALES)
_COERCED = ("C.UTF-8", "C.utf8", "UTF-8")


def _started_with(name: str) -> str | None:
    """The value ``name`` had when this process was started (None: unset)."""
    try:
        with open("/proc/self/environ", "rb") as f:
            entries = f.read().split(b"\0")
    except OSError:
        return os.environ.get(name)
    prefix = os.fsencode(name) + b"="
    for entry in entries:
        if entry.startswith(prefix):
            return os.fsdecode(entry[len(prefix):])
    return None


def host_environ() -> dict[str, str]:
    """``os.environ`` without what Python's locale coercion added to it."""
    env = dict(os.environ)
    now = env.get("LC_CTYPE")
    if now in _COERCED:
        before = _started_with("LC_CTYPE")
        if before is None:
            del env["LC_CTYPE"]
        else:
            env["LC_CTYPE"] = before
    return env
