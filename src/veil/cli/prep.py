"""``veil prep``: preprocessing a program for packaging (``analyze``, ``pack``)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from ..errors import UsageError, VeilError
from .common import VeilArgumentParser, strip_dashes

USAGE = ("veil prep analyze BINARY [--json]\n"
         "       veil prep pack -o BUNDLE [--config PATH]... [--data PATH]... "
         "[--share PATH,...]\n"
         "                      [--rewrite OLD=NEW]... [--standalone] [--progress] [-q] -- CMD ARGS")
SUBCOMMANDS = ("analyze", "pack")


def cmd_prep(argv: Sequence[str]) -> int:
    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: {USAGE}")
        return 0 if argv else 2
    sub, rest = argv[0], argv[1:]
    if sub == "analyze":
        return cmd_analyze(rest)
    if sub == "pack":
        return cmd_pack(rest)
    raise UsageError(f"prep: unknown subcommand {sub!r}; subcommands: {', '.join(SUBCOMMANDS)}")


def _analyze_parser() -> argparse.ArgumentParser:
    p = VeilArgumentParser(prog="veil prep analyze", description=(
        "Describe an ELF program: class, machine, type, interpreter, the needed libraries "
        "resolved as the dynamic loader would, symbol versions, setuid bits and hardening."))
    p.add_argument("binary", metavar="BINARY", help="the ELF file to analyze")
    p.add_argument("--json", action="store_true", help="print one JSON object (docs/PREP.md)")
    return p


def cmd_analyze(argv: Sequence[str]) -> int:
    from ..prep.analyze import analyze, format_text
    args = _analyze_parser().parse_args(list(argv))
    result = analyze(args.binary)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_text(result))
    return 0


def _pack_parser() -> argparse.ArgumentParser:
    from ..prep.pack import DEFAULT_SHARE
    p = VeilArgumentParser(
        prog="veil prep pack",
        description="Run a program once, learn the files it uses, and copy them with a profile "
                    "into a bundle that `veil run BUNDLE` runs.")
    p.add_argument("-o", "--output", required=True, metavar="BUNDLE",
                   help="the bundle directory to create (must not exist, or be empty)")
    p.add_argument("--config", action="append", default=[], metavar="PATH",
                   help="also copy this configuration file (or directory tree)")
    p.add_argument("--data", action="append", default=[], metavar="PATH",
                   help="also copy this data file (or directory tree)")
    p.add_argument("--share", action="append", default=[], metavar="PATH[,PATH...]",
                   help="bind these host paths instead of copying them (always: "
                        + ",".join(DEFAULT_SHARE) + ")")
    p.add_argument("--rewrite", action="append", default=[], metavar="OLD=NEW",
                   help="in the copies of the --config/--data files, replace every OLD with "
                        "NEW (host names, ports, paths); binary files are left alone")
    p.add_argument("--standalone", action="store_true",
                   help="also write lief-patched copies of the programs and libraries "
                        "(BUNDLE/standalone) and a launcher, BUNDLE/run, that runs the "
                        "bundle without veil")
    p.add_argument("--progress", action="store_true",
                   help="show a progress bar on stderr even when it is not a terminal")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    p.add_argument("command", nargs=argparse.REMAINDER)
    return p


def cmd_pack(argv: Sequence[str]) -> int:
    from ..prep.pack import pack
    args = _pack_parser().parse_args(list(argv))
    command = strip_dashes(args.command)
    if not command:
        raise UsageError("prep pack: a command to learn is needed: veil prep pack -o BUNDLE -- CMD")
    try:
        pack(command, args.output, args.config, args.data, args.share, args.quiet,
             rewrite=args.rewrite, standalone=args.standalone,
             progress=True if args.progress else None)
    except OSError as e:
        raise VeilError(f"prep pack: {e.filename or args.output}: {e.strerror}") from None
    return 0
