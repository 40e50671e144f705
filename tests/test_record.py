"""veil.record: RunSpec, its sections and Bind behave as the frozen dataclasses
they were (construction, defaults, ==, hash, repr, immutability, pattern matching)
and the dataclasses module still works on them (fields, replace, asdict)."""
from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from veil.record import FrozenInstanceError, Record, field, record_fields, replace
from veil.spec import Bind, Layout, RunSpec, SpecError, System


class Point(Record):
    x: int
    y: int = 0
    tags: list = field(default_factory=list)
    note: str = field(default="", compare=False)


@dataclasses.dataclass(frozen=True)
class DPoint:
    x: int
    y: int = 0
    tags: list = dataclasses.field(default_factory=list)
    note: str = dataclasses.field(default="", compare=False)


def test_construction_defaults_and_errors_as_a_dataclass():
    for cls in (Point, DPoint):
        p = cls(1)
        assert (p.x, p.y, p.tags, p.note) == (1, 0, [], "")
        assert cls(1).tags is not cls(1).tags          # a factory per instance
        assert cls(1, 2, note="n") == cls(x=1, y=2)    # compare=False: note is left out
        assert cls(1) != cls(2) and cls(1) != (1, 0, [], "")
        for bad in (lambda: cls(), lambda: cls(1, x=2), lambda: cls(1, z=3),
                    lambda: cls(1, 2, [], "", 5)):
            with pytest.raises(TypeError):
                bad()
    assert repr(Point(1, 2, ["a"], "n")) == "Point(x=1, y=2, tags=['a'], note='n')"
    assert repr(DPoint(1, 2, ["a"], "n")).endswith("DPoint(x=1, y=2, tags=['a'], note='n')")


def test_frozen_hashable_copyable_matchable():
    b = Bind("/host", "/guest")
    with pytest.raises(FrozenInstanceError):
        b.host = "/elsewhere"   # type: ignore[misc]
    with pytest.raises(AttributeError):
        del b.guest             # type: ignore[misc]
    assert hash(b) == hash(Bind("/host", "/guest", False, True))
    assert {b, Bind("/host", "/guest")} == {b}
    assert pickle.loads(pickle.dumps(b)) == b and copy.deepcopy(b) == b and copy.copy(b) == b
    match b:
        case Bind(host, guest, readonly=False):
            assert (host, guest) == ("/host", "/guest")
        case _:
            pytest.fail("Bind does not match its fields")


def test_the_dataclasses_module_works_on_records():
    spec = RunSpec(layout=Layout(root="/srv"), source="p.toml")
    assert dataclasses.is_dataclass(spec) and dataclasses.is_dataclass(Bind)
    assert [f.name for f in dataclasses.fields(spec)] == [f.name for f in record_fields(RunSpec)]
    assert dataclasses.replace(spec.layout, root="/other").root == "/other"
    assert dataclasses.replace(spec, source="q.toml") == spec        # source: compare=False
    assert dataclasses.asdict(Bind("/a", "/b")) == {"host": "/a", "guest": "/b",
                                                    "readonly": False, "follow": True}
    assert [f.name for f in dataclasses.fields(Point)] == ["x", "y", "tags", "note"]


def test_sections_still_check_and_freeze_their_values():
    assert replace(System(hostname="a"), hostname="b") == System(hostname="b")
    with pytest.raises(SpecError):
        Layout(keep_tmp=True)                 # goes with private_tmp (__post_init__)
    layout = Layout(binds=[Bind("/a", "/b")])
    assert layout.binds == (Bind("/a", "/b"),)   # a list given is kept as a tuple
    assert RunSpec(system={"hostname": "db"}).system == System(hostname="db")
