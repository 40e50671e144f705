"""Compile the per-syscall action table into a seccomp-bpf program.

The program checks the audit arch first (an ``int 0x80`` call from an x86_64
process arrives as AUDIT_ARCH_I386, an x32 call as x86_64 with bit 30 set in
the number), then finds the syscall's action by binary search over runs of
numbers that share one action.
"""
from __future__ import annotations

import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

# seccomp return values (linux/seccomp.h)
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_TRACE = 0x7FF00000
RET_ALLOW = 0x7FFF0000

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

# classic BPF opcodes (linux/filter.h)
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGT_K = 0x25
_JGE_K = 0x35
_JA = 0x05
_RET_K = 0x06
_AND_K = 0x54

_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARGS = 16  # struct seccomp_data: nr, arch, instruction_pointer, args[6] (u64 each)

# argument comparisons, as libseccomp and the OCI runtime spec name them
OPS = ("EQ", "NE", "LT", "LE", "GT", "GE", "MASKED_EQ")


class Cond:
    """args[index] OP value (64-bit, unsigned), or (args[index] & mask) == value."""

    __slots__ = ("index", "op", "value", "mask")

    def __init__(self, index: int, op: str, value: int, mask: int = 0):
        if not 0 <= index < 6:
            raise ValueError(f"argument index must be 0..5, not {index}")
        if op not in OPS:
            raise ValueError(f"unknown comparison {op!r}: use one of {', '.join(OPS)}")
        self.index = index
        self.op = op
        self.value = value & 0xFFFFFFFFFFFFFFFF
        self.mask = mask & 0xFFFFFFFFFFFFFFFF

    def holds(self, args: Sequence[int]) -> bool:
        a = args[self.index] & 0xFFFFFFFFFFFFFFFF
        v = self.value
        return {"EQ": a == v, "NE": a != v, "LT": a < v, "LE": a <= v, "GT": a > v,
                "GE": a >= v, "MASKED_EQ": (a & self.mask) == v}[self.op]

    def __repr__(self) -> str:
        if self.op == "MASKED_EQ":
            return f"(arg{self.index} & {self.mask:#x}) == {self.value:#x}"
        return f"arg{self.index} {self.op} {self.value:#x}"


class Conditional:
    """A filter entry that tests arguments: the first rule whose conditions all
    hold gives the action; none does -> ``otherwise``."""

    def __init__(self, rules: Sequence[tuple[Sequence[Cond], int]], otherwise: int):
        self.rules = [(tuple(c), a) for c, a in rules]
        self.otherwise = otherwise

Insn = tuple[int, int, int, int]  # code, jt, jf, k


def allow() -> int:
    return RET_ALLOW


def trace() -> int:
    return RET_TRACE


def errno_ret(err: int) -> int:
    return RET_ERRNO | (err & 0xFFFF)


# SECCOMP_RET_TRACE data of a refused call (csrc/engine.h VEIL_TRACE_REFUSE): veil's C
# loop runs its own program again at the stop, fails the call with the errno in the
# low 12 bits and records the refusal; the data the kernel reports is never trusted
TRACE_REFUSE = 0x8000


def refuse(err: int) -> int:
    """Fail the call with ``err`` and report it (it stops once, in C)."""
    return RET_TRACE | TRACE_REFUSE | (err & 0xFFF)


def kill() -> int:
    return RET_KILL_PROCESS


def _runs(actions: Sequence[int]) -> list[tuple[int, int]]:
    """[(first_nr, action)] for each run of equal actions."""
    runs: list[tuple[int, int]] = []
    for nr, act in enumerate(actions):
        if not runs or runs[-1][1] != act:
            runs.append((nr, act))
    return runs


def _cond_code(c: Cond) -> list[tuple[int, object, object, int]]:
    """Code for one condition; jumps are labels: "ok" (next condition) or "fail"."""
    lo_off = _OFF_ARGS + 8 * c.index
    hi_off = lo_off + 4
    v_hi, v_lo = c.value >> 32, c.value & 0xFFFFFFFF
    op = c.op
    if op in ("EQ", "MASKED_EQ"):
        code = [(_LD_W_ABS, 0, 0, hi_off)]
        if op == "MASKED_EQ":
            code.append((_AND_K, 0, 0, c.mask >> 32))
        code.append((_JEQ_K, 0, "fail", v_hi))
        code.append((_LD_W_ABS, 0, 0, lo_off))
        if op == "MASKED_EQ":
            code.append((_AND_K, 0, 0, c.mask & 0xFFFFFFFF))
        code.append((_JEQ_K, "ok", "fail", v_lo))
        return code
    if op == "NE":
        return [(_LD_W_ABS, 0, 0, hi_off), (_JEQ_K, 0, "ok", v_hi),
                (_LD_W_ABS, 0, 0, lo_off), (_JEQ_K, "fail", "ok", v_lo)]
    # ordered comparisons: the high words decide unless they are equal
    below, above = ("fail", "ok") if op in ("GT", "GE") else ("ok", "fail")
    last = {"GT": (_JGT_K, "ok", "fail"), "GE": (_JGE_K, "ok", "fail"),
            "LT": (_JGE_K, "fail", "ok"), "LE": (_JGT_K, "fail", "ok")}[op]
    return [(_LD_W_ABS, 0, 0, hi_off),
            (_JGT_K, above, 0, v_hi),
            (_JEQ_K, 0, below, v_hi),
            (_LD_W_ABS, 0, 0, lo_off),
            (last[0], last[1], last[2], v_lo)]


def _conditional_code(entry: Conditional) -> list[Insn]:
    out: list[Insn] = []
    for conds, action in entry.rules:
        block: list[tuple[int, object, object, int]] = []
        for c in conds:
            block.extend(_cond_code(c))
        block.append((_RET_K, 0, 0, action))
        # resolve labels: "ok" falls through to the next instruction after the
        # condition's code; "fail" goes past this rule's RET
        resolved: list[Insn] = []
        ends = []
        pos = 0
        for c in conds:
            pos += len(_cond_code(c))
            ends.append(pos)
        fail_target = len(block)  # index just past RET
        ci = 0
        for idx, (code, jt, jf, k) in enumerate(block):
            while ci < len(ends) and idx >= ends[ci]:
                ci += 1
            ok_target = ends[ci] if ci < len(ends) else idx + 1

            def rel(label):
                if label == "ok":
                    return ok_target - idx - 1
                if label == "fail":
                    return fail_target - idx - 1
                return label
            jt2, jf2 = rel(jt), rel(jf)
            if not (0 <= jt2 <= 255 and 0 <= jf2 <= 255):
                raise ValueError("argument conditions too long for one filter block")
            resolved.append((code, jt2, jf2, k))
        out.extend(resolved)
    out.append((_RET_K, 0, 0, entry.otherwise))
    return out


def _search(runs: list[tuple[int, object]]) -> list[Insn]:
    if len(runs) == 1:
        act = runs[0][1]
        if isinstance(act, Conditional):
            return _conditional_code(act)
        return [(_RET_K, 0, 0, act)]
    mid = len(runs) // 2
    left, right = _search(runs[:mid]), _search(runs[mid:])
    # nr >= pivot: fall into the JA that jumps over the left half
    return [(_JGE_K, 0, 1, runs[mid][0]), (_JA, 0, 0, len(left))] + left + right


def compile_filter(actions: dict[int, object], default: int, foreign: int,
                   nr_limit: int = 1024) -> list[Insn]:
    """actions: x86_64 nr -> seccomp return value (or a Conditional); others get ``default``.

    ``foreign`` is returned for i386 and x32 calls.
    """
    table = [actions.get(nr, default) for nr in range(nr_limit)] + [default]
    body = _search(_runs(table))
    return [
        (_LD_W_ABS, 0, 0, _OFF_ARCH),
        (_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (_RET_K, 0, 0, foreign),
        (_LD_W_ABS, 0, 0, _OFF_NR),
        # -1: a call a tracer skipped (orig_rax -1, as PTRACE_SYSEMU and a guest
        # tracer's "skip" do); the kernel runs nothing and keeps the tracer's rax
        (_JEQ_K, 0, 1, 0xFFFFFFFF),
        (_RET_K, 0, 0, RET_ALLOW),
        (_JGE_K, 0, 1, X32_SYSCALL_BIT),
        (_RET_K, 0, 0, foreign),
    ] + body


def pack(prog: list[Insn]) -> bytes:
    """struct sock_filter[] as the kernel wants it."""
    return b"".join(struct.pack("<HBBI", code, jt, jf, k & 0xFFFFFFFF) for code, jt, jf, k in prog)


def run(prog: list[Insn], nr: int, arch: int = AUDIT_ARCH_X86_64,
        args: Sequence[int] = (0, 0, 0, 0, 0, 0)) -> int:
    """Interpret the program for one call (used by tests)."""
    data = {_OFF_NR: nr & 0xFFFFFFFF, _OFF_ARCH: arch}
    for i, a in enumerate(args):
        a &= 0xFFFFFFFFFFFFFFFF
        data[_OFF_ARGS + 8 * i] = a & 0xFFFFFFFF
        data[_OFF_ARGS + 8 * i + 4] = a >> 32
    acc = 0
    pc = 0
    while True:
        code, jt, jf, k = prog[pc]
        pc += 1
        if code == _LD_W_ABS:
            acc = data[k]
        elif code == _JEQ_K:
            pc += jt if acc == k else jf
        elif code == _JGE_K:
            pc += jt if acc >= k else jf
        elif code == _JGT_K:
            pc += jt if acc > k else jf
        elif code == _AND_K:
            acc &= k
        elif code == _JA:
            pc += k
        elif code == _RET_K:
            return k
        else:
            raise ValueError(f"unknown opcode {code:#x}")
