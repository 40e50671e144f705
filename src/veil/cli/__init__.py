"""The ``veil`` command line: one module per command (veil.cli.trace, .run, .show,
.sockets, .prep, .bench, .syscalls), what several share in veil.cli.common.

Only this package (and ``python -m veil``) imports it: the library never does.
A command's module is imported when the command runs, so ``veil -V`` and a
usage error cost no more than Python's start-up.
"""
from __future__ import annotations

import gc
import os
import sys

from ..errors import VeilError

TYPE_CHECKING = False   # not even typing is imported for `veil --help`
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


class Command:
    """A command: where its function is, and its line in `veil --help`."""

    __slots__ = ("module", "function", "summary")

    def __init__(self, module: str, function: str, summary: str):
        self.module = module        # relative to veil.cli
        self.function = function    # cmd_NAME(argv) -> exit status
        self.summary = summary      # the line `veil --help` shows

    def load(self) -> Callable[[Sequence[str]], int]:
        # __import__: importlib's package costs a millisecond (veil/__init__.py)
        return getattr(__import__(f"{__name__}{self.module}", fromlist=[self.function]),
                       self.function)


COMMANDS: dict[str, Command] = {
    "trace": Command(".trace", "cmd_trace",
                     "trace the system calls of a program (strace's flags)"),
    "run": Command(".run", "cmd_run",
                   "run a program confined: layout, identity, network rules, policies"),
    "show": Command(".show", "cmd_show",
                    "render a trace file (veil trace --format binary) as text, JSON or Perfetto"),
    "sockets": Command(".sockets", "cmd_sockets",
                       "print a socket table written by veil run --sockets-out"),
    "prep": Command(".prep", "cmd_prep",
                    "analyze a program, or pack it with what it uses into a bundle"),
    "bench": Command(".bench", "cmd_bench",
                     "measure what veil costs a command, beside native, strace and PRoot"),
    "syscalls": Command(".syscalls", "cmd_syscalls",
                        "list the syscalls a -e trace= set selects"),
}


def usage() -> str:
    """What ``veil --help`` prints."""
    options = {"-h, --help": "this list; veil COMMAND --help: a command's options",
               "-V, --version": "print veil's version"}
    width = max(map(len, [*COMMANDS, *options]))
    lines = ["usage: veil COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {c.summary}" for name, c in COMMANDS.items()]
    lines += ["", "options:"]
    lines += [f"  {flags:<{width}}  {text}" for flags, text in options.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from .. import __version__
        print(f"veil {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    command = COMMANDS.get(name)
    if command is None:
        print(f"veil: unknown command {name!r}; commands: {', '.join(COMMANDS)} "
              f"(veil --help for usage)", file=sys.stderr)
        return 2
    # the start-up allocates much and frees little: the collector's passes over the
    # syscall table and the decoders' tables were a tenth of it (the command turns
    # collection back on with collect_again() before it runs the program)
    global _paused
    collecting = _paused = gc.isenabled()
    gc.disable()
    try:
        return command.load()(rest)
    except VeilError as e:
        print(f"veil: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 141
    except OSError as e:
        # the kernel refused veil itself (ptrace, seccomp, a file): one line, no traceback
        what = f"{e.filename}: {e.strerror}" if e.filename else e.strerror or str(e)
        print(f"veil: {what}", file=sys.stderr)
        return 1
    finally:
        _paused = False
        if collecting:
            gc.enable()


_paused = False   # main() turned garbage collection off for the start-up


def collect_again() -> None:
    """The start-up is over (the session is about to run): garbage collection on,
    over what is made from now on.  What the start-up made (modules, the syscall
    table, the decoders' tables: tens of thousands of objects that live as long as
    veil) is frozen out of the collector's passes (gc.freeze, Python 3.7), which
    otherwise walked all of it at every full collection: 5-9 ms of the first
    steps of a trace, and again and again in a long one."""
    if _paused:
        gc.freeze()
        gc.enable()


def entry() -> None:
    """The ``veil`` command: main(), then an exit that skips tearing the
    interpreter down.  Freeing every module's objects one by one (the syscall
    table, the decoders' tables) took 35-55 ms, longer than tracing /bin/true.
    atexit handlers still run and the standard streams are flushed; with a
    thread still running (none should be) the exit is the normal one."""
    exit_quickly(main())


def exit_quickly(code: int | None) -> None:
    """Exit with ``code`` as entry() does: atexit handlers run, streams flushed,
    no teardown of the interpreter's modules (unless a thread still runs)."""
    if code is None:
        code = 0
    if not isinstance(code, int) or _threads_to_wait_for():
        sys.exit(code)
    import atexit
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = code or 141
    except (OSError, ValueError):
        code = code or 120   # what Python's own exit gives when stdout fails
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)


def _threads_to_wait_for() -> bool:
    """True if a normal exit would wait for a thread (one of threading's, not a
    daemon, still running); veil's own loop thread is a _thread one, done by now."""
    threading = sys.modules.get("threading")
    if threading is None:
        return False
    main = threading.main_thread()
    return any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate())


if __name__ == "__main__":
    entry()

