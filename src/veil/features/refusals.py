"""Refusal reporting as a Session feature: every call veil refuses (a refuse()
rule, a path rule, a process out of reach) becomes a Refusal, read from the ring's
VEIL_R_DENIED records on the loop's thread, and a line of ``veil run``."""
from __future__ import annotations

import errno as _errno

from .. import engine as E
from .. import filter as bpf
from .. import records as R
from ..syscalls.lookup import BY_NAME, BY_NR
from ..valueclass import ValueClass
from . import BaseFeature, RowTable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from ..ruledb import RuleDB


class Refusal(ValueClass):
    """A call veil refused and reports (Session.refuse): who, what, why."""

    __slots__ = _fields = ("pid", "tid", "name", "errno", "reason", "notice")

    def __init__(self, pid: int, tid: int, name: str, errno: int, reason: str,
                 notice: bool = False):
        self.pid = pid
        self.tid = tid
        self.name = name
        self.errno = errno
        self.reason = reason
        self.notice = notice  # nothing refused: veil tells what it did instead

    def line(self) -> str:
        err = _errno.errorcode.get(self.errno, str(self.errno))
        why = f": {self.reason}" if self.reason else ""
        if self.notice:
            return f"veil: note: {self.name} ({err}) in process {self.pid}{why}"
        return f"veil: refused {self.name} ({err}) in process {self.pid}{why}"


class Refusals(BaseFeature):
    def __init__(self, ruledb: RuleDB):
        self.ruledb = ruledb           # its reasons name why a call was refused
        self.refusals: list[Refusal] = []
        self.on_refusal: Callable[[Refusal], None] | None = None
        self.targets: dict[int, tuple[int, int]] = {}  # nr -> (pid args, pidfd args) bits

    def restrict_targets(self, calls: dict[str, tuple[Sequence[int], Sequence[int]]],
                         reason: str) -> None:
        for name, (pids, pidfds) in calls.items():
            if name not in BY_NAME:
                continue
            nr = BY_NAME[name].nr
            self.targets[nr] = (sum(1 << i for i in pids), sum(1 << i for i in pidfds))
            self.ruledb.add_reason(nr, _errno.EPERM, reason)

    def add_rows(self, rows: RowTable) -> None:
        for nr, (pid_args, pidfd_args) in self.targets.items():
            row = rows.row(nr)
            row.flags |= E.F_STOP | E.F_TARGETS
            row.post_flags |= E.F_STOP | E.F_TARGETS   # a kill rule's row checks them too
            row.fields.update(pid_args=pid_args, pidfd_args=pidfd_args)

    def note(self, pid: int, tid: int, name: str, errno: int, reason: str,
             notice: bool = False) -> None:
        ref = Refusal(pid, tid, name, errno, reason, notice)
        self.refusals.append(ref)
        if self.on_refusal is not None:
            self.on_refusal(ref)

    def read_ring(self, data: bytes) -> None:
        """The VEIL_R_DENIED records of refused calls in a batch of ring records."""
        header, size0 = R.HEADER.unpack_from, R.HEADER_SIZE
        pos, end = 0, len(data)
        while pos + size0 <= end:
            size, rtype, _, _, pid, tid, _, _, value, aux = header(data, pos)
            if size < size0:
                break
            text = bytes(data[pos + size0 + 4:pos + size]).split(b"\0", 1)[0]
            if rtype == R.R_DENIED and (value > 0 or (value < 0 and text)):
                arch = int.from_bytes(data[pos + size0:pos + size0 + 4], "little")
                native = arch == bpf.AUDIT_ARCH_X86_64 and not aux & bpf.X32_SYSCALL_BIT
                if native:
                    sc = BY_NR.get(aux)
                    name = sc.name if sc else f"syscall {aux}"
                else:
                    abi = "x32" if arch == bpf.AUDIT_ARCH_X86_64 else "i386"
                    name = f"{abi} syscall {aux & ~bpf.X32_SYSCALL_BIT}"
                reason = (text.decode(errors="replace") if text else
                          self.ruledb.reasons.get((aux if native else -1, value), ""))
                self.note(pid, tid, name, abs(value), reason, value < 0)
            pos += size

    def result_fields(self) -> dict[str, Any]:
        return {"refusals": list(self.refusals)}
