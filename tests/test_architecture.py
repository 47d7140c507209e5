"""The layout's rules, read from the source: no import cycles among the project's modules.

Imports inside functions count: a lazy import only hides a cycle from the interpreter, not from
a reader, who still has to understand both modules at once.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("orchestrator", "trainables", "tasks", "search_spaces", "benchmarks")


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def imported(node: ast.AST, modules: dict[str, Path]) -> list[str]:
    """The project modules an import statement loads: `from pkg import sub` is `pkg.sub` when
    `sub` is a module, else `pkg` itself."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in modules]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in modules:
        subs = [f"{node.module}.{alias.name}" for alias in node.names]
        found = [sub for sub in subs if sub in modules]
        return found if len(found) == len(subs) else [*found, node.module]
    return []


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            graph[name].update(t for t in imported(node, modules) if t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm; no library
    the project already has finds them)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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


def test_no_import_cycles_among_the_projects_modules():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle_through_a_lazy_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    lazy = ast.parse("def f():\n    from trainables import trial\n")
    modules = project_modules()
    assert [t for n in ast.walk(lazy) for t in imported(n, modules)] == ["trainables.trial"]


def test_the_graph_holds_the_projects_known_edges():
    graph = import_graph()  # an empty or misread graph would pass the cycle test vacuously
    assert "search_spaces" in graph["orchestrator.sweep"]
    assert "tasks.transitions" in graph["tasks"]
    assert len(graph) > 50
