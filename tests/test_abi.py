"""The constants and record layout Python shares with the C accelerator stay in step.

csrc/engine.h defines the VEIL_* constants and the ring's structs; Python reads
them from the cffi build (veil.abi).  Readers of records also run without the
build, from veil.abi.WITHOUT_C: these tests fail when that table, engine.h and
the build disagree, or when a module of src/veil types such a number again.
"""
from __future__ import annotations

import ast
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import veil
from veil import abi
from veil import records as R

_veil_c = pytest.importorskip("veil._veil_c")
ffi, lib = _veil_c.ffi, _veil_c.lib

SRC = Path(veil.__file__).resolve().parent
ENGINE_H = SRC.parents[1] / "csrc" / "engine.h"
# families of engine.h constants that Python code reads out of records or files
SHARED_PREFIXES = ("VEIL_R_", "VEIL_CAP_", "VEIL_ARCH_")


def _header_defines() -> dict:
    if not ENGINE_H.exists():
        pytest.skip("csrc/engine.h is not next to the package (an installed copy)")
    out = {}
    for m in re.finditer(r"^#define\s+(VEIL_\w+)\s+(0x[0-9a-fA-F]+|\d+)\b", ENGINE_H.read_text(),
                         re.M):
        out[m.group(1)] = int(m.group(2), 0)
    return out


def test_python_table_matches_the_build_and_the_header():
    header = _header_defines()
    for name, value in abi.WITHOUT_C.items():
        assert getattr(lib, "VEIL_" + name) == value, f"VEIL_{name}: engine.h changed it"
        assert header["VEIL_" + name] == value, f"VEIL_{name}: the build is older than engine.h"
        assert getattr(abi, name, value) == value


def test_every_record_and_capture_constant_is_known_to_python():
    missing = [name for name in _header_defines()
               if name.startswith(SHARED_PREFIXES) and name[5:] not in abi.WITHOUT_C]
    assert not missing, f"add to veil.abi.WITHOUT_C: {missing}"


def test_record_structs_have_the_layout_python_unpacks():
    rec = ffi.new("struct veil_rec_enter *")
    h = rec.h
    h.size, h.type, h.arch, h.ncap = 120, lib.VEIL_R_ENTER, lib.VEIL_ARCH_I386, 3
    h.pid, h.tid, h.ts_ns, h.nr, h.value, h.aux = 7, -8, 2**63 + 9, -1, -10, 11
    for i in range(lib.VEIL_MAX_ARGS):
        rec.args[i] = 2**64 - 1 - i
    raw = bytes(ffi.buffer(rec))
    assert len(raw) == R.HEADER_SIZE + R.ARGS.size
    assert R.HEADER.unpack_from(raw) == (120, lib.VEIL_R_ENTER, lib.VEIL_ARCH_I386, 3, 7, -8,
                                         2**63 + 9, -1, -10, 11)
    assert R.ARGS.unpack_from(raw, R.HEADER_SIZE) == tuple(2**64 - 1 - i for i in range(6))

    cap = ffi.new("struct veil_cap_hdr *")
    cap.arg, cap.kind, cap.truncated, cap.fault, cap.len, cap.count = 5, 23, 1, 0, 70000, 2**40
    raw = bytes(ffi.buffer(cap))
    assert R.CAPHDR.unpack(raw) == (5, 23, 1, 0, 70000, 2**40)


def test_the_flush_signal_is_the_one_the_loop_blocks():
    from veil import session
    assert signal.SIGRTMIN + lib.VEIL_FLUSH_SIGNAL_OFFSET in session._LOOP_SIGNALS


def test_no_module_types_an_engine_constant_again():
    """R_*, CAP_*, ARCH_*, EV_*, F_*, V_* bound to a number outside veil.abi."""
    shared = re.compile(r"(R|CAP|ARCH|EV|F|V|G|GT|GR|L)_[A-Z0-9_]+")
    names = {n[5:] for n in _header_defines()}
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "abi.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Constant):
                continue
            for target in node.targets:
                if (isinstance(target, ast.Name) and shared.fullmatch(target.id)
                        and target.id in names and isinstance(node.value.value, int)):
                    found.append(f"{path.relative_to(SRC)}:{node.lineno}: {target.id}")
    assert not found, "read these from veil.abi (or veil.engine): " + ", ".join(found)


def test_readers_work_without_the_c_module():
    code = ("import sys; sys.modules['veil._veil_c'] = None\n"
            "from veil import abi, records\n"
            "assert not abi.C_BUILT\n"
            "print(records.R_DENIED, records.CAP_FDPAIR, abi.CAP_BUF_TAIL)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(lib.VEIL_R_DENIED), str(lib.VEIL_CAP_FDPAIR),
                                  str(lib.VEIL_CAP_BUF_TAIL)]
