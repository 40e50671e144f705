"""Reading TOML: the standard library's tomllib (Python 3.11 and later), else on
Python 3.10 tomli, the package it came from (the same API)."""
from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    from tomllib import TOMLDecodeError, load, loads
else:
    from tomli import TOMLDecodeError, load, loads

__all__ = ["TOMLDecodeError", "load", "loads"]
