"""strace's -e read=FDS / -e write=FDS: the data a call moved, in hex.

Each 16 bytes are one line, `` | OFFSET  hex bytes (a gap after the 8th)  ascii |``;
an iovec call says `` * N bytes in buffer K`` before each element's lines.
Written data is dumped whatever the result (the length the program asked for),
read data only when the call succeeded (the length it returned).
"""
from __future__ import annotations

from ..decoders import capture
from ..decoders.common import s32

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Iterator

READS = {"read": "buf", "pread64": "buf", "recvfrom": "buf",
         "readv": "iov", "preadv": "iov", "preadv2": "iov"}
WRITES = {"write": "buf", "pwrite64": "buf", "sendto": "buf",
          "writev": "iov", "pwritev": "iov", "pwritev2": "iov"}


class AllFds:
    """-e read=all: every fd."""

    def __contains__(self, fd: object) -> bool:
        return True


def parse_fd_set(spec: str, what: str) -> Collection[int]:
    """-e read=SET: fd numbers, comma separated, "all", "none", "!" for every fd but these."""
    from ..errors import UsageError
    text = spec.strip()
    negate = text.startswith("!")
    fds = set()
    every = False
    for part in text.lstrip("!").split(","):
        part = part.strip()
        if part == "all":
            every = True
        elif part != "none":
            if not part.isdigit():
                raise UsageError(f"invalid -e {what}={spec!r}: file descriptor numbers, "
                                 f"all or none expected")
            fds.add(int(part))
    if negate:
        return set() if every else _AllBut(fds)
    return AllFds() if every else fds


class _AllBut(AllFds):
    def __init__(self, fds: Collection[int]) -> None:
        self.fds = fds

    def __contains__(self, fd: object) -> bool:
        return fd not in self.fds


def hexdump(data: bytes) -> Iterator[str]:
    """The dump lines of one buffer."""
    for off in range(0, len(data), 16):
        row = data[off:off + 16]
        cells = "".join(f"{row[k]:02x} " if k < len(row) else "   " for k in range(16))
        cells = cells[:24] + " " + cells[24:]
        text = "".join(chr(b) if 0x20 <= b < 0x7f else "." for b in row)
        yield f" | {off:05x}  {cells} {text:<16} |"


def _iov_dump(data: bytes | None, limit: int) -> list[str]:
    out: list[str] = []
    iovs, _ = capture.iovecs(data) if data is not None else ([], False)
    for k, (_, ln, chunk, _) in enumerate(iovs):
        n = min(ln, limit) if limit >= 0 else ln
        if limit >= 0:
            limit -= n
        if n == 0:
            continue
        out.append(f" * {n} bytes in buffer {k}")
        out.extend(hexdump(chunk[:n]))
        if limit == 0:
            break
    return out


def dumps(call, read_fds: Collection[int] | None, write_fds: Collection[int] | None
          ) -> Iterator[str]:
    """"\\n"-led dump lines for ``call`` if it moved data through an fd of the sets."""
    name = call.name
    fd = s32(call.args[0])
    if fd < 0:
        return
    lines: list[str] = []
    if write_fds is not None and name in WRITES and fd in write_fds:
        c = call.caps.get(1)
        data = c.data if c is not None and not c.fault else None
        if WRITES[name] == "iov":
            lines = _iov_dump(data, -1)
        elif data is not None:
            lines = list(hexdump(data[:call.args[2]]))
    elif (read_fds is not None and name in READS and fd in read_fds and call.ret is not None
          and not call.failed):
        c = call.caps.get(1)
        data = c.data if c is not None and not c.fault else None
        if READS[name] == "iov":
            lines = _iov_dump(data, call.ret)
        elif data is not None:
            lines = list(hexdump(data[:call.ret]))
    for line in lines:
        yield "\n" + line
