"""The plan of a bundle: what ``veil prep trace`` learned, for a person to review
before ``veil prep pack DIR -o BUNDLE`` packs it (ReproZip's config.yml).

DIR/plan.toml is the editable part:

- ``[run]``: the command, its working directory, umask and environment, the
  host paths bound rather than copied (``share``);
- ``[identity]``: the system the run saw (uname, CPUs, uid/gid, the host's name);
- ``[syscalls] allowed``: the learned seccomp allowlist;
- ``[security]``: the rules ``veil run BUNDLE`` enforces (``read``/``write``
  path globs, ``peers`` addresses); widen one with a glob (``/srv/app/**``);
- one ``[[group]]`` per Debian package the files belong to (and one "not in a
  package"): its files by what the run did with them, their size, and
  ``include``: false leaves the group to the host (bound from it at run time).

DIR/trace.json keeps the rest of the learning run (the process tree, which
process touched which file, the internet peers) for ``veil prep info``,
``files`` and ``graph``.
"""
from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field

from .. import tomlread as tomllib
from ..errors import UsageError
from ..spec import checks
from ..spec.checks import Bad, array, flag, show, string, toml_key, toml_value
from .dpkg import NO_PACKAGE, Packages

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

DEFAULT_SHARE = ("/proc", "/dev", "/sys")    # always bound from the host
PLAN_FILE = "plan.toml"
TRACE_FILE = "trace.json"
LISTED_FILE_MAX = 1 << 20          # a file seen only in a directory listing: packed up to 1 MiB
LISTED_BUDGET = 16 << 20           # and up to 16 MiB for all of them
# what the run did with a path -> the list of its group that names it
KINDS = ("executed", "read", "listed", "written", "created", "listed_only",
         "listed_only_skipped")
PACKED_KINDS = ("executed", "read", "listed_only")   # the lists whose files are copied


@dataclass
class Group:
    """The files of one package (or of none) and whether the bundle carries them."""

    package: str
    version: str = ""
    include: bool = True
    size: int = 0
    files: dict[str, list[str]] = field(default_factory=dict)   # kind -> paths

    def paths(self, *kinds: str) -> list[str]:
        return [p for k in (kinds or KINDS) for p in self.files.get(k, ())]


@dataclass
class Plan:
    argv: list[str]
    cwd: str
    env: dict[str, str]
    umask: str = "022"
    share: list[str] = field(default_factory=list)
    exit_code: int = 0
    identity: dict[str, Any] = field(default_factory=dict)
    syscalls: list[str] = field(default_factory=list)
    enforce: bool = True
    read_rules: list[str] = field(default_factory=list)
    write_rules: list[str] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    trace: dict[str, Any] = field(default_factory=dict)   # trace.json


# --- from a learning run ------------------------------------------------------------------

def _size(path: str) -> int:
    try:
        st = os.stat(path)
    except OSError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


def _under(path: str, prefixes: Sequence[str]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def classify(paths: dict[str, set[str]], shared: Sequence[str]) -> dict[str, set[str]]:
    """Each path the run used -> the plan lists that name it (KINDS)."""
    created = [os.path.normpath(p) for p, how in paths.items() if "create" in how]
    out: dict[str, set[str]] = {}
    for path, how in paths.items():
        norm = os.path.normpath(path)
        share = next((p for p in DEFAULT_SHARE if _under(norm, [p])), None)
        if share:                   # kernel file systems, bound: the share stands for them
            out.setdefault(share, set()).add("read")
            continue
        kinds: set[str] = set()
        if _under(norm, created) and "exec" not in how:
            kinds.add("created")
        elif "exec" in how:
            kinds.add("executed")
        elif how - {"write", "create"}:
            kinds.add("read")
        if "write" in how and "created" not in kinds:
            kinds.add("written")
        if "list" in how and "created" not in kinds:
            kinds.add("listed")
        if kinds:
            out[norm] = kinds
    return out


def listed_entries(listed: Sequence[str], used: set[str], shared: Sequence[str]
                   ) -> tuple[list[str], dict[str, str]]:
    """The entries of the listed directories the run did not otherwise use: those packed
    (small files, directories, symlinks) and those skipped -> why, in words."""
    packed: list[str] = []
    skipped: dict[str, str] = {}
    budget = 0
    for directory in sorted(listed):
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            entry = os.path.join(directory, name)
            if entry in used or _under(entry, shared):
                continue
            try:
                st = os.lstat(entry)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                if st.st_size > LISTED_FILE_MAX:
                    skipped[entry] = (f"the program only listed it and it is larger than "
                                      f"{LISTED_FILE_MAX >> 20} MiB")
                    continue
                if budget + st.st_size > LISTED_BUDGET:
                    skipped[entry] = (f"the program only listed it and the "
                                      f"{LISTED_BUDGET >> 20} MiB for such files was used up")
                    continue
                budget += st.st_size
            elif not (stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                continue
            packed.append(entry)
    return packed, skipped


def make_plan(argv: Sequence[str], cwd: str, env: dict[str, str], umask: str,
              shared: Sequence[str], learner: Any, syscalls: Sequence[str],
              identity: dict[str, Any], exit_code: int,
              packages: Packages | None = None) -> Plan:
    """The plan of a learning run (a :class:`veil.prep.learn.Learner`)."""
    packages = packages or Packages()
    kinds = classify(learner.paths, shared)
    listed = [p for p, k in kinds.items() if "listed" in k]
    extra, skipped = listed_entries(listed, set(kinds), shared)
    for entry in extra:
        kinds.setdefault(entry, set()).add("listed_only")
    for entry in skipped:
        kinds.setdefault(entry, set()).add("listed_only_skipped")
    groups: dict[str, Group] = {}
    for path in sorted(kinds):
        owner = packages.owner_of(path) or NO_PACKAGE
        group = groups.get(owner)
        if group is None:
            group = groups[owner] = Group(owner, packages.version.get(owner, ""))
        for kind in sorted(kinds[path]):
            group.files.setdefault(kind, []).append(path)
    for group in groups.values():
        reals = {os.path.realpath(p) for p in group.paths(*PACKED_KINDS)}
        group.size = sum(_size(p) for p in reals)
    ordered = sorted(groups.values(), key=lambda g: (g.package == NO_PACKAGE, g.package))
    read = {p for p, k in kinds.items() if k & {"read", "executed", "listed", "listed_only"}}
    # a symlink's target is read too (veil's loader opens an executed file by its real path)
    read = sorted(read | {os.path.realpath(p) for p in read if not _under(p, DEFAULT_SHARE)})
    written = _write_rules([p for p, k in kinds.items() if k & {"written", "created"}],
                           [p for p, k in kinds.items() if "created" in k])
    net = sorted({_peer_rule(ip, port) for _call, ip, port in learner.peers})
    trace = {"processes": {str(pid): info for pid, info in learner.processes.items()},
             "first": learner.first_pid,
             "files": _by_process(learner.by_process),
             "peers": sorted([call, ip, port] for call, ip, port in learner.peers),
             "skipped": skipped}
    return Plan(list(argv), cwd, dict(env), umask, list(shared), exit_code, dict(identity),
                sorted(set(syscalls)), True, read, written, net, ordered, trace)


def _temporary_dirs() -> list[str]:
    dirs = ["/tmp", "/var/tmp", "/dev/shm"]
    tmpdir = os.environ.get("TMPDIR")
    if tmpdir and tmpdir.startswith("/") and os.path.normpath(tmpdir) not in dirs:
        dirs.append(os.path.normpath(tmpdir))
    return dirs


def _write_rules(written: Sequence[str], created: Sequence[str]) -> list[str]:
    """Where a bundle may write: what the run wrote, below the directories it made, and
    anywhere in a temporary directory it made a file in (mkstemp's names change every run)."""
    rules: set[str] = set()
    temporary = _temporary_dirs()
    for path in written:
        tmp = os.path.dirname(path) in temporary
        rules.add(os.path.dirname(path) + "/**" if tmp else path)
    for path in created:
        if os.path.isdir(path) and not any(_under(path, [t]) for t in temporary):
            rules.add(path + "/**")
    return sorted(rules)


def _by_process(by_process: dict[str, dict[int, set[str]]]) -> dict[str, dict[str, list[str]]]:
    """path (normalized) -> pid -> what that process did with it."""
    merged: dict[str, dict[str, set[str]]] = {}
    for path, by in by_process.items():
        for pid, how in by.items():
            merged.setdefault(os.path.normpath(path), {}).setdefault(str(pid), set()).update(how)
    return {path: {pid: sorted(how) for pid, how in by.items()}
            for path, by in sorted(merged.items())}


def _peer_rule(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


# --- as TOML ------------------------------------------------------------------------------

HEADER = """\
# veil prep plan: what `veil prep pack DIR -o BUNDLE` puts in the bundle (DIR: this
# file's directory; a bundle holds the plan it was packed from, and can be packed again).
# Review and edit it, then pack:
#   [[group]] include = false   leaves the group's files to the host: the bundle binds them
#                               from the machine it runs on (which must have them);
#   listed_only_skipped         files the program only saw in a directory listing, not packed
#                               (the reason is beside each); move one to listed_only to pack it;
#   [security]                  what `veil run BUNDLE` allows: reads of what the run read,
#                               writes where it wrote (anywhere in a temporary directory it
#                               made a file in), the addresses it used (peers); widen a rule with a
#                               glob ("/srv/app/**"), or enforce = false to record only.
"""


def _lines(key: str, value: Any) -> list[str]:
    return [f"{toml_key(key)} = {toml_value(value)}"]


def dump_plan(plan: Plan) -> str:
    out = [HEADER]
    out += ["[run]"]
    for key, value in (("argv", plan.argv), ("cwd", plan.cwd), ("umask", plan.umask),
                       ("share", plan.share), ("exit_code", plan.exit_code)):
        out += _lines(key, value)
    out += ["", "[run.env]"]
    for name, value in plan.env.items():
        out += _lines(name, value)
    out += ["", "[identity]"]
    for key, value in plan.identity.items():
        out += _lines(key, value)
    out += ["", "[syscalls]"] + _lines("allowed", plan.syscalls)
    out += ["", "[security]"]
    for key, value in (("enforce", plan.enforce), ("read", plan.read_rules),
                       ("write", plan.write_rules), ("peers", plan.peers)):
        out += _lines(key, value)
    skipped = plan.trace.get("skipped", {})
    for group in plan.groups:
        out += ["", "[[group]]"]
        out += _lines("package", group.package)
        if group.version:
            out += _lines("version", group.version)
        out += _lines("include", group.include)
        out += _lines("size", group.size)
        for kind in KINDS:
            paths = group.files.get(kind)
            if not paths:
                continue
            if kind == "listed_only_skipped":
                out += [f"{kind} = ["]
                out += [f"    {toml_value(p)},   # {skipped.get(p, 'not packed')}" for p in paths]
                out += ["]"]
            else:
                out += _lines(kind, paths)
    return "\n".join(out) + "\n"


def write_plan(plan: Plan, directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, PLAN_FILE), "w", encoding="utf-8") as f:
        f.write(dump_plan(plan))
    with open(os.path.join(directory, TRACE_FILE), "w", encoding="utf-8") as f:
        json.dump(plan.trace, f, indent=1)
        f.write("\n")


# --- reading an edited plan ---------------------------------------------------------------

def _abs_path(value: Any, base: str = "") -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise Bad(f"expected an absolute path, got {show(value)}")
    return os.path.normpath(value)


def _syscall(value: Any, base: str = "") -> str:
    from ..syscalls.lookup import BY_NAME
    if not isinstance(value, str) or value not in BY_NAME:
        raise Bad(f"unknown syscall {show(value)}")
    return value


def _integer(value: Any, base: str = "") -> int:
    if not checks.is_int(value):
        raise Bad(f"expected an integer, got {show(value)}")
    return value


def _glob(value: Any, base: str = "") -> str:
    return _abs_path(value) if not isinstance(value, str) or "*" not in value else value


_paths = array(_abs_path)
SCHEMA: dict[str, dict[str, Callable[[Any, str], Any]]] = {
    "run": {"argv": array(string), "cwd": _abs_path, "umask": checks.umask,
            "share": _paths, "exit_code": _integer, "env": checks.table(checks.variable)},
    "identity": {
        **dict.fromkeys(("hostname", "sysname", "kernel_release", "kernel_version",
                         "machine", "host"), checks.uts),
        "uid": checks.an_id, "gid": checks.an_id, "cpus": checks.count},
    "syscalls": {"allowed": array(_syscall)},
    "security": {"enforce": flag, "read": array(_glob), "write": array(_glob),
                 "peers": array(checks.net_rule(True))},
    "group": {"package": string, "version": string, "include": flag, "size": _integer,
              **dict.fromkeys(KINDS, _paths)},
}
REQUIRED = {"run": ("argv", "cwd"), "group": ("package",)}


def _line(text: str, section: str, key: str | None, nth: int = 0) -> int | None:
    """The line of ``key`` in the ``nth`` table named ``section`` (its header line when
    ``key`` is None or not there)."""
    header, seen, inside = None, -1, False
    for number, line in enumerate(text.splitlines(), 1):
        words = line.strip()
        if words.startswith("["):
            name = words.strip("[] ").split("]")[0].strip()
            inside = name == section and (seen := seen + 1) == nth
            if inside and header is None:
                header = number
            continue
        if inside and key is not None and words.split("=", 1)[0].strip().strip('"') == key:
            return number
    return header


def load_plan(directory: str) -> Plan:
    """DIR/plan.toml (and DIR/trace.json) as a Plan; a bad value is one error naming the
    file, the line and the key."""
    path = os.path.join(directory, PLAN_FILE)
    if not os.path.isfile(path):
        raise UsageError(f"{directory}: not a plan (no {PLAN_FILE}; make one with "
                         f"veil prep trace -o {directory} -- CMD)")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read the plan: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: invalid TOML: {e}") from None

    def fail(section: str, key: str | None, message: str, nth: int = 0,
             sub: str = "") -> UsageError:
        line = _line(text, f"{section}.{key}", sub[1:], nth) if sub.startswith(".") else None
        line = line or _line(text, section, key, nth)
        where = f"{path}:{line}" if line else path
        return UsageError(f"{where}: [{section}]{' ' + key + sub if key else ''}: {message}")

    def checked(section: str, table: Any, nth: int = 0) -> dict[str, Any]:
        if not isinstance(table, dict):
            raise fail(section, None, f"expected a table, got {show(table)}", nth)
        out = {}
        for key, value in table.items():
            check = SCHEMA[section].get(key)
            if check is None:
                raise fail(section, key, f"unknown key (known: {', '.join(SCHEMA[section])})",
                           nth)
            try:
                out[key] = check(value, "")
            except Bad as e:
                raise fail(section, key, str(e), nth, e.sub) from None
        for key in REQUIRED.get(section, ()):
            if key not in out:
                raise fail(section, None, f"{key} is missing", nth)
        return out

    for section in data:
        if section not in SCHEMA:
            raise fail(section, None, f"unknown section (known: {', '.join(SCHEMA)})")
    run = checked("run", data.get("run", {}))
    identity = checked("identity", data.get("identity", {}))
    syscalls = checked("syscalls", data.get("syscalls", {}))
    security = checked("security", data.get("security", {}))
    tables = data.get("group", [])
    if not isinstance(tables, list):
        raise fail("group", None, "write each group as [[group]]")
    groups = []
    for i, table in enumerate(tables):
        values = checked("group", table, i)
        groups.append(Group(values["package"], values.get("version", ""),
                            values.get("include", True), values.get("size", 0),
                            {k: list(values[k]) for k in KINDS if values.get(k)}))
    trace: dict[str, Any] = {}
    try:
        with open(os.path.join(directory, TRACE_FILE), encoding="utf-8") as f:
            trace = json.load(f)
    except (OSError, ValueError):
        pass            # the process tree is for info/graph; a plan packs without it
    return Plan(list(run["argv"]), run["cwd"], dict(run.get("env", {})),
                f"{run.get('umask', 0o022):03o}", list(run.get("share", [])),
                run.get("exit_code", 0), identity, list(syscalls.get("allowed", [])),
                security.get("enforce", True), list(security.get("read", [])),
                list(security.get("write", [])), list(security.get("peers", [])),
                groups, trace)
