"""The guest's directory layout (PRoot's -r/-b, bubblewrap's binds): the binds,
hidden, read-only and private paths of a layout and the tree a session runs in.
What each call needs from the C translator is veil.translations'.
"""
from __future__ import annotations

import errno
import os

from . import engine as E
from .record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


class Bind(Record):
    """The host path ``host`` shown at ``guest`` in the guest's tree."""

    host: str
    guest: str
    readonly: bool = False
    follow: bool = True  # a symlink at ``guest`` is followed (PRoot's GUEST! does not)


_PRIVATE_TMP = "veil-tmp-"
_GLUE = "veil-glue-"


def sweep_private_tmps(parent: str, prefix: str = _PRIVATE_TMP) -> None:
    """Remove the private /tmp (or glue) directories of veils that are gone without
    cleaning up (SIGKILL): their names carry the pid of the veil that made them."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        pid = name[len(prefix):].split("-", 1)[0]
        if not name.startswith(prefix) or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            import shutil  # shutil and tempfile: only a run with a private /tmp or glue needs them
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
        except OSError:
            pass


class GuestTree:
    """The guest tree of one session, made from a spec's layout: the root shown as
    /, the binds at their guest paths, and the private /tmp while it exists."""

    def __init__(self, root: str = "/", binds: Sequence[Bind] = (), hidden: Sequence[str] = (),
                 readonly: Sequence[str] = (), private_tmp: bool = False, keep_tmp: bool = False,
                 cwd_is_guess: bool = False, engine: str = "auto", strict: bool = False,
                 ids: tuple[int, int] | None = None, virtual_files: bool = False,
                 namespaces: Sequence[str] = (), new_session: bool = False,
                 qemu: str | None = None,
                 uts_names: tuple[str | None, str | None] = (None, None)):
        self.root = root
        self.binds = list(binds)
        self.hidden = list(hidden)      # ENOENT
        self.readonly = list(readonly)  # EROFS on writes
        self.private_tmp = private_tmp
        self.keep_tmp = keep_tmp
        self.cwd_is_guess = cwd_is_guess  # the session's cwd was not asked for: / if the guest lacks it
        self.engine = engine  # asked for: "auto", "mount" or "ptrace" (veil.mountns)
        self.strict = strict
        self.ids = ids        # (uid, gid) the program is shown, None: its own
        self.virtual_files = virtual_files  # the identity rewrites opens (veil.identity)
        self.namespaces = list(namespaces)  # the program's own (veil.mountns)
        self.new_session = new_session
        self.qemu = qemu      # the host path of qemu-user for another architecture (veil.qemu)
        self.uts_names = uts_names  # (hostname, domainname) set in its UTS namespace
        self._tmp: str | None = None
        self._glue: str | None = None  # veil's directories on the way to binds

    def prepare(self) -> list[Bind]:
        """The binds to install, with a fresh host directory for a private /tmp;
        of binds at one guest path only the last (as PRoot)."""
        binds = [Bind(os.path.realpath(b.host), os.path.normpath(b.guest), b.readonly, b.follow)
                 for b in self.binds]
        if self.private_tmp:
            import tempfile
            sweep_private_tmps(tempfile.gettempdir())
            self._tmp = tempfile.mkdtemp(prefix=f"{_PRIVATE_TMP}{os.getpid()}-")
            os.chmod(self._tmp, 0o1777)
            binds.append(Bind(self._tmp, "/tmp"))
        last = {b.guest: i for i, b in enumerate(binds)}
        return [b for i, b in enumerate(binds) if last[b.guest] == i]

    def cleanup(self) -> str | None:
        """Remove the glue and the private /tmp unless asked to keep it; its path
        if kept (renamed without veil's pid, so that no later sweep takes it)."""
        glue, self._glue = self._glue, None
        tmp, self._tmp = self._tmp, None
        if not glue and not tmp:
            return None
        import shutil
        if glue:
            shutil.rmtree(glue, ignore_errors=True)
        if not tmp:
            return None
        if not self.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
            return None
        kept = os.path.join(os.path.dirname(tmp), f"{_PRIVATE_TMP}kept-{os.path.basename(tmp).rsplit('-', 1)[-1]}")
        try:
            os.rename(tmp, kept)
        except OSError:
            return tmp
        return kept

    def is_identity(self, binds: Sequence[Bind]) -> bool:
        """The guest sees the host's tree unchanged (-r / and nothing else): no
        call needs translating, so none is stopped for it."""
        return (os.path.realpath(self.root) == "/" and not binds and not self.hidden
                and not self.readonly)

    def install(self, eng: E.Engine, binds: Sequence[Bind]) -> list[Bind]:
        """Give the engine the root and the binds, in order; the binds as installed.

        As PRoot, each bind's guest path is taken through the guest's symlinks
        as the root and the binds before it show them (``-b /etc:/var/run/x``
        with /var/run -> /run binds /run/x, seen at both spellings), and the
        directories on the way to it that the guest lacks are made in veil's
        glue directory (removed at the end), so that ``ls`` shows them."""
        eng.set_layout_root(os.path.realpath(self.root))
        installed = []
        for b in binds:
            try:
                _, guest = eng.layout_resolve(b.guest, b.follow)
            except OSError:
                guest = b.guest  # ELOOP, ENOTDIR...: the guest meets it on its own walk
            self._glue_parents(eng, guest, os.path.isdir(b.host))
            eng.add_layout_bind(b.host, guest)  # replaces a bind at the same guest path
            installed = [i for i in installed if i.guest != guest]
            installed.append(Bind(b.host, guest, b.readonly, b.follow))
        return installed

    def _glue_parents(self, eng: E.Engine, guest: str, is_dir: bool) -> None:
        """Make the missing directories above canonical ``guest`` (and a placeholder
        of its own kind at ``guest``, for listings) below the glue directory, bound
        at the first one missing."""
        parts = guest.strip("/").split("/")
        for depth in range(1, len(parts)):
            missing = "/" + "/".join(parts[:depth])
            try:
                host, _ = eng.layout_resolve(missing, False)
            except OSError:
                return
            if os.path.lexists(host):
                if not os.path.isdir(host):
                    return  # the guest gets ENOTDIR there
                continue
            if self._glue is None:
                import tempfile
                sweep_private_tmps(tempfile.gettempdir(), _GLUE)
                self._glue = tempfile.mkdtemp(prefix=f"{_GLUE}{os.getpid()}-")
                os.chmod(self._glue, 0o755)
            glued = self._glue + "/" + missing.lstrip("/") if not host.startswith(
                self._glue + "/") else host
            place = glued + guest[len(missing):]
            os.makedirs(os.path.dirname(place), exist_ok=True)
            if is_dir:
                os.makedirs(place, exist_ok=True)
            else:
                open(place, "a").close()
            if glued != host:
                eng.add_layout_bind(glued, missing)
            return

    def path_rules(self, binds: Sequence[Bind] = ()) -> list[tuple[str, int, bool]]:
        """(guest path, errno, writes only) rules of the hidden and read-only paths.
        A write is decided by the deepest read-only path or bind that holds it (the
        first rule that matches wins, errno 0 lets the call through): a writable
        bind inside a read-only path or bind stays writable, as its mount would."""
        denied = [p for p in self.readonly] + [b.guest for b in binds if b.readonly]
        writes = [(p, errno.EROFS) for p in denied]
        writes += [(b.guest, 0) for b in binds
                   if not b.readonly and any(_below(b.guest, p) for p in denied)]
        writes.sort(key=lambda rule: (-depth(rule[0]), rule[1] == 0))
        return ([(p, errno.ENOENT, False) for p in self.hidden]
                + [(p, err, True) for p, err in writes])

    @staticmethod
    def bind_rules(installed: Sequence[Bind]) -> list[tuple[str, int, bool]]:
        """The same rules of read-only binds, at their guest paths as installed."""
        return [(b.guest, errno.EROFS, True) for b in installed if b.readonly]


def mount_only(namespaces: Sequence[str], new_session: bool, qemu: str | None) -> list[str]:
    """The flags of what only the mount engine gives (namespaces but UTS, which is
    veil's view of uname under the ptrace engine; a new session; qemu-user)."""
    wants = [f"--unshare-{ns}" for ns in namespaces if ns != "uts"]
    if new_session:
        wants.append("--new-session")
    if qemu:
        wants.append("-q")
    return wants


def depth(path: str) -> int:
    """The number of components of a guest path (/ has none)."""
    return len([p for p in path.split("/") if p])


def _below(path: str, top: str) -> bool:
    """``path`` lies strictly below ``top`` (guest paths)."""
    top = top.rstrip("/")
    return path != top and path.startswith(top + "/")
