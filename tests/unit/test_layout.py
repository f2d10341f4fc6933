"""The import structure of streams/ and schemas/, read from the source with `ast`.

The pure core (streams/logic) imports nothing of the project but itself, the payload
contracts (schemas) and streams/compiled.py (which picks the build it runs from), and the
contracts import nothing of streams; no module imports itself or sits on an import circle;
no import runs from a lower layer to a higher one (LAYERS). Every `import` and
`from ... import` counts, wherever it is (inside a function, under TYPE_CHECKING),
relative ones resolved.

The graph: one node per module, a package being its __init__. `import a.b.c` is an edge
to the module a.b.c, or where there is none to the nearest package above it that is one;
`from p import n` is an edge to p.n where that is a module, else to p. Importing a
submodule adds no edge to the packages above it.
"""

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).parents[2]


@dataclass(frozen=True)
class Import:
    source: str
    """The importing module."""
    line: int
    written: str
    """As written, relative ones resolved: `a.b` or `a.b:name`."""
    target: str
    """The project module the edge goes to."""


def find_modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted name -> file, for every module of the packages (a package is its __init__)."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def nearest(name: str, modules: dict[str, Path]) -> str | None:
    """The module `name` is, or the nearest package above it; None if outside the project."""
    parts = name.split(".")
    while parts:
        if (candidate := ".".join(parts)) in modules:
            return candidate
        parts.pop()
    return None


def imports_of(name: str, modules: dict[str, Path]) -> Iterator[Import]:
    """The module's imports of project modules, wherever they are in it."""
    path = modules[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if target := nearest(alias.name, modules):
                    yield Import(name, node.lineno, alias.name, target)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                above = package.split(".")
                above = above[: len(above) - (node.level - 1)]
                base = ".".join([*above, base] if base else above)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                target = submodule if submodule in modules else nearest(base, modules)
                if target:
                    yield Import(name, node.lineno, f"{base}:{alias.name}", target)


def import_graph(modules: dict[str, Path]) -> dict[str, list[Import]]:
    return {name: list(imports_of(name, modules)) for name in sorted(modules)}


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def stray_imports(
    graph: dict[str, list[Import]], inside: str, allowed: Iterable[str], project: Iterable[str]
) -> list[str]:
    """Imports by modules of `inside` of project modules outside it and outside `allowed`."""
    allowed, project = tuple(allowed), tuple(project)
    return [
        f"{i.source}:{i.line} imports {i.written} ({i.target})"
        for source, edges in graph.items()
        if within(source, inside)
        for i in edges
        if not within(i.target, inside)
        and any(within(i.target, p) for p in project)
        and not any(within(i.target, a) for a in allowed)
    ]


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components = []
    for root in sorted(graph):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(graph[root])))]
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def shortest_circle(graph: dict[str, set[str]], start: str, members: set[str]) -> list[str]:
    """The shortest path start -> ... -> start inside the component (breadth first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(graph[node] & members):
                if successor == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if successor not in came_from:
                    came_from[successor] = node
                    following.append(successor)
        frontier = following
    raise AssertionError(f"{start} is on no circle in {sorted(members)}")


def circles(graph: dict[str, list[Import]]) -> list[str]:
    """Every self-import, and for each component of more than one module circles through
    all its members, as `a -> b -> a` (with the lines of the imports that make each step)."""
    edges = {source: {i.target for i in imports} for source, imports in graph.items()}
    found = []
    for component in strongly_connected(edges):
        members = set(component)
        if len(component) == 1 and component[0] not in edges[component[0]]:
            continue
        shown: set[str] = set()
        for start in component:
            if start in shown:
                continue
            chain = shortest_circle(edges, start, members)
            shown.update(chain)
            steps = []
            for a, b in pairwise(chain):
                lines = sorted({i.line for i in graph[a] if i.target == b})
                steps.append(f"{a}:{','.join(map(str, lines))}")
            found.append(" -> ".join(chain) + f"  (lines {', '.join(steps)})")
    return found


LAYERS: tuple[tuple[str, ...], ...] = (
    ("schemas",),
    ("streams.compiled", "streams.child_processes", "streams.gc_tuning"),
    ("streams.logic", "streams.logic.rules", "streams.logic.routes"),
    ("streams.logic.state",),
    ("streams.logic.signals",),
    ("streams.logic.kpis",),
    ("streams.logic.identity",),
    ("streams.logic.inputs",),
    ("streams.logic.snapshot",),
    ("streams.config", "streams.crash_points"),
    ("streams.clients",),
    ("streams.sinks",),
    ("streams.dashboard", "streams.kpi_table"),
    ("streams.worker", "streams.view", "streams.replay", "streams.tune", "streams.collect"),
    ("streams.dev",),
    ("streams.cli", "streams.docs", "streams.__main__", "streams"),
)
"""Lowest first: what the data passes through from the contracts to the command line. A
module imports only from its own layer's packages and the layers below; the logic's
packages by concern (state, signals, kpis, inputs) are layers of their own."""


def layer_of(module: str, layers: tuple[tuple[str, ...], ...]) -> int | None:
    """The layer of the most specific package (or module) listed that holds `module`."""
    best: tuple[int, int] | None = None
    for rank, members in enumerate(layers):
        for member in members:
            if within(module, member) and (best is None or len(member) > best[1]):
                best = (rank, len(member))
    return None if best is None else best[0]


def upward_imports(
    graph: dict[str, list[Import]], layers: tuple[tuple[str, ...], ...]
) -> list[str]:
    """Imports from a layer of a higher one (and modules no layer holds)."""
    out = []
    for source, edges in graph.items():
        rank = layer_of(source, layers)
        if rank is None:
            out.append(f"{source} is in no layer")
            continue
        for i in edges:
            target = layer_of(i.target, layers)
            if target is not None and target > rank:
                out.append(f"{i.source}:{i.line} imports {i.written} ({i.target}), a higher layer")
    return out


def check(
    root: Path, project: tuple[str, ...], logic: str, contracts: str, *loaders: str
) -> list[str]:
    """Every violation in the tree at `root`, one readable line each. The logic may import
    the contracts, and the `loaders` (which pick the build its packages load)."""
    graph = import_graph(find_modules(root, project))
    others = [p for p in project if p != contracts]
    allowed = [contracts, *loaders]
    return [
        *(f"pure core: {s}" for s in stray_imports(graph, logic, allowed, project)),
        *(f"contracts: {s}" for s in stray_imports(graph, contracts, [], others)),
        *(f"import circle: {c}" for c in circles(graph)),
    ]


def test_the_logic_is_pure_the_contracts_stand_alone_and_nothing_imports_in_a_circle():
    violations = check(ROOT, ("streams", "schemas"), "streams.logic", "schemas", "streams.compiled")
    assert not violations, "\n".join(violations)


def test_no_import_runs_from_a_lower_layer_to_a_higher_one():
    graph = import_graph(find_modules(ROOT, ("streams", "schemas")))
    violations = upward_imports(graph, LAYERS)
    assert not violations, "\n".join(violations)


def test_the_layer_check_finds_an_upward_import_and_an_unplaced_module(tmp_path):
    files = {
        "app/__init__.py": "",
        "app/low.py": "from app.high import thing\n",
        "app/high.py": "from app import low\n",
        "app/stray.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(find_modules(tmp_path, ("app",)))
    layers = (("app.low",), ("app.high",), ("app",))
    assert upward_imports(graph, (*layers[:2], ("app.__init__",))) == [
        "app is in no layer",
        "app.low:1 imports app.high:thing (app.high), a higher layer",
        "app.stray is in no layer",
    ]
    assert upward_imports(graph, layers) == [
        "app.low:1 imports app.high:thing (app.high), a higher layer"
    ]


def test_the_checker_finds_a_circle_and_an_impure_import(tmp_path):
    files = {
        "app/__init__.py": "",
        "app/a.py": "from app import b\n",
        "app/b.py": "def late():\n    from . import a\n",  # a -> b -> a, in a function
        "app/c.py": "import app.c\n",  # imports itself
        "app/config.py": "import os\n",
        "app/logic/__init__.py": "",
        "app/logic/core.py": (
            "from contracts.models import Event\n"  # allowed: the contracts
            "from . import rules\n"  # allowed: the logic itself
            "from ..config import settings\n"  # not allowed
        ),
        "app/logic/rules.py": "import json\nimport app.logic.core\n",  # a circle in logic
        "contracts/__init__.py": "",
        "contracts/models.py": "import app.logic\n",  # contracts import the app
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)

    assert check(tmp_path, ("app", "contracts"), "app.logic", "contracts") == [
        "pure core: app.logic.core:3 imports app.config:settings (app.config)",
        "contracts: contracts.models:1 imports app.logic (app.logic)",
        "import circle: app.a -> app.b -> app.a  (lines app.a:1, app.b:2)",
        "import circle: app.c -> app.c  (lines app.c:1)",
        "import circle: app.logic.core -> app.logic.rules -> app.logic.core"
        "  (lines app.logic.core:2, app.logic.rules:2)",
    ]
