"""Memory family: mmap protections and flags, madvise, mremap, msync, mlock."""
from __future__ import annotations

from .. import records as R
from .common import array, flags, ptr, u32, xval
from .kinds import fmt_fd
from .registry import EXTRA_CAPTURES, enum_set, flag_set, special

PROT = [(1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC"), (0x8, "PROT_SEM"),
        (0x01000000, "PROT_GROWSDOWN"), (0x02000000, "PROT_GROWSUP")]

MAP_TYPES = {0: "0", 1: "MAP_SHARED", 2: "MAP_PRIVATE", 3: "MAP_SHARED_VALIDATE"}
MAP_FLAGS = [(0x10, "MAP_FIXED"), (0x20, "MAP_ANONYMOUS"), (0x40, "MAP_32BIT"),
             (0x100, "MAP_GROWSDOWN"), (0x800, "MAP_DENYWRITE"), (0x1000, "MAP_EXECUTABLE"),
             (0x2000, "MAP_LOCKED"), (0x4000, "MAP_NORESERVE"), (0x8000, "MAP_POPULATE"),
             (0x10000, "MAP_NONBLOCK"), (0x20000, "MAP_STACK"), (0x40000, "MAP_HUGETLB"),
             (0x80000, "MAP_SYNC"), (0x100000, "MAP_FIXED_NOREPLACE"),
             (0x4000000, "MAP_UNINITIALIZED")]


@flag_set("mmap_prot")
def mmap_prot(v: int) -> str:
    return flags(u32(v), PROT, zero="PROT_NONE", dflt="PROT_???")


@flag_set("mmap_flags")
def mmap_flags(v: int) -> str:
    v = u32(v)
    head = MAP_TYPES[v & 3]
    if not v & ~3:
        return head
    rest = flags(v & ~3, MAP_FLAGS, zero=None, dflt="MAP_???")
    return rest if head == "0" else f"{head}|{rest}"


@special("mmap")
def _mmap(call, ctx):
    a = call.args
    return [ptr(a[0]), str(a[1]), mmap_prot(a[2]), mmap_flags(a[3]), fmt_fd(a[4], call, ctx, 4),
            f"{a[5]:#x}" if a[5] else "0"]


MADVISE = {0: "MADV_NORMAL", 1: "MADV_RANDOM", 2: "MADV_SEQUENTIAL", 3: "MADV_WILLNEED",
           4: "MADV_DONTNEED", 8: "MADV_FREE", 9: "MADV_REMOVE", 10: "MADV_DONTFORK",
           11: "MADV_DOFORK", 12: "MADV_MERGEABLE", 13: "MADV_UNMERGEABLE",
           14: "MADV_HUGEPAGE", 15: "MADV_NOHUGEPAGE", 16: "MADV_DONTDUMP", 17: "MADV_DODUMP",
           18: "MADV_WIPEONFORK", 19: "MADV_KEEPONFORK", 20: "MADV_COLD", 21: "MADV_PAGEOUT",
           22: "MADV_POPULATE_READ", 23: "MADV_POPULATE_WRITE", 100: "MADV_HWPOISON"}


@enum_set("madvise")
def madvise(v: int) -> str:
    return xval(u32(v), MADVISE, "MADV_???")


@flag_set("mremap_flags")
def mremap_flags(v: int) -> str:
    return flags(u32(v), [(1, "MREMAP_MAYMOVE"), (2, "MREMAP_FIXED"), (4, "MREMAP_DONTUNMAP")],
                 dflt="MREMAP_???")


@special("mremap")
def _mremap(call, ctx):
    a = call.args
    out = [ptr(a[0]), str(a[1]), str(a[2]), mremap_flags(a[3])]
    if u32(a[3]) & 2:
        out.append(ptr(a[4]))
    return out


# mincore's vector: one byte per page of the range (read past its end if need be)
EXTRA_CAPTURES["mincore"] = {2: (R.CAP_FIXED_OUT, 0, 256)}


@special("mincore")
def _mincore(call, ctx):
    a = call.args
    c = call.cap(2)
    if a[2] == 0 or call.ret is None or call.failed or c is None:
        vec = ptr(a[2])
    else:
        n = (a[1] + 4095) // 4096
        have = len(c.data)
        vec = array((str(b) for b in c.data[:min(n, have)]), max(ctx.strsize, 1),
                    more=n > have)
    return [ptr(a[0]), str(a[1]), vec]


@flag_set("msync_flags")
def msync_flags(v: int) -> str:
    return flags(u32(v), [(1, "MS_ASYNC"), (2, "MS_INVALIDATE"), (4, "MS_SYNC")], dflt="MS_???")


@flag_set("mlock_flags")
def mlock_flags(v: int) -> str:
    return flags(u32(v), [(1, "MLOCK_ONFAULT")], dflt="MLOCK_???")


@flag_set("mlockall_flags")
def mlockall_flags(v: int) -> str:
    return flags(u32(v), [(1, "MCL_CURRENT"), (2, "MCL_FUTURE"), (4, "MCL_ONFAULT")], dflt="MCL_???")
