"""``veil prep pack --standalone``: a tree that runs without veil, and its launcher.

BUNDLE/standalone/ mirrors BUNDLE/root/ (which stays as it is, for ``veil run``):

- every ELF program is a copy patched with lief: PT_INTERP is ``/tmp/.veil-ID/s``
  + its loader's path, one DT_RPATH lists the bundle's library directories
  relative to ``$ORIGIN`` (an RPATH, unlike a RUNPATH, also serves the libraries
  loaded under the program); a library with its own RPATH/RUNPATH is a copy
  without them (edited in place, see :mod:`.elfpatch`);
- a ``#!`` script whose interpreter is in the bundle is a copy whose ``#!``
  line names that interpreter under ``/tmp/.veil-ID/s``;
- every other file is a hard link to its copy in root/; symlinks are kept,
  an absolute target made relative, so that nothing points out of the tree.

PT_INTERP must be an absolute path (the kernel opens it relative to the cwd
otherwise), so BUNDLE/run, the launcher, makes ``/tmp/.veil-ID`` (a directory
of the user's, ID fixed at pack time) hold ``s -> BUNDLE/standalone`` for
wherever the bundle is now: the bundle can move, and programs the packed one
runs through PATH (pointed into the tree) get the bundle's loader too.
"""
from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import stat

from .elfpatch import DT_RPATH, DT_RUNPATH, remove_dynamic_tags

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

TREE = "standalone"
LAUNCHER = "run"
LINK_PREFIX = "/tmp/.veil-"
RELOCATE_MAX = 4 << 20             # inputs larger than this are linked, never rewritten
SYSTEM_TREES = ("/etc/", "/usr/", "/lib/", "/lib64/", "/proc/", "/dev/", "/sys/")
SCRIPT_HEAD = 256                  # the kernel reads this much of a #! line (BINPRM_BUF_SIZE)
SYSTEM_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64",
               "/lib", "/usr/lib")


def new_link() -> str:
    """The fixed absolute directory the patched PT_INTERPs go through."""
    return LINK_PREFIX + secrets.token_hex(6)


def _guest(root: str, host: str) -> str:
    return "/" + os.path.relpath(host, root) if host != root else "/"


def _relative_path_list(dirs: Sequence[str], origin: str) -> str:
    return ":".join("$ORIGIN" if d == origin else "$ORIGIN/" + os.path.relpath(d, origin)
                    for d in dirs)


def library_dirs(libraries: Iterable[str], first: Sequence[str] = ()) -> list[str]:
    """The guest directories of LIBRARIES (real paths), in the loader's order: FIRST (the
    learned LD_LIBRARY_PATH), then the others, then the system directories."""
    dirs = {os.path.dirname(p) for p in libraries}
    order = [d for d in first if d in dirs]
    order += sorted(d for d in dirs if d not in order and d not in SYSTEM_DIRS)
    return order + [d for d in SYSTEM_DIRS if d in dirs]


def _copy_stat(src: str, dest: str) -> None:
    """SRC's mode and times on a modified copy, without setuid and setgid: the copy's
    loader comes through a link the launching user makes, so it must not raise privileges."""
    shutil.copystat(src, dest)
    mode = stat.S_IMODE(os.stat(dest).st_mode)
    if mode & (stat.S_ISUID | stat.S_ISGID):
        os.chmod(dest, mode & ~(stat.S_ISUID | stat.S_ISGID))


class StandaloneWriter:
    """Writes BUNDLE/standalone/ from BUNDLE/root/ and the launcher BUNDLE/run."""

    def __init__(self, bundle: str, link: str, lib_dirs: Sequence[str],
                 loaders: Iterable[str], inputs: Iterable[str] = (),
                 scripts: Iterable[str] = ()) -> None:
        self.bundle = bundle
        self.root = os.path.join(bundle, "root")
        self.tree = os.path.join(bundle, TREE)
        self.link = link
        self.lib_dirs = list(lib_dirs)
        self.loaders = set(loaders)           # real guest paths: copied, never patched
        self.patched: list[str] = []
        self.scripts: list[str] = []
        self.linked = 0
        self.bytes = 0                        # what the copies add to the bundle
        self.skipped: dict[str, str] = {}
        # the run's inputs (configuration and data files, the scripts it ran) and the
        # directories of the files it read, named by their absolute host paths: served
        # from the tree once the bundle moves.  A script's own directory is left alone
        # (pyenv's shims tell from it whether they were moved), and so is a directory at
        # the top, such as /tmp: too common a name to rewrite
        read = set(inputs)
        self.inputs = read | set(scripts)
        names = self.inputs | {d for d in map(os.path.dirname, read)
                               if d.count("/") > 1 and not (d + "/").startswith(SYSTEM_TREES)}
        self.relocated: list[str] = []
        self._names = re.compile(rb"(?<![\w./-])(?:" + b"|".join(
            re.escape(os.fsencode(n)) for n in sorted(names, key=len, reverse=True))
            + rb")(?![\w.-])") if names else None

    def write(self, progress: Callable[[int], None] | None = None) -> None:
        for top, dirs, files in os.walk(self.root):
            guest_top = _guest(self.root, top)
            out_top = os.path.join(self.tree, os.path.relpath(top, self.root))
            os.makedirs(out_top, exist_ok=True)
            shutil.copymode(top, out_top)
            for name in dirs + files:
                src = os.path.join(top, name)
                st = os.lstat(src)
                if stat.S_ISDIR(st.st_mode):
                    continue
                self._entry(src, os.path.join(out_top, name), os.path.join(guest_top, name), st)
                if progress is not None and stat.S_ISREG(st.st_mode):
                    progress(st.st_size)

    def _entry(self, src: str, dest: str, guest: str, st: os.stat_result) -> None:
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(src)
            if target.startswith("/"):
                target = os.path.relpath(target, os.path.dirname(guest))
            os.symlink(target, dest)
            return
        with open(src, "rb") as f:
            head = f.read(SCRIPT_HEAD)
        if head.startswith(b"\x7fELF") and guest not in self.loaders:
            if self._patch_elf(src, dest, guest):
                return
        elif head.startswith(b"#!") and self._script(src, dest, head, guest in self.inputs):
            return
        elif guest in self.inputs and self._relocate(src, dest):
            return
        try:
            os.link(src, dest)
        except OSError:
            shutil.copy2(src, dest)
            self.bytes += st.st_size
        self.linked += 1

    def _patch_elf(self, src: str, dest: str, guest: str) -> bool:
        """A patched copy of SRC at DEST; False when there is nothing to patch.

        A program gets its PT_INTERP under the link and one DT_RPATH (not RUNPATH: an
        RPATH is inherited, so the libraries it loads, and those they dlopen, search the
        bundle too); a library only loses its own RPATH/RUNPATH (in place), which would
        name host directories and stop that inheritance."""
        from .elfinfo import LiefError, read_elf
        try:
            info = read_elf(src, full=False)
        except LiefError as e:
            self.skipped[guest] = f"not patched: {e}"
            return False
        if info.interpreter and not info.soname:
            return self._patch_program(src, dest, guest, bool(info.needed))
        if not (info.rpath or info.runpath):
            return False        # static, or a library without search paths of its own
        shutil.copy2(src, dest)
        remove_dynamic_tags(dest, (DT_RPATH, DT_RUNPATH))
        _copy_stat(src, dest)
        self.patched.append(guest)
        self.bytes += os.path.getsize(dest)
        return True

    def _patch_program(self, src: str, dest: str, guest: str, needed: bool) -> bool:
        import lief

        from .elfinfo import TAG
        try:
            binary = lief.ELF.parse(src)
        except Exception:      # lief's own exception types on malformed input
            binary = None
        if binary is None:
            self.skipped[guest] = "not patched: lief could not parse it"
            return False
        binary.interpreter = self.link + "/s" + binary.interpreter
        if needed:
            binary.remove(TAG.RPATH)
            binary.remove(TAG.RUNPATH)
            rpath = _relative_path_list(self.lib_dirs, os.path.dirname(guest))
            binary.add(lief.ELF.DynamicEntryRpath(rpath))
        try:
            binary.write(dest)
        except Exception as e:     # lief's own types; the plain copy is used then
            self.skipped[guest] = f"not patched: lief could not write it ({e})"
            if os.path.lexists(dest):
                os.unlink(dest)
            return False
        _copy_stat(src, dest)
        self.patched.append(guest)
        self.bytes += os.path.getsize(dest)
        return True

    def _script(self, src: str, dest: str, head: bytes, is_input: bool) -> bool:
        """A copy of a #! script with its interpreter under the link; False if the
        interpreter is not in the bundle (the script is then linked unchanged, or
        relocated if it is an input)."""
        line = head[2:].split(b"\n", 1)[0]
        interp = line.split()[0] if line.split() else b""
        if not interp.startswith(b"/") or not os.path.lexists(
                os.path.join(self.root, os.fsdecode(interp).lstrip("/"))):
            return is_input and self._relocate(src, dest)
        with open(src, "rb") as f:
            text = f.read()
        new = b"#!" + line.replace(interp, os.fsencode(self.link + "/s") + interp, 1)
        body = text[2 + len(line):]
        if is_input and self._names is not None and b"\0" not in body:
            body = self._names.sub(self._via, body)
        with open(dest, "wb") as f:
            f.write(new + body)
        _copy_stat(src, dest)
        self.scripts.append(_guest(self.root, src))
        self.bytes += len(new) + len(body)
        return True

    def _via(self, m: re.Match[bytes]) -> bytes:
        return os.fsencode(self.link + "/s") + m.group(0)

    def _relocate(self, src: str, dest: str) -> bool:
        """A copy of an input text file whose absolute host paths of inputs (and of
        their directories) name them under the link, so that the program finds them
        in the tree wherever the bundle is; False for a binary file or one without
        such a path (linked unchanged)."""
        if self._names is None or os.path.getsize(src) > RELOCATE_MAX:
            return False
        with open(src, "rb") as f:
            text = f.read()
        if b"\0" in text:
            return False
        new, count = self._names.subn(self._via, text)
        if not count:
            return False
        with open(dest, "wb") as f:
            f.write(new)
        _copy_stat(src, dest)
        self.relocated.append(_guest(self.root, src))
        self.bytes += len(new)
        return True

    def launcher(self, argv: Sequence[str], path: str, cwd: str) -> str:
        """Write BUNDLE/run: ARGV (the packed command) with PATH's bundle directories first,
        then PATH's host directories."""
        via = self.link + "/s"
        dirs = [d for d in path.split(":") if d.startswith("/")
                and os.path.isdir(os.path.join(self.tree, d.lstrip("/")))]
        program = argv[0]
        if "/" in program:
            program = via + os.path.normpath(os.path.join(cwd, program))
        # an input named by its path (python3 /srv/app/main.py, or main.py from /srv/app):
        # the tree's copy, wherever the launcher is run from
        named = [os.path.normpath(os.path.join(cwd, a)) for a in argv[1:]]
        args = [via + n if n in self.inputs else a for a, n in zip(argv[1:], named)]
        words = " ".join(shlex.quote(a) for a in [program, *args])
        host = [d for d in path.split(":") if d.startswith("/")]
        text = LAUNCHER_SH.format(
            link=shlex.quote(self.link), tree=TREE,
            path=shlex.quote(":".join([via + d for d in dirs] + host)), command=words)
        out = os.path.join(self.bundle, LAUNCHER)
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(out, 0o755)
        return out


# The launcher: POSIX sh (no bash, no python, no veil needed on the host).
LAUNCHER_SH = r"""#!/bin/sh
# veil standalone launcher (veil prep pack --standalone): BUNDLE/run [ARGS]
# runs the packed command with ARGS appended, with the bundle's loader and
# libraries (BUNDLE/{tree}), without veil.  See docs/PREP.md.
here=$(cd -- "$(dirname -- "$0")" && pwd -P) || exit 126
link={link}
mkdir -m 700 "$link" 2>/dev/null
if [ -L "$link" ] || [ ! -d "$link" ] || [ ! -O "$link" ]; then
    echo "$0: $link is not a directory of this user's; cannot run the bundle" >&2
    exit 126
fi
if [ ! -d "$here/{tree}" ]; then
    echo "$0: $here/{tree} is missing" >&2
    exit 126
fi
# the patched programs' PT_INTERP goes through $link/s: point it at this bundle
if [ "$(readlink "$link/s")" != "$here/{tree}" ]; then
    rm -f "$link/s"
    ln -s "$here/{tree}" "$link/s" 2>/dev/null
    if [ "$(readlink "$link/s")" != "$here/{tree}" ]; then
        echo "$0: cannot point $link/s at $here/{tree}" >&2
        exit 126
    fi
fi
unset LD_LIBRARY_PATH
# the bundle's directories of PATH, then the host's: a command the learning run never ran
# (another branch of a script, such as pyenv's shim under a new path) is the host's
PATH={path}
export PATH
exec {command} "$@"
"""
