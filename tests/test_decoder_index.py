"""veil.decoders.index (issue 22): a trace's start needs no decoder family.

The index says which families decode each syscall and what each syscall
captures; it is generated (tools/gen_decoder_index.py) and must match the
families it was made from.  What a session captures with it must be what the
families say, for every -s and with -y; a trace loads a family when one of its
calls is first printed, and prints every call as with all of them loaded.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DEFAULT_TIMEOUT
from veil import records as R
from veil.decoders import captures_for, load_all, registry
from veil.syscalls.lookup import SYSCALLS

REPO = Path(__file__).resolve().parent.parent
GEN = REPO / "tools" / "gen_decoder_index.py"


def test_the_index_is_current():
    r = subprocess.run([sys.executable, str(GEN), "--check"], capture_output=True, text=True,
                       timeout=DEFAULT_TIMEOUT)
    assert r.returncode == 0, r.stderr


def _by_kind(kind: str, strsize: int):
    """The capture of an argument of ``kind``, as the table's kinds define it
    (docs/HOWTO_ADD_SYSCALL.md): the reference the index is checked against."""
    base, _, param = kind.partition(":")
    fixed = {"path": (R.CAP_CSTR, 0, 4096), "outstr": (R.CAP_BUF_RET, 0, 4096),
             "envp": (R.CAP_PTRV_LEN, 0, 0), "sigset": (R.CAP_FIXED_IN, 0, 8),
             "outsigset": (R.CAP_FIXED_OUT, 0, 8), "str": (R.CAP_CSTR, 0, max(strsize, 1)),
             "outbuf": (R.CAP_BUF_RET, 0, strsize), "argv": (R.CAP_STRV, 0, strsize)}
    indexed = {"inbuf": (R.CAP_BUF_ARG, strsize), "sockaddr": (R.CAP_BUF_ARG, 128),
               "outsockaddr": (R.CAP_LEN_OUT, 128), "iovec": (R.CAP_IOV_IN, strsize),
               "outiovec": (R.CAP_IOV_OUT, strsize)}
    if base in fixed:
        return fixed[base]
    if base in indexed:
        return (indexed[base][0], int(param), indexed[base][1])
    if base in ("struct", "outstruct") and param in registry.STRUCTS:
        size = registry.STRUCTS[param][0]
        return (R.CAP_FIXED_IN if base == "struct" else R.CAP_FIXED_OUT, 0, size)
    return None


def _expected(sc, strsize: int, decorate: bool):
    out = {}
    for i, (_, kind) in enumerate(sc.args):
        how = _by_kind(kind, strsize)
        if decorate and kind == "outstruct:int2":
            out[i] = (i, R.CAP_FDPAIR, 0, 0)
        elif how:
            out[i] = (i, *how)
        elif decorate and kind in ("fd", "dirfd"):
            out[i] = (i, R.CAP_FDPATH, 0, 4096)
    if decorate and (sc.ret == "fd" or sc.name in registry.FD_RESULT):
        out[R.CAP_RESULT] = (R.CAP_RESULT, R.CAP_FDPATH_RET, 0, 4096)
    for i, (kind, param, limit) in registry.EXTRA_CAPTURES.get(sc.name, {}).items():
        out[i] = (i, kind, param, limit or strsize)
    return [out[i] for i in sorted(out)]


@pytest.mark.parametrize("strsize", [0, 1, 32, 4096, 70000])
@pytest.mark.parametrize("decorate", [False, True])
def test_captures_from_the_index_are_the_families(strsize, decorate):
    load_all()
    wrong = [sc.name for sc in SYSCALLS
             if captures_for(sc, strsize, decorate) != _expected(sc, strsize, decorate)]
    assert wrong == []


def test_a_trace_loads_the_families_of_the_calls_it_prints(tmp_path):
    """In a fresh veil: a program's open, mmap and socket calls load fs, mem and
    net, and their lines read as with all the families loaded (names of flags,
    enums and structs, not numbers).  (A family no call needs stays unloaded:
    tests/test_startup.py, with /bin/true.)"""
    script = tmp_path / "prog.py"
    script.write_text("import os, socket\n"
                      "fd = os.open('/etc/hostname', os.O_RDONLY | os.O_CLOEXEC)\n"
                      "os.close(fd)\n"
                      "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()\n")
    probe = (f"import sys; sys.argv = ['veil', 'trace', '-f', '-o', {str(tmp_path / 't')!r},"
             f" '--', sys.executable, '-S', {str(script)!r}]\n"
             "from veil.cli import main\n"
             "code = main(sys.argv[1:])\n"
             "print(' '.join(m for m in sys.modules if m.startswith('veil.decoders.')))\n"
             "sys.exit(code)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True,
                       timeout=DEFAULT_TIMEOUT, env=env)
    assert r.returncode == 0, r.stderr
    loaded = {m.rsplit(".", 1)[1] for m in r.stdout.split()}
    assert {"fs", "mem", "net", "proc"} <= loaded
    text = (tmp_path / "t").read_text()
    assert 'openat(AT_FDCWD, "/etc/hostname", O_RDONLY|O_CLOEXEC) = 3' in text
    assert "socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC, IPPROTO_IP) = " in text or \
        "socket(AF_INET, SOCK_DGRAM, IPPROTO_IP) = " in text
    assert "mmap(NULL, " in text and "PROT_READ" in text
