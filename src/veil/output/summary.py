"""The -c / -C summary table, laid out as strace prints it."""
from __future__ import annotations

from ..observers import SyscallStats
from ..syscalls.lookup import BY_NAME

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

_RULE = "------ ----------- ----------- --------- --------- ----------------\n"


def write_summary(stats: SyscallStats, out: TextIO, sort: str = "time") -> None:
    rows = []
    for name, calls in stats.calls.items():
        secs = stats.time_ns.get(name, 0) / 1e9
        rows.append((name, calls, stats.errors.get(name, 0), secs))
    order = {n: (BY_NAME[n].nr if n in BY_NAME else 1 << 20) for n, *_ in rows}
    if sort == "calls":
        rows.sort(key=lambda r: (-r[1], order[r[0]]))
    elif sort == "errors":
        rows.sort(key=lambda r: (-r[2], order[r[0]]))
    elif sort == "name":
        rows.sort(key=lambda r: r[0])
    elif sort == "time":
        rows.sort(key=lambda r: (-r[3], order[r[0]]))
    total_time = sum(r[3] for r in rows)
    total_calls = sum(r[1] for r in rows)
    total_errors = sum(r[2] for r in rows)
    out.write("% time     seconds  usecs/call     calls    errors syscall\n")
    out.write(_RULE)
    for name, calls, errors, secs in rows:
        pct = 100.0 * secs / total_time if total_time else 0.0
        usecs = int(secs * 1e6 / calls) if calls else 0
        err = f"{errors:9d}" if errors else " " * 9
        out.write(f"{pct:6.2f} {secs:11.6f} {usecs:11d} {calls:9d} {err} {name}\n")
    out.write(_RULE)
    usecs = int(total_time * 1e6 / total_calls) if total_calls else 0
    err = f"{total_errors:9d}" if total_errors else " " * 9
    out.write(f"{100.0 if rows else 0.0:6.2f} {total_time:11.6f} {usecs:11d} {total_calls:9d} {err} total\n")
