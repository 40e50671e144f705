"""The Session: one traced program (or set of attached pids) and its loop.

The loop is::

    while (stop := session.next()) is not None:
        session.resume(stop, verdict)

``next()`` returns only the syscall stops a hook asked for (the thread stays
stopped until ``resume``); everything else is settled in C and reaches the
observers through the ring, drained in batches.
"""
from __future__ import annotations

import _signal as signal  # without the signal module's enums (~4 ms of start-up)
import errno as _errno
import os
import time
from _collections_abc import Callable  # collections.abc's, without collections (start-up)
from _contextvars import ContextVar  # contextvars' own, without its module (start-up)

from . import engine as E
from . import filter as bpf
from . import records as R
from .backends import get_engine
from .errors import CommandNotFound, VeilError
from .features import RowTable
from .features.paths import PathRules, path_fields
from .features.placement import Placement, parse_affinity
from .features.refusals import Refusal, Refusals
from .handoff import Backlog, Handoff, start_thread
from .hostenv import host_environ
from .observers import Observer, OnlyCalls
from .ruledb import Row, RuleDB, build_filter, syscall_numbers
from .syscalls.lookup import BY_NR, resolve_set, with_prop
from .valueclass import ValueClass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

    from .assembler import Assembler
    from .features import Feature
    from .features.layout import LayoutFeature
    from .layout import GuestTree
    from .sockets import SocketTable
    from .spec import Layout as SpecLayout
    from .spec import RunSpec
    from .stop import Stop
    from .verdicts import Allow, Deny, Detach, Emulate, Hold, Inject, Kill, Rewrite, Verdict

_UNSET: Any = object()  # an argument not given (a spec decides it)
# calls that change what their path names: read-only path rules apply to them
MUTATING_CALLS = frozenset(with_prop("mutates"))
_LOOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                 signal.SIGRTMIN + R.FLUSH_SIGNAL_OFFSET}


class Result(ValueClass):
    """How a traced run ended."""

    _fields = ("exit_code", "status", "signal", "core_dumped", "duration", "engine_stats", "stats",
               "kills", "sockets", "kept_tmp", "layout_engine", "refusals")

    def __init__(self, exit_code: int, status: int | None, signal: int | None,
                 core_dumped: bool, duration: float,
                 engine_stats: dict[str, int] | None = None,
                 stats: dict[str, dict[str, float]] | None = None,
                 kills: list[tuple[int, str, str]] | None = None,
                 sockets: list[dict[str, object]] | None = None,
                 kept_tmp: str | None = None,
                 layout_engine: tuple[str, str] | None = None,
                 refusals: list[Refusal] | None = None):
        self.exit_code = exit_code
        self.status = status            # raw wait status of the main process
        self.signal = signal            # set if the main process was killed by a signal
        self.core_dumped = core_dumped
        self.duration = duration
        self.engine_stats: dict[str, int] = {} if engine_stats is None else engine_stats
        self.stats = stats
        # (pid, syscall, reason)
        self.kills: list[tuple[int, str, str]] = [] if kills is None else kills
        self.sockets = sockets          # the socket table at the end
        self.kept_tmp = kept_tmp        # the private /tmp's host directory, if kept
        self.layout_engine = layout_engine  # ("mount" or "ptrace", why) under a layout
        # calls veil refused and reported
        self.refusals: list[Refusal] = [] if refusals is None else refusals

    def summary(self) -> dict[str, object]:
        """What `veil run --result FILE` writes: how the run ended and how it was made."""
        engine = ({"engine": self.layout_engine[0], "why": self.layout_engine[1]}
                  if self.layout_engine else None)
        return {"exit_code": self.exit_code, "signal": self.signal,
                "core_dumped": self.core_dumped, "duration_s": round(self.duration, 6),
                "layout": engine, "kept_tmp": self.kept_tmp,
                "kills": [{"pid": p, "syscall": n, "reason": r} for p, n, r in self.kills],
                "refusals": [{"pid": r.pid, "syscall": r.name,
                              "errno": _errno.errorcode.get(r.errno, str(r.errno)),
                              "reason": r.reason} for r in self.refusals if not r.notice],
                "stops": self.engine_stats.get("syscall_stops")}


# callbacks every Session.run() of this context gives its Result (results_to)
_RESULT_LISTENERS: ContextVar[tuple[Callable[[Result], None], ...]] = ContextVar(
    "veil_result_listeners", default=())


class results_to:   # noqa: N801  (a context manager used as a function)
    """Within the block, every Session.run() that returns calls ``listener(result)``:
    how ``veil bench`` learns the stops of a veil command it runs unchanged.  (A
    class, not contextlib's decorator: contextlib is a millisecond of start-up.)"""

    def __init__(self, listener: Callable[[Result], None]):
        self._listener = listener
        self._token: Any = None

    def __enter__(self) -> None:
        self._token = _RESULT_LISTENERS.set(_RESULT_LISTENERS.get() + (self._listener,))

    def __exit__(self, *_exc: object) -> None:
        _RESULT_LISTENERS.reset(self._token)


def resolve_command(argv0: str, path_env: str | None = None) -> str:
    """Find the program as execvp would; raise CommandNotFound like a shell."""
    if "/" in argv0:
        if not os.path.exists(argv0):
            raise CommandNotFound(argv0, "No such file or directory", 127)
        if os.path.isdir(argv0) or not os.access(argv0, os.X_OK):
            raise CommandNotFound(argv0, "Permission denied", 126)
        return argv0
    # shutil.which's search, without shutil's import (with fnmatch, re and enum: ~8 ms)
    path = path_env if path_env is not None else os.environ.get("PATH", os.defpath)
    for directory in path.split(os.pathsep) if path else ():
        found = os.path.join(directory, argv0)
        if os.access(found, os.X_OK) and not os.path.isdir(found):
            return found
    raise CommandNotFound(argv0, "command not found", 127)


def resolve_guest_command(eng: E.Engine, argv0: str, path_env: str | None,
                          cwd: str = "/") -> str:
    """The guest path of the program, found as execvp would inside the guest."""
    def runnable(guest: str) -> str | None:
        try:
            host, _ = eng.layout_resolve(guest)
        except OSError:
            return None
        return guest if os.path.isfile(host) and os.access(host, os.X_OK) else None

    if "/" in argv0:
        guest = os.path.join(cwd, argv0)
        try:
            host, _ = eng.layout_resolve(guest)
        except OSError as e:
            raise CommandNotFound(argv0, e.strerror, 127) from None
        if not os.path.exists(host):
            raise CommandNotFound(argv0, "No such file or directory", 127)
        if not runnable(guest):
            raise CommandNotFound(argv0, "Permission denied", 126)
        return argv0
    for d in (path_env if path_env is not None else os.defpath).split(":"):
        found = runnable(os.path.join(cwd, d or ".", argv0))
        if found:
            return found
    raise CommandNotFound(argv0, "command not found", 127)


Hook = Callable[["Stop"], "Verdict"]


class Session:
    """A traced program.  Build it, add observers and hooks, then ``run()``
    (or drive ``next()``/``resume()`` yourself)."""

    def __init__(self, argv: Sequence[str] | None = None, *, spec: RunSpec | None = None,
                 policies: Sequence[Any] = (), pids: Sequence[int] = (),
                 trace: str | Iterable[int] | None = _UNSET, follow: bool = True,
                 strsize: int = 32, seccomp: bool = _UNSET, affinity: str | int = _UNSET,
                 env: dict[str, str] | None = None, cwd: str | None = None,
                 observers: Sequence[Observer] = (), decorate_fds: int = 0,
                 stdin: int | None = None, stdout: int | None = None,
                 stderr: int | None = None, after_start: Callable[[], None] | None = None,
                 umask: int | None = None, rlimits: Sequence[tuple[int, int, int]] = (),
                 argv0: str | None = None, layout: SpecLayout | GuestTree | None = None,
                 sockets: bool = False, capture_bytes: int = 0, backend: str = "c",
                 raw: Iterable[int] = ()):
        """``spec`` (a veil.RunSpec) describes the run: its environment, layout,
        identity, network, security and what is observed, with every protection
        ``veil run`` applies; ``policies`` are applied after the spec's own.
        Without a spec the other arguments set the session up directly (a bare
        trace: nothing is confined); ``layout`` (a veil.Layout) makes a spec."""
        if layout is not None and not _is_guest_tree(layout):
            from .spec import Layout as SpecLayout  # a bare trace loads no spec
            from .spec import RunSpec
            if isinstance(layout, SpecLayout):
                if spec is not None:
                    raise VeilError("give the layout in the spec, not as Session(layout=...)")
                spec = RunSpec(layout=layout, environment={"cwd": cwd} if cwd else {})
                layout, cwd = None, None
        if spec is not None:
            from .spec.build import command_of, configure, session_options
            given = [name for name, value in (("env", env), ("cwd", cwd), ("umask", umask),
                                               ("argv0", argv0), ("layout", layout))
                     if value is not None]
            given += [name for name, value in (("rlimits", rlimits), ("sockets", sockets),
                                               ("capture_bytes", capture_bytes)) if value]
            given += [name for name, value in (("trace", trace), ("seccomp", seccomp),
                                               ("affinity", affinity)) if value is not _UNSET]
            if given:
                raise VeilError(f"Session(spec=...): give {', '.join(given)} in the spec, "
                                f"not as arguments")
            if not pids:
                argv = command_of(spec, argv)
            options = session_options(spec)
            env, cwd, umask, rlimits = (options["env"], options["cwd"], options["umask"],
                                        options["rlimits"])
            argv0, layout, sockets = options["argv0"], options.get("layout"), options["sockets"]
            capture_bytes, seccomp = options["capture_bytes"], options["seccomp"]
            affinity, trace = options["affinity"], options["trace"]
        trace = "all" if trace is _UNSET else trace
        seccomp = True if seccomp is _UNSET else seccomp
        affinity = "auto" if affinity is _UNSET else affinity
        if not argv and not pids:
            raise VeilError("nothing to trace: give a command or pids")
        if argv and pids:
            raise VeilError("give a command or pids, not both")
        self.argv = list(argv) if argv else []
        self.pids = list(pids)
        self.traced: set[int] = (resolve_set(trace) if isinstance(trace, str)
                                 else set(trace) if trace is not None else set())
        self.follow = follow
        self.strsize = strsize
        # strace's -e raw=: traced calls whose memory is not read (args shown in hex)
        self.raw: frozenset[int] = frozenset(raw)
        self.backend = backend  # "c" (the C engine) or "python" (python-ptrace, no seccomp)
        self.seccomp = seccomp and not self.pids and backend != "python"
        self.affinity = parse_affinity(affinity)
        self.env = host_environ() if env is None else dict(env)
        self.cwd = cwd
        self.observers: list[Observer] = list(observers)
        self.decorate_fds = int(decorate_fds)  # 1: -y, 2: -yy
        self.raw_sinks: list[Callable[[bytes], None]] = []
        self.stdio = tuple(-1 if f is None else f for f in (stdin, stdout, stderr))
        # called once the tracees are traced (in the loop's thread): e.g. to let
        # a forked child that waits to be attached go on
        self.after_start = after_start
        self.umask = umask          # applied in the child before execve
        self.run_as: tuple[int, int, Sequence[int]] | None = None  # (uid, gid, groups): -u
        self.rlimits = list(rlimits)  # (resource, soft, hard)
        # capability names the program keeps, no_new_privs set (--strict); None: untouched
        self.keep_caps: Sequence[str] | None = None
        self.argv0 = argv0          # argv[0] the program sees (the path is still found from argv[0])
        self.layout: GuestTree | None = layout  # the guest's directory tree
        self.pin_paths = False      # path calls walk from fds veil opened (--strict)
        self._layout: LayoutFeature | None = None   # the layout's feature, once started
        # the socket table: the calls it needs are recorded (read/write/close only
        # on sockets, decided in C); other observers still see only `trace`
        self._snapshots: list[tuple[float, Callable[[], None]]] = []
        socket_feature = None
        if sockets:
            from .features.sockets import Sockets  # a trace without -T loads no socket table
            socket_feature = Sockets(self.traced, strsize, capture_bytes, self.seccomp)
        self.sockets: SocketTable | None = socket_feature.table if socket_feature else None
        # calls recorded for the socket table only: nr -> the fd argument that must be a socket
        self._socket_rows: dict[int, int] = socket_feature.rows if socket_feature else {}
        if self._socket_rows:
            self.observers = [OnlyCalls(o, set(self.traced)) for o in self.observers]
        if self.sockets is not None:
            self.observers.append(self.sockets)
        if layout is not None and not self.seccomp:
            from .spec.checks import SpecError
            raise SpecError("observation", "seccomp", "a layout needs the seccomp filter "
                            "(and a program veil starts, not one it attaches to)")
        self._hooks: dict[tuple[int, str], list[Hook]] = {}
        self._guest_hooks: set[tuple[int, Hook]] = set()  # watch(guest_tracing=True)
        # allow/deny/refuse/kill rules, the i386/x32 rule and why refused calls were refused
        self.ruledb = RuleDB()
        # (pattern, E.PATH_* match, errno, E.PATH_* flags, why) in the order they are tried
        self._paths = PathRules(MUTATING_CALLS)
        self._reads_refusals = False
        # the fake identity served in C (csrc/identity.c): nr -> F_EXIT if at exit too
        self._identity_calls: dict[int, int] = {}
        self._identity_files: dict[str, str] = {}  # guest path -> veil's copy
        self._identity_setup: list[Callable[[E.Engine], None]] = []
        self._on_request: list[Hook] = []  # exit hooks that want only what identity.c asks
        self.kills: list[tuple[int, str, str]] = []  # (pid, syscall, reason) of Kill verdicts
        # what plugs into the session: rows it adds, install, cleanup, result fields
        self._refusals = Refusals(self.ruledb)
        self.features: list[Feature] = [Placement(self.affinity), self._refusals]
        if socket_feature is not None:
            self.features.append(socket_feature)
        self.features.append(self._paths)   # before the layout's: its rows see the path rows
        self._engine: E.Engine | None = None
        self.filter_code = b""   # the seccomp program veil installed (struct sock_filter[])
        # the stops of threads a guest tracer traces (veil.guest_ptrace), in the loop's thread
        self.guest_events: Callable[[E.StopEvent], None] | None = None
        self._assembler: Assembler | None = None
        self._started = 0.0
        self._path: str | None = None
        self.interrupted = False
        self._abort = False
        self._at_end: list[Callable[[], None]] = []
        self.trace_stream = None  # the trace file a spec's observation.output opened
        self.spec = spec
        if spec is not None:
            configure(self, spec, policies)
        else:
            for policy in policies:
                policy.apply(self)

    # --- configuration ---------------------------------------------------
    def at_end(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` when run() ends, however it ends (in the order added)."""
        self._at_end.append(fn)

    def add_observer(self, obs: Observer) -> None:
        self.observers.append(obs)

    def traced_only(self, obs: Observer) -> Observer:
        """``obs``, shown only the traced calls: a trace writer added after the
        session is made must not see the calls recorded for the socket table."""
        return OnlyCalls(obs, set(self.traced)) if self._socket_rows else obs

    def add_raw_sink(self, sink: Callable[[bytes], None]) -> None:
        """``sink(data)`` gets every batch of ring records as bytes (the layout of
        veil.records), with no per-event Python work: the binary trace writer."""
        self.raw_sinks.append(sink)

    def watch(self, names: Iterable[str | int], hook: Hook, phase: str = "enter", *,
              guest_tracing: bool = False) -> None:
        """Call ``hook`` at every ``phase`` ("enter"/"exit") stop of these syscalls.
        ``guest_tracing``: only while a guest tracer is about (Engine.guest_calls);
        meanwhile the calls cost no Python."""
        if phase not in ("enter", "exit"):
            raise ValueError(f"phase must be 'enter' or 'exit', not {phase!r}")
        for n in names:
            nrs = resolve_set(n) if isinstance(n, str) else {n}
            for nr in nrs:
                self._hooks.setdefault((nr, phase), []).append(hook)
                if guest_tracing and phase == "enter":
                    self._guest_hooks.add((nr, hook))

    def serve_identity(self, enter: Iterable[str] = (), exit: Iterable[str] = (),
                       files: dict[str, str] | None = None,
                       setup: Callable[[E.Engine], None] | None = None,
                       on_request: Sequence[Hook] = ()) -> None:
        """The C engine answers these calls of the fake identity (csrc/identity.c)
        from the values ``setup(engine)`` gives it before the program starts.
        ``files`` (guest path -> veil's copy) are opened in place of the guest's: by
        a path rewrite in C without a layout, as binds under one.  ``on_request``:
        hooks (also watched) called only at the stops identity.c hands over."""
        for names, phase in ((enter, 0), (exit, E.F_EXIT)):
            for name in names:
                for nr in resolve_set(name):
                    self._identity_calls[nr] = self._identity_calls.get(nr, 0) | phase
        if files:
            self._identity_files.update(files)
            if self.layout is None and not self._identity_mounts():
                self.serve_identity(enter=["open", "openat", "openat2"])
        if setup is not None:
            self._identity_setup.append(setup)
        self._on_request.extend(on_request)

    def _identity_mounts(self) -> bool:
        """Without a layout, can the identity's files be bound over their guest paths
        in a mount namespace of the program's own (veil may make one: root), so that
        opens cost no stop?  Else C rewrites the path of each open."""
        from .mountns import kernel_refusal
        return (self.backend == "c" and not self.pids
                and all(os.path.isfile(g) for g in self._identity_files)
                and kernel_refusal(False) is None)

    def deny(self, names: str | Iterable[str | int], errno: int = _errno.EPERM,
             where: Sequence[bpf.Cond] = ()) -> None:
        """Fail these syscalls with ``-errno``, settled by the kernel's filter
        (or by C at the stop when they are traced): no Python at run time.
        ``where``: argument conditions (``veil.Arg(0) == 3``) that must all hold."""
        if not 0 <= errno <= 4095:
            raise VeilError(f"invalid errno {errno}: must be 0..4095")
        self.add_rule(syscall_numbers(names), ("deny", errno), where)

    def has_rules(self, name: str) -> bool:
        """Whether a rule (deny, refuse, kill, allow) names this syscall."""
        return self.ruledb.names(resolve_set(name))

    def refuse(self, names: str | Iterable[str | int], errno: int = _errno.EPERM,
               reason: str = "", where: Sequence[bpf.Cond] = ()) -> None:
        """Like deny(), and every refused call is reported: ``session.refusals``
        and ``on_refusal`` (veil run prints one line per kind).  Each costs one
        stop, in C; the decision is the filter's own program (csrc/filter.c)."""
        if not 0 < errno <= 4095:
            raise VeilError(f"invalid errno {errno}: must be 1..4095")
        nrs = syscall_numbers(names)
        self.add_rule(nrs, ("refuse", errno), where)
        for nr in nrs:
            self.ruledb.add_reason(nr, errno, reason)

    def restrict_targets(self, calls: dict[str, tuple[Sequence[int], Sequence[int]]],
                         reason: str) -> None:
        """Calls that name another process reach only processes of the traced tree:
        ``calls`` maps a syscall name to (indexes of its pid/tid arguments, indexes
        of its pidfd arguments).  Any other target (veil's threads, a host process)
        fails with EPERM, decided in C at the stop, and is reported."""
        self._refusals.restrict_targets(calls, reason)

    def refuse_foreign(self, errno: int, reason: str) -> None:
        """i386 (int 0x80) and x32 calls fail with errno and are reported."""
        self.foreign_rule = ("refuse", errno)
        self.ruledb.add_reason(-1, errno, reason)

    def note_refusal(self, pid: int, tid: int, name: str, errno: int, reason: str,
                     notice: bool = False) -> None:
        """A hook's own refusal, reported as the filter's are."""
        self._refusals.note(pid, tid, name, errno, reason, notice)

    @property
    def refusals(self) -> list[Refusal]:
        """The calls veil refused and reported so far."""
        return self._refusals.refusals

    @property
    def on_refusal(self) -> Callable[[Refusal], None] | None:
        """Called with each Refusal as it happens (on the loop's thread)."""
        return self._refusals.on_refusal

    @on_refusal.setter
    def on_refusal(self, fn: Callable[[Refusal], None] | None) -> None:
        self._refusals.on_refusal = fn

    def kill_on(self, names: str | Iterable[str | int],
                where: Sequence[bpf.Cond] = ()) -> None:
        """Kill the process that makes one of these syscalls (the kernel does it)."""
        self.add_rule(syscall_numbers(names), ("kill", 0), where)

    def add_rule(self, nrs: Iterable[int], action: tuple[str, int],
                 where: bpf.Cond | Sequence[bpf.Cond] = ()) -> None:
        """A rule for the filter: action ("deny", errno) or ("kill", 0) when every
        condition holds.  Rules of one syscall are tried in the order added."""
        self.ruledb.add(nrs, action, where)

    @property
    def foreign_rule(self) -> tuple[str, int] | None:
        """The rule of i386 (int 0x80) and x32 calls: (kind, errno) or None."""
        return self.ruledb.foreign

    @foreign_rule.setter
    def foreign_rule(self, rule: tuple[str, int] | None) -> None:
        self.ruledb.foreign = rule

    def add_path_rule(self, pattern: str, errno: int, writes_only: bool = False) -> None:
        """Fail calls naming ``pattern`` (an absolute glob; ``/dir/**`` is the
        directory and all below it) with ``errno``, checked in C at the stop
        on the canonical path (cwd/dirfd joined, symlinks resolved).
        ``writes_only``: only calls that write there (read-only paths)."""
        self._paths.add(pattern, errno, writes_only)

    def confine_paths(self, reads: Sequence[str], writes: Sequence[str], errno: int,
                      why_read: str, why_write: str) -> None:
        """Calls reach only these paths (learn, then enforce): a call that writes
        fails with ``errno`` unless a ``writes`` pattern covers its path; one that
        reads, unless a ``reads`` or ``writes`` pattern does or the path does not
        exist (the call fails as it would).  Patterns: exact paths (the directories
        on the way to one are read too), ``DIR/**`` or fnmatch globs, guest paths as
        the program names them (their symlinks are resolved too, as the C check
        sees paths).  Checked in C after every other path rule (hidden and read-only
        paths keep their answer); a refusal is reported as "PATH: why_read" or
        "PATH: why_write"."""
        self._paths.confine(reads, writes, errno, why_read, why_write)

    def protect_path(self, path: str, how: str) -> None:
        """``how`` "readonly": writes below ``path`` fail (EROFS); "mask": it is not
        there (ENOENT).  The mount engine makes them mounts (read-only, or an empty
        directory or /dev/null over it), which cost no stop; otherwise path rules."""
        self._paths.protect(path, how)

    @property
    def kernel_paths(self) -> list[tuple[str, str]]:
        """protect_path()'s ("readonly" or "mask", guest path), in the order given."""
        return self._paths.kernel_paths

    def has_path_rules(self) -> bool:
        """Whether paths are checked in C (path rules or a confinement)."""
        return self._paths.active()

    @property
    def layout_engine(self) -> tuple[str, str] | None:
        """("mount" or "ptrace", why) under a layout once started; else None."""
        return self._layout.engine if self._layout is not None else None

    @property
    def _mount_engine(self) -> bool:
        return self._layout is not None and self._layout.mount

    def _conditional_hooks(self) -> None:
        """Without seccomp, argument conditions are checked by a hook instead."""
        for nr, check in self.ruledb.conditional_hooks().items():
            self._hooks.setdefault((nr, "enter"), []).insert(0, check)

    def _actions(self) -> tuple[dict[int, E.SysAction], dict[int, object]]:
        """The C loop's action table and the filter's entries (veil.ruledb)."""
        actions, filt = self.ruledb.compile(self._rows())
        for feature in self.features:
            feature.adjust(actions, filt, self.ruledb)
        return actions, filt

    def _captures(self, nr: int) -> list[tuple[int, int, int, int]]:
        """What recording ``nr`` captures: its arguments as the decoders read them."""
        sc = BY_NR.get(nr)
        if sc is None or nr in self.raw:
            return []
        global captures_for
        if captures_for is None:
            from .decoders import captures_for  # loaded when something is traced
        return captures_for(sc, self.strsize, self.decorate_fds)

    def _rows(self) -> dict[int, Row]:
        """What the session and its features want of each syscall besides its rules."""
        wanted = RowTable(self._captures, path_fields)
        if self.traced:
            from .decoders import captures_of  # loaded when something is traced
            recorded = E.F_STOP | E.F_RECORD
            traced = [nr for nr in self.traced if 0 <= nr < E.NR_MAX]
            for nr, caps in captures_of(set(traced) - self.raw, self.strsize,
                                        self.decorate_fds).items():
                wanted[nr] = Row(recorded, caps)
            for nr in self.raw.intersection(traced):
                wanted[nr] = Row(recorded, [])
        self._own_rows(wanted)
        for feature in self.features:
            feature.add_rows(wanted)
        return wanted

    def _own_rows(self, rows: RowTable) -> None:
        """Hooks and the identity served in C."""
        for nr in sorted({nr for nr, _ in self._hooks} | set(self._identity_calls)):
            if not 0 <= nr < E.NR_MAX:
                continue
            flags = 0
            # hooks that all want only the stops identity.c hands over (F_ID_ASKS)
            asks = nr in self._identity_calls and all(
                any(h is r for r in self._on_request)
                for phase in ("enter", "exit") for h in self._hooks.get((nr, phase), ()))
            if (nr, "enter") in self._hooks:
                flags |= E.F_STOP | (E.F_ID_ASKS if asks else E.F_PY_ENTER)
                if all((nr, h) in self._guest_hooks for h in self._hooks[(nr, "enter")]):
                    flags |= E.F_GUEST
            if (nr, "exit") in self._hooks:
                flags |= E.F_STOP | E.F_EXIT | (E.F_ID_ASKS if asks else E.F_PY_EXIT)
            if nr in self._identity_calls:
                flags |= E.F_STOP | E.F_IDENTITY | self._identity_calls[nr]
            if flags:
                rows.row(nr).flags |= flags

    def _make_assembler(self) -> Assembler:
        from .assembler import Assembler
        everything = all(nr in self.traced or nr in self._socket_rows for nr in BY_NR)
        names = None if everything else {BY_NR[nr].name for nr in self.traced if nr in BY_NR}
        return Assembler(self.observers, names)

    # --- running -----------------------------------------------------------
    def _protected_paths(self) -> None:
        """protect_path()'s paths become path rules unless the mount engine makes them."""
        if not self._mount_engine:
            self._paths.protected_as_rules()

    def host_path(self, guest: str, follow: bool = True) -> str:
        """Where a path of the program lies on the host (the layout's answer once
        running; else the path itself)."""
        if self.layout is None or self._engine is None:
            return guest
        return self._engine.layout_resolve(guest, follow)[0]

    def start(self) -> None:
        if self.layout is not None:
            from .features.layout import LayoutFeature
            self._layout = LayoutFeature(self, self.layout)
            self.features.append(self._layout)
            self._layout.prepare(self._identity_files)
            self._paths.translating = self._layout.translating
        else:
            self._protected_paths()
        if self._mount_engine and self.layout.strict and self._refusals.targets:
            # in its own pid namespace (veil.mountns.uses_pidns) the kernel keeps the
            # program from any process outside; its init, pid 1 there, is veil's
            for nr, (pid_args, _) in self._refusals.targets.items():
                for i in range(6):
                    if pid_args & (1 << i):
                        self.refuse([nr], _errno.EPERM, "pid 1 of the program's pid namespace "
                                    "is veil's", [bpf.Cond(i, "MASKED_EQ", 1, 0xFFFFFFFF)])
        if not self.seccomp:
            self._conditional_hooks()
        eng = get_engine(self.backend)
        eng.set_options(seccomp=self.seccomp, follow=self.follow, affinity=self.affinity,
                        strsize=self.strsize)
        actions, filt = self._actions()
        foreign, foreign_ret = self.ruledb.compile_foreign(bool(self.traced))
        # read on the loop's thread as the ring is taken, before the refused thread goes
        # on (a path rule's refusal holds it until then): its line comes first
        self._reads_refusals = bool(self.ruledb.reasons or self._paths.confined)
        eng.set_actions(actions, foreign)
        for feature in self.features:   # the layout's last: its bind rules are path rules
            feature.install(eng)
        for setup in self._identity_setup:
            setup(eng)
        if self.layout is None:
            for guest, host in self._identity_files.items():
                eng.identity_add_file(guest, host)
            if self._identity_files and self._identity_mounts():
                eng.identity_mount_files(True)
        eng.set_decorate(self.decorate_fds)
        self._paths.install_rules(eng, eng.layout_resolve if self.layout is not None else None)
        self._engine = eng
        self._started = time.monotonic()
        if self.argv:
            cwd = self.cwd
            if self._layout is not None:
                cwd, guest_cwd = self._layout.guest_cwd(eng, self.cwd)
                if self._mount_engine:
                    cwd = guest_cwd  # the child is in the guest's tree when it changes directory
                self._path = resolve_guest_command(eng, self.argv[0], self.env.get("PATH"),
                                                   guest_cwd)
            else:
                self._path = resolve_command(self.argv[0], self.env.get("PATH"))
            eng.set_stdio(*self.stdio)
            if self.umask is not None:
                eng.set_umask(self.umask)
            if self.run_as is not None:
                eng.set_ids(*self.run_as)
            for resource, soft, hard in self.rlimits:
                eng.add_rlimit(resource, soft, hard)
            if self.keep_caps is not None:
                eng.set_caps(E.caps_mask(self.keep_caps))
            argv = [self.argv0, *self.argv[1:]] if self.argv0 is not None else self.argv
            # no filter without seccomp (the C loop filters with the same table)
            self.filter_code = bpf.pack(build_filter(filt, foreign_ret)) if self.seccomp else b""
            eng.spawn(self._path, argv, self.env, cwd, self.filter_code)
            for feature in self.features:
                feature.started(eng)
            eng.install_signals(forward=True)
        else:
            eng.install_signals(forward=False)
            try:
                for pid in self.pids:
                    eng.attach(pid)
            except OSError:
                eng.detach_all()
                eng.restore_signals()
                raise
        if self.after_start is not None:
            self.after_start()

    def _step(self, deliver: Callable[[bytes], None]) -> Stop | None:
        """Run the engine until a hooked stop (returned) or the end (None);
        recorded events go to ``deliver`` in order."""
        if self._engine is None:
            self.start()
        eng = self._engine

        def take() -> None:
            data = eng.take_ring()
            if self._reads_refusals and data:
                self._refusals.read_ring(data)
            deliver(data)

        while True:
            kind = eng.next()
            if kind == E.EV_DRAIN:
                take()
                if self._abort:
                    eng.kill_all()
                continue
            if kind == E.EV_NONE:
                return None
            if kind == E.EV_INTERRUPTED:
                self.interrupted = True
                eng.detach_all()
                take()
                continue
            ev = eng.event()
            take()
            if kind == E.EV_GUEST:
                self.guest_events(ev)
                continue
            phase = "enter" if kind == E.EV_ENTER else "exit"
            if "Hold" not in globals():
                _load_verdicts()   # and Stop
            return Stop(phase, ev.pid, ev.tid, ev.arch, ev.nr, ev.args,
                        ev.ret if phase == "exit" else None, ev.ts_ns, ev.sp, ev.scratch)

    def next(self) -> Stop | None:
        """Run until a hooked syscall stops; None once every tracee is gone."""
        return self._step(self._consume)

    def _consume(self, data: bytes) -> None:
        """One batch of ring records: raw sinks get the bytes, observers the events."""
        if not data:
            return
        for sink in self.raw_sinks:
            sink(data)
        if self.observers:
            if self._assembler is None:   # an observer added once the run started
                self._assembler = self._make_assembler()
            self._assembler.feed(data)

    def resume(self, stop: Stop, verdict: Verdict = None) -> None:
        """Let a held thread go on, as ``verdict`` says."""
        eng = self._engine
        if isinstance(verdict, Hold):
            return   # the hook's owner resumes it later
        if verdict is None or isinstance(verdict, Allow):
            eng.resume(stop.tid)
        elif isinstance(verdict, Deny):
            self._check_entry(stop, verdict)
            eng.resume(stop.tid, E.V_DENY, verdict.errno)
        elif isinstance(verdict, Emulate):
            eng.resume(stop.tid, E.V_EMULATE if stop.phase == "enter" else E.V_SETRET,
                       verdict.retval)
        elif isinstance(verdict, Kill):
            # the whole traced tree goes, not just the caller (fail closed)
            self.kills.append((stop.pid, stop.name, verdict.reason))
            eng.resume(stop.tid, E.V_KILL)
            eng.kill_all()
        elif isinstance(verdict, Detach):
            if self.seccomp:
                raise VeilError("Detach needs a session without the seccomp filter")
            eng.resume(stop.tid, E.V_DETACH)
        elif isinstance(verdict, Rewrite):
            self._check_entry(stop, verdict)
            self._rewrite(stop, verdict)
            eng.resume(stop.tid)
        elif isinstance(verdict, Inject):
            if verdict.signal:
                os.kill(stop.pid, verdict.signal)
            if verdict.error is not None:
                self.resume(stop, Deny(verdict.error) if stop.phase == "enter"
                            else Emulate(-verdict.error))
            elif verdict.retval is not None:
                self.resume(stop, Emulate(verdict.retval))
            else:
                eng.resume(stop.tid)
        else:
            raise TypeError(f"not a verdict: {verdict!r}")

    @staticmethod
    def _check_entry(stop: Stop, verdict: Verdict) -> None:
        if stop.phase != "enter":
            raise VeilError(f"{verdict!r} is only possible at syscall entry, "
                            f"not at the exit of {stop.name}")

    def _rewrite(self, stop: Stop, verdict: Rewrite) -> None:
        # Strings go below the red zone of the stack (the x86_64 ABI lets leaf
        # code use 128 bytes below %rsp), 16-byte aligned, one under the other.
        scratch = (stop.scratch - 4096) & ~0xF if stop.scratch else 0
        for key, value in verdict.args.items():
            i = stop.args.index_of(key)
            if isinstance(value, tuple):  # (host, port) for a sockaddr argument
                kind = stop.args.kind_of(i)
                if not kind.startswith("sockaddr:"):
                    raise VeilError(f"Rewrite({key}=(host, port)): {stop.name}'s {key} is not "
                                    f"a socket address")
                value = _pack_sockaddr(*value)
                self._engine.set_arg(stop.tid, int(kind.partition(":")[2]), len(value))
            if isinstance(value, (str, bytes)):
                terminator = b"\0" if isinstance(value, str) else b""
                data = (os.fsencode(value) if isinstance(value, str) else value) + terminator
                if not scratch:
                    raise VeilError("no stack pointer for rewriting a string argument")
                scratch = (scratch - len(data)) & ~0xF
                stop.write(scratch, data)
                self._engine.set_arg(stop.tid, i, scratch)
            elif isinstance(value, int):
                self._engine.set_arg(stop.tid, i, value)
            else:
                raise TypeError(f"Rewrite({key}=...) takes an int, str, bytes or (host, port), "
                                f"not {value!r}")

    # the C loop's ring is flushed to the observers at least every 100 ms
    RING_FLUSH_S = 0.1
    # records handed to the observers and not formatted yet, at most (then the loop waits)
    BACKLOG_BYTES = 8 << 20

    def request_snapshot(self, write: Callable[[], None]) -> None:
        """Call ``write()`` in run()'s thread once every call made before now
        has reached the observers (e.g. a SIGUSR1 snapshot of the socket table)."""
        self._snapshots.append((time.monotonic() + 2.5 * self.RING_FLUSH_S, write))

    def _due_snapshots(self) -> None:
        now = time.monotonic()
        while self._snapshots and self._snapshots[0][0] <= now:
            self._snapshots.pop(0)[1]()

    def dispatch(self, stop: Stop) -> Verdict:
        """The verdict of the hooks on a stop: the first that is not Allow wins.
        A hook that raises fails closed: its exception propagates (run() kills
        every tracee first), with a note naming the hook and the stop.  A veil
        error in a hook (a verdict made with a bad value) or an answer that is
        not a verdict becomes one VeilError naming the hook."""
        for hook in self._hooks.get((stop.nr, stop.phase), ()):
            try:
                v = hook(stop)
            except VeilError as e:
                raise VeilError(f"{_hook_where(hook, stop, e)}: {e}") from None
            except Exception as e:
                _add_note(e, f"veil: raised by {_hook_where(hook, stop)}; the tracees were killed")
                raise
            if v is not None and not isinstance(v, Allow):
                if not isinstance(v, (Deny, Emulate, Kill, Detach, Hold, Rewrite, Inject)):
                    raise VeilError(f"{_hook_where(hook, stop)}: returned {v!r}, not a verdict "
                                    f"(Allow, Deny, Emulate, Kill, Detach, Hold, Rewrite, "
                                    f"Inject or None)")
                return v
        return None

    def run(self) -> Result:
        """Trace until every tracee is gone.

        The ptrace loop (and the hooks) run in a worker thread, pinned with
        the tracee when placement allows; the observers format records in
        this thread at the same time, on the other core.  If a hook or an
        observer fails, every tracee is killed and the error is raised here.
        """
        records = Handoff()
        backlog = Backlog(self.BACKLOG_BYTES)
        started, done = object(), object()
        self._abort = False

        def deliver(data: bytes) -> None:
            backlog.add(len(data))
            records.put(data)

        def worker() -> None:
            try:
                if self._engine is None:
                    self.start()
                    records.put(started)   # the observers prepare while the program starts
                while (stop := self._step(deliver)) is not None:
                    self.resume(stop, self.dispatch(stop))
            except BaseException as e:  # a failing hook: fail closed
                if self._engine is not None:
                    self._engine.kill_all()
                records.put(e)
            finally:
                try:
                    if self._engine is not None:
                        self._engine.restore_signals()
                        rest = self._engine.take_ring()
                        if self._reads_refusals and rest:
                            self._refusals.read_ring(rest)
                        deliver(rest)
                except BaseException as e:
                    records.put(e)
                finally:
                    records.put(done)

        join = start_thread(worker)
        # signals to veil must interrupt the worker's waitpid, not this thread
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _LOOP_SIGNALS)
        error: BaseException | None = None
        try:
            while True:
                item = records.get(0.05)
                self._due_snapshots()
                if item is None:
                    continue
                if item is done:
                    break
                if item is started:   # made while the program starts, as prepare() is
                    try:
                        if self._assembler is None and self.observers:
                            self._assembler = self._make_assembler()
                        for o in self.observers:
                            o.prepare()
                    except BaseException as e:
                        error = e
                        self._abort = True
                    continue
                if isinstance(item, BaseException):
                    error = error or item
                    continue
                if item and error is None:
                    try:
                        self._consume(item)
                    except BaseException as e:
                        error = e
                        self._abort = True
                backlog.done(len(item))
        finally:
            backlog.close()
            join()
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            for feature in self.features:
                try:
                    feature.cleanup()
                except BaseException as e:
                    error = error or e
            for o in self.observers:
                try:
                    o.close()
                except BaseException as e:
                    error = error or e
            for fn in self._at_end:
                try:
                    fn()
                except BaseException as e:
                    error = error or e
        if error is not None:
            raise error
        result = self.result()
        result.kills = list(self.kills)
        for feature in self.features:
            for key, value in feature.result_fields().items():
                setattr(result, key, value)
        for listener in _RESULT_LISTENERS.get():
            listener(result)
        return result

    def result(self) -> Result:
        eng = self._engine
        status = eng.main_status()
        duration = time.monotonic() - self._started
        if self.pids and status == -1:
            return Result(0, None, None, False, duration, eng.stats())
        err = eng.spawn_error() if status != -1 and not self.pids else 0
        if err and err & E.SPAWN_MOUNTNS:
            from .mountns import spawn_failure
            raise VeilError(spawn_failure(err, self._layout.mount_steps if self._layout else []))
        if err:
            raise CommandNotFound(self.argv[0], os.strerror(err),
                                  127 if err == _errno.ENOENT else 126)
        if status == -1:
            return Result(1, None, None, False, duration, eng.stats())
        if os.WIFEXITED(status):
            return Result(os.WEXITSTATUS(status), status, None, False, duration, eng.stats())
        sig = os.WTERMSIG(status)
        return Result(128 + sig, status, sig, os.WCOREDUMP(status), duration, eng.stats())


captures_for = None   # veil.decoders', imported when something is traced


def _load_verdicts() -> None:
    """veil.verdicts and veil.stop, loaded with the first stop handed to Python (a
    trace has none)."""
    global Allow, Deny, Detach, Emulate, Hold, Inject, Kill, Rewrite, Stop
    from .stop import Stop
    from .verdicts import Allow, Deny, Detach, Emulate, Hold, Inject, Kill, Rewrite


def _is_guest_tree(layout: object) -> bool:
    from .layout import GuestTree  # loaded only for a run with a layout
    return isinstance(layout, GuestTree)


def _add_note(error: BaseException, note: str) -> None:
    """BaseException.add_note (Python 3.11), by hand on 3.10 (read back by the CLI)."""
    if hasattr(error, "add_note"):
        error.add_note(note)
    else:
        error.__notes__ = [*getattr(error, "__notes__", []), note]  # type: ignore[attr-defined]


def _hook_where(hook: Hook, stop: Stop, error: BaseException | None = None) -> str:
    """``FILE:LINE: hook NAME at enter of openat (pid N)``: the line of the hook's
    file where ``error`` was raised, if any."""
    import traceback
    name = getattr(hook, "__qualname__", None) or repr(hook)
    where = ""
    code = getattr(hook, "__code__", None)
    if error is not None and code is not None:
        lines = [f.lineno for f in traceback.extract_tb(error.__traceback__)
                 if f.filename == code.co_filename]
        if lines:
            where = f"{code.co_filename}:{lines[-1]}: "
    return f"{where}hook {name} at {stop.phase} of {stop.name} (pid {stop.pid})"


def _pack_sockaddr(host: str, port: int) -> bytes:
    """struct sockaddr_in / sockaddr_in6 for (host, port)."""
    from .sockaddr import pack_inet
    return pack_inet(host, port)