"""Syscall class bits, named the way strace names its ``-e trace=%CLASS`` sets.

Membership (which syscall is in which class) lives in the generated table
(:mod:`veil.syscalls.table`); this module only defines the bits and the names
users type.  Membership follows strace 6.x:

* ``%file``    takes a file name (open, execve, stat, getcwd, mount, ...)
* ``%desc``    takes or returns a file descriptor (read, openat, mmap, ...)
* ``%net``     network (socket calls, and sendfile)
* ``%process`` process lifecycle: clone/fork/exec/exit/wait, and the calls
               that send a signal to a process (kill, tkill, tgkill, ...)
* ``%signal``  signal related
* ``%ipc``     SysV IPC (msg*, sem*, shm*)
* ``%memory``  memory mapping
* ``%creds``   user/group ids and capabilities
* ``%clock``   read or modify the system clock
* ``%stat``, ``%lstat``, ``%fstat``, ``%%stat`` (any stat variant),
  ``%statfs``, ``%fstatfs``, ``%%statfs`` (any statfs variant)
* ``%pure``    no arguments and always succeed (getpid, getuid, ...)
"""

__all__ = [
    "FILE", "DESC", "NET", "PROCESS", "SIGNAL", "IPC", "MEMORY", "CREDS",
    "CLOCK", "STAT", "LSTAT", "FSTAT", "STAT_LIKE", "STATFS", "FSTATFS",
    "STATFS_LIKE", "PURE", "ALL_CLASSES", "CLASS_BITS", "CLASS_NAMES",
    "LEGACY_CLASS_NAMES", "class_names", "class_expr",
]

FILE = 1 << 0
DESC = 1 << 1
NET = 1 << 2
PROCESS = 1 << 3
SIGNAL = 1 << 4
IPC = 1 << 5
MEMORY = 1 << 6
CREDS = 1 << 7
CLOCK = 1 << 8
STAT = 1 << 9
LSTAT = 1 << 10
FSTAT = 1 << 11
STAT_LIKE = 1 << 12
STATFS = 1 << 13
FSTATFS = 1 << 14
STATFS_LIKE = 1 << 15
PURE = 1 << 16

ALL_CLASSES = (1 << 17) - 1

# (bit, Python constant name, canonical strace spelling), in display order.
CLASS_BITS = (
    (FILE, "FILE", "%file"),
    (DESC, "DESC", "%desc"),
    (NET, "NET", "%net"),
    (PROCESS, "PROCESS", "%process"),
    (SIGNAL, "SIGNAL", "%signal"),
    (IPC, "IPC", "%ipc"),
    (MEMORY, "MEMORY", "%memory"),
    (CREDS, "CREDS", "%creds"),
    (CLOCK, "CLOCK", "%clock"),
    (STAT, "STAT", "%stat"),
    (LSTAT, "LSTAT", "%lstat"),
    (FSTAT, "FSTAT", "%fstat"),
    (STAT_LIKE, "STAT_LIKE", "%%stat"),
    (STATFS, "STATFS", "%statfs"),
    (FSTATFS, "FSTATFS", "%fstatfs"),
    (STATFS_LIKE, "STATFS_LIKE", "%%statfs"),
    (PURE, "PURE", "%pure"),
)

# The names strace 6.x accepts without the "%" (older spellings).  Note that
# "stat" without "%" is the stat syscall, not a class, exactly as in strace.
LEGACY_CLASS_NAMES = {
    "file": FILE,
    "desc": DESC,
    "network": NET,
    "process": PROCESS,
    "signal": SIGNAL,
    "ipc": IPC,
    "memory": MEMORY,
}

# Every spelling accepted in a syscall set expression -> class bit.
CLASS_NAMES = {spelling: bit for bit, _const, spelling in CLASS_BITS}
CLASS_NAMES["%network"] = NET
CLASS_NAMES.update(LEGACY_CLASS_NAMES)


def class_names(bits):
    """Canonical ``%names`` of the classes set in *bits*, in display order."""
    return [spelling for bit, _const, spelling in CLASS_BITS if bits & bit]


def class_expr(bits):
    """Python source for *bits* in terms of the constants, e.g. ``DESC|FILE``."""
    names = [const for bit, const, _spelling in CLASS_BITS if bits & bit]
    return "|".join(names) if names else "0"
