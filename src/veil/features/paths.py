"""Path rules as a Session feature: calls that name a path are checked in C at the
stop on the canonical path (cwd/dirfd joined, symlinks resolved): hidden and
read-only paths, protect_path()'s paths when no mount makes them, and a
confinement (learn, then enforce) tried after every other rule."""
from __future__ import annotations

import errno as _errno
import os
from _collections_abc import Callable  # collections.abc's, without collections (start-up)

from .. import engine as E
from ..errors import VeilError
from . import BaseFeature, RowTable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

# (pattern, E.PATH_* match, errno, E.PATH_* flags, why) in the order they are tried
PathRule = tuple[str, int, int, int, str | None]
# guest path -> (host path, canonical guest path)
Resolve = Callable[[str, bool], tuple[str, str]]


def path_match(pattern: str, plain: int) -> tuple[str, int]:
    """(pattern, E.PATH_* match): ``DIR/**`` a prefix, a glob, else ``plain``."""
    if pattern.endswith("/**"):
        return os.path.normpath(pattern[:-3] or "/"), E.PATH_PREFIX
    if any(c in pattern for c in "*?["):
        return pattern, E.PATH_GLOB
    return os.path.normpath(pattern), plain


def path_fields(sc) -> dict[str, int]:
    """The SysAction fields that name a call's path arguments (and its open flags)."""
    path_args = dirfd_args = 0
    kinds = [k.partition(":")[0] for _, k in sc.args]
    for i, k in enumerate(kinds):
        if k == "path":
            path_args |= 1 << i
            if i > 0 and kinds[i - 1] == "dirfd":
                dirfd_args |= 1 << (i - 1)
    flags_arg = {"open": 1, "openat": 2}.get(sc.name, -1)
    flags_ptr = 2 if sc.name == "openat2" else -1  # struct open_how starts with flags
    return {"path_args": path_args, "dirfd_args": dirfd_args, "open_flags_arg": flags_arg,
            "open_flags_ptr": flags_ptr}


def _absolute(pattern: str) -> None:
    if not pattern.startswith("/"):
        raise VeilError(f"path rule {pattern!r}: an absolute path or glob is needed")


class PathRules(BaseFeature):
    def __init__(self, mutating: frozenset[str]):
        self.mutating = mutating        # calls that change what their path names
        self.rules: list[PathRule] = []
        self.confined: tuple[Sequence[str], Sequence[str], int, str, str] | None = None
        # ("readonly" or "mask", guest path): mounts under the mount engine, path rules otherwise
        self.kernel_paths: list[tuple[str, str]] = []
        self.translating = False        # the layout translates paths: every path call stops

    def add(self, pattern: str, errno: int, writes_only: bool = False) -> None:
        _absolute(pattern)
        self.rules.append((*path_match(pattern, E.PATH_PREFIX), errno,
                           E.PATH_WRITES if writes_only else 0, None))

    def confine(self, reads: Sequence[str], writes: Sequence[str], errno: int,
                why_read: str, why_write: str) -> None:
        for pattern in (*reads, *writes):
            _absolute(pattern)
        self.confined = (tuple(reads), tuple(writes), errno, why_read, why_write)

    def protect(self, path: str, how: str) -> None:
        if how not in ("readonly", "mask"):
            raise VeilError(f"protect_path: how is 'readonly' or 'mask', not {how!r}")
        self.kernel_paths.append((how, path))

    def protected_as_rules(self) -> None:
        """protect()'s paths as path rules (when no mount makes them)."""
        for how, path in self.kernel_paths:
            if how == "mask":
                self.add(path, _errno.ENOENT)
            else:
                self.add(path, _errno.EROFS, writes_only=True)

    def active(self) -> bool:
        return bool(self.rules or self.confined)

    def add_rows(self, rows: RowTable) -> None:
        if not (self.active() or self.translating):
            return
        from ..syscalls.lookup import BY_NR
        for nr, sc in BY_NR.items():
            if nr < E.NR_MAX and any(k.startswith("path") for _, k in sc.args):
                row = rows.row(nr)
                row.fields.update(path_fields(sc))
                row.flags |= E.F_STOP | E.F_PATHS | (E.F_MUTATES if sc.name in self.mutating
                                                     else 0)

    def install_rules(self, eng, resolve: Resolve | None) -> None:
        """The rules, then the confinement, to the C engine; ``resolve``: the layout's
        (None: host paths)."""
        for rule in self.rules + (self._confinement(resolve) if self.confined else []):
            eng.add_path_rule(*rule)

    def _confinement(self, resolve: Resolve | None) -> list[PathRule]:
        """confine() as C path rules: allow (errno 0) what is covered, then refuse
        the rest; exact paths also under their canonical guest names."""
        assert self.confined is not None
        reads, writes, errno, why_read, why_write = self.confined

        dirs: dict[str, tuple[str, str]] = {}

        def resolved(path: str, follow: bool = True) -> tuple[str, str]:
            """(host, canonical guest path); the path itself where it cannot be"""
            try:
                if resolve is not None:
                    return resolve(path, follow)
                real = os.path.realpath(path)
                return real, real
            except (OSError, VeilError):
                return path, path

        def canonical(path: str) -> set[str]:
            """the path, and the names the C check sees for it (its directory's
            symlinks resolved; the path's own followed if it is one)"""
            head, tail = os.path.split(path)
            if head not in dirs:
                dirs[head] = resolved(head)
            host, guest = (os.path.join(name, tail) for name in dirs[head])
            names = {path, guest}
            if os.path.islink(host):
                names.add(resolved(path)[1])
            return names

        def compiled(patterns: Sequence[str], ancestors: bool) -> list[tuple[str, int]]:
            exact: set[str] = set()
            out: list[tuple[str, int]] = []
            for pattern in patterns:
                text, match = path_match(pattern, E.PATH_EXACT)
                if match == E.PATH_GLOB:
                    out.append((text, match))
                    continue
                for name in canonical(text):
                    if match == E.PATH_PREFIX:
                        out.append((name, match))
                    else:
                        exact.add(name)
                    while ancestors and name != "/":
                        name = os.path.dirname(name)
                        if name in exact:
                            break
                        exact.add(name)
            return [(p, E.PATH_EXACT) for p in sorted(exact)] + out

        rules: list[PathRule] = [(p, m, 0, E.PATH_WRITES, None) for p, m in compiled(writes, False)]
        rules.append(("/", E.PATH_PREFIX, errno, E.PATH_WRITES, why_write))
        rules += [(p, m, 0, 0, None) for p, m in compiled((*reads, *writes), True)]
        rules.append(("/", E.PATH_PREFIX, errno, E.PATH_EXISTING, why_read))
        return rules
