"""The command line as a package (issue 16): ``veil --help`` lists every command,
``veil -V``, usage errors are one line, and the library never imports veil.cli
nor another module's private names."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

import veil
from conftest import run_veil

COMMANDS = ("trace", "run", "show", "sockets", "prep", "bench", "syscalls")
SRC = Path(veil.__file__).resolve().parent          # src/veil
# stdlib modules imported under a private alias (import errno as _errno) are not names
# taken from another module; _veil_c is the C accelerator, built by cffi
ALLOWED_PRIVATE = {"_veil_c"}


def test_help_lists_every_command():
    r = run_veil(["--help"])
    assert r.returncode == 0, r.stderr
    listed = [line.split()[0] for line in r.stdout.splitlines()
              if line.startswith("  ") and not line.strip().startswith("-")]
    assert listed == list(COMMANDS), r.stdout
    for line in r.stdout.splitlines():
        if line.strip().split(" ")[0] in COMMANDS:
            assert len(line.split()) > 2, f"no description: {line!r}"   # name + a description
    assert "-V, --version" in r.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    """`veil COMMAND --help` prints the command's usage (a "%" in a help text once
    made argparse raise on bench's)."""
    r = run_veil([command, "--help"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"usage: veil {command}"), r.stdout[:200]
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(flag):
    r = run_veil([flag])
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"veil {veil.__version__}\n"
    assert r.stderr == ""


def test_unknown_command_is_one_line():
    r = run_veil(["nosuchcommand"])
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("veil: unknown command 'nosuchcommand'"), lines


@pytest.mark.parametrize("argv", [
    ["trace", "--bogus-option", "--", "true"],
    ["run", "--bogus-option", "--", "true"],
    ["show", "--bogus-option", "f.veil"],
    ["sockets", "--bogus-option", "t.json"],
    ["prep", "analyze", "--bogus-option", "/bin/true"],
    ["prep", "pack", "--bogus-option", "-o", "b", "--", "true"],
    ["bench", "--bogus-option", "--", "true"],
    ["syscalls", "--bogus-option"],
], ids=lambda a: " ".join(a[:2]) if a[0] == "prep" else a[0])
def test_unknown_option_is_one_line(argv, tmp_path):
    r = run_veil(argv, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    prog = " ".join(argv[:2]) if argv[0] == "prep" else argv[0]
    assert lines[0].startswith(f"veil: {prog}: "), lines[0]
    assert "--bogus-option" in lines[0] and f"veil {prog} --help" in lines[0], lines[0]


def test_parser_error_line():
    from veil.cli.argparser import VeilArgumentParser
    from veil.errors import UsageError
    p = VeilArgumentParser(prog="veil prep pack")
    p.add_argument("-o", required=True)
    with pytest.raises(UsageError) as info:
        p.parse_args(["-x"])
    assert str(info.value).startswith("prep pack: ")
    assert str(info.value).endswith("(veil prep pack --help for usage)")


# --- imports: the library never reaches into the command line ------------------

def _modules() -> Iterator[Tuple[Path, str]]:
    """(file, dotted module name) of every module under src/veil."""
    for path in sorted(SRC.rglob("*.py")):
        parts = ("veil",) + path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield path, ".".join(parts)


def _imports(path: Path, module: str) -> Iterator[Tuple[int, str, List[str]]]:
    """(line, absolute module imported, names taken from it) for every import in
    ``path``, at module level or inside functions, relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            yield node.lineno, target, names
            for name in names:   # from . import cli / from veil import cli
                yield node.lineno, f"{target}.{name}", []


def _rel(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


def test_imports_are_resolved(tmp_path):
    """The checks below see relative imports, imports inside functions, and
    ``from . import cli``."""
    fake = tmp_path / "fake.py"
    fake.write_text("from ..cli import main\n"
                    "def f():\n    from ..cli.common import parse_exprs\n"
                    "    from .. import cli\n    from ..policy import _hidden\n"
                    "import veil.cli.trace\nimport errno as _errno\n")
    found = [(target, names) for _, target, names in _imports(fake, "veil.prep.fake")]
    assert ("veil.cli", ["main"]) in found
    assert ("veil.cli.common", ["parse_exprs"]) in found
    assert ("veil.cli", []) in found                      # from .. import cli
    assert ("veil.policy", ["_hidden"]) in found
    assert ("veil.cli.trace", []) in found
    assert ("errno", []) in found


def test_modules_found():
    mods = dict((m, p) for p, m in _modules())
    assert "veil.cli" in mods and "veil.cli.common" in mods and "veil.session" in mods


def test_no_library_module_imports_the_command_line():
    bad = []
    for path, module in _modules():
        rel = _rel(path)
        if module == "veil.cli" or module.startswith("veil.cli.") or rel == "__main__.py":
            continue
        for line, target, _ in _imports(path, module):
            if target == "veil.cli" or target.startswith("veil.cli."):
                bad.append(f"{rel}:{line}: imports {target}")
    assert not bad, "\n".join(bad)


def test_no_private_names_across_modules():
    """``from X import _name`` (absolute or relative, anywhere in a module): a
    private name is its module's own.  ``import errno as _errno`` is not one."""
    bad = []
    for path, module in _modules():
        for line, target, names in _imports(path, module):
            for name in names:
                if (name.startswith("_") and not name.startswith("__")
                        and name not in ALLOWED_PRIVATE):
                    bad.append(f"{_rel(path)}:{line}: from {target} import {name}")
    assert not bad, "\n".join(bad)
