"""OCI runtime-spec / Docker seccomp profiles: load one into a Policy, or
write the least-privilege profile a traced run needed.

Supported: defaultAction / defaultErrnoRet, architectures, and syscalls[] with
names, action (SCMP_ACT_ALLOW, _ERRNO, _KILL, _KILL_PROCESS, _KILL_THREAD,
_LOG), errnoRet and args (index, value, valueTwo, op SCMP_CMP_*).  Anything
else is refused with an error naming the field.  Names the x86_64 table does
not know (other architectures' calls, as in Docker's default profile) are
skipped, as libseccomp skips them.
"""
from __future__ import annotations

import errno as _errno
import json

from .errors import UsageError
from .filter import Cond
from .observers import Observer
from .syscalls.lookup import BY_NAME, BY_NR

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

_ACTIONS = {"SCMP_ACT_ALLOW": "allow", "SCMP_ACT_LOG": "allow", "SCMP_ACT_ERRNO": "deny",
            "SCMP_ACT_KILL": "kill", "SCMP_ACT_KILL_THREAD": "kill",
            "SCMP_ACT_KILL_PROCESS": "kill"}
_OPS = {"SCMP_CMP_EQ": "EQ", "SCMP_CMP_NE": "NE", "SCMP_CMP_LT": "LT", "SCMP_CMP_LE": "LE",
        "SCMP_CMP_GT": "GT", "SCMP_CMP_GE": "GE", "SCMP_CMP_MASKED_EQ": "MASKED_EQ"}
_TOP_KEYS = {"defaultAction", "defaultErrnoRet", "architectures", "syscalls", "archMap",
             "flags", "listenerPath", "listenerMetadata"}
_RULE_KEYS = {"names", "name", "action", "errnoRet", "args", "comment", "includes", "excludes"}


class ProfileError(UsageError):
    pass


def _action(where: str, name: object, errno_ret: object, default_errno: int) -> tuple[str, int]:
    kind = _ACTIONS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise ProfileError(f"{where}: unsupported action {name!r} "
                           f"(veil supports {', '.join(sorted(_ACTIONS))})")
    if kind != "deny":
        return kind, 0
    err = default_errno if errno_ret is None else errno_ret
    if not isinstance(err, int) or not 0 <= err <= 4095:
        raise ProfileError(f"{where}: errnoRet must be 0..4095, not {err!r}")
    return "deny", err


def _conds(where: str, args: object) -> tuple[Cond, ...]:
    if args is None:
        return ()
    if not isinstance(args, list):
        raise ProfileError(f"{where}.args: a list expected")
    out = []
    for j, a in enumerate(args):
        w = f"{where}.args[{j}]"
        if not isinstance(a, dict):
            raise ProfileError(f"{w}: an object expected")
        extra = set(a) - {"index", "value", "valueTwo", "op"}
        if extra:
            raise ProfileError(f"{w}: unsupported field {sorted(extra)[0]!r}")
        op = _OPS.get(a.get("op"))
        if op is None:
            raise ProfileError(f"{w}.op: unsupported {a.get('op')!r} (use one of {', '.join(_OPS)})")
        index, value = a.get("index"), a.get("value", 0)
        if not isinstance(index, int) or not 0 <= index < 6:
            raise ProfileError(f"{w}.index: 0..5 expected, not {index!r}")
        for key in ("value", "valueTwo"):
            v = a.get(key, 0)
            if not isinstance(v, int) or isinstance(v, bool) or not -2**63 <= v < 2**64:
                raise ProfileError(f"{w}.{key}: a 64-bit integer expected, not {v!r}")
        if op == "MASKED_EQ":  # OCI: value is the mask, valueTwo the datum
            out.append(Cond(index, op, a.get("valueTwo", 0), mask=value))
        else:
            out.append(Cond(index, op, value))
    return tuple(out)


def load_profile(path: str):
    """Read an OCI seccomp profile into a :class:`veil.Policy`."""
    from .policy import Policy
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise ProfileError(f"{path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ProfileError(f"{path}:{e.lineno}: not valid JSON: {e.msg}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a JSON object expected")
    for key in data:
        if key not in _TOP_KEYS:
            raise ProfileError(f"{path}: unsupported field {key!r}")
    for key in ("flags", "listenerPath", "listenerMetadata"):
        if data.get(key):
            raise ProfileError(f"{path}: unsupported field {key!r}")
    default_errno = data.get("defaultErrnoRet", _errno.EPERM)
    default = _action(f"{path}: defaultAction", data.get("defaultAction"), default_errno,
                      default_errno)
    arches = data.get("architectures") or ["SCMP_ARCH_X86_64"]
    if not isinstance(arches, list) or not all(isinstance(a, str) for a in arches):
        raise ProfileError(f"{path}: architectures must be a list of names")
    # names of other machines' architectures are accepted: nothing to do for them on x86_64
    policy = Policy()
    listed: set[int] = set()
    rules = data.get("syscalls") or []
    if not isinstance(rules, list):
        raise ProfileError(f"{path}: syscalls must be a list")
    for i, rule in enumerate(rules):
        where = f"{path}: syscalls[{i}]"
        if not isinstance(rule, dict):
            raise ProfileError(f"{where}: an object expected")
        for key in rule:
            if key not in _RULE_KEYS:
                raise ProfileError(f"{where}: unsupported field {key!r}")
        if rule.get("includes") or rule.get("excludes"):
            raise ProfileError(f"{where}: unsupported field "
                               f"{'includes' if rule.get('includes') else 'excludes'!r}")
        names = rule.get("names") or ([rule["name"]] if "name" in rule else [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ProfileError(f"{where}: names must be a list of syscall names")
        nrs = [BY_NAME[n].nr for n in names if n in BY_NAME]
        kind, err = _action(f"{where}.action", rule.get("action"), rule.get("errnoRet"),
                            default_errno)
        conds = _conds(where, rule.get("args"))
        policy.rules.append((nrs, (kind, err), conds))
        listed.update(nrs)
    # calls with only conditional rules, and calls not listed, get the default
    unconditional = {nr for nrs, _, conds in policy.rules if not conds for nr in nrs}
    rest = [nr for nr in BY_NR if nr not in unconditional]
    if default[0] != "allow":
        policy.rules.append((rest, default, ()))
    policy.foreign = default
    return policy


class SyscallLearner(Observer):
    """Collects every syscall a run made (entered, whatever the result)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def enter(self, call) -> None:
        if call.sc is not None:
            self.names.add(call.sc.name)


def learned_profile(names: Iterable[str], errno_ret: int = _errno.EPERM) -> dict:
    """The least-privilege profile: exactly these calls allowed, the rest fail."""
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno_ret,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": sorted(set(names)), "action": "SCMP_ACT_ALLOW"}],
    }


def write_profile(path: str, names: Iterable[str]) -> None:
    with open(path, "w") as f:
        json.dump(learned_profile(names), f, indent=2)
        f.write("\n")
