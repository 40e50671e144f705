"""The needed-library closure, found the way glibc's dynamic loader finds it.

Breadth-first from the program (the link map order ``ldd`` prints).  For each
DT_NEEDED name of an object X:

1. a name already loaded (by path, by an earlier needed name, or by SONAME)
   is reused; the interpreter counts as loaded under its path and SONAME;
2. a name with a slash is opened as is (relative to the current directory);
3. otherwise: DT_RPATH of X, then of X's loader and on up to the program,
   only when X has no DT_RUNPATH; LD_LIBRARY_PATH; X's own DT_RUNPATH;
   /etc/ld.so.cache and the system directories (both skipped when X has
   DF_1_NODEFLIB).  Each directory is tried with the glibc-hwcaps and legacy
   hwcap subdirectories first, as ld.so does.
   $ORIGIN (the program's real directory, a library's directory as found),
   $LIB and $PLATFORM are expanded.  A file of the wrong class or machine is
   skipped, and a file already loaded under another name (same device and
   inode) is reused.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from .elfheader import ElfIdent
from .elfinfo import ElfInfo, LiefError, read_elf
from .ldcache import wanted_flags
from .searchpath import SearchContext, expand_dst, split_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass
class Library:
    name: str                                   # the DT_NEEDED name that first asked for it
    path: str | None                         # None: not found
    needed_by: list[str] = field(default_factory=list)
    info: ElfInfo | None = field(default=None, repr=False)
    loaded_by: Library | None = field(default=None, repr=False)   # None: the program


class Resolver:
    """One closure computation: the loaded objects, the names and files they answer to."""

    def __init__(self, main_path: str, main: ElfInfo, ctx: SearchContext):
        self.ctx = ctx
        self.main_path = main_path
        # $ORIGIN of a program is its real directory (the kernel's /proc/self/exe); of a
        # library analyzed on its own, its directory as named (as dlopen sees it)
        resolved = os.path.realpath if main.interpreter else os.path.abspath
        self.main_origin = os.path.dirname(resolved(main_path))
        self.objects: list[Library] = []
        self.names: dict[str, Library] = {}                   # every name an object answers to
        self.inodes: dict[tuple[int, int], Library] = {}
        self.queue: list[Library] = []                          # loaded, needs not yet read
        self.interp_lib: Library | None = None
        self.interp = main.interpreter or (ctx.default_interp if main.needed else None)
        self.interp_soname: str | None = None
        if self.interp and os.path.exists(self.interp):
            try:
                self.interp_soname = read_elf(self.interp, full=False).soname
            except LiefError:
                pass

    def _origin(self, obj: Library | None) -> str:
        if obj is None or obj.path is None:
            return self.main_origin
        return os.path.dirname(os.path.abspath(obj.path))

    def _try_dirs(self, name: str, dirs: list[str]) -> str | None:
        for directory in dirs:
            for sub in self.ctx.subdirs(directory):
                candidate = sub + name
                if os.path.isfile(candidate) and self.ctx.compatible(candidate):
                    return candidate
        return None

    def search(self, name: str, requester: Library | None, main: ElfInfo) -> str | None:
        """The path the loader opens for NAME needed by REQUESTER (None = the program)."""
        info = requester.info if requester else main
        origin = self._origin(requester)
        if "/" in name:
            path = expand_dst(name, origin, self.ctx)
            return path if os.path.isfile(path) and self.ctx.compatible(path) else None
        if info is None:
            return None
        if not info.runpath:
            chain: list[tuple[ElfInfo, str]] = []
            obj = requester
            while obj is not None:
                if obj.info is not None:
                    chain.append((obj.info, self._origin(obj)))
                obj = obj.loaded_by
            chain.append((main, self.main_origin))
            for chain_info, chain_origin in chain:
                if chain_info.rpath and not chain_info.runpath:
                    found = self._try_dirs(name, split_path(chain_info.rpath, chain_origin, self.ctx))
                    if found:
                        return found
        found = self._try_dirs(name, split_path(self.ctx.ld_library_path, self.main_origin,
                                                self.ctx, ":;"))
        if found:
            return found
        if info.runpath:
            found = self._try_dirs(name, split_path(info.runpath, origin, self.ctx))
            if found:
                return found
        if info.nodeflib:
            return None
        cached = self.ctx.cache.lookup(name, wanted_flags(self.ctx.ident.class_name,
                                                          self.ctx.ident.machine_name),
                                       self.ctx.hwcaps)
        if cached and os.path.isfile(cached) and self.ctx.compatible(cached):
            return cached
        return self._try_dirs(name, [d.rstrip("/") + "/" for d in self.ctx.system_dirs])

    def _same_file(self, path: str | None) -> Library | None:
        if path is None:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        return self.inodes.get((st.st_dev, st.st_ino))

    def _register(self, lib: Library, *aliases: str | None) -> None:
        for alias in aliases:
            if alias:
                self.names.setdefault(alias, lib)
        if lib.path:
            try:
                st = os.stat(lib.path)
                self.inodes.setdefault((st.st_dev, st.st_ino), lib)
            except OSError:
                pass

    def _load(self, name: str, requester: Library | None, main: ElfInfo) -> Library:
        """The object NAME refers to when REQUESTER needs it: already loaded, or new."""
        lib = self.names.get(name)
        if lib is None:
            path = self.search(name, requester, main)
            lib = self._same_file(path)
            if lib is None:
                return self._new(name, path, requester)
            self.names[name] = lib
        if lib is self.interp_lib and not lib.name:
            lib.name = name              # first needed: the interpreter joins the order here
            self.objects.append(lib)
        return lib

    def _new(self, name: str, path: str | None, requester: Library | None) -> Library:
        info: ElfInfo | None = None
        if path is not None:
            try:
                info = read_elf(path, full=False)
            except LiefError:
                pass
        lib = Library(name, path, info=info, loaded_by=requester)
        self._register(lib, name, path, info.soname if info else None)
        self.objects.append(lib)
        if info is not None:
            self.queue.append(lib)
        return lib

    def closure(self, main: ElfInfo) -> list[Library]:
        """Breadth first from the program: every object's DT_NEEDED, in order."""
        if main.soname:       # the program answers to its SONAME (it is not listed)
            self.names[main.soname] = Library(main.soname, self.main_path)
        if self.interp:
            self.interp_lib = Library("", self.interp)
            self._register(self.interp_lib, self.interp, self.interp_soname)
        requester: Library | None = None
        needed, label = main.needed, self.main_path
        while True:
            for name in needed:
                lib = self._load(name, requester, main)
                if label not in lib.needed_by:
                    lib.needed_by.append(label)
            if not self.queue:
                break
            requester = self.queue.pop(0)
            assert requester.info is not None and requester.path is not None
            needed, label = requester.info.needed, requester.path
        return list(self.objects)


def resolve_closure(path: str, main: ElfInfo, ident: ElfIdent,
                    env: Mapping[str, str] | None = None) -> list[Library]:
    """The libraries PATH loads, in the loader's order (unresolved ones with path None)."""
    ctx = SearchContext.for_binary(ident, os.environ if env is None else env)
    return Resolver(path, main, ctx).closure(main)
