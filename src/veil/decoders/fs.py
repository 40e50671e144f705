"""File-system family: open flags, *at flags, modes, struct stat/statx/statfs."""
from __future__ import annotations

import time as _time

from .. import records as R
from .common import DecodeError, flags, octal, ptr, quote, styled, u32, unpack, xval
from .kinds import fmt_fd, format_arg
from .kstructs import OPEN_HOW, STAT, STAT_HEAD, STAT_TIMES, STATX_HEAD
from .registry import EXTRA_CAPTURES, enum_set, flag_set, special, struct

O_ACCMODE = 3
O_CREAT = 0o100
O_TMPFILE = 0o20000000 | 0o200000

OPEN_FLAGS = [  # strace's open_mode_flags order
    (0o100, "O_CREAT"), (0o200, "O_EXCL"), (0o400, "O_NOCTTY"), (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"), (0o4000, "O_NONBLOCK"), (0o4010000, "O_SYNC"),
    (0o4000000, "__O_SYNC"), (0o10000, "O_DSYNC"), (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"), (0o400000, "O_NOFOLLOW"), (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"), (0o10000000, "O_PATH"), (0o20200000, "O_TMPFILE"),
    (0o20000000, "__O_TMPFILE"), (0o200000, "O_DIRECTORY"), (0o20000, "FASYNC"),
]
_ACC = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR", 3: "O_ACCMODE"}


@flag_set("open")
def open_flags(v: int) -> str:
    v = u32(v)
    rest = flags(v & ~O_ACCMODE, OPEN_FLAGS, zero=None)
    acc = _ACC[v & O_ACCMODE]
    return acc if rest == "0" else f"{acc}|{rest}"


AT_FLAGS = [
    (0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_REMOVEDIR"), (0x400, "AT_SYMLINK_FOLLOW"),
    (0x800, "AT_NO_AUTOMOUNT"), (0x1000, "AT_EMPTY_PATH"), (0x2000, "AT_STATX_FORCE_SYNC"),
    (0x4000, "AT_STATX_DONT_SYNC"), (0x8000, "AT_RECURSIVE"),
]


@flag_set("at")
def at_flags(v: int) -> str:
    return flags(u32(v), AT_FLAGS, dflt="AT_???")


@flag_set("statx_flags")
def statx_flags(v: int) -> str:
    v = u32(v)
    if not v & 0x6000:  # the sync type is a 2-bit field whose zero value has a name
        return "AT_STATX_SYNC_AS_STAT" if not v else \
            f"AT_STATX_SYNC_AS_STAT|{flags(v, AT_FLAGS, dflt='AT_???')}"
    return flags(v, AT_FLAGS, dflt="AT_???")


STATX_ATTRS = [(0x4, "STATX_ATTR_COMPRESSED"), (0x10, "STATX_ATTR_IMMUTABLE"),
               (0x20, "STATX_ATTR_APPEND"), (0x40, "STATX_ATTR_NODUMP"),
               (0x800, "STATX_ATTR_ENCRYPTED"), (0x1000, "STATX_ATTR_AUTOMOUNT"),
               (0x2000, "STATX_ATTR_MOUNT_ROOT"), (0x100000, "STATX_ATTR_VERITY"),
               (0x200000, "STATX_ATTR_DAX")]


@enum_set("fadvise_advice")
def fadvise_advice(v: int) -> str:
    return xval(u32(v), {0: "POSIX_FADV_NORMAL", 1: "POSIX_FADV_RANDOM",
                         2: "POSIX_FADV_SEQUENTIAL", 3: "POSIX_FADV_WILLNEED",
                         4: "POSIX_FADV_DONTNEED", 5: "POSIX_FADV_NOREUSE"}, "POSIX_FADV_???")


@flag_set("unlinkat_flags")
def unlinkat_flags(v: int) -> str:
    return flags(u32(v), [(0x200, "AT_REMOVEDIR")], dflt="AT_???")


@flag_set("faccessat_flags")
def faccessat_flags(v: int) -> str:
    return flags(u32(v), [(0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_EACCESS"),
                          (0x1000, "AT_EMPTY_PATH")], dflt="AT_???")


@flag_set("access_mode")
def access_mode(v: int) -> str:
    return flags(u32(v), [(4, "R_OK"), (2, "W_OK"), (1, "X_OK")], zero="F_OK", dflt="?_OK")


@flag_set("renameat2_flags")
def renameat2_flags(v: int) -> str:
    return flags(u32(v), [(1, "RENAME_NOREPLACE"), (2, "RENAME_EXCHANGE"), (4, "RENAME_WHITEOUT")],
                 dflt="RENAME_???")


STATX_MASK = [
    (0x1, "STATX_TYPE"), (0x2, "STATX_MODE"), (0x4, "STATX_NLINK"), (0x8, "STATX_UID"),
    (0x10, "STATX_GID"), (0x20, "STATX_ATIME"), (0x40, "STATX_MTIME"), (0x80, "STATX_CTIME"),
    (0x100, "STATX_INO"), (0x200, "STATX_SIZE"), (0x400, "STATX_BLOCKS"),
    (0x800, "STATX_BTIME"), (0x1000, "STATX_MNT_ID"), (0x2000, "STATX_DIOALIGN"),
]


@flag_set("statx_mask")
def statx_mask(v: int) -> str:
    v = u32(v)
    if v & 0xFFF == 0xFFF:
        rest = flags(v & ~0xFFF, STATX_MASK, zero=None)
        return "STATX_ALL" if rest == "0" else f"STATX_ALL|{rest}"
    if v & 0x7FF == 0x7FF:
        rest = flags(v & ~0x7FF, STATX_MASK, zero=None)
        return "STATX_BASIC_STATS" if rest == "0" else f"STATX_BASIC_STATS|{rest}"
    return flags(v, STATX_MASK, dflt="STATX_???")


S_IFMT_NAMES = {0o140000: "S_IFSOCK", 0o120000: "S_IFLNK", 0o100000: "S_IFREG", 0o60000: "S_IFBLK",
                0o40000: "S_IFDIR", 0o20000: "S_IFCHR", 0o10000: "S_IFIFO"}


def file_mode(mode: int) -> str:
    """S_IFREG|0644 style (type and permission bits, as strace prints st_mode)."""
    return styled(octal(mode), lambda: _file_mode(mode))


def _file_mode(mode: int) -> str:
    fmt = mode & 0o170000
    perm = mode & 0o7777
    perm_s = octal(perm)
    name = S_IFMT_NAMES.get(fmt)
    if name:
        return f"{name}|{perm_s}"
    return perm_s if not fmt else f"{fmt:#o}|{perm_s}"


def makedev(dev: int) -> str:
    major = ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF)
    minor = (dev & 0xFF) | ((dev >> 12) & ~0xFF)
    return f"makedev({_hx(major)}, {_hx(minor)})"


def time_comment(sec: int, nsec: int) -> str:
    """strace's -v time: ``SEC /* 2026-12-07T08:35:51.813433129+0000 */`` (local time)."""
    try:
        t = _time.localtime(sec)
    except (OverflowError, OSError, ValueError):
        return str(sec)
    frac = f".{nsec:09d}" if nsec else ""
    return f"{sec} /* {_time.strftime('%Y-%m-%dT%H:%M:%S', t)}{frac}{_time.strftime('%z', t)} */"


@struct("stat", 144)
def stat_struct(data: bytes, call, ctx) -> str:
    s = STAT_HEAD.parse(data)
    mode = s.st_mode
    fmt = mode & 0o170000
    if ctx is not None and call is not None and not ctx.abbreviated(call):  # -v
        fields = STAT.parse(data)._asdict()
        sized = (f"st_rdev={makedev(s.st_rdev)}" if fmt in (0o20000, 0o60000)
                 else f"st_size={s.st_size}")
        stamps = ", ".join(f"{name}={time_comment(fields[name], fields[name + '_nsec'])}, "
                           f"{name}_nsec={fields[name + '_nsec']}" for name in STAT_TIMES)
        return (f"{{st_dev={makedev(s.st_dev)}, st_ino={s.st_ino}, st_mode={file_mode(mode)}, "
                f"st_nlink={s.st_nlink}, st_uid={s.st_uid}, st_gid={s.st_gid}, "
                f"st_blksize={s.st_blksize}, st_blocks={s.st_blocks}, {sized}, {stamps}}}")
    if fmt in (0o20000, 0o60000):
        return f"{{st_mode={file_mode(mode)}, st_rdev={makedev(s.st_rdev)}, ...}}"
    return f"{{st_mode={file_mode(mode)}, st_size={s.st_size}, ...}}"


@struct("statx", 256)
def statx_struct(data: bytes, call, ctx) -> str:
    s = STATX_HEAD.parse(data)
    return (f"{{stx_mask={statx_mask(s.stx_mask)}, "
            f"stx_attributes={flags(s.stx_attributes, STATX_ATTRS, dflt='STATX_ATTR_???')}, "
            f"stx_mode={file_mode(s.stx_mode)}, stx_size={s.stx_size}, ...}}")


FS_MAGIC = {
    0x2f: "QNX4_SUPER_MAGIC", 0x33: "Z3FOLD_MAGIC", 0x187: "AUTOFS_SUPER_MAGIC",
    0x1373: "DEVFS_SUPER_MAGIC", 0x137d: "EXT_SUPER_MAGIC", 0x137f: "MINIX_SUPER_MAGIC",
    0x138f: "MINIX_SUPER_MAGIC2", 0x1cd1: "DEVPTS_SUPER_MAGIC", 0x2468: "MINIX2_SUPER_MAGIC",
    0x2478: "MINIX2_SUPER_MAGIC2", 0x3434: "NILFS_SUPER_MAGIC", 0x4244: "HFS_SUPER_MAGIC",
    0x482b: "HFSPLUS_SUPER_MAGIC", 0x4d44: "MSDOS_SUPER_MAGIC", 0x4d5a: "MINIX3_SUPER_MAGIC",
    0x517b: "SMB_SUPER_MAGIC", 0x564c: "NCP_SUPER_MAGIC", 0x5df5: "EXOFS_SUPER_MAGIC",
    0x6969: "NFS_SUPER_MAGIC", 0x7275: "ROMFS_MAGIC", 0x72b6: "JFFS2_SUPER_MAGIC",
    0x9660: "ISOFS_SUPER_MAGIC", 0x9fa0: "PROC_SUPER_MAGIC", 0x9fa1: "OPENPROM_SUPER_MAGIC",
    0x9fa2: "USBDEVICE_SUPER_MAGIC", 0xadf5: "ADFS_SUPER_MAGIC", 0xadff: "AFFS_SUPER_MAGIC",
    0xef51: "EXT2_OLD_SUPER_MAGIC", 0xef53: "EXT2_SUPER_MAGIC", 0xf15f: "ECRYPTFS_SUPER_MAGIC",
    0x11954: "UFS_MAGIC", 0x27e0eb: "CGROUP_SUPER_MAGIC", 0x414a53: "EFS_SUPER_MAGIC",
    0xc0ffee: "HOSTFS_SUPER_MAGIC", 0xc36400: "CEPH_SUPER_MAGIC", 0x1021994: "TMPFS_MAGIC",
    0x1021997: "V9FS_MAGIC", 0x1161970: "GFS2_MAGIC", 0x12fd16d: "XIAFS_SUPER_MAGIC",
    0x12ff7b4: "XENIX_SUPER_MAGIC", 0x12ff7b5: "SYSV4_SUPER_MAGIC",
    0x12ff7b6: "SYSV2_SUPER_MAGIC", 0x12ff7b7: "COH_SUPER_MAGIC",
    0x2011994: "SHMFS_SUPER_MAGIC", 0x9041934: "ANON_INODE_FS_MAGIC",
    0xbad1dea: "FUTEXFS_SUPER_MAGIC", 0xbd00bd0: "LL_SUPER_MAGIC",
    0xbd00bd1: "LUSTRE_SUPER_MAGIC", 0x11307854: "MTD_INODE_FS_MAGIC",
    0x13661366: "BALLOON_KVM_MAGIC", 0x15013346: "UDF_SUPER_MAGIC", 0x1badface: "BFS_MAGIC",
    0x2011bab0: "EXFAT_SUPER_MAGIC", 0x24051905: "UBIFS_SUPER_MAGIC",
    0x28cd3d45: "CRAMFS_MAGIC", 0x2fc12fc1: "ZFS_SUPER_MAGIC", 0x3153464a: "JFS_SUPER_MAGIC",
    0x42465331: "BEFS_SUPER_MAGIC", 0x42494e4d: "BINFMTFS_MAGIC", 0x43415d53: "SMACK_MAGIC",
    0x444d4142: "DMA_BUF_MAGIC", 0x453dcd28: "CRAMFS_MAGIC_WEND", 0x454d444d: "DEVMEM_MAGIC",
    0x47504653: "GPFS_SUPER_MAGIC", 0x50494446: "PID_FS_MAGIC", 0x50495045: "PIPEFS_MAGIC",
    0x52654973: "REISERFS_SUPER_MAGIC", 0x5345434d: "SECRETMEM_MAGIC",
    0x5346414f: "AFS_SUPER_MAGIC", 0x5346544e: "NTFS_SB_MAGIC", 0x534f434b: "SOCKFS_MAGIC",
    0x54190100: "UFS_CIGAM", 0x565a4653: "VZFS_SUPER_MAGIC", 0x57ac6e9d: "STACK_END_MAGIC",
    0x58295829: "ZSMALLOC_MAGIC", 0x58465342: "XFS_SUPER_MAGIC", 0x5a3c69f0: "AAFS_MAGIC",
    0x5a4f4653: "ZONEFS_MAGIC", 0x6165676c: "PSTOREFS_MAGIC", 0x61756673: "AUFS_SUPER_MAGIC",
    0x62646576: "BDEVFS_MAGIC", 0x62656570: "CONFIGFS_MAGIC", 0x62656572: "SYSFS_MAGIC",
    0x63677270: "CGROUP2_SUPER_MAGIC", 0x64626720: "DEBUGFS_MAGIC", 0x64646178: "DAXFS_MAGIC",
    0x65735543: "FUSE_CTL_SUPER_MAGIC", 0x65735546: "FUSE_SUPER_MAGIC",
    0x68191122: "QNX6_SUPER_MAGIC", 0x6b414653: "AFS_FS_MAGIC",
    0x6c6f6f70: "BINDERFS_SUPER_MAGIC", 0x6e736673: "NSFS_MAGIC",
    0x73636673: "SECURITYFS_MAGIC", 0x73717368: "SQUASHFS_MAGIC",
    0x73727279: "BTRFS_TEST_MAGIC", 0x73757245: "CODA_SUPER_MAGIC",
    0x7461636f: "OCFS2_SUPER_MAGIC", 0x74726163: "TRACEFS_MAGIC",
    0x794c7630: "OVERLAYFS_SUPER_MAGIC", 0x858458f6: "RAMFS_MAGIC",
    0x9123683e: "BTRFS_SUPER_MAGIC", 0x958458f6: "HUGETLBFS_MAGIC",
    0xa501fcf5: "VXFS_SUPER_MAGIC", 0xabba1974: "XENFS_SUPER_MAGIC",
    0xc7571590: "PPC_CMM_MAGIC", 0xc97e8168: "LOGFS_MAGIC", 0xca451a4e: "BCACHEFS_SUPER_MAGIC",
    0xcafe4a11: "BPF_FS_MAGIC", 0xde5e81e4: "EFIVARFS_MAGIC",
    0xe0f5e1e2: "EROFS_SUPER_MAGIC_V1", 0xf2f52010: "F2FS_SUPER_MAGIC",
    0xf97cff8c: "SELINUX_MAGIC", 0xf995e849: "HPFS_SUPER_MAGIC",
    0xfe534d42: "SMB2_SUPER_MAGIC", 0xff534d42: "CIFS_SUPER_MAGIC",
}
ST_FLAGS = [(0x20, "ST_VALID"), (0x1, "ST_RDONLY"), (0x2, "ST_NOSUID"), (0x4, "ST_NODEV"),
            (0x8, "ST_NOEXEC"), (0x10, "ST_SYNCHRONOUS"), (0x40, "ST_MANDLOCK"),
            (0x400, "ST_NOATIME"), (0x800, "ST_NODIRATIME"), (0x1000, "ST_RELATIME"),
            (0x2000, "ST_NOSYMFOLLOW")]


def _hx(v: int) -> str:
    return f"{v:#x}" if v else "0"


@struct("statfs", 120)
def statfs_struct(data: bytes, call=None, ctx=None) -> str:
    ftype, bsize, blocks, bfree, bavail, files, ffree, fs0, fs1, namelen, frsize, fl = \
        unpack("<qqQQQQQiiqqq", data)
    return (f"{{f_type={xval(ftype & 0xFFFFFFFF, FS_MAGIC)}, f_bsize={bsize}, "
            f"f_blocks={blocks}, f_bfree={bfree}, f_bavail={bavail}, f_files={files}, "
            f"f_ffree={ffree}, f_fsid={{val=[{_hx(fs0 & 0xFFFFFFFF)}, {_hx(fs1 & 0xFFFFFFFF)}]}}, "
            f"f_namelen={namelen}, f_frsize={frsize}, "
            f"f_flags={flags(fl & 0xFFFFFFFFFFFFFFFF, ST_FLAGS, dflt='ST_???')}}}")


def _with_mode(call, ctx, flags_idx: int, mode_idx: int):
    sc = call.sc
    out = [format_arg(call, i, kind, ctx) for i, (_, kind) in enumerate(sc.args)]
    fl = u32(call.args[flags_idx])
    if not (fl & O_CREAT or (fl & O_TMPFILE) == O_TMPFILE):
        del out[mode_idx]
    return out


@special("open")
def _open(call, ctx):
    return _with_mode(call, ctx, 1, 2)


@special("openat")
def _openat(call, ctx):
    return _with_mode(call, ctx, 2, 3)


RESOLVE_FLAGS = [(1, "RESOLVE_NO_XDEV"), (2, "RESOLVE_NO_MAGICLINKS"),
                 (4, "RESOLVE_NO_SYMLINKS"), (8, "RESOLVE_BENEATH"), (16, "RESOLVE_IN_ROOT"),
                 (32, "RESOLVE_CACHED")]


def open_flags64(v: int) -> str:
    low = open_flags(v & 0xFFFFFFFF)
    high = v & ~0xFFFFFFFF
    return low if not high else f"{low}|{high:#x}"


@struct("open_how", 24)
def open_how(data: bytes, call=None, ctx=None) -> str:
    fl, mode, resolve = OPEN_HOW.parse(data)
    parts = [f"flags={open_flags64(fl)}"]
    if fl & O_CREAT or (fl & O_TMPFILE) == O_TMPFILE or mode:
        parts.append(f"mode={octal(mode)}")
    parts.append(f"resolve={flags(resolve, RESOLVE_FLAGS, dflt='RESOLVE_???')}")
    return "{" + ", ".join(parts) + "}"


# open_how may grow: capture what the size argument says (up to a page)
EXTRA_CAPTURES["openat2"] = {2: (R.CAP_BUF_ARG, 3, 4096)}


@special("openat2")
def _openat2(call, ctx):
    a = call.args
    size = a[3]
    c = call.cap(2)
    if a[2] == 0:
        how = "NULL"
    elif c is None or size < 24 or len(c.data) < 24:
        how = ptr(a[2])
    else:
        how = open_how(c.data)
        extra = c.data[24:size]
        if extra.strip(bytes(1)):  # unknown non-zero tail: shown as strace does
            how = how[:-1] + ", ...}"
    return [fmt_fd(a[0], call, ctx, 0), format_arg(call, 1, "path", ctx), how, str(size)]


@struct("utsname", 390)
def utsname(data: bytes, call=None, ctx=None) -> str:
    if data is None or len(data) < 130:
        raise DecodeError("short utsname")
    fields = [data[i * 65:(i + 1) * 65].split(b"\0", 1)[0] for i in range(2)]
    return f"{{sysname={quote(fields[0])}, nodename={quote(fields[1])}, ...}}"


def _mknod_args(call, ctx, base: int):
    a = call.args
    out = [fmt_fd(a[0], call, ctx, 0)] if base else []
    out.append(format_arg(call, base, "path", ctx))
    mode = u32(a[base + 1])
    out.append(file_mode(mode))
    if mode & 0o170000 in (0o20000, 0o60000):
        out.append(makedev(a[base + 2]))
    return out


@special("mknod")
def _mknod(call, ctx):
    return _mknod_args(call, ctx, 0)


@special("mknodat")
def _mknodat(call, ctx):
    return _mknod_args(call, ctx, 1)


@enum_set("seek_whence")
def seek_whence(v: int) -> str:
    return xval(u32(v), {0: "SEEK_SET", 1: "SEEK_CUR", 2: "SEEK_END", 3: "SEEK_DATA",
                         4: "SEEK_HOLE"}, "SEEK_???")


MS_FLAGS = [(1, "MS_RDONLY"), (2, "MS_NOSUID"), (4, "MS_NODEV"), (8, "MS_NOEXEC"),
            (16, "MS_SYNCHRONOUS"), (32, "MS_REMOUNT"), (64, "MS_MANDLOCK"), (128, "MS_DIRSYNC"),
            (256, "MS_NOSYMFOLLOW"), (1024, "MS_NOATIME"), (2048, "MS_NODIRATIME"),
            (4096, "MS_BIND"), (8192, "MS_MOVE"), (16384, "MS_REC"), (32768, "MS_SILENT"),
            (1 << 16, "MS_POSIXACL"), (1 << 17, "MS_UNBINDABLE"), (1 << 18, "MS_PRIVATE"),
            (1 << 19, "MS_SLAVE"), (1 << 20, "MS_SHARED"), (1 << 21, "MS_RELATIME"),
            (1 << 22, "MS_KERNMOUNT"), (1 << 23, "MS_I_VERSION"), (1 << 24, "MS_STRICTATIME"),
            (1 << 25, "MS_LAZYTIME"), (1 << 27, "MS_SUBMOUNT"), (1 << 28, "MS_NOREMOTELOCK"),
            (1 << 29, "MS_NOSEC"), (1 << 30, "MS_BORN"), (1 << 31, "MS_ACTIVE")]


@flag_set("mount_flags")
def mount_flags(v: int) -> str:
    v &= 0xFFFFFFFFFFFFFFFF
    if v >> 16 == 0xC0ED:  # MS_MGC_VAL in the high half
        rest = v & 0xFFFF
        return "MS_MGC_VAL" if not rest else f"MS_MGC_VAL|{flags(rest, MS_FLAGS, dflt='MS_???')}"
    return flags(v, MS_FLAGS, dflt="MS_???")


@flag_set("umount_flags")
def umount_flags(v: int) -> str:
    return flags(u32(v), [(1, "MNT_FORCE"), (2, "MNT_DETACH"), (4, "MNT_EXPIRE"),
                          (8, "UMOUNT_NOFOLLOW")], dflt="MNT_???")


@flag_set("xattr_flags")
def xattr_flags(v: int) -> str:
    return flags(u32(v), [(1, "XATTR_CREATE"), (2, "XATTR_REPLACE")], dflt="XATTR_???")


@struct("loff_t", 8)
def loff_ref(data: bytes, call=None, ctx=None) -> str:
    return f"[{unpack('<q', data)[0]}]"


@struct("size", 8)
def size_ref(data: bytes, call=None, ctx=None) -> str:
    return f"[{unpack('<Q', data)[0]}]"


@struct("ptr", 8)
def ptr_ref(data: bytes, call=None, ctx=None) -> str:
    return f"[{ptr(unpack('<Q', data)[0])}]"


@struct("socklen", 4)
def socklen_ref(data: bytes, call=None, ctx=None) -> str:
    return f"[{unpack('<i', data)[0]}]"


@struct("timer_t", 4)
def timer_ref(data: bytes, call=None, ctx=None) -> str:
    return f"[{unpack('<i', data)[0]}]"


@flag_set("flock_op")
def flock_op(v: int) -> str:
    return flags(u32(v), [(1, "LOCK_SH"), (2, "LOCK_EX"), (4, "LOCK_NB"), (8, "LOCK_UN"),
                          (32, "LOCK_MAND"), (64, "LOCK_READ"), (128, "LOCK_WRITE")],
                 dflt="LOCK_???")
