"""The text trace's C formatter (csrc/textfmt.c) prints what the Python decoders print.

Each program of the decoding corpus (tests/progs/dec_*.c) and a shell pipeline
of coreutils are traced once into a binary trace file (the ring records as the
C loop wrote them); the records are then written as strace text twice, through
the C fast path and through the Python decoders alone, and the two texts must
be the same line for line, under several -s sizes and both line prefixes.  The
C side must also have written a good share of the lines, or the comparison
would prove nothing.
"""
from __future__ import annotations

import io
import re
from typing import List, Tuple

import pytest

from conftest import run_veil
from veil.assembler import Assembler
from veil.decoders import Ctx
from veil.output.binary import read_trace
from veil.output.text import TextWriter

CORPUS = ["dec_fs", "dec_fs2", "dec_io", "dec_net", "dec_poll", "dec_mem", "dec_misc",
          "dec_sig", "dec_time", "dec_proc", "dec_limits", "fork_exec"]
SHELL = "ls -la /etc /usr/bin >/dev/null; cat /etc/passwd | wc -l; sh -c 'echo x >/dev/null'"


def _records(path) -> List[bytes]:
    chunks: List[bytes] = []
    with open(path, "rb") as f:
        read_trace(f, lambda b: chunks.append(bytes(b)))
    return chunks


def _text(chunks: List[bytes], fast: bool, strsize: int, to_file: bool,
          quiet: int = 0) -> Tuple[str, int]:
    """The trace as text, and how many of its lines C wrote."""
    out = io.StringIO()
    writer = TextWriter(out, follow=to_file, to_file=to_file, ctx=Ctx(strsize=strsize),
                        quiet=quiet)
    asm = Assembler([writer])
    assert asm._fast is not None, "plain options: the C formatter is used"
    if not fast:
        asm._fast = None
    for c in chunks:
        asm.feed(c)
    writer.close()
    return out.getvalue(), asm._fast.lines if fast else 0


def _compare(chunks: List[bytes], quiet: int = 0) -> Tuple[int, int]:
    lines = c_lines = 0
    for strsize in (32, 8, 200):
        for to_file in (True, False):
            reference, _ = _text(chunks, False, strsize, to_file, quiet)
            fast, written = _text(chunks, True, strsize, to_file, quiet)
            ref_lines, fast_lines = reference.splitlines(), fast.splitlines()
            for n, (a, b) in enumerate(zip(ref_lines, fast_lines)):
                assert a == b, f"line {n + 1} (-s {strsize}, -q x{quiet}):\npython: {a}\nC:      {b}"
            assert len(ref_lines) == len(fast_lines)
            lines += len(ref_lines)
            c_lines += written
    return lines, c_lines


@pytest.fixture(scope="module")
def traces(progs, tmp_path_factory, fixed_env):
    out = tmp_path_factory.mktemp("textfast")
    found = {}
    for name in CORPUS:
        argv = [progs[name]] + ([str(out)] if name.startswith("dec_fs") else [])
        found[name] = out / f"{name}.veil"
        r = run_veil(["trace", "-f", "--format", "binary", "-o", found[name], "--", *argv],
                     env=fixed_env, cwd=out)
        assert found[name].exists(), r.stderr
    # without -f no event record sits between a clone's entry and exit: C prints clone
    found["dec_limits_alone"] = out / "dec_limits_alone.veil"
    r = run_veil(["trace", "--format", "binary", "-o", found["dec_limits_alone"], "--",
                  progs["dec_limits"]], env=fixed_env, cwd=out)
    assert r.returncode == 0, r.stderr
    found["shell"] = out / "shell.veil"
    r = run_veil(["trace", "-f", "--format", "binary", "-o", found["shell"], "--",
                  "/bin/sh", "-c", SHELL], env=fixed_env, cwd=out)
    assert r.returncode == 0, r.stderr
    return found


@pytest.fixture(scope="module")
def fixed_env():
    """conftest's clean_env, for this module's traces"""
    import os
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C",
            "HOME": os.environ.get("HOME", "/root")}


@pytest.mark.parametrize("name", CORPUS + ["dec_limits_alone", "shell"])
def test_c_lines_are_the_python_decoders_lines(traces, name):
    lines, c_lines = _compare(_records(traces[name]))
    assert lines > 0
    assert c_lines > 0, "the C formatter wrote no line"


def test_c_writes_most_lines_of_a_shell_pipeline(traces):
    lines, c_lines = _compare(_records(traces["shell"]))
    assert c_lines >= lines // 2, (c_lines, lines)


@pytest.mark.parametrize("option", [["-T"], ["-tt"], ["-y"], ["-n"], ["-x"], ["-X", "raw"],
                                    ["-e", "status=failed"], ["-v"], ["-k"]])
def test_options_c_does_not_print_leave_it_off(tmp_path, option):
    """Options that change a line's shape keep the Python path."""
    from veil.output import textfast
    args = {"-T": dict(durations="us"), "-tt": dict(timestamps=2), "-n": dict(numbers=True),
            "-e": dict(status="failed"), "-k": dict(stacks={})}.get(option[0], {})
    ctx = Ctx(hex_all=option == ["-x"], decorate_fds=option == ["-y"],
              xlat="raw" if option[0] == "-X" else "abbrev",
              abbrev=set() if option == ["-v"] else None)
    writer = TextWriter(io.StringIO(), ctx=ctx, **args)
    assert not textfast.eligible(writer, ctx)
    assert Assembler([writer])._fast is None


def test_c_prints_rlimits_arch_prctl_wait4_and_clone(traces, monkeypatch):
    """The specials with ops of their own are printed by C (every process start has an
    arch_prctl and a prlimit64; shells wait4 and clone), not handed back to Python."""
    from veil.output import textfast
    chunks = _records(traces["dec_limits_alone"])
    _, with_ops = _text(chunks, True, 32, True)
    monkeypatch.setattr(textfast, "_SPECIAL_OPS", {})
    monkeypatch.setattr(textfast, "_STRUCT_OPS", {"outstruct:stat": textfast.OP_STAT})
    _, without = _text(chunks, True, 32, True)
    # 12 rlimit calls and 6 arch_prctl of the program alone, 6 clones, its wait4s
    assert with_ops - without >= 26, (with_ops, without)


@pytest.mark.parametrize("quiet", [1, 2, 3])
@pytest.mark.parametrize("name", ["fork_exec", "dec_sig", "shell"])
def test_quiet_drops_the_same_lines(traces, name, quiet):
    """-qq drops the +++ lines and -qqq the --- lines too, whoever writes them."""
    lines, c_lines = _compare(_records(traces[name]), quiet)
    assert lines > 0 and c_lines > 0


def test_c_writes_the_lines_of_exec_exit_sigchld_and_cut_calls(traces, monkeypatch):
    """A process's life under -f: execve (across its exec event), exit_group with the
    +++ line of the end, the parent's SIGCHLD, and the parent's wait4 cut by the
    child's lines and resumed are written by C; a line Python holds open is cut for
    C's lines as Python would."""
    from veil.output import textfast
    chunks = _records(traces["shell"]) + _records(traces["fork_exec"])
    by_c: List[str] = []
    inside = []
    real_run = textfast.FastText._run

    def run(self, *args):
        inside.append(1)
        try:
            return real_run(self, *args)
        finally:
            inside.pop()

    monkeypatch.setattr(textfast.FastText, "_run", run)
    for to_file in (True, False):
        out = io.StringIO()
        writer = TextWriter(out, follow=to_file, to_file=to_file, ctx=Ctx(strsize=32))
        writer._write = lambda text: (by_c.extend(text.splitlines()) if inside else None,
                                      out.write(text))
        asm = Assembler([writer])
        for c in chunks:
            asm.feed(c)
        writer.close()
    bodies = [re.sub(r"^(\d+ +|\[pid +\d+\] )", "", line) for line in by_c]
    for start in ("execve(", "exit_group(", "+++ exited with 0 +++", "--- SIGCHLD {si_signo="):
        assert sum(b.startswith(start) for b in bodies) >= 4, (start, by_c[:40])
    # a parent's wait4 cut by its child's lines, and its end
    cut = [b for b in bodies if b.startswith("wait4(") and b.endswith(" <unfinished ...>")]
    resumed = [b for b in bodies if b.startswith("<... wait4 resumed>[{WIFEXITED(s)")]
    assert cut and resumed, by_c


def test_a_call_c_cut_but_cannot_finish_goes_to_python(traces):
    """A wait4 C cut whose end C does not print (here made ERESTARTSYS, which Python
    prints): Python takes the call over and the lines stay the reference's."""
    import struct

    from veil import records as R
    from veil.syscalls.lookup import BY_NAME
    wait4 = BY_NAME["wait4"].nr
    chunks = []
    for chunk in _records(traces["shell"]) + _records(traces["fork_exec"]):
        data = bytearray(chunk)
        pos = 0
        while pos < len(data):
            size, rtype, _, _, _, _, _, nr = R.HEADER.unpack_from(data, pos)[:8]
            if rtype == R.R_EXIT and nr == wait4:
                struct.pack_into("<q", data, pos + 32, -512)   # the record's value
            pos += size
        chunks.append(bytes(data))
    lines, c_lines = _compare(chunks)
    text, _ = _text(chunks, True, 32, True)
    assert text.count("ERESTARTSYS") >= 2 and c_lines > 0
