"""The one place where a run's description is checked.

Every value of a RunSpec, whether it comes from a profile, a ``--set``, a
command-line flag or Python, passes through the check of its key here.  A
check takes what a user may write (a TOML value, a flag's text or a Python
value) and returns the canonical value, or raises SpecError naming the key.
Checks are idempotent: a canonical value passes unchanged.
"""
from __future__ import annotations

import os
import resource
from _collections_abc import Mapping  # collections.abc's, without collections (start-up)

from ..errors import VeilError
from ..layout import Bind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Check = Callable[[Any, str], Any]

UTS_LEN = 65  # struct utsname fields are 65 bytes, NUL included (uname(2))
RLIM_INFINITY = resource.RLIM_INFINITY


class SpecError(VeilError):
    """A value of a run's description that cannot be used: names its key
    (``[system] cpus``) and, inside a list or table, the entry."""

    def __init__(self, section: str, key: str, message: str, sub: str = "",
                 value: str | None = None):
        self.section, self.key, self.message, self.sub = section, key, message, sub
        self.value = value  # the offending value, where the message does not show it
        shown = f"{value}: " if value is not None else ""
        super().__init__(f"[{section}] {key}{sub}: {shown}{message}")


class Bad(Exception):
    """A rejected value inside a check; ``sub`` locates it in the key (``.NAME`` or ``[i]``)."""

    def __init__(self, message: str, sub: str = ""):
        super().__init__(message)
        self.sub = sub


def show(value: Any) -> str:
    """A value as TOML would write it (for messages)."""
    try:
        return toml_value(value)
    except TypeError:
        return str(value)


def _quote(text: str) -> str:
    import json  # here: json's import is a start-up cost of every run
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


# a TOML bare key's characters (no re at a run's start-up: it brings enum)
_BARE_KEY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def toml_key(name: str) -> str:
    return name if name and _BARE_KEY.issuperset(name) else _quote(name)


def toml_value(value: Any) -> str:
    """A value in TOML's notation (a Bind as its inline table)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return str(value) if isinstance(value, int) else _quote(value)
    if isinstance(value, Bind):
        table = {"host": value.host, "guest": value.guest, "readonly": value.readonly}
        return toml_value(table if value.follow else {**table, "follow": False})
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        items = [toml_value(v) for v in value]
        if len(items) <= 3 and sum(map(len, items)) < 60:
            return "[" + ", ".join(items) + "]"
        return "[\n" + "".join(f"    {item},\n" for item in items) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _expect(ok: bool, what: str, value: Any) -> None:
    if not ok:
        raise Bad(f"expected {what}, got {show(value)}")


def _kind(test: Callable[[Any], bool], what: str) -> Check:
    def check(value: Any, base: str = "") -> Any:
        _expect(test(value), what, value)
        return value
    return check


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


string = _kind(lambda v: isinstance(v, str), "a string")
flag = _kind(lambda v: isinstance(v, bool), "true or false")
guest_path = _kind(lambda v: isinstance(v, str) and v.startswith("/"), "an absolute guest path")
uts = _kind(lambda v: isinstance(v, str) and len(v.encode()) < UTS_LEN,
            f"a string of at most {UTS_LEN - 1} bytes")
count = _kind(lambda v: is_int(v) and v >= 1, "an integer >= 1")
an_id = _kind(lambda v: is_int(v) and 0 <= v <= 2**32 - 2, "an integer 0..4294967294")
size = _kind(lambda v: is_int(v) and v >= 0, "an integer >= 0")


def host_path(value: Any, base: str) -> str:
    """A host path; a relative one is relative to ``base`` (the profile's directory,
    else the current directory)."""
    return os.path.normpath(os.path.join(base or os.getcwd(), string(value)))


def array(check: Check, one_ok: bool = False) -> Check:
    def checked(value: Any, base: str) -> tuple:
        value = [value] if one_ok and isinstance(value, str) else value
        _expect(isinstance(value, (list, tuple)), "an array", value)
        out = []
        for i, item in enumerate(value):
            try:
                out.append(check(item, base))
            except Bad as e:
                raise Bad(str(e), f"[{i}]") from None
        return tuple(out)
    return checked


def table(check: Callable[[str, Any], tuple[str, Any]]) -> Check:
    def checked(value: Any, base: str) -> dict[str, Any]:
        _expect(isinstance(value, Mapping), "a table", value)
        out = {}
        for name, item in value.items():
            try:
                key, out_value = check(name, item)
            except Bad as e:
                raise Bad(str(e), f".{name}") from None
            out[key] = out_value
        return out
    return checked


def umask(value: Any, base: str = "") -> int:
    """An int is the mode itself (TOML ``0o022``); a string is octal (``"022"``)."""
    mode = value if is_int(value) else -1
    if isinstance(value, str) and 1 <= len(value) <= 4 and set(value) <= set("01234567"):
        mode = int(value, 8)
    _expect(0 <= mode <= 0o777, 'an octal mode like "022"', value)
    return mode


RLIMITS = sorted(n[len("RLIMIT_"):].lower() for n in dir(resource) if n.startswith("RLIMIT_"))


def _limit_text(n: int | None) -> str:
    return "unlimited" if n == RLIM_INFINITY else str(n)


def rlimit_text(limits: tuple[int, int | None]) -> str:
    """(soft, hard) as a profile writes it: ``256``, ``0:0``, ``unlimited``."""
    soft, hard = limits
    return _limit_text(soft) + ("" if hard is None else ":" + _limit_text(hard))


def rlimit(name: str, value: Any) -> tuple[str, tuple[int, int | None]]:
    """NAME = SOFT[:HARD] (a number, "unlimited"), or a (soft, hard) pair; a missing
    hard limit (None) keeps the current one."""
    if not isinstance(name, str) or name.lower() not in RLIMITS:
        raise Bad(f"unknown resource limit {show(name)} (known: {', '.join(RLIMITS)})")
    if isinstance(value, tuple) and len(value) == 2:
        value = rlimit_text(value)
    value = str(value) if is_int(value) and value >= 0 else value
    parts = value.split(":") if isinstance(value, str) else []
    numbers = [RLIM_INFINITY if p in ("unlimited", "infinity") else int(p)
               if p.isascii() and p.isdigit() else None for p in parts]
    _expect(1 <= len(parts) <= 2 and None not in numbers,
            'SOFT[:HARD] like 256, "0:0" or "unlimited"', value)
    soft, hard = numbers[0], (numbers[1] if len(numbers) == 2 else None)
    if hard is not None and hard != RLIM_INFINITY and (soft == RLIM_INFINITY or soft > hard):
        raise Bad(f"the soft limit is above the hard one in {show(value)}")
    return name.lower(), (soft, hard)


def variable(name: str, value: Any) -> tuple[str, str]:
    if not isinstance(name, str) or not name or "=" in name:
        raise Bad(f"invalid variable name {show(name)}")
    return name, string(value)


def bind(value: Any, base: str) -> Bind:
    """"HOST[:GUEST[!][:ro]]", {host, guest, readonly, follow} or a Bind.  As PRoot's
    -b: a relative HOST is relative to ``base``; GUEST! binds a symlink at GUEST
    itself, not what it points to."""
    if isinstance(value, Bind):
        value = {"host": value.host, "guest": value.guest, "readonly": value.readonly,
                 "follow": value.follow}
    if isinstance(value, str):
        parts = value.split(":")
        _expect(len(parts) <= 2 or (len(parts) == 3 and parts[2] in ("ro", "rw")),
                '"HOST[:GUEST[!][:ro]]"', value)
        guest = parts[1] if len(parts) > 1 and parts[1] else None
        nofollow = guest is not None and guest.endswith("!")
        value = {"host": parts[0], "guest": guest[:-1] if nofollow else guest,
                 "readonly": len(parts) == 3 and parts[2] == "ro", "follow": not nofollow}
    _expect(isinstance(value, Mapping) and "host" in value
            and set(value) <= {"host", "guest", "readonly", "follow"} and value["host"],
            "{host = ..., guest = ..., readonly = ..., follow = ...}", value)
    host = host_path(value["host"], base)
    guest = value.get("guest")
    guest = os.path.normpath(guest_path(guest)) if guest is not None else host
    return Bind(host, guest, flag(value.get("readonly", False)), flag(value.get("follow", True)))


def net_rule(allow: bool) -> Check:
    def check(value: Any, base: str = "") -> str:
        from ..netrules import parse_rule
        try:
            parse_rule(string(value), allow)
        except VeilError as e:
            raise Bad(str(e).split(": ", 1)[-1]) from None
        return value
    return check


def net_map(value: Any, base: str = "") -> str:
    from ..netmap import parse_net_map
    try:
        parse_net_map(string(value))
    except VeilError as e:
        raise Bad(str(e).split(": ", 1)[-1]) from None
    return value


def one_of(*choices: str) -> Check:
    def check(value: Any, base: str = "") -> str:
        _expect(value in choices, " or ".join(f'"{c}"' for c in choices), value)
        return value
    return check


net_default = one_of("allow", "deny")
LAYOUT_ENGINES = ("auto", "mount", "ptrace")
NAMESPACES = ("pid", "ipc", "uts", "cgroup")  # the program's own, beside user and mount


def syscall_set(value: Any, base: str = "") -> str:
    from ..syscalls import UnknownSyscallError, resolve_set
    try:
        resolve_set(string(value))
    except UnknownSyscallError as e:
        raise Bad(str(e)) from None
    return value


def inject(value: Any, base: str = "") -> str:
    """strace's inject expression: SET:error=E|retval=N|signal=S[:when=W]..."""
    from ..policy import Policy, parse_inject
    try:
        names, kw = parse_inject(string(value))
        Policy().inject(names, **kw)
    except VeilError as e:
        raise Bad(str(e)) from None
    return value


def affinity(value: Any, base: str = "") -> str:
    text = str(value) if is_int(value) else value
    _expect(isinstance(text, str) and (text in ("auto", "off") or text.isdigit()),
            '"auto", "off" or a CPU number', value)
    return text


# section -> key -> check.  The order of sections is the profile's.
SCHEMA: dict[str, dict[str, Check]] = {
    "environment": {
        "argv": array(string), "env": table(variable), "unset": array(string),
        "clear_env": flag, "cwd": string, "umask": umask, "rlimits": table(rlimit),
        "argv0": string},
    "layout": {
        "root": host_path, "binds": array(bind), "hidden": array(guest_path),
        "readonly": array(guest_path), "private_tmp": flag, "keep_tmp": flag,
        "engine": one_of(*LAYOUT_ENGINES), "namespaces": array(one_of(*NAMESPACES)),
        "new_session": flag, "qemu": string},
    "system": {
        **dict.fromkeys(("hostname", "domainname", "sysname", "kernel_release",
                         "kernel_version", "machine"), uts),
        "uid": an_id, "gid": an_id, "fake_root": flag, "cpus": count,
        "ownership_db": host_path},
    "network": {
        "allow": array(net_rule(True)), "deny": array(net_rule(False)),
        "default": net_default, "map": array(net_map)},
    "security": {
        "strict": flag, "deny": array(syscall_set),
        "seccomp_profile": array(host_path, one_ok=True), "inject": array(inject),
        "policy": array(host_path, one_ok=True),
        "paths_read": array(string), "paths_written": array(string),
        "peers": array(net_rule(True)), "enforce": flag},
    "observation": {
        "trace": syscall_set, "output": host_path, "sockets": flag,
        "sockets_out": host_path, "capture_bytes": size, "seccomp": flag,
        "affinity": affinity},
}
# keys whose value is a table (``--set environment.env.NAME=VALUE``)
TABLES = {("environment", "env"), ("environment", "rlimits")}
# keys that hold host paths (written relative to a bundle)
PATHS = {("layout", "root"), ("system", "ownership_db"), ("security", "policy"),
         ("security", "seccomp_profile"), ("observation", "output"),
         ("observation", "sockets_out")}


def check(section: str, key: str, value: Any, base: str = "") -> Any:
    """The canonical value of ``[section] key``, or SpecError."""
    checker = SCHEMA.get(section, {}).get(key)
    if checker is None:
        raise SpecError(section, key, "unknown key (known: "
                        f"{', '.join(SCHEMA.get(section, {}))})")
    try:
        return checker(value, base)
    except Bad as e:
        raise SpecError(section, key, str(e), e.sub) from None
