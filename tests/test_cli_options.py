"""veil.cli.options: the quick reader of a command line gives what argparse gives.

``veil trace`` and ``veil run`` read their usual command lines without argparse
(their start-up, issue 22) and hands every other one to argparse built from the same
declarations.  Whatever line the quick reader accepts, argparse must read the
same way; a line argparse refuses, the quick reader must leave to it.
"""
from __future__ import annotations

import random

import pytest

from veil.cli.options import Options
from veil.cli.run import parser as run_options
from veil.cli.trace import _parser as trace_options
from veil.errors import UsageError

COMMANDS = {"trace": trace_options, "run": run_options}


def argparse_reading(options: Options, argv):
    """argparse's namespace for ``argv``, or UsageError if it refuses the line."""
    try:
        return vars(options.argparser().parse_args(argv))
    except UsageError as e:
        return e


def agree(options: Options, argv) -> bool:
    """The quick reader read ``argv`` (True) or left it to argparse (False); where it
    read it, argparse reads it the same way."""
    quick = options.quick_parse(argv)
    if quick is None:
        return False
    expected = argparse_reading(options, argv)
    assert not isinstance(expected, UsageError), f"{argv}: quick read a line argparse refuses"
    assert vars(quick) == expected, argv
    return True


# lines users type: the quick reader takes them (or veil trace pays argparse's import)
USUAL_TRACE_LINES = [
    ["--", "/bin/true"],
    ["/bin/true"],
    ["-f", "-o", "/dev/null", "--", "sh", "-c", "echo hi"],
    ["-ff", "-o", "out", "make", "-j2"],
    ["-fqq", "-s100", "-o/tmp/t", "ls", "-la"],
    ["-fo", "out", "ls"],
    ["-e", "trace=openat,close", "-e", "signal=none", "cat", "/etc/hostname"],
    ["--trace=%file", "--status=failed", "-y", "-yy", "ls"],
    ["-c", "-S", "calls", "ls"],
    ["-T", "-tt", "-x", "-X", "verbose", "ls"],
    ["--syscall-times=ns", "--absolute-timestamps=unix,us", "ls"],
    ["--format", "json", "-o", "t.jsonl", "ls"],
    ["--format=binary", "-o", "t.veil", "--no-seccomp", "ls"],
    ["-p", "123", "-p", "456,789"],
    ["-E", "A=1", "-E", "B", "-u", "nobody", "id"],
    ["-o", "-", "ls"],
    ["-s", "0", "-a", "60", "-v", "ls"],
    ["--seccomp-bpf", "-f", "-b", "execve", "sh"],
    ["-P", "/etc/passwd", "cat", "/etc/passwd"],
    ["ls", "-f", "-o", "x"],                  # after the command: the command's own
    ["-V"],
]

# lines only argparse can read (or refuse) as it does
ARGPARSE_TRACE_LINES = [
    ["-h"], ["--help"], ["--outp", "x", "ls"], ["--output"], ["-o"], ["-s", "x", "ls"],
    ["-s", "-1", "ls"], ["--format", "yaml", "ls"], ["-S", "size", "ls"], ["--bogus", "ls"],
    ["-o", "--", "ls"], ["-Q", "ls"], ["--syscall-times", "--", "ls"], ["-f=1", "ls"],
    ["--follow-forks=yes", "ls"], ["-o", "-f", "ls"],
]


USUAL_RUN_LINES = [
    ["--", "/bin/true"],
    ["/bin/true"],
    ["-r", "/srv/root", "-b", "/tmp:/tmp", "-b", "/proc", "--", "sh", "-c", "pwd"],
    ["-R", "/srv/root", "-w", "/", "-0", "sh"],
    ["--hostname", "box", "--cpus", "2", "-i", "1000:1000", "uname", "-a"],
    ["--env", "A=1", "--unset", "B", "--clear-env", "--umask", "022", "env"],
    ["--net-deny", "0.0.0.0/0", "--net-allow", "127.0.0.1", "--sockets-out", "s.json", "curl"],
    ["--profile", "p.toml", "--set", "system.hostname=x", "ls"],
    ["-o", "t.txt", "--trace", "%file", "--deny", "mount", "ls"],
    ["--private-tmp", "--keep-tmp", "--layout-engine", "ptrace", "-v", "ls"],
    ["--unshare-net", "--unshare-pid", "--die-with-parent", "--uid", "0", "id"],
    ["-e", "inject=openat:error=ENOENT", "--strict", "--no-seccomp", "cat", "x"],
]


@pytest.mark.parametrize("command, lines", [("trace", USUAL_TRACE_LINES),
                                            ("run", USUAL_RUN_LINES)])
def test_usual_lines_are_read_quickly_as_argparse_reads_them(command, lines):
    options = COMMANDS[command]()
    for argv in lines:
        assert agree(options, argv), f"{argv}: left to argparse"


def test_lines_the_quick_reader_is_unsure_of_go_to_argparse():
    options = trace_options()
    for argv in ARGPARSE_TRACE_LINES:
        assert options.quick_parse(argv) is None, argv


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_random_lines_read_the_same_or_left_to_argparse(command):
    """Lines made of the command's own flags, values that look like flags, "--",
    "-", clusters and words: the quick reader agrees with argparse on every
    one it reads, and reads most of those argparse accepts."""
    options = COMMANDS[command]()
    flags = sorted(options._by_flag)
    words = ["ls", "-", "--", "1", "0", "x", "trace=open", "json", "calls", "ns", "-1", "a=b"]
    rng = random.Random(22)
    read = accepted = 0
    for _ in range(1500):
        argv = []
        for _ in range(rng.randint(0, 6)):
            pick = rng.random()
            if pick < 0.45:
                argv.append(rng.choice(flags))
            elif pick < 0.55:
                shorts = [f[1] for f in flags if len(f) == 2]
                argv.append("-" + "".join(rng.choice(shorts) for _ in range(rng.randint(2, 3))))
            elif pick < 0.65:
                argv.append(rng.choice([f for f in flags if f.startswith("--")]) + "="
                            + rng.choice(words))
            else:
                argv.append(rng.choice(words))
        expected = argparse_reading(options, argv)
        accepted += not isinstance(expected, UsageError)
        read += agree(options, argv)
    assert read >= accepted * 0.8, f"the quick reader read {read} of {accepted} good lines"
