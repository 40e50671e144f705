"""Which Debian package owns a file: dpkg's own database, read directly.

``/var/lib/dpkg/info/PKG[:ARCH].list`` holds the paths each installed package
owns; ``/var/lib/dpkg/status`` their versions.  Reading the files is much faster
than one ``dpkg -S`` per path.  Since the /usr merge a package may list
``/lib/x86_64-linux-gnu/libc.so.6`` while the program opened
``/usr/lib/x86_64-linux-gnu/libc.so.6`` (or the other way round), so a path is
looked up as given, as its real path, and both with and without ``/usr``.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

DPKG_DIR = "/var/lib/dpkg"
NO_PACKAGE = "not in a package"
MERGED = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


class Packages:
    """File owners and versions of the installed Debian packages (empty elsewhere)."""

    def __init__(self, dpkg_dir: str = DPKG_DIR) -> None:
        self.owner: dict[str, str] = {}
        self.version: dict[str, str] = {}
        info = os.path.join(dpkg_dir, "info")
        try:
            names = sorted(n for n in os.listdir(info) if n.endswith(".list"))
        except OSError:
            names = []
        for name in names:
            package = name[:-len(".list")].split(":", 1)[0]
            try:
                with open(os.path.join(info, name), encoding="utf-8",
                          errors="surrogateescape") as f:
                    for line in f:
                        path = line.rstrip("\n")
                        # a directory many packages list belongs to none of them
                        self.owner[path] = package if self.owner.get(path, package) == package else ""
            except OSError:
                continue
        self._read_status(os.path.join(dpkg_dir, "status"))

    def _read_status(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            return
        for stanza in text.split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                key, colon, value = line.partition(":")
                if colon and not line.startswith(" "):
                    fields[key] = value.strip()
            if "Package" in fields and "Version" in fields \
                    and fields.get("Status", "").endswith(" installed"):
                self.version.setdefault(fields["Package"], fields["Version"])

    def _candidates(self, path: str) -> Iterable[str]:
        seen: list[str] = []
        for p in (path, os.path.realpath(path)):
            for q in (p, _without_usr(p), _with_usr(p)):
                if q and q not in seen:
                    seen.append(q)
                    yield q

    def owner_of(self, path: str) -> str | None:
        for candidate in self._candidates(os.path.normpath(path)):
            package = self.owner.get(candidate)
            if package:
                return package
        return None


def _without_usr(path: str) -> str | None:
    if path.startswith("/usr/"):
        rest = path[len("/usr"):]
        if any(rest == m or rest.startswith(m + "/") for m in MERGED):
            return rest
    return None


def _with_usr(path: str) -> str | None:
    if any(path == m or path.startswith(m + "/") for m in MERGED):
        return "/usr" + path
    return None
