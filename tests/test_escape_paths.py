"""Issue 17, route 3: the start directory of a relative path is anchored on the fd
(or cwd) itself, never on the text of its /proc link: a removed directory whose
text ends in " (deleted)" (a name the program can then create as a symlink to
"/"), or an O_PATH fd of a symlink used as a dirfd, gets the kernel's own answer
(ENOENT, ENOTDIR), with or without --strict."""
from __future__ import annotations

import pytest

from test_escapes import clean, escapes, guest, hostonly, native, results, veil  # noqa: F401
from rootfs import busybox_root, busybox_template, layout_progs  # noqa: F401

# every test here runs under both layout engines unless it names one
pytestmark = pytest.mark.layout_engines("ptrace", "mount")

EXPECTED = {"deleted cwd fstatat": "ENOENT", "deleted cwd open": "ENOENT",
            "O_PATH symlink fstatat": "ENOTDIR", "O_PATH symlink open": "ENOTDIR"}


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "layout"])
def test_start_directory_anchored_on_the_fd(guest, escapes, hostonly, strict):  # noqa: F811
    d, marker = hostonly
    nat = results(native(escapes["fd_text"], d / "target", marker).stdout)
    assert nat == EXPECTED, nat
    r = veil(guest, "/usr/local/bin/fd_text", d / "target", marker, strict=strict)
    clean(r, marker)
    assert results(r.stdout) == EXPECTED, r.stdout + r.stderr
