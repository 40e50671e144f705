"""The import graph of src/veil has no cycles (issue 16).

Every ``import`` and ``from ... import`` in a module counts, at module level or
inside a function or class, except those under ``if TYPE_CHECKING:`` (never
run).  A package's ``__init__`` importing its submodules is an edge like any
other; importing a submodule does not count as importing its parent packages
(Python runs those first, but they cannot close a cycle through this import).
``from . import _veil_c`` is the compiled C extension, not a module of the graph.
When a strongly connected component has more than one module (or a module
imports itself), the test fails and prints one cycle, edge by edge, with the
line of each import.
"""
from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

import veil

SRC = Path(veil.__file__).resolve().parent          # src/veil
COMPILED = {"_veil_c"}                               # the cffi extension: imports no module of veil

Edge = Tuple[str, str, str]                          # target module, file:line, how


def module_files(root: Path, package: str) -> Dict[str, Path]:
    """Dotted name -> file, for every .py file under ``root`` (the package ``package``)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = (package,) + path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking_only(tree: ast.AST) -> Set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` / ``if typing.TYPE_CHECKING:``
    (their ``else:`` runs, so it counts)."""
    skip: Set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else \
                test.attr if isinstance(test, ast.Attribute) else None
            if name == "TYPE_CHECKING":
                skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def _imported(node: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Absolute dotted names an import statement may refer to as modules:
    ``from X import a`` yields X.a (a submodule, if it is one) and X."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = (module if is_package else module.rpartition(".")[0]).split(".")
            base = base[:len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        for alias in node.names:
            yield f"{target}.{alias.name}" if alias.name != "*" else target


def _resolve(name: str, modules: Dict[str, Path]) -> Optional[str]:
    """The module of the graph that ``name`` names (X.attr -> X), None if outside it
    or in the compiled extension (X._veil_c, X._veil_c.lib)."""
    while name not in modules and "." in name:
        name, _, last = name.rpartition(".")
        if last in COMPILED:
            return None
    return name if name in modules else None


def import_graph(modules: Dict[str, Path], base: Path) -> Dict[str, Dict[str, Edge]]:
    """module -> {imported module: (target, "file:line", "module level" or "in a function")}
    (the first import of each target); files are named relative to ``base``."""
    graph: Dict[str, Dict[str, Edge]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        skip = _type_checking_only(tree)
        edges: Dict[str, Edge] = {}
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in skip:
                continue
            for name in _imported(node, module, path.name == "__init__.py"):
                target = _resolve(name, modules)
                if target is None or target in edges:
                    continue
                if target == module and isinstance(node, ast.ImportFrom) and \
                        name != module and path.name == "__init__.py":
                    continue   # from . import name: a name of the package itself
                where = f"{path.relative_to(base).as_posix()}:{node.lineno}"
                how = "module level" if id(node) in top else "in a function"
                edges[target] = (target, where, how)
        graph[module] = edges
    return graph


def strongly_connected(graph: Dict[str, Dict[str, Edge]]) -> List[List[str]]:
    """Tarjan's algorithm, iteratively: every strongly connected component."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    components: List[List[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[v] = min(low[v], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                components.append(sorted(component))
    return components


def cycles(graph: Dict[str, Dict[str, Edge]]) -> List[List[str]]:
    """The components that are cycles: more than one module, or a module importing itself."""
    return [c for c in strongly_connected(graph)
            if len(c) > 1 or c[0] in graph[c[0]]]


def one_cycle(graph: Dict[str, Dict[str, Edge]], component: List[str]) -> List[Edge]:
    """The edges of a shortest cycle through the first module of a component."""
    inside = set(component)
    start = component[0]
    came: Dict[str, Tuple[str, Edge]] = {}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w, edge in sorted(graph[v].items()):
                if w not in inside or w in came:
                    continue
                came[w] = (v, edge)
                if w == start:
                    path = []
                    while True:
                        v2, e2 = came[w]
                        path.append(e2)
                        w = v2
                        if w == start:
                            return path[::-1]
                following.append(w)
        frontier = following
    raise AssertionError(f"no cycle through {start}")   # a component always has one


def describe(graph: Dict[str, Dict[str, Edge]], component: List[str]) -> str:
    lines = [f"import cycle among {len(component)} module(s): {', '.join(component)}",
             f"  {component[0]}"]
    for target, where, how in one_cycle(graph, component):
        lines.append(f"    -> {target}   ({where}, {how})")
    return "\n".join(lines)


@functools.lru_cache(maxsize=None)
def veil_graph() -> Dict[str, Dict[str, Edge]]:
    return import_graph(module_files(SRC, "veil"), SRC.parent)


# --- the checks --------------------------------------------------------------

def _write(root: Path, files: Dict[str, str]) -> Dict[str, Path]:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return module_files(root, "pkg")


def test_the_analysis_sees_every_kind_of_import(tmp_path):
    """Relative and absolute imports, imports inside functions, package ->
    submodule edges, names versus submodules; TYPE_CHECKING and the C
    extension are left out."""
    mods = _write(tmp_path / "pkg", {
        "__init__.py": "from . import a\nfrom .sub import thing\n",
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import b\n"
                "else:\n    import pkg.sub.c\nfrom . import _veil_c\nfrom ._veil_c import lib\n",
        "b.py": "def f():\n    from .sub.c import name\n",
        "sub/__init__.py": "thing = 1\nfrom . import thing\n",
        "sub/c.py": "import os\nfrom .. import b as _b\n",
    })
    graph = {m: set(e) for m, e in import_graph(mods, tmp_path).items()}
    assert graph == {
        "pkg": {"pkg.a", "pkg.sub"},
        "pkg.a": {"pkg.sub.c"},              # not pkg.b (TYPE_CHECKING), not pkg (_veil_c)
        "pkg.b": {"pkg.sub.c"},              # inside a function
        "pkg.sub": set(),                    # from . import thing: the package's own name
        "pkg.sub.c": {"pkg.b"},
    }
    assert cycles(import_graph(mods, tmp_path)) == [["pkg.b", "pkg.sub.c"]]


def test_a_cycle_is_printed_edge_by_edge(tmp_path):
    mods = _write(tmp_path / "pkg", {
        "__init__.py": "from .x import f\n",
        "x.py": "def f():\n    from .y import g\n",
        "y.py": "from . import f\n",
        "z.py": "import pkg.z\n",
    })
    graph = import_graph(mods, tmp_path)
    found = cycles(graph)
    assert found == [["pkg", "pkg.x", "pkg.y"], ["pkg.z"]]
    text = describe(graph, found[0])
    assert text.splitlines() == [
        "import cycle among 3 module(s): pkg, pkg.x, pkg.y",
        "  pkg",
        "    -> pkg.x   (pkg/__init__.py:1, module level)",
        "    -> pkg.y   (pkg/x.py:2, in a function)",
        "    -> pkg   (pkg/y.py:1, module level)",
    ]
    assert describe(graph, found[1]).splitlines()[-1] == "    -> pkg.z   (pkg/z.py:1, module level)"


def test_modules_found():
    graph = veil_graph()
    assert {"veil", "veil.session", "veil.decoders", "veil.decoders.net",
            "veil.output.binary"} <= set(graph)
    assert "veil.decoders.kinds" in graph["veil.decoders"]
    assert "veil.records" in graph["veil.decoders.net"]


def test_the_import_graph_of_veil_has_no_cycle():
    graph = veil_graph()
    found = cycles(graph)
    assert not found, "\n\n".join(describe(graph, c) for c in found)


# --- what importing veil loads (issue 22) ---------------------------------------

_LOADED = ("import sys; before = set(sys.modules); {}; "
           "print('modules:', *sorted(set(sys.modules) - before))")


def _loaded(statement: str) -> List[str]:
    """The modules ``statement`` imports in a fresh interpreter."""
    r = subprocess.run([sys.executable, "-c", _LOADED.format(statement)], capture_output=True,
                       text=True, timeout=60, check=True)
    return r.stdout.splitlines()[-1].split()[1:]


def _heavy(modules: List[str]) -> List[str]:
    return [m for m in modules if m.split(".")[0] in ("construct", "lief", "psutil", "ptrace",
                                                      "_cffi_backend")
            or m.startswith("veil.decoders")]


def test_import_veil_loads_nothing_more():
    """The public names (and the version) load on first use; ``veil.run`` and the
    rest still work."""
    loaded = _loaded("import veil")
    assert [m for m in loaded if m.startswith("veil")] == ["veil"]
    assert _heavy(loaded) == []
    names = _loaded("import veil; assert all(getattr(veil, n) is not None for n in veil.__all__); "
                    "from veil import *; assert RunSpec is veil.spec.RunSpec and "
                    "veil.Policy is veil.policy.Policy; assert set(veil.__all__) <= set(dir(veil))")
    assert "veil.session" in names


def test_help_loads_only_the_command_table():
    loaded = _loaded("from veil.cli import main; main(['--help'])")
    assert [m for m in loaded if m.startswith("veil")] == ["veil", "veil.cli", "veil.errors"]
    assert _heavy(loaded) == []


def test_an_unknown_public_name_is_an_attribute_error():
    import pytest
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        veil.nothing  # noqa: B018
