"""``veil prep``: preprocessing a program for packaging (``analyze``, ``trace``, ``pack``,
``info``, ``files``, ``graph``, ``export``)."""
from __future__ import annotations

import argparse
import json
import os
import sys

from ..errors import UsageError, VeilError
from .argparser import VeilArgumentParser
from .common import strip_dashes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

USAGE = ("veil prep analyze BINARY [--json]\n"
         "       veil prep trace -o DIR [--share PATH,...] -- CMD ARGS\n"
         "       veil prep pack DIR (-o BUNDLE | --archive B.veil) [--config PATH]... "
         "[--data PATH]...\n"
         "                      [--rewrite OLD=NEW]... [--standalone] [--progress] [-q]\n"
         "       veil prep pack (-o BUNDLE | --archive B.veil) [same options] "
         "[--share PATH,...] -- CMD ARGS\n"
         "       veil prep info BUNDLE [--json]\n"
         "       veil prep files BUNDLE [--json]\n"
         "       veil prep graph BUNDLE -o G.dot|G.svg\n"
         "       veil prep export BUNDLE (--oci DIR | --docker-archive F.tar) [--tag NAME]")
SUBCOMMANDS = ("analyze", "trace", "pack", "info", "files", "graph", "export")


def cmd_prep(argv: Sequence[str]) -> int:
    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: {USAGE}")
        return 0 if argv else 2
    sub, rest = argv[0], argv[1:]
    commands = {"analyze": cmd_analyze, "trace": cmd_trace, "pack": cmd_pack,
                "info": cmd_info, "files": cmd_files, "graph": cmd_graph, "export": cmd_export}
    if sub not in commands:
        raise UsageError(f"prep: unknown subcommand {sub!r}; subcommands: "
                         f"{', '.join(SUBCOMMANDS)}")
    try:
        return commands[sub](rest)
    except OSError as e:
        raise VeilError(f"prep {sub}: {e.filename or ''}{': ' if e.filename else ''}"
                        f"{e.strerror or e}") from None


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


def _share_option(p: argparse.ArgumentParser) -> None:
    from ..prep.pack import DEFAULT_SHARE
    p.add_argument("--share", action="append", default=[], metavar="PATH[,PATH...]",
                   help="bind these host paths instead of copying them (always: "
                        + ",".join(DEFAULT_SHARE) + ")")


def _learning_parser(sub: str, description: str, output: str,
                     required: bool) -> argparse.ArgumentParser:
    """veil prep trace's and pack's parser, with -o (a new directory)."""
    p = VeilArgumentParser(prog=f"veil prep {sub}", description=description)
    p.add_argument("-o", "--output", required=required, metavar=output,
                   help=f"the {output.lower()} directory to create (must not exist, or be "
                        f"empty)")
    return p


def _trace_parser() -> argparse.ArgumentParser:
    p = _learning_parser(
        "trace", "Run a program once and write what it used as a plan to review and edit "
                 "(DIR/plan.toml: files grouped by Debian package, environment, identity, "
                 "syscalls, security rules), then: veil prep pack DIR -o BUNDLE.", "DIR", True)
    _share_option(p)
    p.add_argument("--progress", action="store_true",
                   help="show the paths learned so far on stderr even when it is not a terminal")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    p.add_argument("command", nargs=argparse.REMAINDER)
    return p


def _command(args: argparse.Namespace, sub: str) -> list[str]:
    command = strip_dashes(args.command)
    if not command:
        raise UsageError(f"prep {sub}: a command to learn is needed: "
                         f"veil prep {sub} -o {'DIR' if sub == 'trace' else 'BUNDLE'} -- CMD")
    return command


def cmd_trace(argv: Sequence[str]) -> int:
    from ..prep.pack import trace
    args = _trace_parser().parse_args(list(argv))
    trace(_command(args, "trace"), args.output, args.share, args.quiet,
          progress=True if args.progress else None)
    return 0


def _pack_parser() -> argparse.ArgumentParser:
    p = _learning_parser(
        "pack", "Pack a plan (veil prep pack DIR -o BUNDLE), or run a program once, learn "
                "the files it uses and pack them (veil prep pack -o BUNDLE -- CMD), into a "
                "bundle that `veil run BUNDLE` runs.", "BUNDLE", False)
    p.add_argument("--archive", metavar="B.veil",
                   help="also (or only, without -o) write the bundle as one compressed file "
                        "that `veil run B.veil` runs")
    p.add_argument("--config", action="append", default=[], metavar="PATH",
                   help="also copy this configuration file (or directory tree)")
    p.add_argument("--data", action="append", default=[], metavar="PATH",
                   help="also copy this data file (or directory tree)")
    _share_option(p)
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


PACK_VALUE_OPTIONS = ("-o", "--output", "--archive", "--config", "--data", "--share",
                      "--rewrite")


def _plan_argument(argv: list[str]) -> tuple[list[str], str | None]:
    """The arguments without the plan directory (a word before any ``--`` that is not an
    option nor an option's value, and is a directory), and that directory."""
    i = 0
    while i < len(argv) and argv[i] != "--":
        word = argv[i]
        if word in PACK_VALUE_OPTIONS:
            i += 2
            continue
        if not word.startswith("-") and os.path.isdir(word):
            return argv[:i] + argv[i + 1:], word
        if not word.startswith("-"):
            break                       # a command without --: veil prep pack -o B CMD
        i += 1
    return argv, None


def cmd_pack(argv: Sequence[str]) -> int:
    import tempfile

    from ..prep.pack import pack, pack_plan
    from ..prep.plan import PLAN_FILE, load_plan
    argv, plan_dir = _plan_argument(list(argv))
    args = _pack_parser().parse_args(argv)
    if not args.output and not args.archive:
        raise UsageError("prep pack: give -o BUNDLE, --archive B.veil or both "
                         "(veil prep pack --help for usage)")
    if plan_dir and args.command:
        raise UsageError(f"prep pack: give a plan ({plan_dir}) or a command, not both")
    if plan_dir:
        if not os.path.isfile(os.path.join(plan_dir, PLAN_FILE)):
            raise UsageError(f"prep pack: {plan_dir}: not a plan (no {PLAN_FILE}; make one "
                             f"with veil prep trace -o {plan_dir} -- CMD)")
        if args.share:
            raise UsageError("prep pack: --share is for the learning run: edit the plan's "
                             "[run] share (or [[group]] include) instead")
    command = None if plan_dir else _command(args, "pack")
    if args.archive and os.path.exists(args.archive):
        raise UsageError(f"prep pack: {args.archive} exists")
    options = dict(config=args.config, data=args.data, quiet=args.quiet, rewrite=args.rewrite,
                   standalone=args.standalone, progress=True if args.progress else None,
                   shown_as=None if args.output else args.archive)
    with tempfile.TemporaryDirectory(prefix="veil-pack-") as scratch:
        bundle = args.output or os.path.join(scratch, "bundle")
        if plan_dir:
            pack_plan(load_plan(plan_dir), bundle, **options)
        else:
            pack(command, bundle, share=args.share, **options)
        if args.archive:
            from ..prep.archive import write_archive
            digest = write_archive(bundle, args.archive)
            if not args.quiet:
                print(f"veil: wrote {args.archive} (sha256 {digest[:16]}...): "
                      f"veil run {args.archive} [-- ARGS]", file=sys.stderr)
    return 0


def _bundle_parser(sub: str, description: str) -> argparse.ArgumentParser:
    p = VeilArgumentParser(prog=f"veil prep {sub}", description=description)
    p.add_argument("bundle", metavar="BUNDLE", help="a bundle directory or a .veil archive")
    return p


def _report_command(sub: str, description: str, argv: Sequence[str], compute, as_text) -> int:
    """``veil prep info|files BUNDLE [--json]``: COMPUTE(bundle) printed as JSON or text."""
    from ..prep.inspect import open_bundle
    p = _bundle_parser(sub, description)
    p.add_argument("--json", action="store_true", help="one JSON object")
    args = p.parse_args(list(argv))
    result = compute(open_bundle(args.bundle))
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(as_text(result))
    return 0


def cmd_info(argv: Sequence[str]) -> int:
    from ..prep.inspect import info, info_text
    return _report_command("info", "What a bundle holds: the program, sizes, packages, the "
                                   "host it was packed on, the syscalls it may make.",
                           argv, info, info_text)


def cmd_files(argv: Sequence[str]) -> int:
    from ..prep.inspect import files, files_text
    return _report_command("files", "The input and output files of the packed run (ReproZip's "
                                    "showfiles), and the process that used each.",
                           argv, files, files_text)


def cmd_graph(argv: Sequence[str]) -> int:
    from ..prep.inspect import open_bundle, write_graph
    p = _bundle_parser("graph", "The processes of the packed run, their execs and the files "
                                "they read and wrote, as a Graphviz graph (.dot, or .svg "
                                "through dot).")
    p.add_argument("-o", "--output", required=True, metavar="G.dot|G.svg")
    p.add_argument("--all", action="store_true",
                   help="every file the run used (libraries, locales, a runtime's modules), "
                        "not only the executed, input and output files")
    args = p.parse_args(list(argv))
    write_graph(open_bundle(args.bundle), args.output, everything=args.all)
    return 0


def cmd_export(argv: Sequence[str]) -> int:
    from ..prep.inspect import open_bundle
    from ..prep.ociexport import export
    p = _bundle_parser("export", "Write the bundle as an OCI image: an image layout "
                                 "directory (--oci) or a tar for `docker load` "
                                 "(--docker-archive).")
    p.add_argument("--oci", metavar="DIR", help="the OCI image layout directory to create")
    p.add_argument("--docker-archive", metavar="F.tar", help="a tar for docker load")
    p.add_argument("--tag", default=None, metavar="NAME[:TAG]",
                   help="the image's name (default: veil/BUNDLE-NAME:latest)")
    args = p.parse_args(list(argv))
    if not args.oci and not args.docker_archive:
        raise UsageError("prep export: give --oci DIR, --docker-archive F.tar or both "
                         "(veil prep export --help for usage)")
    export(open_bundle(args.bundle), oci=args.oci, docker_archive=args.docker_archive,
           tag=args.tag)
    return 0
