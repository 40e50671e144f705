"""Observer.prepare(): called once, in run()'s thread, after the program was
started and before any event of it reaches the observers (issue 22: the text
writer loads the decoders every program's first calls need in that time)."""
from __future__ import annotations

import threading

import pytest

import veil


class Order(veil.Observer):
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.thread = None

    def prepare(self) -> None:
        self.seen.append("prepare")
        self.thread = threading.current_thread()

    def enter(self, call) -> None:
        self.seen.append("call")

    def exited(self, pid, tid, code, ts) -> None:
        self.seen.append("exited")


def test_prepare_comes_once_before_the_first_event():
    order = Order()
    result = veil.Session(["/bin/true"], observers=[order]).run()
    assert result.exit_code == 0
    assert order.seen[0] == "prepare" and order.seen.count("prepare") == 1
    assert "call" in order.seen and order.seen[-1] == "exited"
    assert order.thread is threading.current_thread()   # run()'s thread, as every event


def test_an_observer_that_fails_to_prepare_fails_the_run():
    class Broken(veil.Observer):
        def prepare(self) -> None:
            raise RuntimeError("no decoders here")

    with pytest.raises(RuntimeError, match="no decoders here"):
        veil.Session(["/bin/sleep", "5"], observers=[Broken()]).run()
