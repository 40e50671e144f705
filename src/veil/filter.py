"""Compile the per-syscall action table into a seccomp-bpf program.

The program checks the audit arch first (an ``int 0x80`` call from an x86_64
process arrives as AUDIT_ARCH_I386, an x32 call as x86_64 with bit 30 set in
the number), then finds the syscall's action by binary search over runs of
numbers that share one action.
"""
from __future__ import annotations

import struct
from typing import Dict, List, Sequence, Tuple

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
_JGE_K = 0x35
_JA = 0x05
_RET_K = 0x06

_OFF_NR = 0
_OFF_ARCH = 4

Insn = Tuple[int, int, int, int]  # code, jt, jf, k


def allow() -> int:
    return RET_ALLOW


def trace() -> int:
    return RET_TRACE


def errno_ret(err: int) -> int:
    return RET_ERRNO | (err & 0xFFFF)


def kill() -> int:
    return RET_KILL_PROCESS


def _runs(actions: Sequence[int]) -> List[Tuple[int, int]]:
    """[(first_nr, action)] for each run of equal actions."""
    runs: List[Tuple[int, int]] = []
    for nr, act in enumerate(actions):
        if not runs or runs[-1][1] != act:
            runs.append((nr, act))
    return runs


def _search(runs: List[Tuple[int, int]]) -> List[Insn]:
    if len(runs) == 1:
        return [(_RET_K, 0, 0, runs[0][1])]
    mid = len(runs) // 2
    left, right = _search(runs[:mid]), _search(runs[mid:])
    # nr >= pivot: fall into the JA that jumps over the left half
    return [(_JGE_K, 0, 1, runs[mid][0]), (_JA, 0, 0, len(left))] + left + right


def compile_filter(actions: Dict[int, int], default: int, foreign: int,
                   nr_limit: int = 1024) -> List[Insn]:
    """actions: x86_64 nr -> seccomp return value; others get ``default``.

    ``foreign`` is returned for i386 and x32 calls.
    """
    table = [actions.get(nr, default) for nr in range(nr_limit)] + [default]
    body = _search(_runs(table))
    return [
        (_LD_W_ABS, 0, 0, _OFF_ARCH),
        (_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (_RET_K, 0, 0, foreign),
        (_LD_W_ABS, 0, 0, _OFF_NR),
        (_JGE_K, 0, 1, X32_SYSCALL_BIT),
        (_RET_K, 0, 0, foreign),
    ] + body


def pack(prog: List[Insn]) -> bytes:
    """struct sock_filter[] as the kernel wants it."""
    return b"".join(struct.pack("<HBBI", code, jt, jf, k & 0xFFFFFFFF) for code, jt, jf, k in prog)


def run(prog: List[Insn], nr: int, arch: int = AUDIT_ARCH_X86_64) -> int:
    """Interpret the program for one call (used by tests and `veil syscalls --explain`)."""
    data = {_OFF_NR: nr & 0xFFFFFFFF, _OFF_ARCH: arch}
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
        elif code == _JA:
            pc += k
        elif code == _RET_K:
            return k
        else:
            raise ValueError(f"unknown opcode {code:#x}")
