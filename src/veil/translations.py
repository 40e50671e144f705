"""What the layout's C translator needs of each path-taking call (PRoot's job,
csrc/layout_*.c): which arguments are paths, which of them follow a final
symlink, and which calls are answered or denied instead of translated.  Worked
out from the syscall table's properties; loaded only for a run with a layout
(veil.layout is the layout itself: its binds and tree).
"""
from __future__ import annotations

from . import engine as E
from .syscalls.lookup import BY_NAME, with_prop
from .syscalls.lookup import SYSCALLS as ALL
from .valueclass import ValueClass

AT_SYMLINK_NOFOLLOW = 0x100
AT_SYMLINK_FOLLOW = 0x400
IN_DONT_FOLLOW = 0x02000000


class Translation(ValueClass):
    """How the layout translates one call's paths (a ValueClass, not a dataclass:
    a plain run, which has no layout, pays nothing for it)."""

    __slots__ = _fields = ("op", "nofollow", "flag_arg", "flag_mask", "flag_follows", "sock_arg")

    def __init__(self, op: int = E.L_PATHS, nofollow: tuple[int, ...] = (), flag_arg: int = -1,
                 flag_mask: int = 0, flag_follows: bool = False, sock_arg: int = -1):
        self.op = op
        self.nofollow = nofollow          # path arguments whose last symlink is never followed
        self.flag_arg = flag_arg          # the flags argument that decides for the others
        self.flag_mask = flag_mask
        self.flag_follows = flag_follows  # the flag asks to follow (AT_SYMLINK_FOLLOW)
        self.sock_arg = sock_arg


_PATH_OPS = {"exec": E.L_EXEC, "readlink": E.L_READLINK, "getcwd": E.L_GETCWD,
             "chroot": E.L_CHROOT, "sock_in": E.L_SOCK_IN, "sock_out": E.L_SOCK_OUT,
             "msg_in": E.L_MSG_IN, "msg_out": E.L_MSG_OUT}
_SYMLINK_FLAGS = {"AT_SYMLINK_NOFOLLOW": AT_SYMLINK_NOFOLLOW,
                  "AT_SYMLINK_FOLLOW": AT_SYMLINK_FOLLOW, "IN_DONT_FOLLOW": IN_DONT_FOLLOW}


def translation_of(sc) -> Translation:
    """How the layout translates the paths of *sc*, from its table properties
    (@path_op, @nofollow, @symlink_flag)."""
    op, sock_arg = sc.prop("path_op", (None, -1))
    flag_arg, flag_name = sc.prop("symlink_flag", (-1, None))
    return Translation(op=_PATH_OPS[op] if op else E.L_PATHS, nofollow=sc.prop("nofollow", ()),
                       flag_arg=flag_arg, flag_mask=_SYMLINK_FLAGS.get(flag_name, 0),
                       flag_follows=flag_name == "AT_SYMLINK_FOLLOW", sock_arg=sock_arg)


# The calls whose translation is not the default: every call not named here follows
# the last symlink of each path argument (open/openat/openat2 decide by O_NOFOLLOW and
# O_CREAT|O_EXCL in C).
TRANSLATIONS: dict[str, Translation] = {
    sc.name: translation_of(sc) for sc in ALL
    if any(sc.prop(k) is not None for k in ("path_op", "nofollow", "symlink_flag"))}

# Calls that would reach past the guest's tree; a layout fails them (EPERM).
DENIED: tuple[str, ...] = tuple(with_prop("layout_denied"))


# Calls that could remap, unmap or unprotect veil's read-only scratch area (where
# the translated paths lie, csrc/layout_*.c): the filter stops them only when their
# address lies below the area's end; C checks the whole range and refuses (EPERM,
# reported) one that overlaps it.
_END = E.SCRATCH_BASE + E.SCRATCH_SIZE
MREMAP_FIXED = 2


def _scratch_guard(sc) -> tuple[tuple[tuple, ...], ...]:
    """The filter's conditions (any of these sets, all of a set) under which *sc*
    may touch the scratch area, from its @maps property."""
    guard = []
    for role, arg in sc.prop("maps", ()):
        if role == "addr":
            guard.append(((arg, "LT", _END),))
        elif role == "hint":
            guard.append(((arg, "NE", 0), (arg, "LT", _END)))
        else:  # "fixed": only when the flags ask for it
            flags = next(i for i, (_, kind) in enumerate(sc.args) if kind == "flags:mremap_flags")
            guard.append(((flags, "MASKED_EQ", MREMAP_FIXED, MREMAP_FIXED), (arg, "LT", _END)))
    return tuple(guard)


SCRATCH_GUARDS: dict[str, tuple[tuple[tuple, ...], ...]] = {
    name: _scratch_guard(BY_NAME[name]) for name in with_prop("maps")}


# userfaultfd could move pages out of veil's scratch area (UFFDIO_MOVE, Linux 6.8)
# and fill the hole with the program's own: no userfaultfd(2), and no UFFDIO_API
# or UFFDIO_REGISTER on an fd of /dev/userfaultfd however the program got it.
UFFDIO_API = 0xC018AA3F
UFFDIO_REGISTER = 0xC020AA00

# With pinned paths (--strict), a process that changes its ids may no longer read
# veil's fds: veil asks again at its next path call.
CRED_CALLS: tuple[str, ...] = tuple(with_prop("sets_ids"))


def _has_path(sc) -> bool:
    return any(kind.split(":")[0] == "path" for _, kind in sc.args)


_TRANSLATED: dict[str, Translation] = {}


def _translations() -> dict[str, Translation]:
    # the table is fixed: worked out once (a layout's start-up asked it per call: 60 ms);
    # callers get copies
    if not _TRANSLATED:
        _TRANSLATED.update({sc.name: TRANSLATIONS.get(sc.name, Translation())
                            for sc in ALL if _has_path(sc) and sc.name not in DENIED})
        _TRANSLATED.update({n: t for n, t in TRANSLATIONS.items() if n in BY_NAME})
    return _TRANSLATED


def translated_calls() -> dict[str, Translation]:
    """Every call the layout translates, with how."""
    return dict(_translations())


def untranslated_calls() -> list[str]:
    """Calls that take a path but that the layout neither translates nor denies
    (empty when every one is covered; `veil syscalls --untranslated`)."""
    covered = set(_translations()) | set(DENIED)
    return sorted(sc.name for sc in ALL if _has_path(sc) and sc.name not in covered)


def action_fields(name: str) -> dict[str, int]:
    """The SysAction fields of a translated call."""
    t = _translations()[name]
    return {"layout_op": t.op, "nofollow_args": sum(1 << i for i in t.nofollow),
            "follow_flag_arg": t.flag_arg, "follow_flag_mask": t.flag_mask,
            "follow_flag_sets": t.flag_follows, "sock_arg": t.sock_arg}
