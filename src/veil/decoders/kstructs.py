"""Kernel structs of x86_64, each laid out once: the strace text decoders and the
JSON trace (veil.output.jsonl) both parse captured bytes with these.

A struct is a list of (field, struct-module format) pairs; a field named ""
is padding.  ``parse`` returns a named tuple and raises DecodeError when the
bytes are too short (a short or odd struct then prints as its address).
"""
from __future__ import annotations

import struct as _struct

from ..tuples import named_tuple
from .common import unpack

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


class KStruct:
    """One kernel struct: its byte layout and the names of its fields."""

    def __init__(self, name: str, fields: Sequence[tuple[str, str]]):
        self.name = name
        self._layout = list(fields)
        self.struct = _struct.Struct("<" + "".join(fmt for _, fmt in fields))
        self.size = self.struct.size
        self.fields = tuple(field for field, _ in fields if field)
        self._make: Any = None   # made at the first parse: ~0.2 ms each at start-up

    def parse(self, data: bytes, offset: int = 0) -> Any:
        make = self._make
        if make is None:
            make = self._make = named_tuple(self.name, " ".join(self.fields))._make
        return make(unpack(self.struct, data, offset))

    def head(self, last: str) -> KStruct:
        """The struct's fields up to ``last``: what a decoder reads of a shorter copy."""
        names = [field for field, _ in self._layout]
        return KStruct(self.name + "_head", self._layout[:names.index(last) + 1])


def _timespec(prefix: str, nsec: str = "q", pad: str = "") -> list:
    out = [(prefix, "q"), (prefix + "_nsec", nsec)]
    return out + [("", pad)] if pad else out


TIMESPEC = KStruct("timespec", [("tv_sec", "q"), ("tv_nsec", "q")])
TIMEVAL = KStruct("timeval", [("tv_sec", "q"), ("tv_usec", "q")])
STAT = KStruct("stat", [
    ("st_dev", "Q"), ("st_ino", "Q"), ("st_nlink", "Q"), ("st_mode", "I"), ("st_uid", "I"),
    ("st_gid", "I"), ("", "4x"), ("st_rdev", "Q"), ("st_size", "q"), ("st_blksize", "q"),
    ("st_blocks", "q"), *_timespec("st_atime"), *_timespec("st_mtime"), *_timespec("st_ctime")])
STAT_HEAD = STAT.head("st_blocks")  # strace's short form needs no more
STAT_TIMES = ("st_atime", "st_mtime", "st_ctime")
STATX = KStruct("statx", [
    ("stx_mask", "I"), ("stx_blksize", "I"), ("stx_attributes", "Q"), ("stx_nlink", "I"),
    ("stx_uid", "I"), ("stx_gid", "I"), ("stx_mode", "H"), ("", "2x"), ("stx_ino", "Q"),
    ("stx_size", "Q"), ("stx_blocks", "Q"), ("stx_attributes_mask", "Q"),
    *_timespec("stx_atime", "I", "4x"), *_timespec("stx_btime", "I", "4x"),
    *_timespec("stx_ctime", "I", "4x"), *_timespec("stx_mtime", "I", "4x"),
    ("stx_rdev_major", "I"), ("stx_rdev_minor", "I"), ("stx_dev_major", "I"),
    ("stx_dev_minor", "I")])
STATX_HEAD = STATX.head("stx_attributes_mask")
STATX_TIMES = ("stx_atime", "stx_btime", "stx_ctime", "stx_mtime")
OPEN_HOW = KStruct("open_how", [("flags", "Q"), ("mode", "Q"), ("resolve", "Q")])
EPOLL_EVENT = KStruct("epoll_event", [("events", "I"), ("data", "Q")])  # packed on x86_64
KSIGACTION = KStruct("sigaction", [("sa_handler", "Q"), ("sa_flags", "Q"), ("sa_restorer", "Q"),
                                   ("sa_mask", "8s")])
KSIGACTION_HEAD = KSIGACTION.head("sa_restorer")
RLIMIT = KStruct("rlimit", [("rlim_cur", "Q"), ("rlim_max", "Q")])
UTSNAME = KStruct("utsname", [(name, "65s") for name in
                              ("sysname", "nodename", "release", "version", "machine", "domainname")])
# clone3's struct clone_args (CLONE_ARGS_SIZE_VER2) and its first version (VER0)
CLONE_ARGS = KStruct("clone_args", [(name, "Q") for name in (
    "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack", "stack_size", "tls",
    "set_tid", "set_tid_size", "cgroup")])
CLONE_ARGS_V0 = CLONE_ARGS.head("tls")
INT_PAIR = KStruct("int_pair", [("first", "i"), ("second", "i")])  # pipe's and socketpair's fds
