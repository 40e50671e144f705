"""Placement as a Session feature: the C loop keeps the tracee beside veil's loop
(set_options' affinity) and hides its one-CPU mask from the program."""
from __future__ import annotations

import os

from .. import engine as E
from ..syscalls.lookup import BY_NAME
from . import BaseFeature, RowTable


class Placement(BaseFeature):
    def __init__(self, affinity: int):
        self.affinity = affinity   # E.AFFINITY_AUTO, E.AFFINITY_OFF or a CPU

    def add_rows(self, rows: RowTable) -> None:
        if self.affinity == E.AFFINITY_OFF:
            return
        for name in ("sched_getaffinity", "sched_setaffinity"):
            nr = BY_NAME[name].nr
            # placement hides its one-CPU mask, and keeps off a mask the program chose
            rows.row(nr).flags |= E.F_STOP | E.F_EXIT


def parse_affinity(value: str | int | None) -> int:
    """"auto" (or None), "off" or a CPU number veil may use, as the engine wants it."""
    if value in ("auto", None):
        return E.AFFINITY_AUTO
    if value == "off":
        return E.AFFINITY_OFF
    try:
        cpu = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        from ..spec.checks import SpecError
        raise SpecError("observation", "affinity", f"expected auto, off or a CPU number, "
                        f"got {value!r}") from None
    if cpu < 0 or cpu not in os.sched_getaffinity(0):
        from ..spec.checks import SpecError
        raise SpecError("observation", "affinity", f"CPU {cpu} is not available", value=str(value))
    return cpu
