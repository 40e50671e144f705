"""``veil prep trace`` and ``veil prep pack``: a learning run, its plan, and a
relocatable bundle.

    veil prep trace -o DIR [--share PATHS] -- CMD ARGS      (DIR/plan.toml, DIR/trace.json)
    veil prep pack DIR -o BUNDLE [--config PATH]... [--data PATH]... [--rewrite OLD=NEW]...
                   [--standalone] [--archive] [--progress]
    veil prep pack -o BUNDLE [same options] [--share PATHS] -- CMD ARGS   (both in one step)

BUNDLE/root/ receives, at their guest paths, the files the run read, executed
or stat'ed, the library closures and interpreters of the ELF programs it
executed, the directories it listed (one level of entries), and every
symlink along those paths (kept as symlinks).  ``--rewrite OLD=NEW`` replaces
byte strings in the copies of the --config/--data files.  BUNDLE/seccomp.json
is the syscall allowlist the run needed (an OCI profile).  BUNDLE/profile.toml
says how to run it: ``veil run BUNDLE [-- ARGS]``.  ``--standalone`` adds
BUNDLE/standalone/ and the launcher BUNDLE/run (see :mod:`.standalone`).
BUNDLE/summary.json lists what was packed and what was skipped, and why;
BUNDLE/plan.toml and BUNDLE/trace.json are the plan it was packed from.  The
files of a plan group with ``include = false`` are bound from the host at run
time (read-only), not copied.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import stat
import sys

from ..errors import UsageError
from .plan import DEFAULT_SHARE, PACKED_KINDS
from .progress import Progress, human_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from .plan import Plan

ENV_KEEP = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TERM", "USER", "LOGNAME", "SHELL",
            "TMPDIR", "PYTHONPATH", "PYTHONHOME", "LD_LIBRARY_PATH")
MAX_LINKS = 40
BINARY_SNIFF = 8192                # a file with a NUL byte in its first 8 KiB is binary
SECCOMP_FILE = "seccomp.json"
SUMMARY_FILE = "summary.json"
# allowed by the learned seccomp profile whatever the run made: a bundle run that fails
# another way still says why and exits (ld.so reports a missing library with writev); a
# shell started without the learning run's $PWD asks getcwd where it is
ALWAYS_ALLOWED = frozenset(("write", "writev", "exit", "exit_group", "rt_sigreturn",
                            "getcwd"))
# a confined run gets ENOSYS for clone3 (its flags are in memory the filter cannot read) and
# glibc falls back to clone: a learning run's clone3 needs clone in the bundle's allowlist
FALLBACKS = {"clone3": "clone"}
SHOWN_PER_REASON = 4               # skipped paths named on stderr for each reason
LIBRARY_NAME = re.compile(r"^lib.*\.so(\.[0-9.]+)?$")


class Packer:
    """Copies host paths into ROOT at the same (guest) paths."""

    def __init__(self, root: str, shared: Sequence[str], exclude: Sequence[str] = ()):
        self.root = root
        self.shared = [os.path.normpath(p) for p in shared]
        self.exclude = [os.path.normpath(os.path.abspath(p)) for p in exclude]
        self.files: set[str] = set()
        self.links: set[str] = set()
        self.dirs: set[str] = set()
        self.bytes = 0
        self.libraries: set[str] = set()
        self.skipped: dict[str, str] = {}        # path -> reason
        self.chosen: set[str] = set()            # real paths of the --config/--data files
        self.loaders: set[str] = set()           # real paths of the ELF interpreters
        self.progress: Progress | None = None
        self.left_to_host: set[str] = set()      # real paths bound from the host, not copied
        self.host_binds: set[str] = set()        # those the bundle needs

    @staticmethod
    def _under(path: str, prefixes: Sequence[str]) -> str | None:
        for p in prefixes:
            if path == p or path.startswith(p.rstrip("/") + "/"):
                return p
        return None

    def shared_by(self, path: str) -> str | None:
        return self._under(path, self.shared)

    def _dest(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def _skip(self, path: str, reason: str) -> None:
        self.skipped.setdefault(path, reason)

    def _mkdir(self, path: str, st: os.stat_result | None = None) -> None:
        if path in self.dirs or path == "/":
            return
        dest = self._dest(path)
        os.makedirs(dest, exist_ok=True)
        try:
            st = st or os.stat(path)
            os.chmod(dest, stat.S_IMODE(st.st_mode) | 0o700)
        except OSError:
            pass
        self.dirs.add(path)

    def _symlink(self, path: str) -> None:
        if path in self.links:
            return
        dest = self._dest(path)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if not os.path.lexists(dest):
            os.symlink(os.readlink(path), dest)
        self.links.add(path)

    def walk(self, path: str, follow_last: bool = True, depth: int = 0) -> str | None:
        """Create in ROOT every directory and symlink along PATH (following the symlinks on
        the host, as the kernel would); the real host path it names, or None (missing,
        shared, excluded)."""
        if depth > MAX_LINKS:
            self._skip(path, "too many levels of symbolic links")
            return None
        parts = [p for p in path.split("/") if p and p != "."]
        cur = "/"
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "..":
                cur = os.path.dirname(cur)
                continue
            nxt = os.path.join(cur, part)
            share = self.shared_by(nxt)
            if share:
                self._skip(share, "shared (bound from the host)")
                if self._under(nxt, DEFAULT_SHARE):
                    return None     # kernel file systems: nothing to follow
            if self._under(nxt, self.exclude):
                self._skip(nxt, "inside the bundle")
                return None
            try:
                st = os.lstat(nxt)
            except OSError:
                return None
            if stat.S_ISLNK(st.st_mode):
                if not share:
                    self._symlink(nxt)
                if last and not follow_last:
                    return nxt
                target = os.readlink(nxt)
                resolved = self.walk(os.path.join(cur, target), True, depth + 1)
                if resolved is None:
                    return None
                cur = resolved
            elif stat.S_ISDIR(st.st_mode):
                if not share:
                    self._mkdir(nxt, st)
                cur = nxt
            else:
                if not last:
                    return None
                cur = nxt
        return cur

    def add(self, path: str, copy: bool = True, follow_last: bool = True) -> str | None:
        """Bring PATH into the bundle (a regular file copied when COPY); its real host path."""
        real = self.walk(path, follow_last)
        if real is None or real == "/" or self.shared_by(real):
            return real
        try:
            st = os.lstat(real)
        except OSError:
            return None
        if stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
            return real
        if real in self.left_to_host:
            self.bind_from_host(real, st)
            return real
        if not stat.S_ISREG(st.st_mode):
            self._skip(real, _kind_of(st.st_mode))
            return real
        if copy:
            self.copy_file(real, st)
        return real

    def copy_file(self, real: str, st: os.stat_result) -> None:
        if real in self.files:
            return
        dest = self._dest(real)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        try:
            shutil.copy2(real, dest, follow_symlinks=False)
        except OSError as e:
            self._skip(real, f"cannot copy: {e.strerror}")
            return
        self.files.add(real)
        self.bytes += st.st_size
        if self.progress is not None:
            self.progress.step(files=1, nbytes=st.st_size, items=0)

    def add_tree(self, path: str) -> None:
        """A --config/--data argument: a file, or a directory with everything below it."""
        real = self.add(path)
        if real is None:
            raise UsageError(f"prep pack: {path}: no such file or directory")
        if os.path.isdir(real):
            for top, dirs, files in os.walk(real):
                for name in dirs + files:
                    entry = self.add(os.path.join(top, name), follow_last=False)
                    if entry in self.files:
                        self.chosen.add(entry)
        elif real in self.files:
            self.chosen.add(real)

    def rewrite(self, pairs: Sequence[tuple[bytes, bytes]]) -> tuple[dict[str, int], list[str]]:
        """Apply PAIRS (in order) to the copies of the --config/--data files: {path:
        replacements} of the copies changed, and the binary files left alone."""
        changed: dict[str, int] = {}
        binary: list[str] = []
        if not pairs:
            return changed, binary
        for real in sorted(self.chosen):
            dest = self._dest(real)
            try:
                with open(dest, "rb") as f:
                    text = f.read()
            except OSError as e:
                self._skip(real, f"cannot rewrite: {e.strerror}")
                continue
            if b"\0" in text[:BINARY_SNIFF]:
                binary.append(real)
                continue
            count = 0
            for old, new in pairs:
                n = text.count(old)
                if n:
                    text = text.replace(old, new)
                    count += n
            if not count:
                continue
            before = os.lstat(dest)
            os.chmod(dest, stat.S_IMODE(before.st_mode) | stat.S_IWUSR)
            with open(dest, "wb") as f:        # a copy: the host file is never opened to write
                f.write(text)
            shutil.copystat(real, dest)        # the original's mode and times
            self.bytes += len(text) - before.st_size
            changed[real] = count
        return changed, binary

    def bind_from_host(self, real: str, st: os.stat_result) -> None:
        """REAL stays on the host: an empty file in ROOT is where it is bound."""
        if real in self.host_binds:
            return
        dest = self._dest(real)
        if not os.path.lexists(dest):
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb"):
                pass
        self.host_binds.add(real)

    def add_program(self, path: str, env: dict[str, str], seen: set[str]) -> None:
        """An executed file: itself, its #! interpreter, or its ELF interpreter and libraries."""
        real = self.add(path)
        if real is None or real in seen or not os.path.isfile(real):
            return
        seen.add(real)
        try:
            with open(real, "rb") as f:
                head = f.read(256)
        except OSError:
            return
        if head.startswith(b"#!"):
            words = head[2:].split(b"\n", 1)[0].split()
            if words:
                self.add_program(os.fsdecode(words[0]), env, seen)
            return
        from .elfheader import read_ident
        from .elfinfo import LiefError, read_elf
        from .resolve import resolve_closure
        ident = read_ident(real)
        if ident is None:
            return
        try:
            info = read_elf(real, full=False)
        except LiefError as e:
            self._skip(real, f"not analyzed: {e}")
            return
        wanted: list[str] = []
        if info.interpreter:
            wanted.append(info.interpreter)
        if info.needed:
            for lib in resolve_closure(real, info, ident, env):
                if lib.path:
                    wanted.append(lib.path)
                else:
                    self._skip(lib.name, f"library not found (needed by {real})")
        for lib_path in wanted:
            lib_real = self.add(lib_path)
            if lib_real is not None:
                self.libraries.add(lib_real)
        if info.interpreter:
            loader = self.walk(info.interpreter)
            if loader is not None:
                self.loaders.add(loader)

    def library_files(self) -> set[str]:
        """The closures' libraries and every other copied lib*.so* (dlopen'ed ones)."""
        return self.libraries | {p for p in self.files if LIBRARY_NAME.match(os.path.basename(p))}


def _kind_of(mode: int) -> str:
    for test, what in ((stat.S_ISSOCK, "a socket"), (stat.S_ISFIFO, "a fifo"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return what
    return "not a regular file"


def _environment(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k in ENV_KEEP or k.startswith("LC_")}


def _umask() -> str:
    mask = os.umask(0o022)
    os.umask(mask)
    return f"{mask:03o}"


def parse_rewrites(specs: Sequence[str]) -> list[tuple[bytes, bytes]]:
    """``OLD=NEW`` specs (split at the first '='; OLD not empty) as byte pairs."""
    pairs = []
    for spec in specs:
        old, eq, new = spec.partition("=")
        if not eq or not old:
            raise UsageError(f"prep pack: --rewrite {spec!r}: OLD=NEW expected "
                             f"(OLD not empty)")
        pairs.append((os.fsencode(old), os.fsencode(new)))
    return pairs


def _shared_paths(share: Sequence[str]) -> list[str]:
    shared = list(DEFAULT_SHARE)
    for item in share:
        for p in item.split(","):
            if p and not p.startswith("/"):
                raise UsageError(f"prep pack: --share {p}: an absolute path is needed")
            if p and os.path.normpath(p) not in shared:
                shared.append(os.path.normpath(p))
    return shared


def _copy_planned(packer: Packer, plan: Plan, env: dict[str, str], progress: Progress) -> None:
    """Bring what the plan includes into the bundle; its other groups stay on the host."""
    for group in plan.groups:
        if not group.include:
            packer.left_to_host.update(os.path.realpath(p) for p in group.paths(*PACKED_KINDS))
    progress.phase("copying", sum(len(g.paths()) for g in plan.groups))
    seen: set[str] = set()
    created = sorted({p for g in plan.groups for p in g.files.get("created", ())})
    for group in plan.groups:
        for path in group.files.get("created", ()):
            progress.step()
            root = next(c for c in created if Packer._under(path, [c]))
            packer.walk(os.path.dirname(root))     # made by the learning run: not copied
            if root == path:
                packer._skip(path, "created by the run")
        for path in group.files.get("executed", ()):
            progress.step()
            packer.add_program(path, env, seen)
        for path in group.files.get("read", ()):
            progress.step()
            packer.add(path)
        for path in group.files.get("listed_only", ()):
            progress.step()
            packer.add(path, follow_last=False)
        for path in group.paths("written", "listed"):
            progress.step()
            packer.walk(path if path in group.files.get("listed", ()) else os.path.dirname(path))
        for path in group.files.get("listed_only_skipped", ()):
            progress.step()
            packer._skip(path, plan.trace.get("skipped", {}).get(path, "left out by the plan"))


def _skipped_lines(skipped: dict[str, str]) -> list[str]:
    """One line per reason: how many, and the first few paths."""
    by_reason: dict[str, list[str]] = {}
    for path, reason in sorted(skipped.items()):
        by_reason.setdefault(reason, []).append(path)
    lines = []
    for reason, paths in sorted(by_reason.items()):
        shown = ", ".join(paths[:SHOWN_PER_REASON])
        more = f" and {len(paths) - SHOWN_PER_REASON} more" if len(paths) > SHOWN_PER_REASON else ""
        lines.append(f"veil:   skipped {len(paths)}, {reason}: {shown}{more}")
    return lines


def _check_empty(directory: str, what: str) -> str:
    directory = os.path.abspath(directory)
    if os.path.exists(directory) and (not os.path.isdir(directory) or os.listdir(directory)):
        raise UsageError(f"{what}: {directory} exists and is not an empty directory")
    return directory


def _host_name() -> str:
    """The system the bundle was packed on, as /etc/os-release names it."""
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            fields = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    except OSError:
        return ""
    return fields.get("PRETTY_NAME", "").strip('"')[:64]


def learn(command: Sequence[str], share: Sequence[str] = (),
          env: dict[str, str] | None = None, cwd: str | None = None,
          progress: bool | None = None) -> Plan:
    """Run COMMAND once, traced; the plan of what it used.  PROGRESS as for :func:`pack`."""
    from ..hostenv import host_environ
    from ..oci import SyscallLearner
    from ..session import Session
    from ..spec import Environment, RunSpec
    from .learn import Learner
    from .plan import make_plan

    shared = _shared_paths(share)
    env = host_environ() if env is None else dict(env)
    cwd = os.path.abspath(cwd or os.getcwd())
    # every call is traced: the Learner looks at its own (path, process and address) calls,
    # the SyscallLearner collects the names of all of them for the seccomp profile
    learner = Learner(cwd)
    learner.progress = Progress(progress)
    calls = SyscallLearner()
    learning = RunSpec(environment=Environment(env=env, clear_env=True, cwd=cwd),
                       observation={"trace": "all"})
    try:
        result = Session(list(command), spec=learning, observers=[learner, calls]).run()
    finally:
        learner.progress.close()
    uts = os.uname()
    identity = {"hostname": socket.gethostname()[:64], "sysname": uts.sysname,
                "kernel_release": uts.release, "kernel_version": uts.version[:64],
                "machine": uts.machine, "cpus": os.cpu_count() or 1,
                "uid": os.getuid(), "gid": os.getgid(), "host": _host_name()}
    return make_plan(list(command), cwd, _environment(env), _umask(), shared, learner,
                     sorted(calls.names | ALWAYS_ALLOWED), identity, result.exit_code)


def trace(command: Sequence[str], directory: str, share: Sequence[str] = (),
          quiet: bool = False, env: dict[str, str] | None = None,
          cwd: str | None = None, progress: bool | None = None) -> Plan:
    """``veil prep trace -o DIR -- CMD``: the learning run, written as DIR/plan.toml."""
    from .plan import PLAN_FILE, write_plan
    directory = _check_empty(directory, "prep trace")
    plan = learn(command, share, env, cwd, False if quiet else progress)
    write_plan(plan, directory)
    if not quiet:
        size = sum(g.size for g in plan.groups)
        print(f"veil: wrote {os.path.join(directory, PLAN_FILE)}: {len(plan.groups)} groups, "
              f"{sum(len(g.paths()) for g in plan.groups)} paths ({human_size(size)}), "
              f"{len(plan.syscalls)} syscalls; edit it, then: veil prep pack {directory} "
              f"-o BUNDLE", file=sys.stderr)
        if plan.exit_code:
            print(f"veil: note: the learning run exited with status {plan.exit_code}",
                  file=sys.stderr)
    return plan


def pack(command: Sequence[str], bundle: str, config: Sequence[str] = (),
         data: Sequence[str] = (), share: Sequence[str] = (), quiet: bool = False,
         env: dict[str, str] | None = None, cwd: str | None = None,
         rewrite: Sequence[str] = (), standalone: bool = False,
         progress: bool | None = None, shown_as: str | None = None
         ) -> dict[str, object]:
    """Learn COMMAND, then write BUNDLE; returns the summary (also BUNDLE/summary.json).
    PROGRESS: True or False, or None for a bar only when stderr is a terminal."""
    _check_empty(bundle, "prep pack")
    _check_inputs(config, data, rewrite)
    plan = learn(command, share, env, cwd, False if quiet else progress)
    return pack_plan(plan, bundle, config, data, quiet, rewrite, standalone, progress,
                     env=env, shown_as=shown_as)


def _check_inputs(config: Sequence[str], data: Sequence[str], rewrite: Sequence[str]) -> None:
    for path in (*config, *data):
        if not os.path.exists(path):
            raise UsageError(f"prep pack: {path}: no such file or directory")
    parse_rewrites(rewrite)


def pack_plan(plan: Plan, bundle: str, config: Sequence[str] = (), data: Sequence[str] = (),
              quiet: bool = False, rewrite: Sequence[str] = (), standalone: bool = False,
              progress: bool | None = None, env: dict[str, str] | None = None,
              shown_as: str | None = None) -> dict[str, object]:
    """Write BUNDLE from PLAN (``veil prep pack DIR -o BUNDLE``); the summary.  ENV: the
    environment libraries are resolved in (default: the plan's); SHOWN_AS: what the summary
    calls the bundle (an archive made from it)."""
    from ..oci import write_profile
    from ..spec import Bind, Environment, Layout, RunSpec, Security, System
    from .plan import write_plan

    bundle = _check_empty(bundle, "prep pack")
    _check_inputs(config, data, rewrite)
    pairs = parse_rewrites(rewrite)
    env = dict(plan.env) if env is None else dict(env)
    root = os.path.join(bundle, "root")
    os.makedirs(root, exist_ok=True)
    packer = Packer(root, plan.share, exclude=[bundle])
    bar = Progress(False if quiet else progress)
    packer.progress = bar
    try:
        _copy_planned(packer, plan, env, bar)
        for path in (*config, *data):
            packer.add_tree(os.path.abspath(path))
        rewritten, binary = packer.rewrite(pairs)
        packer.walk(plan.cwd)
        tmp = os.path.join(root, "tmp")
        if not os.path.lexists(tmp):
            os.makedirs(tmp)
            os.chmod(tmp, 0o1777)
        alone = None
        if standalone:
            alone = _standalone(bundle, packer, plan, env, bar)
    finally:
        bar.close()

    seccomp = os.path.join(bundle, SECCOMP_FILE)
    write_profile(seccomp, set(plan.syscalls) | {FALLBACKS[n] for n in plan.syscalls
                                                 if n in FALLBACKS})
    # the --config/--data files were packed to be read, and what running the executed
    # files takes (#! interpreters, loaders, libraries: veil's loader opens them)
    chosen = [rule for p in (*config, *data) for rule in
              ((os.path.abspath(p), os.path.abspath(p) + "/**") if os.path.isdir(p)
               else (os.path.abspath(p),))]
    chosen += sorted((packer.files | packer.host_binds | packer.links) - set(plan.read_rules))
    ident = plan.identity
    binds = [Bind(p, p) for p in plan.share if os.path.exists(p)]
    binds += [Bind(p, p, readonly=True) for p in sorted(packer.host_binds)]
    prof = RunSpec(
        environment=Environment(argv=list(plan.argv), env=plan.env, clear_env=True,
                                cwd=plan.cwd, umask=plan.umask),
        layout=Layout(root=root, binds=binds),
        system=System(**{k: ident[k] for k in ("hostname", "sysname", "kernel_release",
                                               "kernel_version", "machine", "cpus")
                         if k in ident}),
        security=Security(seccomp_profile=[seccomp], paths_read=plan.read_rules + chosen,
                          paths_written=plan.write_rules, peers=plan.peers,
                          enforce=plan.enforce))
    with open(os.path.join(bundle, "profile.toml"), "w", encoding="utf-8") as f:
        f.write(f"# veil bundle: veil run {os.path.basename(bundle)} [-- ARGS]\n")
        # a comment is one line: a command's line breaks are shown escaped
        shown = shlex.join(plan.argv).replace("\r", "\\r").replace("\n", "\\n")
        f.write(f"# packed from: {shown}\n")
        # the packing ids are recorded, not applied: faking ids also emulates set*id(2),
        # which would keep a program that drops its privileges privileged
        uid, gid = ident.get("uid", os.getuid()), ident.get("gid", os.getgid())
        f.write(prof.to_profile(relative_to=bundle).replace(
            "[system]\n", f"[system]\n# packed by uid {uid} gid {gid}; to present them: "
                          f"--set system.uid={uid} --set system.gid={gid}\n", 1))
    write_plan(plan, bundle)

    skipped = dict(sorted(packer.skipped.items()))
    summary = {"bundle": bundle, "files": len(packer.files), "bytes": packer.bytes,
               "libraries": len(packer.libraries), "symlinks": len(packer.links),
               "directories": len(packer.dirs), "skipped": skipped,
               "syscalls": len(plan.syscalls),
               "rewritten": rewritten, "not_rewritten": {p: "binary" for p in binary},
               "from_host": sorted(packer.host_binds), "exit_code": plan.exit_code}
    if alone is not None:
        summary["standalone"] = alone
    with open(os.path.join(bundle, SUMMARY_FILE), "w", encoding="utf-8") as f:
        json.dump({**summary, "bundle": "."}, f, indent=1)
        f.write("\n")
    _write_graphs(bundle)
    if not quiet:
        _report({**summary, "bundle": shown_as or bundle}, pairs, alone)
        if plan.exit_code:
            print(f"veil: note: the learning run exited with status {plan.exit_code}",
                  file=sys.stderr)
    return summary


def _write_graphs(bundle: str) -> None:
    """BUNDLE/graph.dot, and graph.svg where Graphviz's dot is installed: the learning
    run's processes, the files they read and wrote, and their execs (veil prep graph)."""
    from .inspect import open_bundle, write_graph
    write_graph(open_bundle(bundle), os.path.join(bundle, "graph.dot"))
    if shutil.which("dot"):
        write_graph(open_bundle(bundle), os.path.join(bundle, "graph.svg"))


def _standalone(bundle: str, packer: Packer, plan: Plan, env: dict[str, str],
                bar: Progress) -> dict[str, object]:
    from .inspect import input_files
    from .standalone import LAUNCHER, StandaloneWriter, library_dirs, new_link
    first = [os.path.realpath(d) for d in env.get("LD_LIBRARY_PATH", "").split(":") if d]
    writer = StandaloneWriter(bundle, new_link(), library_dirs(packer.library_files(), first),
                              packer.loaders, input_files(plan, packer.root),
                              input_files(plan, packer.root, ("executed",)))
    total = sum(len(files) for _, _, files in os.walk(packer.root))
    bar.phase("standalone", total)
    writer.write(lambda size: bar.step())
    writer.launcher(plan.argv, env.get("PATH", ""), plan.cwd)
    packer.skipped.update(writer.skipped)
    return {"launcher": LAUNCHER, "link": writer.link, "patched": len(writer.patched),
            "scripts": len(writer.scripts), "relocated": writer.relocated,
            "linked": writer.linked, "bytes": writer.bytes, "library_dirs": writer.lib_dirs}


def _report(summary: dict[str, object], pairs: Sequence[tuple[bytes, bytes]],
            alone: dict[str, object] | None) -> None:
    skipped = summary["skipped"]
    notes = ""
    if pairs:
        rewritten = summary["rewritten"]
        notes += f"; rewrote {len(rewritten)} files ({sum(rewritten.values())} replacements)"
        if summary["not_rewritten"]:
            notes += f", {len(summary['not_rewritten'])} binary files not rewritten"
    if alone is not None:
        notes += (f"; standalone: {alone['patched']} patched ELF files, {alone['scripts']} "
                  f"scripts, {len(alone['relocated'])} inputs naming inputs "
                  f"({human_size(alone['bytes'])}), launcher {summary['bundle']}/run")
    if summary["from_host"]:
        notes += f"; {len(summary['from_host'])} files left to the host (bound at run time)"
    print(f"veil: packed {summary['bundle']}: {summary['files']} files "
          f"({human_size(summary['bytes'])}), {summary['libraries']} libraries, "
          f"{summary['symlinks']} symlinks, {summary['directories']} directories, "
          f"{summary['syscalls']} syscalls; skipped {len(skipped)}" + notes, file=sys.stderr)
    for line in _skipped_lines(skipped):
        print(line, file=sys.stderr)
