"""Optional dependencies, installed with an extra of the veil package.

``veil prep`` reads ELF files with lief (``veil[prep]``); ``--backend python``
drives the tracee with python-ptrace (``veil[ptrace]``).  Everything else needs
only cffi and construct.  A missing one is a one-line error naming the pip
command, not a traceback.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from .errors import VeilError

# extra -> (the distribution it brings, what needs it)
EXTRAS = {
    "prep": ("lief", "veil prep"),
    "ptrace": ("python-ptrace", "the python-ptrace backend (--backend python)"),
}


class MissingExtra(VeilError):
    exit_code = 1

    def __init__(self, extra: str):
        distribution, user = EXTRAS[extra]
        super().__init__(f"{user} needs {distribution}, which is not installed: "
                         f"pip install 'veil[{extra}]'")
        self.extra = extra


def require(module: str, extra: str) -> ModuleType:
    """``import module``, or MissingExtra naming ``veil[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(extra) from None
