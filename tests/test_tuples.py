"""veil.tuples: the named tuples veil makes without the collections package
(issue 22's start-up) behave as collections.namedtuple's do where veil and
its users rely on it: Syscall rows and socket addresses are such tuples."""
from __future__ import annotations

import pickle
from collections import namedtuple

import pytest

from veil.sockaddr import SockAddr
from veil.syscalls.lookup import BY_NAME, Syscall
from veil.tuples import named_tuple

FIELDS = "family raw ip port"
DEFAULTS = (None, None)


@pytest.fixture(params=["veil", "collections"])
def Addr(request):
    make = named_tuple if request.param == "veil" else namedtuple
    return make("Addr", FIELDS, defaults=DEFAULTS)


def test_construction_by_position_keyword_and_default(Addr):
    a = Addr(2, b"x", port=80)
    assert tuple(a) == (2, b"x", None, 80)
    assert (a.family, a.raw, a.ip, a.port) == (2, b"x", None, 80)
    assert a == (2, b"x", None, 80) and hash(a) == hash((2, b"x", None, 80))
    assert Addr._make([1, b"", "ip", 5]) == (1, b"", "ip", 5)
    assert a._replace(port=81).port == 81 and a.port == 80
    assert a._asdict() == {"family": 2, "raw": b"x", "ip": None, "port": 80}
    assert Addr._fields == ("family", "raw", "ip", "port")
    assert Addr._field_defaults == {"ip": None, "port": None}
    assert repr(a) == "Addr(family=2, raw=b'x', ip=None, port=80)"
    match a:
        case Addr(fam, _, _, port):
            assert (fam, port) == (2, 80)
        case _:
            pytest.fail("no match")


@pytest.mark.parametrize("args, kwargs", [
    ((1,), {}),                                   # raw missing
    ((1, b"", None, 2, 3), {}),                   # too many
    ((1, b""), {"nope": 1}),                      # unknown field
    ((1, b""), {"family": 1}),                    # given twice
])
def test_the_same_mistakes_are_refused(Addr, args, kwargs):
    with pytest.raises(TypeError):
        Addr(*args, **kwargs)


def test_fields_cannot_be_set(Addr):
    a = Addr(1, b"")
    with pytest.raises(AttributeError):
        a.port = 3


def test_syscall_rows_and_addresses_pickle_and_compare():
    sc = BY_NAME["openat"]
    assert isinstance(sc, Syscall) and isinstance(sc, tuple)
    assert pickle.loads(pickle.dumps(sc)) == sc
    assert sc.nr == 257 and sc.name == "openat" and sc.nargs == len(sc.args) == 4
    assert Syscall(1, "x", (), 0, 0, "int", "decoded").props == ()   # the default
    addr = SockAddr.parse(b"\x02\x00\x00\x50\x7f\x00\x00\x01")
    assert (addr.family, addr.port, str(addr.ip)) == (2, 80, "127.0.0.1")
    assert pickle.loads(pickle.dumps(addr)) == addr
    assert addr._replace(port=81).port == 81
