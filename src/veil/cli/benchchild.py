"""``python -m veil.cli.benchchild --child STATS VEIL-ARGS``: how ``veil bench``
and bench/run.py run each veil mode.  The veil command line unchanged, with the
engine's stop count and the time spent in the session written to STATS (JSON)
at the end.  Nothing else is imported: the veil measured starts as the ``veil``
command does (veil.cli.bench's argparse, json, shutil and tempfile were ~20 ms
of every measured run).
"""
from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..session import Result


def child(argv: list[str]) -> int:
    """``STATS VEIL-ARGS``: veil's main(VEIL-ARGS), Session.run's result noted in STATS."""
    from ..session import results_to
    from . import main
    stats, rest = argv[0], argv[1:]

    def note(result: Result) -> None:
        engine = ", ".join(f'"{key}": {int(value)}' for key, value in result.engine_stats.items()
                           if key.isidentifier())
        with open(stats, "w") as f:
            f.write(f'{{"engine": {{{engine}}}, "duration": {float(result.duration)!r}}}')
    with results_to(note):
        return main(rest)


def run() -> None:
    if sys.argv[1:2] != ["--child"] or len(sys.argv) < 3:
        sys.exit("usage: python -m veil.cli.benchchild --child STATS VEIL-ARGS "
                 "(used by veil bench)")
    from . import exit_quickly
    exit_quickly(child(sys.argv[2:]))   # as the veil command ends


if __name__ == "__main__":
    run()
