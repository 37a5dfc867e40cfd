"""No import cycle among the project's modules, imports inside functions included; no
command imports the CLI entry module; every public name of ``ctgdocs`` resolves."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ctgdocs", "signers")


def _modules() -> dict[str, tuple[Path, bool]]:
    """Every module of the project: name → (file, is a package's ``__init__``)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _imports(name: str, path: Path, is_package: bool, known: set[str]) -> set[str]:
    """The project's modules that module ``name`` imports anywhere in its body (at top
    level, in functions, under ``if TYPE_CHECKING``), relative imports resolved, and
    ``from package import submodule`` counted as an import of the submodule."""
    here = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[:len(here.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" for alias in node.names]
            targets = [t if t in known else module for t in targets]
        for target in targets:
            while target and target not in known:  # a name inside a module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module → the project's modules it imports."""
    modules = _modules()
    return {name: _imports(name, path, is_package, set(modules))
            for name, (path, is_package) in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _a_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One path a → … → a through ``component``, to print."""
    members = set(component)
    start = component[0]
    path, seen = [start], {start}
    while True:
        step = sorted(graph[path[-1]] & members)
        back = [m for m in step if m == start]
        if back and len(path) > 1:
            return [*path, start]
        fresh = [m for m in step if m not in seen] or step
        path.append(fresh[0])
        if fresh[0] in seen:
            return path
        seen.add(fresh[0])


def test_the_graph_sees_every_kind_of_import() -> None:
    """The graph is not empty of what it must see (else the next test cannot fail)."""
    graph = import_graph()
    assert "ctgdocs.commands.build" in graph["ctgdocs.commands"]  # from . import build
    assert "ctgdocs.exceptions" in graph["ctgdocs.commands.build"]  # from ..exceptions
    assert "ctgdocs.load" in graph["ctgdocs.pipeline.steps"]  # inside a function
    assert "ctgdocs.model" in graph["ctgdocs.pipeline.context"]  # under TYPE_CHECKING
    assert "signers.fields" in graph["ctgdocs.pipeline.steps"]  # absolute
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle() -> None:
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(
        " → ".join(_a_cycle(graph, component)) for component in found)


def test_signers_never_imports_ctgdocs() -> None:
    graph = import_graph()
    assert not {(m, i) for m, imported in graph.items() if m.startswith("signers")
                for i in imported if i.startswith("ctgdocs")}


def test_no_command_imports_the_cli() -> None:
    graph = import_graph()
    commands = [m for m in graph if m.startswith("ctgdocs.commands")]
    assert len(commands) > 3
    assert [m for m in commands if "ctgdocs.cli" in graph[m]] == []


@pytest.mark.parametrize("name", importlib.import_module("ctgdocs").__all__)
def test_every_public_name_resolves(name: str) -> None:
    import ctgdocs

    assert getattr(ctgdocs, name) is not None
