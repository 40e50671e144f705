"""veil.session.results_to: every run in the block reports its Result, none after
(veil bench counts a veil command's stops this way, with no patched Session)."""
import os

from veil.session import Session, results_to


def _quiet_run():
    null = os.open(os.devnull, os.O_RDWR)
    try:
        return Session(["/bin/true"], trace="none", stdout=null, stderr=null).run()
    finally:
        os.close(null)


def test_results_to_sees_the_runs_of_its_block_only():
    seen = []
    with results_to(seen.append):
        first = _quiet_run()
    after = _quiet_run()
    assert seen == [first] and after is not first
    assert first.exit_code == 0 and first.engine_stats["stops"] >= 1
    assert Session.run.__qualname__ == "Session.run"     # nothing was patched
