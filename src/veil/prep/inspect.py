"""What is inside a bundle: ``veil prep info``, ``files`` and ``graph``.

They read BUNDLE/profile.toml, seccomp.json, summary.json and the plan the
bundle was packed from (plan.toml, trace.json: the process tree and which
process touched which file).  A ``.veil`` archive is read from its unpacked
copy in the cache (as ``veil run B.veil`` does).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from .. import tomlread as tomllib
from ..errors import UsageError
from .archive import is_archive, unpacked
from .dpkg import NO_PACKAGE
from .plan import PLAN_FILE, Plan, load_plan
from .progress import human_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

ELF_MAGIC = b"\x7fELF"
# read by nearly every program: not what a person calls an input
SYSTEM_READS = ("/etc/ld.so.cache", "/etc/ld.so.preload", "/etc/localtime", "/etc/nsswitch.conf",
                "/etc/passwd", "/etc/group", "/etc/host.conf", "/etc/resolv.conf", "/etc/hosts",
                "/etc/gai.conf")
SYSTEM_TREES = ("/etc/ssl/", "/usr/", "/lib/", "/lib64/")
# a language runtime's own library (what an interpreter reads at every start)
RUNTIME_LIBRARY = re.compile(r"/(lib/python\d[^/]*|site-packages|dist-packages|__pycache__)/")
LABEL_MAX = 48


@dataclass
class Bundle:
    directory: str
    archive: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    plan: Plan | None = None

    @property
    def name(self) -> str:
        return os.path.basename(os.path.normpath(self.archive or self.directory))

    @property
    def trace(self) -> dict[str, Any]:
        return self.plan.trace if self.plan else {}


def open_bundle(path: str) -> Bundle:
    archive = None
    if is_archive(path):
        archive, path = path, unpacked(path)
    profile_path = os.path.join(path, "profile.toml")
    if not os.path.isfile(profile_path):
        raise UsageError(f"{path}: not a bundle (no profile.toml in the directory)")
    bundle = Bundle(path, archive)
    try:
        with open(profile_path, "rb") as f:
            bundle.profile = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise UsageError(f"{profile_path}: cannot read the profile: {e}") from None
    try:
        with open(os.path.join(path, "summary.json"), encoding="utf-8") as f:
            bundle.summary = json.load(f)
    except (OSError, ValueError):
        pass
    if os.path.isfile(os.path.join(path, PLAN_FILE)):
        bundle.plan = load_plan(path)
    return bundle


def _need_plan(bundle: Bundle, what: str) -> Plan:
    if bundle.plan is None or not bundle.trace.get("processes"):
        raise UsageError(f"prep {what}: {bundle.directory} was packed by an older veil (no "
                         f"{PLAN_FILE} and trace.json): pack it again")
    return bundle.plan


def _tree_size(directory: str) -> tuple[int, int]:
    files = size = 0
    for top, _dirs, names in os.walk(directory):
        for name in names:
            st = os.lstat(os.path.join(top, name))
            if not os.path.islink(os.path.join(top, name)):
                files += 1
                size += st.st_size
    return files, size


def _allowed_syscalls(bundle: Bundle) -> list[str]:
    names: set[str] = set()
    for profile in bundle.profile.get("security", {}).get("seccomp_profile", []):
        try:
            with open(os.path.join(bundle.directory, profile), encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            continue
        for rule in data.get("syscalls", []):
            if rule.get("action") == "SCMP_ACT_ALLOW":
                names.update(rule.get("names", []))
    return sorted(names)


def info(bundle: Bundle) -> dict[str, Any]:
    env = bundle.profile.get("environment", {})
    files, size = _tree_size(os.path.join(bundle.directory, "root"))
    plan = bundle.plan
    packages = []
    if plan:
        packages = [{"package": g.package, "version": g.version, "included": g.include,
                     "files": len(g.paths("executed", "read", "listed_only")), "size": g.size}
                    for g in plan.groups]
    system = bundle.profile.get("system", {})
    packed_on = dict(plan.identity) if plan else {
        k: system[k] for k in ("hostname", "sysname", "kernel_release", "machine", "cpus")
        if k in system}
    return {
        "bundle": bundle.directory, "archive": bundle.archive,
        "program": list(env.get("argv", [])), "cwd": env.get("cwd"),
        "size": {"files": files, "bytes": size,
                 "from_host": len(bundle.summary.get("from_host", []))},
        "packages": packages, "packed_on": packed_on,
        "syscalls": _allowed_syscalls(bundle),
        "network": dict(bundle.profile.get("network", {})),
        "exit_code": bundle.summary.get("exit_code"),
    }


def info_text(result: dict[str, Any]) -> str:
    import shlex
    host = result["packed_on"]
    lines = [f"bundle:    {result['archive'] or result['bundle']}",
             f"program:   {shlex.join(result['program'])}  (in {result['cwd']})",
             f"size:      {result['size']['files']} files, {human_size(result['size']['bytes'])}"
             + (f"; {result['size']['from_host']} files left to the host"
                if result["size"]["from_host"] else ""),
             "packed on: " + ", ".join(str(v) for v in (
                 host.get("hostname"), host.get("host"),
                 " ".join(str(host[k]) for k in ("sysname", "kernel_release", "machine")
                          if k in host),
                 f"{host['cpus']} CPUs" if "cpus" in host else None,
                 f"uid {host['uid']} gid {host.get('gid')}" if "uid" in host else None) if v)]
    if result["packages"]:
        lines.append(f"packages:  {len(result['packages'])}")
        for p in result["packages"]:
            where = "" if p["included"] else "  (left to the host)"
            version = f" {p['version']}" if p["version"] else ""
            lines.append(f"    {p['package']}{version}: {p['files']} files, "
                         f"{human_size(p['size'])}{where}")
    calls = result["syscalls"]
    lines.append(f"syscalls:  {len(calls)} allowed, the rest fail with EPERM")
    lines += _wrapped(calls, "    ")
    net = result["network"]
    if net:
        lines.append("network:   " + "; ".join(f"{k} {v}" for k, v in net.items()))
    return "\n".join(lines) + "\n"


def _wrapped(words: list[str], indent: str, width: int = 88) -> list[str]:
    lines, line = [], indent
    for word in words:
        if len(line) + len(word) + 1 > width and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += word + " "
    if line.strip():
        lines.append(line.rstrip())
    return lines


# --- processes and files --------------------------------------------------------------------

def _program(processes: dict[str, Any], pid: str) -> str:
    """The name a process is known by: its last exec, else its parent's."""
    seen = set()
    while pid and pid not in seen:
        seen.add(pid)
        info = processes.get(pid, {})
        if info.get("execs"):
            return os.path.basename(info["execs"][-1][0])
        pid = str(info.get("parent")) if info.get("parent") is not None else ""
    return "?"


def _is_elf(root: str, path: str) -> bool:
    try:
        with open(os.path.join(root, path.lstrip("/")), "rb") as f:
            return f.read(4) == ELF_MAGIC
    except OSError:
        return False


def input_files(plan: Plan, root: str, kinds: Sequence[str] = ("read",)) -> list[str]:
    """The files a person calls the run's inputs: read (or of the other KINDS: "executed"
    adds the scripts it ran), from no package, not written by the run, not programs or
    libraries (ELF), not a language runtime's library, not what every program reads, and
    packed (a regular file under ROOT)."""
    inputs = []
    for group in plan.groups:
        if group.package != NO_PACKAGE:
            continue
        written = set(group.paths("written", "created"))
        for path in (p for kind in kinds for p in group.files.get(kind, ())):
            if (path in written or path in SYSTEM_READS or path in plan.share
                    or path.startswith(SYSTEM_TREES) or RUNTIME_LIBRARY.search(path)
                    or _is_elf(root, path)
                    or not os.path.isfile(os.path.join(root, path.lstrip("/")))):
                continue
            inputs.append(path)
    return inputs


def files(bundle: Bundle) -> dict[str, Any]:
    """Input files (read, not from a package, not programs or libraries, not a language
    runtime's library, not the run's own) and output files (written or created), with the
    processes that used them."""
    plan = _need_plan(bundle, "files")
    processes = bundle.trace["processes"]
    by_path = bundle.trace.get("files", {})

    def users(path: str, kinds: set[str]) -> list[dict[str, Any]]:
        return [{"pid": int(pid), "program": _program(processes, pid)}
                for pid, how in sorted(by_path.get(path, {}).items(), key=lambda x: int(x[0]))
                if kinds & set(how)]

    inputs = [{"path": path, "by": users(path, {"read"})}
              for path in input_files(plan, os.path.join(bundle.directory, "root"))]
    outputs = []
    for group in plan.groups:
        written = set(group.paths("written", "created"))
        for path in sorted(written):
            if path.startswith(("/dev/", "/proc/")):
                continue
            outputs.append({"path": path, "by": users(path, {"write", "create"})})
    return {"inputs": inputs, "outputs": outputs}


def files_text(result: dict[str, Any]) -> str:
    lines = []
    for title, key, verb in (("Input files", "inputs", "read"),
                             ("Output files", "outputs", "written")):
        lines.append(f"{title}:")
        if not result[key]:
            lines.append("    (none)")
        for f in result[key]:
            who = ", ".join(f"{u['program']} (pid {u['pid']})" for u in f["by"])
            lines.append(f"    {f['path']}" + (f"  {verb} by {who}" if who else ""))
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _short(text: str) -> str:
    return text if len(text) <= LABEL_MAX else text[:LABEL_MAX - 3] + "..."


def graph_dot(bundle: Bundle, everything: bool = False) -> str:
    """The run as Graphviz: processes (boxes, with their execs), fork edges, files (ellipses)
    read (file -> process), written (process -> file) and executed (file -> process,
    "exec").  The files shown are the executed ones and those ``veil prep files`` lists;
    every file the run used (libraries, locales, a runtime's modules) when EVERYTHING."""
    _need_plan(bundle, "graph")   # refuses a bundle packed without a learning run
    processes = bundle.trace["processes"]
    listed = files(bundle)
    wanted = {f["path"] for f in listed["inputs"] + listed["outputs"]}
    out = ["digraph veil {", '    rankdir="LR";',
           '    node [fontname="Helvetica", fontsize=10];',
           '    edge [fontname="Helvetica", fontsize=9];']
    for pid, info in sorted(processes.items(), key=lambda x: int(x[0])):
        execs = [" ".join(argv) if argv else os.path.basename(path)
                 for path, argv in info.get("execs", [])]
        label = f"{_program(processes, pid)} [{pid}]"
        if execs:
            label += "\\n" + "\\n".join(_quote(_short(e))[1:-1] for e in execs)
        out.append(f'    p{pid} [shape=box, style=filled, fillcolor="#dde8f7", '
                   f'label="{label}"];')
        if info.get("parent") is not None and str(info["parent"]) in processes:
            out.append(f'    p{info["parent"]} -> p{pid} [style=dashed, label="fork"];')
    shown: dict[str, str] = {}
    for path, by in sorted(bundle.trace.get("files", {}).items()):
        executed = any("exec" in how for how in by.values())
        if not (everything or executed or path in wanted) \
                or path.startswith(("/proc/", "/dev/", "/sys/")):
            continue
        node = shown.setdefault(path, f"f{len(shown)}")
        for pid, how in sorted(by.items()):
            how = set(how)
            if "exec" in how:
                out.append(f'    {node} -> p{pid} [label="exec", color="#1f5fbf"];')
            elif how & {"write", "create"}:
                out.append(f'    p{pid} -> {node} [color="#b03030"];')
            if how & {"read", "list"} and "exec" not in how:
                out.append(f"    {node} -> p{pid};")
    for path, node in shown.items():
        out.append(f"    {node} [shape=ellipse, label={_quote(path)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def write_graph(bundle: Bundle, output: str, everything: bool = False) -> None:
    kind = os.path.splitext(output)[1].lower()
    if kind not in (".dot", ".gv", ".svg"):
        raise UsageError(f"prep graph: {output}: write a .dot (or .gv) or an .svg file")
    text = graph_dot(bundle, everything)
    if kind != ".svg":
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
        return
    dot = shutil.which("dot")
    if dot is None:
        raise UsageError(f"prep graph: {output}: an SVG needs Graphviz's dot, which is not "
                         f"installed (apt install graphviz); write a .dot file instead")
    done = subprocess.run([dot, "-Tsvg", "-o", output], input=text.encode(),
                          capture_output=True)
    if done.returncode != 0:
        raise UsageError(f"prep graph: dot failed: "
                         f"{done.stderr.decode(errors='replace').strip()[:200]}")
