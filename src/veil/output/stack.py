"""strace's -k: the call stack of the program at each traced call.

libunwind's ptrace interface (libunwind-ptrace, loaded through cffi's ABI
mode: nothing to compile) walks the stack of the stopped thread from a hook at
the call's entry, which runs in the thread that traces it.  Each frame is
named as strace names it, from the program's /proc/PID/maps and libunwind's
nearest symbol:  `` > /lib/x86_64-linux-gnu/libc.so.6(__open64+0x7b) [0x1147ab]``
(the bracket is the offset of the address in the file).
"""
from __future__ import annotations

import bisect

from ..errors import VeilError

MAX_FRAMES = 256
_CDEF = """
typedef uint64_t unw_word_t;
typedef struct { unw_word_t opaque[127]; } unw_cursor_t;
typedef void *unw_addr_space_t;
extern char _UPT_accessors[];
void *_UPT_create(int pid);
void _UPT_destroy(void *info);
unw_addr_space_t _Ux86_64_create_addr_space(void *accessors, int byteorder);
void _Ux86_64_destroy_addr_space(unw_addr_space_t as);
int _Ux86_64_init_remote(unw_cursor_t *cursor, unw_addr_space_t as, void *arg);
int _Ux86_64_step(unw_cursor_t *cursor);
int _Ux86_64_get_reg(unw_cursor_t *cursor, int reg, unw_word_t *value);
int _Ux86_64_get_proc_name(unw_cursor_t *cursor, char *buf, size_t len, unw_word_t *offset);
"""
_UNW_REG_IP = 16  # UNW_X86_64_RIP
# the ptrace library uses the unwinder's symbols without naming it as a dependency
# (programs link both): the unwinder (and its liblzma) is loaded first, global
_LIBS = (("libunwind-x86_64.so.8", "libunwind-x86_64.so"),
         ("libunwind-ptrace.so.0", "libunwind-ptrace.so"))

Frame = dict[str, object]  # file, symbol, symbol_offset, offset, address


class Unwinder:
    """Walks the stacks of stopped tracees (call ``frames(tid)`` from the tracing thread)."""

    def __init__(self) -> None:
        from cffi import FFI
        self.ffi = FFI()
        self.ffi.cdef(_CDEF)
        libs = []
        for names in _LIBS:
            for name in names:
                try:
                    libs.append(self.ffi.dlopen(name, self.ffi.RTLD_NOW | self.ffi.RTLD_GLOBAL))
                    break
                except OSError:
                    continue
            else:
                raise VeilError(f"-k needs libunwind's ptrace interface ({names[0]}): "
                                f"apt-get install libunwind-dev")
        self.unw, self.upt = libs
        self.space = self.unw._Ux86_64_create_addr_space(
            self.ffi.cast("void *", self.upt._UPT_accessors), 0)
        self._cursor = self.ffi.new("unw_cursor_t *")
        self._word = self.ffi.new("unw_word_t *")
        self._name = self.ffi.new("char[]", 512)

    def frames(self, tid: int) -> list[Frame]:
        ffi, unw = self.ffi, self.unw
        info = self.upt._UPT_create(tid)
        if info == ffi.NULL:
            return []
        try:
            if unw._Ux86_64_init_remote(self._cursor, self.space, info) < 0:
                return []
            maps = _Maps(tid)
            out: list[Frame] = []
            while len(out) < MAX_FRAMES:
                if unw._Ux86_64_get_reg(self._cursor, _UNW_REG_IP, self._word) < 0:
                    break
                ip = self._word[0]
                symbol, sym_off = None, 0
                if unw._Ux86_64_get_proc_name(self._cursor, self._name, 512, self._word) == 0:
                    symbol = ffi.string(self._name).decode("utf-8", "replace")
                    sym_off = self._word[0]
                out.append(maps.frame(ip, symbol, sym_off))
                if unw._Ux86_64_step(self._cursor) <= 0:
                    break
            return out
        finally:
            self.upt._UPT_destroy(info)


class _Maps:
    """The file mappings of a process: an address -> (file, offset in the file)."""

    def __init__(self, pid: int) -> None:
        self.starts: list[int] = []
        self.rows: list[tuple[int, int, int, str]] = []
        try:
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    parts = line.split(None, 5)
                    if len(parts) < 6 or not parts[5].startswith("/"):
                        continue
                    lo, hi = (int(x, 16) for x in parts[0].split("-"))
                    self.starts.append(lo)
                    self.rows.append((lo, hi, int(parts[2], 16), parts[5].rstrip("\n")))
        except OSError:
            pass

    def frame(self, ip: int, symbol: str | None, sym_off: int) -> Frame:
        k = bisect.bisect_right(self.starts, ip) - 1
        if k >= 0 and self.rows[k][0] <= ip < self.rows[k][1]:
            lo, _, off, path = self.rows[k]
            return {"file": path, "symbol": symbol, "symbol_offset": sym_off,
                    "offset": ip - lo + off, "address": ip}
        return {"file": None, "symbol": symbol, "symbol_offset": sym_off, "offset": None,
                "address": ip}


def frame_line(frame: Frame) -> str:
    """One frame as strace -k prints it."""
    if frame["file"] is None:
        return f" > unexpected_backtracing_error [{frame['address']:#x}]"
    name = f"{frame['symbol']}+{frame['symbol_offset']:#x}" if frame["symbol"] else ""
    return f" > {frame['file']}({name}) [{frame['offset']:#x}]"


def watch_stacks(session, traced) -> dict[tuple[int, int], list[Frame]]:
    """(tid, entry time) -> the frames of each traced call, filled by an entry hook."""
    unwinder = Unwinder()
    stacks: dict[tuple[int, int], list[Frame]] = {}

    def note(stop) -> None:
        stacks[(stop.tid, stop.ts_ns)] = unwinder.frames(stop.tid)
        if len(stacks) > 4096:  # calls no line printed (-P, -z): their oldest go
            del stacks[next(iter(stacks))]

    session.watch(traced, note, "enter")
    return stacks
