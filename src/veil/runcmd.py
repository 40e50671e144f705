"""``veil run``: run a program under policies (a Python policy file, an OCI
seccomp profile, fault injection).  The virtual layout and identity options
of the design build on this command."""
from __future__ import annotations

import argparse
import os
import runpy
import sys
import traceback
from typing import Sequence

from .errors import UsageError, VeilError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="veil run",
                                description="Run a program under veil's policies.")
    p.add_argument("--policy", action="append", default=[], metavar="FILE.py",
                   help="a Python file that defines `policy` (a veil.Policy or a list of them) "
                        "or `def configure(session)`; repeatable, applied in order")
    p.add_argument("--seccomp-profile", action="append", default=[], metavar="PROFILE.json",
                   help="an OCI/Docker seccomp profile")
    p.add_argument("-e", dest="exprs", action="append", default=[], metavar="inject=...",
                   help="inject=SET:error=E|retval=N|signal=S[:when=W][:path=GLOB][:fd=N]")
    p.add_argument("-o", dest="output", metavar="FILE", help="also write a trace (strace text) to FILE")
    p.add_argument("--trace", default=None, metavar="SET", help="what -o traces (default: all)")
    g = p.add_argument_group("system identity")
    g.add_argument("--hostname", help="uname's nodename (sethostname changes only this value)")
    g.add_argument("--domainname", help="uname's domainname")
    g.add_argument("--kernel-release", help="uname -r")
    g.add_argument("--kernel-version", help="uname -v")
    g.add_argument("--machine", help="uname -m")
    g.add_argument("--sysname", help="uname -s")
    g.add_argument("-0", "--root-id", dest="root", action="store_true",
                   help="fake root: every id call reports 0, setuid/chown succeed virtually")
    g.add_argument("-i", dest="ids", metavar="UID:GID", help="report this uid and gid")
    g.add_argument("--cpus", type=int, metavar="N",
                   help="the program sees N CPUs (sched_getaffinity, /proc/cpuinfo, .../cpu/online)")
    p.add_argument("--no-seccomp", dest="seccomp", action="store_false")
    p.add_argument("--affinity", default="auto")
    p.add_argument("command", nargs=argparse.REMAINDER)
    return p


def load_policy_file(path: str, session) -> None:
    """Run a policy file and apply what it defines; errors name file and line."""
    from .policy import Policy
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such policy file")
    try:
        ns = runpy.run_path(path, run_name="veil_policy")
    except SyntaxError as e:
        raise UsageError(f"{path}:{e.lineno}: {e.msg}") from None
    except Exception as e:
        line = next((f.lineno for f in reversed(traceback.extract_tb(e.__traceback__))
                     if os.path.abspath(f.filename) == os.path.abspath(path)), "?")
        raise UsageError(f"{path}:{line}: {type(e).__name__}: {e}") from None
    policy, configure = ns.get("policy"), ns.get("configure")
    if policy is None and configure is None:
        raise UsageError(f"{path}: defines neither `policy` nor `configure(session)`")
    if policy is not None:
        for p in policy if isinstance(policy, (list, tuple)) else [policy]:
            if not isinstance(p, Policy):
                raise UsageError(f"{path}: `policy` must be a veil.Policy (or a list of them), "
                                 f"not {type(p).__name__}")
            p.apply(session)
    if configure is not None:
        configure(session)


def _identity(args):
    from .identity import Identity, identity_policy, parse_ids
    uid = gid = None
    if args.root and args.ids:
        raise UsageError("give -0 or -i, not both")
    if args.root:
        uid = gid = 0
    elif args.ids:
        uid, gid = parse_ids(args.ids)
    return identity_policy(Identity(hostname=args.hostname, domainname=args.domainname,
                                    sysname=args.sysname, kernel_release=args.kernel_release,
                                    kernel_version=args.kernel_version, machine=args.machine,
                                    uid=uid, gid=gid, cpus=args.cpus))


def cmd_run(argv: Sequence[str]) -> int:
    from .cli import _inject_policy
    from .decoders import Ctx
    from .oci import load_profile
    from .output.text import TextWriter
    from .session import Session

    args = _parser().parse_args(argv)
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("veil run: a command to run is needed")
    observers = []
    opened = None
    if args.output:
        try:
            opened = open(args.output, "w")
        except OSError as e:
            raise VeilError(f"cannot write {args.output}: {e.strerror}") from None
        observers.append(TextWriter(opened, follow=True, to_file=True, ctx=Ctx()))
    session = Session(command, trace=(args.trace or "all") if args.output else "none",
                      seccomp=args.seccomp, affinity=args.affinity, observers=observers)
    _identity(args).apply(session)
    for path in args.seccomp_profile:
        load_profile(path).apply(session)
    _inject_policy(args.exprs).apply(session)
    for path in args.policy:
        load_policy_file(path, session)
    try:
        result = session.run()
    except Exception as e:
        note = getattr(e, "__notes__", None)
        if note and any("raised by hook" in n for n in note):
            traceback.print_exception(e, file=sys.stderr)
            return 1
        raise
    finally:
        if opened is not None:
            opened.close()
    for pid, name, reason in session.kills:
        print(f"veil: killed the traced processes: process {pid} called {name}"
              + (f" ({reason})" if reason else ""), file=sys.stderr)
    return result.exit_code
