"""Engines meet the declared Protocols of veil.engine_api and say what they support."""
import importlib.util

import pytest

from veil import engine_api as API
from veil.backends import get_engine


def test_c_engine_meets_every_protocol_it_declares():
    eng = get_engine("c")
    assert isinstance(eng, API.TraceEngine)
    assert eng.backend == "c" and eng.supports == API.FEATURES
    for feature, proto in ((API.LAYOUT, API.LayoutEngine), (API.PIN_PATHS, API.PinningEngine)):
        assert API.supports(eng, feature)
        missing = [name for name in dir(proto) if not name.startswith("_")
                   and callable(getattr(proto, name, None)) and not hasattr(eng, name)]
        assert not missing, missing


@pytest.mark.skipif(importlib.util.find_spec("ptrace") is None, reason="python-ptrace not installed")
def test_python_backend_declares_what_it_lacks_and_refuses_it_clearly():
    from veil.backends.python_ptrace import Unsupported
    eng = get_engine("python")
    assert isinstance(eng, API.TraceEngine)
    assert not API.supports(eng, API.LAYOUT) and not API.supports(eng, API.PIN_PATHS)
    with pytest.raises(Unsupported, match="C engine"):
        eng.set_layout_root("/")


def test_unknown_feature_is_an_error():
    with pytest.raises(ValueError, match="unknown engine feature"):
        API.supports(get_engine("c"), "teleport")


def test_action_rows_are_shared_only_when_every_field_agrees():
    """set_actions() fills one C row per distinct action and copies it: two actions
    that differ in any field (one added later included) must not share a row."""
    from veil.engine import SysAction, _action_key
    base = SysAction()
    # every attribute is a field: one added must be added to the key
    assert SysAction.__slots__ == SysAction._fields and not hasattr(base, "__dict__")
    for name in SysAction._fields:
        value = getattr(base, name)
        changed = [(1, 2, 3, 4)] if name == "captures" else (not value if isinstance(value, bool)
                                                            else value + 7)
        other = SysAction(**{name: changed})
        assert other != base and _action_key(other) != _action_key(base), name


def test_packed_rows_are_what_cffi_writes():
    """set_actions() packs rows with struct from the build's offsets: every field of
    a SysAction lands where C reads it (checked against cffi's own field writes)."""
    from veil._veil_c import ffi
    from veil.engine import SysAction, _row_packer
    pack = _row_packer()
    samples = [SysAction(), SysAction(flags=0x1234567, captures=[(6, 14, 0, 4096)])]
    for i, name in enumerate(n for n in SysAction._fields if n != "captures"):
        value = True if name == "follow_flag_sets" else (-2 if name.endswith("_arg")
                                                        or name.endswith("_ptr") else 3 + i)
        samples.append(SysAction(**{name: value}, captures=[(i % 6, 2 + i, i % 6, 70000)]))
    samples.append(SysAction(flags=0xFFFFFFFF, deny_errno=-13, follow_flag_mask=0x80000000,
                             captures=[(0, 1, 0, 0), (2, 3, 2, 65535), (6, 13, 0, 1)]))
    for act in samples:
        row = ffi.new("struct veil_sysdesc *")
        for name in SysAction._fields:
            if name != "captures":
                setattr(row, name, getattr(act, name))
        for arg, kind, param, limit in act.captures:
            row.cap[arg].kind, row.cap[arg].param = kind, param
            row.cap[arg].limit = min(limit, 65535)
        row.ncap = len(act.captures)
        assert pack(act) == ffi.buffer(row)[:], act
