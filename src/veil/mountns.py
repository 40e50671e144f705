"""The mount layout engine: the guest's tree made by the kernel from bind mounts in
a mount namespace of the program's own (csrc/mountns.c), as bubblewrap makes it,
so that path calls cost no stop.  The ptrace engine (csrc/layout_*.c) translates
each path call instead, as PRoot does; it is the fallback where the kernel has no
unprivileged user namespaces or the layout is one mounts cannot show.
"""
from __future__ import annotations

import os

from . import engine as E
from .layout import Bind, GuestTree, depth, mount_only
from .spec.checks import SpecError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

MOUNT, PTRACE = "mount", "ptrace"
_MAX_SYMLINKS = 40  # path_resolution(7)


_REFUSALS: dict[bool, str | None] = {}


def kernel_refusal(userns: bool) -> str | None:
    """Why this process cannot make the namespaces the engine needs (None: it can)."""
    if userns not in _REFUSALS:
        rc = E.mountns_probe(userns)
        what = "a user and a mount namespace" if userns else "a mount namespace"
        _REFUSALS[userns] = None if rc == 0 else f"the kernel refuses {what} ({os.strerror(-rc)})"
    return _REFUSALS[userns]


def uses_userns(strict: bool) -> bool:
    """Always: in a user namespace of its own the program's capabilities do not reach
    the host's processes (/proc/PID/root of veil or of any host process, ptrace,
    process_vm_*: ptrace_may_access() wants CAP_SYS_PTRACE in their namespace),
    even when veil and the program run as root."""
    return True


def uses_pidns(tree: GuestTree) -> bool:
    """--strict (or bubblewrap's --unshare-pid): the program also gets a pid namespace
    of its own, so that the kernel keeps veil and every host process out of its
    reach and out of its /proc."""
    return tree.strict or "pid" in tree.namespaces


def in_mount_order(binds: Sequence[Bind]) -> list[Bind]:
    """Binds in the order they are mounted: a shorter guest path first (a bind
    below another shows through it, as the longest guest prefix wins in the ptrace
    engine), and of binds at one guest path the last given last (it wins)."""
    return sorted(binds, key=lambda b: depth(b.guest))


def _host_path(root: str, binds: Sequence[Bind], guest: str) -> str:
    for b in reversed(binds):
        base = b.guest.rstrip("/")
        if guest == b.guest or guest.startswith(base + "/"):
            return b.host + guest[len(base):]
    return root.rstrip("/") + guest


def host_in_tree(root: str, binds: Sequence[Bind], guest: str) -> str | None:
    """The host path that ``guest`` names in the tree ``root`` plus ``binds`` (mounted
    in that order), symlinks followed inside the tree; None if it does not exist."""
    todo = [p for p in guest.split("/") if p]
    here, hops = "/", 0
    while todo:
        name = todo.pop(0)
        if name == ".":
            continue
        if name == "..":
            here = os.path.dirname(here)
            continue
        step = os.path.join(here, name)
        host = _host_path(root, binds, step)
        if not os.path.lexists(host):
            return None
        if os.path.islink(host):
            hops += 1
            if hops > _MAX_SYMLINKS:
                return None
            text = os.readlink(host)
            todo[:0] = [p for p in text.split("/") if p]
            if text.startswith("/"):
                here = "/"
            continue
        here = step
    return _host_path(root, binds, here)


def unshowable(tree: GuestTree, binds: Sequence[Bind]) -> str | None:
    """Why bind mounts cannot show this tree (None: they can).  A mount needs its
    guest path to exist, as a directory for a directory and a file for a file: the
    ptrace engine shows the missing ones, the mount engine would have to create them
    in the user's tree."""
    root = os.path.realpath(tree.root)
    done: list[Bind] = []
    for b in in_mount_order(binds):
        target = host_in_tree(root, done, b.guest)
        if target is None:
            return f"the bind's guest path {b.guest} does not exist in the guest's tree"
        if os.path.isdir(target) != os.path.isdir(b.host):
            return f"the bind of {b.host} at {b.guest}: a directory and a file"
        parent = host_in_tree(root, done, os.path.dirname(b.guest))
        if not b.follow and parent and os.path.islink(os.path.join(parent, os.path.basename(b.guest))):
            return f"the bind at {b.guest}! covers a symlink (a mount follows it)"
        done.append(b)
    for path in tree.readonly:
        if host_in_tree(root, done, path) is None:
            return f"the read-only path {path} does not exist in the guest's tree"
    return None


def choose(tree: GuestTree, binds: Sequence[Bind]) -> tuple[str, str]:
    """(engine, why) for this tree: what the spec asked for, or under "auto" the
    mount engine where the kernel permits it and mounts can show the tree."""
    asked = tree.engine
    needs = mount_only(tree.namespaces, tree.new_session, tree.qemu)
    if asked == PTRACE and not needs:
        return PTRACE, "asked for (--layout-engine ptrace)"
    userns = uses_userns(tree.strict)
    why = ("asked for (--layout-engine ptrace)" if asked == PTRACE else
           kernel_refusal(userns) or unshowable(tree, binds))
    if why is None and tree.ids is not None and userns and os.geteuid() != 0:
        # a user namespace maps only the user's own ids: other users' files would
        # show as owned by nobody, where -0 and -i (fakeroot's view) show their owners
        why = "-0 and -i show other users' files as theirs (a user namespace cannot)"
    if why is None and tree.virtual_files:
        # veil serves them by rewriting the path of an open to a file of its own
        why = ("/proc/PID/status and auxv under fake ids other than veil's own are "
               "served by path translation")
    if why is None:
        return MOUNT, ("asked for (--layout-engine mount)" if asked == MOUNT
                       else f"{needs[0]} needs it" if needs
                       else "the kernel permits it and mounts show this tree")
    if needs:
        what = "this" if len(needs) == 1 else "these"
        raise SpecError("layout", "qemu" if needs == ["-q"] else "namespaces",
                        f"only the mount layout engine gives {what}, and it cannot make "
                        f"this run: {why}", value=" ".join(needs))
    if asked == MOUNT:
        raise SpecError("layout", "engine", f"the mount engine cannot make this layout: {why}",
                        value=MOUNT)
    return PTRACE, why


def install(eng: E.Engine, tree: GuestTree, binds: Sequence[Bind],
            kernel_paths: Sequence[tuple[str, str]] = ()) -> list[str]:
    """The plan the spawned child carries out: the root, the binds in mount order,
    the read-only paths, then ``kernel_paths`` (("readonly" or "mask", guest path):
    a mask is an empty directory or /dev/null).  The guest path of each step."""
    root = os.path.realpath(tree.root)
    ids = tree.ids if tree.ids is not None else (os.geteuid(), os.getegid())
    eng.mountns_begin(root, uses_userns(tree.strict), ids)
    eng.mountns_pidns(uses_pidns(tree))
    eng.mountns_unshare([ns for ns in tree.namespaces if ns != "pid"], tree.new_session)
    if "uts" in tree.namespaces:
        eng.mountns_uts(*tree.uts_names)
    ordered = in_mount_order(binds)
    steps = []
    # a read-only path is made read-only before the binds deeper than it are mounted
    # on it (they keep their own writability), after those at its depth or above
    readonly = sorted(tree.readonly, key=depth)
    for b in ordered:
        while readonly and depth(readonly[0]) < depth(b.guest):
            steps += _cover_step(eng, root, ordered, readonly.pop(0), E.MNT_RDONLY)
        if uses_pidns(tree) and os.path.realpath(b.host) == "/proc":
            # the host's /proc would show the host's processes: the namespace's own
            eng.mountns_add(None, b.guest, E.MNT_PROCFS)
        else:
            eng.mountns_add(b.host, b.guest, E.MNT_RDONLY if b.readonly else 0)
        steps.append(b.guest)
    for how, path in [("readonly", p) for p in readonly] + list(kernel_paths):
        steps += _cover_step(eng, root, ordered, path, E.MNT_MASK if how == "mask"
                             else E.MNT_RDONLY)
    if tree.qemu:
        from .qemu import binfmt_rule
        eng.mountns_binfmt(binfmt_rule(tree.qemu))
        steps.append(f"binfmt_misc for {tree.qemu} (the kernel's binfmt_misc in a user "
                     "namespace: Linux 6.7 or later)")
    return steps


def _cover_step(eng: E.Engine, root: str, binds: Sequence[Bind], path: str,
                flags: int) -> list[str]:
    """A step over the guest's own ``path`` (read-only or masked), if it exists."""
    # the path rules of the ptrace engine fail a call on a path that does not exist
    # with ENOENT anyway: nothing to cover
    if host_in_tree(root, binds, path) is None:
        return []
    eng.mountns_add(None, path, flags)
    return [path]


def spawn_failure(err: int, steps: Sequence[str]) -> str | None:
    """What failed when the mount engine failed a spawn, from veil_spawn_error()'s
    value (None: not the mount engine's failure)."""
    if not err & E.SPAWN_MOUNTNS:
        return None
    step = err >> E.SPAWN_STEP_SHIFT
    reason = os.strerror(err & 0xFFFF)
    if 0 < step <= len(steps):
        return f"the mount engine could not mount {steps[step - 1]}: {reason}"
    return f"the mount engine could not make the guest's tree: {reason}"
