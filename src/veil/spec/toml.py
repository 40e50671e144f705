"""A RunSpec as a profile: one TOML file with the sections of a RunSpec, plus
``--set section.key=value`` overrides given at run time (the seed's NEW input).

Relative host paths in the file resolve against the file's directory, so a
bundle can be moved; relative paths in ``--set`` resolve against the current
directory.  An ``umask`` given as a TOML integer is the mode itself (write
``0o022``); as a string it is read as octal (``"022"``).  A ``--set`` of a
list replaces the file's list.  Errors name the file, the line and the key.
"""
from __future__ import annotations

import os
import re

from ..errors import UsageError
from ..layout import Bind
from . import checks
from .checks import SCHEMA, TABLES, SpecError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

# profiles written before [network] existed kept its keys in [security]
_LEGACY = {("security", "net_allow"): ("network", "allow"),
           ("security", "net_deny"): ("network", "deny"),
           ("security", "net_default"): ("network", "default"),
           ("security", "net_map"): ("network", "map")}

_KEY = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER = re.compile(rf"\s*\[\[?\s*({_DOTTED})\s*\]")
_ASSIGN = re.compile(rf"\s*({_DOTTED})\s*=")


def _line_of(text: str, keypath: tuple[str, ...], nth: int = 0) -> int | None:
    """The line that defines ``keypath`` (its ``nth`` ``[[table]]``), or the nearest enclosing
    table's."""
    best, score, table, tables_seen = None, 0, (), 0
    for number, line in enumerate(text.splitlines(), 1):
        header, assign = _HEADER.match(line), _ASSIGN.match(line)
        if not (header or assign):
            continue
        names = tuple(k.strip("\"'") for k in re.findall(_KEY, (header or assign)[1]))
        here = names if header else table + names
        table = names if header else table
        if header and header[0].lstrip().startswith("[[") and here == keypath:
            tables_seen += 1
            if tables_seen == nth + 1:
                return number
        common = min(len(here), len(keypath))
        if here[:common] == keypath[:common] and common > score:
            best, score = number, common
    return best


def _schema_key(section: str, key: str) -> tuple[str, str]:
    return _LEGACY.get((section, key), (section, key))


def _parse_set(item: str, data: dict[str, Any]) -> tuple[str, ...]:
    name, eq, raw = item.partition("=")
    keypath = tuple(name.strip().split(".", 2))
    if not eq or len(keypath) < 2 or not all(keypath):
        raise UsageError(f"--set {item}: use SECTION.KEY=VALUE, e.g. system.hostname=db2")
    section, key = _schema_key(*keypath[:2])
    checker = SCHEMA.get(section, {}).get(key)
    if checker is None:
        raise UsageError(f"--set {item}: no key [{keypath[0]}] {keypath[1]} in a veil profile")
    if len(keypath) == 3 and (section, key) not in TABLES:
        raise UsageError(f"--set {item}: [{keypath[0]}] {keypath[1]} is not a table")
    from .. import tomlread as tomllib  # loaded when a profile or a --set value is read
    try:
        candidates = [tomllib.loads(f"v = {raw}")["v"], raw]
    except tomllib.TOMLDecodeError:
        candidates = [raw]
    candidates += [[c] for c in candidates if isinstance(c, str)]

    def fits(value: Any) -> bool:
        try:
            checker({keypath[2]: value} if len(keypath) == 3 else value, os.getcwd())
            return True
        except checks.Bad:
            return False
    value = next((c for c in candidates if fits(c)), candidates[0])
    table = data.setdefault(keypath[0], {})
    if len(keypath) == 3:
        if not isinstance(table.get(keypath[1]), dict):
            table[keypath[1]] = {}
        table[keypath[1]][keypath[2]] = value
    else:
        table[keypath[1]] = value
    return keypath


def _read(path: str) -> tuple[str, dict[str, Any]]:
    from .. import tomlread as tomllib
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        return text, tomllib.loads(text)
    except OSError as e:
        raise UsageError(f"{path}: cannot read the profile: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: the profile is not UTF-8 ({e.reason})") from None
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)", str(e))
        where = f"{path}:{m[1]}" if m else path
        detail = f"{str(e)[:m.start()]} (column {m[2]})" if m else str(e)
        raise UsageError(f"{where}: invalid TOML: {detail}") from None


def load_profile(path: str, overrides: Sequence[str], make: Callable[[dict[str, dict[str, Any]]], Any]
                 ) -> Any:
    """Read and check a profile (or BUNDLE/profile.toml), apply ``--set`` overrides,
    and return ``make(values)`` (values: section -> key -> canonical value); a
    SpecError from ``make`` is reported at the line of its key."""
    if os.path.isdir(path):
        path = os.path.join(path, "profile.toml")
    text, data = _read(path)
    sets: dict[tuple[str, ...], str] = {}
    written: dict[tuple[str, str], tuple[str, str]] = {}  # schema key -> key as written

    def fail(keypath: tuple[str, ...], message: str, index: str = "") -> UsageError:
        item = next((sets[keypath[:n]] for n in (3, 2) if keypath[:n] in sets), None)
        line = _line_of(text, keypath, int(index[1:-1]) if index else 0)
        where = f"--set {item}" if item else f"{path}:{line}" if line else path
        label = f"[{keypath[0]}]" + (f" {'.'.join(keypath[1:])}{index}" if len(keypath) > 1 else "")
        return UsageError(f"{where}: {label}: {message}")

    for section, table in data.items():
        if section not in SCHEMA:
            raise fail((section,), f"unknown section (known: {', '.join(SCHEMA)})")
        if not isinstance(table, dict):
            raise fail((section,), f"expected a table, got {checks.show(table)}")
    sets.update((_parse_set(item, data), item) for item in overrides)
    base = os.path.dirname(os.path.abspath(path))
    values: dict[str, dict[str, Any]] = {name: {} for name in SCHEMA}
    for section, table in data.items():
        for key, value in table.items():
            target = _schema_key(section, key)
            if target[1] not in SCHEMA[target[0]]:
                known = ", ".join(SCHEMA[section])
                raise fail((section, key), f"unknown key (known: {known})")
            written[target] = (section, key)
            try:
                values[target[0]][target[1]] = checks.check(
                    *target, value, os.getcwd() if (section, key) in sets else base)
            except SpecError as e:
                nested = e.sub.startswith(".")
                raise fail((section, key) + ((e.sub[1:],) if nested else ()), e.message,
                           "" if nested else e.sub) from None
    try:
        return make(values, path)
    except SpecError as e:
        raise fail(written.get((e.section, e.key), (e.section, e.key)), e.message) from None


def dump_profile(sections: dict[str, dict[str, Any]], relative_to: str | None = None) -> str:
    """Sections (name -> the keys given) as TOML; host paths under ``relative_to``
    are written relative to it."""
    def rel(path: str) -> str:
        if relative_to is None or not os.path.isabs(path):
            return path
        base = os.path.abspath(relative_to)
        return os.path.relpath(path, base) if os.path.commonpath([base, path]) == base else path

    out: list[str] = []
    for section, values in sections.items():
        values = dict(values)
        for key, value in values.items():
            if key == "binds":
                values[key] = [Bind(rel(b.host), b.guest, b.readonly) for b in value]
            elif (section, key) in checks.PATHS:
                values[key] = [rel(p) for p in value] if isinstance(value, tuple) else rel(value)
            elif key == "umask":
                values[key] = f"{value:03o}"
            elif key == "rlimits":
                values[key] = {n: checks.rlimit_text(v) for n, v in value.items()}
        if not values:
            continue
        out.append(f"[{section}]")
        out += [f"{k} = {checks.toml_value(v)}" for k, v in values.items() if not hasattr(v, "items")]
        for k, table in values.items():
            if hasattr(table, "items"):
                out += ["", f"[{section}.{k}]"]
                out += [f"{checks.toml_key(n)} = {checks.toml_value(v)}" for n, v in table.items()]
        out.append("")
    return "\n".join(out)
