"""The veil profile: one TOML file with [environment], [layout], [system] and
[security] sections, plus ``--set section.key=value`` overrides given at run
time (the seed's NEW input).

Relative host paths in the file resolve against the file's directory, so a
bundle can be moved; relative paths in ``--set`` resolve against the current
directory.  An ``umask`` given as a TOML integer is the mode itself (write
``0o022``); as a string it is read as octal (``"022"``).  A ``--set`` of a
list replaces the file's list.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import tomllib
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .errors import UsageError
from .identity import _UTS_LEN


@dataclass
class Bind:
    host: str
    guest: str
    readonly: bool = False


@dataclass
class Environment:
    argv: Optional[List[str]] = None
    env: Optional[Dict[str, str]] = None
    unset: Optional[List[str]] = None
    clear_env: Optional[bool] = None
    cwd: Optional[str] = None
    umask: Optional[str] = None
    rlimits: Optional[Dict[str, str]] = None
    argv0: Optional[str] = None


@dataclass
class Layout:
    root: Optional[str] = None
    binds: Optional[List[Bind]] = None
    hidden: Optional[List[str]] = None
    readonly: Optional[List[str]] = None
    private_tmp: Optional[bool] = None
    keep_tmp: Optional[bool] = None


@dataclass
class System:
    hostname: Optional[str] = None
    domainname: Optional[str] = None
    sysname: Optional[str] = None
    kernel_release: Optional[str] = None
    kernel_version: Optional[str] = None
    machine: Optional[str] = None
    uid: Optional[int] = None
    gid: Optional[int] = None
    fake_root: Optional[bool] = None
    cpus: Optional[int] = None
    ownership_db: Optional[str] = None


@dataclass
class Security:
    policy: Optional[List[str]] = None
    seccomp_profile: Optional[List[str]] = None
    strict: Optional[bool] = None
    deny: Optional[List[str]] = None
    paths_read: Optional[List[str]] = None
    paths_written: Optional[List[str]] = None
    net_allow: Optional[List[str]] = None
    net_deny: Optional[List[str]] = None
    net_default: Optional[str] = None
    net_map: Optional[List[str]] = None


@dataclass
class Profile:
    environment: Environment = field(default_factory=Environment)
    layout: Layout = field(default_factory=Layout)
    system: System = field(default_factory=System)
    security: Security = field(default_factory=Security)
    source: Optional[str] = field(default=None, compare=False)


class _Bad(Exception):
    """A rejected value; ``sub`` locates it inside the key (``.NAME`` or ``[i]``)."""

    def __init__(self, message: str, sub: str = ""):
        super().__init__(message)
        self.sub = sub


Check = Callable[[Any, str], Any]


def _show(value: Any) -> str:
    try:
        return _value(value)
    except TypeError:
        return str(value)


def _expect(ok: bool, what: str, value: Any) -> None:
    if not ok:
        raise _Bad(f"expected {what}, got {_show(value)}")


def _kind(test: Callable[[Any], bool], what: str) -> Check:
    def check(value: Any, base: str = "") -> Any:
        _expect(test(value), what, value)
        return value
    return check


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_string = _kind(lambda v: isinstance(v, str), "a string")
_flag = _kind(lambda v: isinstance(v, bool), "true or false")
_guest_path = _kind(lambda v: isinstance(v, str) and v.startswith("/"), "an absolute guest path")
_uts = _kind(lambda v: isinstance(v, str) and len(v.encode()) < _UTS_LEN,
             f"a string of at most {_UTS_LEN - 1} bytes")
_count = _kind(lambda v: _is_int(v) and v >= 1, "an integer >= 1")
_id = _kind(lambda v: _is_int(v) and 0 <= v <= 2**32 - 2, "an integer 0..4294967294")


def _host_path(value: Any, base: str) -> str:
    return os.path.normpath(os.path.join(base, _string(value)))


def _array(check: Check, one_ok: bool = False) -> Check:
    def checked(value: Any, base: str) -> list:
        value = [value] if one_ok and isinstance(value, str) else value
        _expect(isinstance(value, list), "an array", value)
        out = []
        for i, item in enumerate(value):
            try:
                out.append(check(item, base))
            except _Bad as e:
                raise _Bad(str(e), f"[{i}]") from None
        return out
    return checked


def _table(check: Callable[[str, Any], Tuple[str, str]]) -> Check:
    def checked(value: Any, base: str) -> Dict[str, str]:
        _expect(isinstance(value, dict), "a table", value)
        out = {}
        for name, item in value.items():
            try:
                key, out_value = check(name, item)
            except _Bad as e:
                raise _Bad(str(e), f".{name}") from None
            out[key] = out_value
        return out
    return checked


def _umask(value: Any, base: str = "") -> str:
    mode = value if _is_int(value) else -1
    if isinstance(value, str) and re.fullmatch(r"[0-7]{1,4}", value):
        mode = int(value, 8)
    _expect(0 <= mode <= 0o777, 'an octal mode like "022"', value)
    return f"{mode:03o}"


_RLIMITS = sorted(n[len("RLIMIT_"):].lower() for n in dir(resource) if n.startswith("RLIMIT_"))


def _rlimit(name: str, value: Any) -> Tuple[str, str]:
    if name.lower() not in _RLIMITS:
        raise _Bad(f"unknown resource limit {_show(name)} (known: {', '.join(_RLIMITS)})")
    value = str(value) if _is_int(value) and value >= 0 else value
    parts = value.split(":") if isinstance(value, str) else []
    numbers = [None if p in ("unlimited", "infinity") else int(p) if re.fullmatch("[0-9]+", p)
               else -1 for p in parts]
    _expect(1 <= len(parts) <= 2 and -1 not in numbers,
            'SOFT[:HARD] like 256, "0:0" or "unlimited"', value)
    soft, hard = numbers[0], numbers[-1]
    if hard is not None and (soft is None or soft > hard):
        raise _Bad(f"the soft limit is above the hard one in {_show(value)}")
    return name.lower(), value


def _variable(name: str, value: Any) -> Tuple[str, str]:
    if not name or "=" in name:
        raise _Bad(f"invalid variable name {_show(name)}")
    return name, _string(value)


def _bind(value: Any, base: str) -> Bind:
    if isinstance(value, str):
        parts = value.split(":")
        _expect(len(parts) <= 2 or (len(parts) == 3 and parts[2] in ("ro", "rw")),
                '"HOST[:GUEST[:ro]]"', value)
        value = {"host": parts[0], "guest": parts[1] if len(parts) > 1 else None,
                 "readonly": len(parts) == 3 and parts[2] == "ro"}
    _expect(isinstance(value, dict) and "host" in value
            and set(value) <= {"host", "guest", "readonly"},
            "{host = ..., guest = ..., readonly = ...}", value)
    host = _host_path(value["host"], base)
    guest = value.get("guest")
    return Bind(host, host if guest is None else _guest_path(guest),
                _flag(value.get("readonly", False)))


def _net_rule(allow: bool) -> Check:
    def check(value: Any, base: str = "") -> str:
        from .netrules import parse_rule
        try:
            parse_rule(_string(value), allow)
        except UsageError as e:
            raise _Bad(str(e).split(": ", 1)[-1]) from None
        return value
    return check


def _net_map(value: Any, base: str = "") -> str:
    from .netmap import parse_net_map
    try:
        parse_net_map(_string(value))
    except UsageError as e:
        raise _Bad(str(e).split(": ", 1)[-1]) from None
    return value


def _net_default(value: Any, base: str = "") -> str:
    _expect(value in ("allow", "deny"), '"allow" or "deny"', value)
    return value


def _syscall_set(value: Any, base: str = "") -> str:
    from .syscalls import UnknownSyscallError, resolve_set
    try:
        resolve_set(_string(value))
    except UnknownSyscallError as e:
        raise _Bad(str(e)) from None
    return value


_SCHEMA: Dict[str, Dict[str, Check]] = {
    "environment": {
        "argv": _array(_string), "env": _table(_variable), "unset": _array(_string),
        "clear_env": _flag, "cwd": _string, "umask": _umask, "rlimits": _table(_rlimit),
        "argv0": _string},
    "layout": {
        "root": _host_path, "binds": _array(_bind), "hidden": _array(_guest_path),
        "readonly": _array(_guest_path), "private_tmp": _flag, "keep_tmp": _flag},
    "system": {
        **dict.fromkeys(("hostname", "domainname", "sysname", "kernel_release",
                         "kernel_version", "machine"), _uts),
        "uid": _id, "gid": _id, "fake_root": _flag, "cpus": _count, "ownership_db": _host_path},
    "security": {
        "policy": _array(_host_path, one_ok=True),
        "seccomp_profile": _array(_host_path, one_ok=True),
        "strict": _flag, "deny": _array(_syscall_set), "paths_read": _array(_string),
        "paths_written": _array(_string), "net_allow": _array(_net_rule(True)),
        "net_deny": _array(_net_rule(False)), "net_default": _net_default,
        "net_map": _array(_net_map)},
}
_TABLES = {("environment", "env"), ("environment", "rlimits")}
_PATHS = {("layout", "root"), ("system", "ownership_db"), ("security", "policy"),
          ("security", "seccomp_profile")}

_KEY = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER = re.compile(rf"\s*\[\[?\s*({_DOTTED})\s*\]")
_ASSIGN = re.compile(rf"\s*({_DOTTED})\s*=")


def _line_of(text: str, keypath: Tuple[str, ...], nth: int = 0) -> Optional[int]:
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


def _parse_set(item: str, data: Dict[str, Any]) -> Tuple[str, ...]:
    name, eq, raw = item.partition("=")
    keypath = tuple(name.strip().split(".", 2))
    if not eq or len(keypath) < 2 or not all(keypath):
        raise UsageError(f"--set {item}: use SECTION.KEY=VALUE, e.g. system.hostname=db2")
    check = _SCHEMA.get(keypath[0], {}).get(keypath[1])
    if check is None:
        raise UsageError(f"--set {item}: no key [{keypath[0]}] {keypath[1]} in a veil profile")
    if len(keypath) == 3 and keypath[:2] not in _TABLES:
        raise UsageError(f"--set {item}: [{keypath[0]}] {keypath[1]} is not a table")
    try:
        candidates = [tomllib.loads(f"v = {raw}")["v"], raw]
    except tomllib.TOMLDecodeError:
        candidates = [raw]
    candidates += [[c] for c in candidates if isinstance(c, str)]

    def fits(value: Any) -> bool:
        try:
            check({keypath[2]: value} if len(keypath) == 3 else value, os.getcwd())
            return True
        except _Bad:
            return False
    value = next((c for c in candidates if fits(c)), candidates[0])
    section = data.setdefault(keypath[0], {})
    if len(keypath) == 3:
        if not isinstance(section.get(keypath[1]), dict):
            section[keypath[1]] = {}
        section[keypath[1]][keypath[2]] = value
    else:
        section[keypath[1]] = value
    return keypath


def load_profile(path: str, overrides: Sequence[str] = ()) -> Profile:
    """Read and check a profile (or BUNDLE/profile.toml), then apply ``--set`` overrides."""
    if os.path.isdir(path):
        path = os.path.join(path, "profile.toml")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        data = tomllib.loads(text)
    except OSError as e:
        raise UsageError(f"{path}: cannot read the profile: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: the profile is not UTF-8 ({e.reason})") from None
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\s*\(at line (\d+), column (\d+)\)", str(e))
        where = f"{path}:{m[1]}" if m else path
        detail = f"{str(e)[:m.start()]} (column {m[2]})" if m else str(e)
        raise UsageError(f"{where}: invalid TOML: {detail}") from None

    sets: Dict[Tuple[str, ...], str] = {}

    def fail(keypath: Tuple[str, ...], message: str, index: str = "") -> UsageError:
        item = next((sets[keypath[:n]] for n in (3, 2) if keypath[:n] in sets), None)
        line = _line_of(text, keypath, int(index[1:-1]) if index else 0)
        where = f"--set {item}" if item else f"{path}:{line}" if line else path
        label = f"[{keypath[0]}]" + (f" {'.'.join(keypath[1:])}{index}" if len(keypath) > 1 else "")
        return UsageError(f"{where}: {label}: {message}")

    for section, table in data.items():
        if section not in _SCHEMA:
            raise fail((section,), f"unknown section (known: {', '.join(_SCHEMA)})")
        if not isinstance(table, dict):
            raise fail((section,), f"expected a table, got {_show(table)}")
    sets.update((_parse_set(item, data), item) for item in overrides)
    profile = Profile(source=path)
    base = os.path.dirname(os.path.abspath(path))
    for section, table in data.items():
        for key, value in table.items():
            check = _SCHEMA[section].get(key)
            if check is None:
                raise fail((section, key), f"unknown key (known: {', '.join(_SCHEMA[section])})")
            try:
                setattr(getattr(profile, section), key,
                        check(value, os.getcwd() if (section, key) in sets else base))
            except _Bad as e:
                nested = e.sub.startswith(".")
                raise fail((section, key) + ((e.sub[1:],) if nested else ()), str(e),
                           "" if nested else e.sub) from None
    system = profile.system
    if system.fake_root and (system.uid is not None or system.gid is not None):
        raise fail(("system", "fake_root"), "fake_root and uid/gid exclude each other")
    if system.gid is not None and system.uid is None:
        raise fail(("system", "gid"), "a gid needs a uid")
    return profile


def apply_profile(ns: argparse.Namespace, prof: Profile) -> None:
    """Fill ``veil run``'s namespace from the profile where the command line left a value unset;
    lists get the profile's entries first, then the command line's."""
    def fill(dest: str, value: Any) -> None:
        if value is not None and not getattr(ns, dest, None):
            setattr(ns, dest, value)

    def extend(dest: str, values: Optional[list]) -> None:
        if values is not None:
            setattr(ns, dest, list(values) + list(getattr(ns, dest, None) or []))

    env, layout, system, security = prof.environment, prof.layout, prof.system, prof.security
    for name in ("hostname", "domainname", "sysname", "kernel_release", "kernel_version",
                 "machine", "ownership_db", "cpus"):
        fill(name, getattr(system, name))
    if not getattr(ns, "root", False) and not getattr(ns, "ids", None):
        fill("root", system.fake_root)
        if system.uid is not None:
            ns.ids = f"{system.uid}:{system.uid if system.gid is None else system.gid}"
    for name in ("clear_env", "cwd", "umask", "argv0"):
        fill(name, getattr(env, name))
    extend("env", None if env.env is None else [f"{k}={v}" for k, v in env.env.items()])
    extend("unset", env.unset)
    extend("rlimit", None if env.rlimits is None else [f"{k}={v}" for k, v in env.rlimits.items()])
    if env.argv is not None:
        command = list(getattr(ns, "command", None) or [])
        ns.command = list(env.argv) + (command[1:] if command[:1] == ["--"] else command)
    fill("layout_root", layout.root)
    extend("binds", None if layout.binds is None else
           [f"{b.host}:{b.guest}" + (":ro" if b.readonly else "") for b in layout.binds])
    for name in ("hidden", "readonly"):
        extend(name, getattr(layout, name))
    for name in ("private_tmp", "keep_tmp"):
        fill(name, getattr(layout, name))
    for name in ("policy", "seccomp_profile", "deny", "net_allow", "net_deny", "net_map"):
        extend(name, getattr(security, name))
    fill("strict", security.strict)
    fill("net_default", security.net_default)


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _quote(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return str(value) if isinstance(value, int) else _quote(value)
    if isinstance(value, Bind):
        return _value({"host": value.host, "guest": value.guest, "readonly": value.readonly})
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        items = [_value(v) for v in value]
        if len(items) <= 3 and sum(map(len, items)) < 60:
            return "[" + ", ".join(items) + "]"
        return "[\n" + "".join(f"    {item},\n" for item in items) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def dump_profile(prof: Profile, relative_to: Optional[str] = None) -> str:
    """The profile as TOML; host paths under ``relative_to`` are written relative to it."""
    def rel(path: str) -> str:
        if relative_to is None or not os.path.isabs(path):
            return path
        base = os.path.abspath(relative_to)
        return os.path.relpath(path, base) if os.path.commonpath([base, path]) == base else path

    out: List[str] = []
    for section in _SCHEMA:
        part = getattr(prof, section)
        values = {f.name: getattr(part, f.name) for f in fields(part)
                  if getattr(part, f.name) is not None}
        for key, value in values.items():
            if key == "binds":
                values[key] = [Bind(rel(b.host), b.guest, b.readonly) for b in value]
            elif (section, key) in _PATHS:
                values[key] = [rel(p) for p in value] if isinstance(value, list) else rel(value)
        if not values:
            continue
        out.append(f"[{section}]")
        out += [f"{k} = {_value(v)}" for k, v in values.items() if not isinstance(v, dict)]
        for k, table in values.items():
            if isinstance(table, dict):
                out += ["", f"[{section}.{k}]"]
                out += [f"{_key(n)} = {_value(v)}" for n, v in table.items()]
        out.append("")
    return "\n".join(out)
