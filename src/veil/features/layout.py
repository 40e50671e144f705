"""The guest's directory tree as a Session feature: the rules it brings (calls that
reach past the tree, its hidden and read-only paths), the engine that makes it
(the kernel's mount namespace, or per-call translation in C under ptrace), its
rows, what it installs in the engine, its cleanup and what the Result says of it."""
from __future__ import annotations

import errno as _errno
import os

from .. import engine as E
from .. import filter as bpf
from ..engine_features import PIN_PATHS, supports
from ..layout import Bind, GuestTree
from ..spec.checks import SpecError
from ..syscalls.lookup import BY_NAME, BY_NR
from ..translations import (
    CRED_CALLS,
    DENIED,
    SCRATCH_GUARDS,
    UFFDIO_API,
    UFFDIO_REGISTER,
    action_fields,
    translated_calls,
)
from . import BaseFeature, RowTable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..engine import Engine
    from ..engine_api import PinningEngine, TraceEngine
    from ..session import Session

PATH_FLAGS = E.F_PATHS | E.F_TRANSLATE   # the row already has its path fields


class LayoutFeature(BaseFeature):
    def __init__(self, session: Session, tree: GuestTree):
        self.session = session      # the rules and path rules the layout adds go there
        self.tree = tree
        # (engine, why): "mount" (the kernel makes the tree, veil.mountns) or "ptrace"
        self.engine: tuple[str, str] | None = None
        self.translating = False    # C translates paths per call
        self.binds: list[Bind] = []
        self.mount_steps: list[str] = []
        self.kept_tmp: str | None = None

    @property
    def mount(self) -> bool:
        return self.engine is not None and self.engine[0] == "mount"

    def prepare(self, identity_files: dict[str, str]) -> None:
        """Choose the engine; the rules the layout brings (denied calls, hidden and
        read-only guest paths).  ``identity_files`` (guest -> veil's copy) become binds."""
        from .. import mountns
        s = self.session
        binds = self.tree.prepare()
        binds = [b for b in binds if b.guest not in identity_files] + [
            Bind(host, guest) for guest, host in identity_files.items()]
        self.binds = binds
        self.engine = mountns.choose(self.tree, binds)
        s._protected_paths()
        self.translating = not self.mount and (not self.tree.is_identity(binds)
                                               or s.has_path_rules())
        s.refuse([n for n in DENIED if n in BY_NAME], _errno.EPERM,
                 "the layout refuses calls that reach past the guest's tree")
        uffd = "userfaultfd could replace the pages of veil's read-only scratch area"
        s.refuse(["userfaultfd"], _errno.EPERM, uffd)
        for cmd in (UFFDIO_API, UFFDIO_REGISTER):
            s.refuse(["ioctl"], _errno.EPERM, uffd, [bpf.Cond(1, "MASKED_EQ", cmd, 0xFFFFFFFF)])
        if s.foreign_rule is None and not self.mount:
            # an i386 or x32 call would name paths the translator never sees
            s.refuse_foreign(_errno.ENOSYS, "i386 and x32 calls are not translated")
        for guest, err, writes_only in self.tree.path_rules(binds):
            s.add_path_rule(guest, err, writes_only)

    def add_rows(self, rows: RowTable) -> None:
        pin, ptrace = self.session.pin_paths, not self.mount
        translated = translated_calls() if self.translating else {}
        ruled = self.session.ruledb.rules
        for nr in range(E.NR_MAX):
            sc = BY_NR.get(nr)
            if sc is None:
                continue
            if sc.name in translated:
                row = rows.row(nr)
                if not row.flags & PATH_FLAGS:
                    row.fields.update(rows.path_fields(sc))
                row.fields.update(action_fields(sc.name))
                row.flags |= E.F_STOP | E.F_TRANSLATE
            guard = SCRATCH_GUARDS.get(sc.name) if ptrace else None
            if guard and not self._has_paths(rows, nr):
                row = rows.row(nr)
                guard_only = not row.flags and nr not in ruled
                row.flags |= E.F_STOP | E.F_TRANSLATE
                row.fields["layout_op"] = E.L_MEMGUARD
                if guard_only:  # stop only where the range may touch the area
                    row.filter = bpf.Conditional(
                        [(tuple(bpf.Cond(*c) for c in conds), bpf.trace()) for conds in guard],
                        bpf.allow())
            if pin and ptrace and sc.name in CRED_CALLS and not self._has_paths(rows, nr):
                row = rows.row(nr)
                row.flags |= E.F_STOP | E.F_TRANSLATE
                row.fields["layout_op"] = E.L_CREDS
            if pin and ptrace and sc.name == "getdents64":
                # with /proc scoped to the traced tree, its listing is too (csrc/targets.c)
                rows.row(nr).flags |= E.F_STOP | E.F_EXIT
            if pin and self.mount and sc.name in ("recvmsg", "recvmmsg"):
                # a directory fd from outside the guest's mount namespace would walk the
                # host's tree (csrc/fdintake.c)
                rows.row(nr).flags |= E.F_STOP | E.F_EXIT | E.F_FDS_IN

    @staticmethod
    def _has_paths(rows: RowTable, nr: int) -> bool:
        return nr in rows and bool(rows[nr].flags & PATH_FLAGS)

    def install(self, eng: TraceEngine) -> None:
        # the ptrace engine translates with it; the mount engine's guest paths are
        # resolved with it too (the command, the start directory, ownership)
        s = self.session
        engine: Engine = eng   # type: ignore[assignment]  # a layout needs seccomp: the C engine (Session checks)
        installed = self.tree.install(engine, self.binds)
        for guest, err, writes_only in self.tree.bind_rules(installed):
            s.add_path_rule(guest, err, writes_only)
        if self.mount:
            from .. import mountns
            self.mount_steps = mountns.install(engine, self.tree, self.binds, s.kernel_paths)
        elif s.pin_paths and supports(engine, PIN_PATHS):
            pinning: PinningEngine = engine
            pinning.layout_pin_paths(True)
            # with it, /proc of veil's threads and of host processes is out of sight
            pinning.layout_proc_scope(True)

    def guest_cwd(self, eng: TraceEngine, cwd: str | None) -> tuple[str, str]:
        """(host, guest) directory the program starts in: -w in the guest, or
        (when the cwd was only a guess) the guest's / if the guess does not exist."""
        host, guest = eng.layout_resolve(cwd or "/")  # type: ignore[attr-defined]
        if os.path.isdir(host):
            return host, guest
        if self.tree.cwd_is_guess:
            return eng.layout_resolve("/")  # type: ignore[attr-defined]
        raise SpecError("environment", "cwd", "no such directory in the guest", value=cwd)

    def cleanup(self) -> None:
        self.kept_tmp = self.tree.cleanup()

    def result_fields(self) -> dict[str, Any]:
        return {"kept_tmp": self.kept_tmp, "layout_engine": self.engine}
