"""The layering contract: imports run one way, from the doors down to the ground.

::

    doors    pipeline.cli, pipeline.__main__, flows     (pipeline.testing: test support)
      |
    run      pipeline.run                                (orchestration of the steps)
      |
    stages   fetch, transcribe, turns, editorial, post, review
      |
    ground   every other module of pipeline: models, config, errors, llm, registry,
             fsutil, store, db, audio (decoded PCM and VAD, shared by transcribe and
             turns), ...

``pipeline.db`` (podpost's state database) is a side-effect edge of the ground, like the
store: it imports nothing of the project but :data:`DB_IMPORTS`, so the run layer and the
stages build on it and it never on them.

A layer may import any layer below it, never one above. Stages import each other only
where the data flows, as :data:`STAGE_DEPENDENCIES` writes down (transcribe downloads
caption files with fetch's HTTP client; review parses and renders posts, and its re-ask
translates a turn again with the editorial translator). Nothing imports
``pipeline.testing``. No module imports another that (through any chain) imports it back.
Every import counts, also one inside a function (a function-level import hides a cycle,
it does not remove it) and one under ``if TYPE_CHECKING:`` (it never runs, but a cycle in
the types is still one in the design: the shared type belongs in a module both sides can
import). The contract is checked over the source's syntax trees, so it
needs no import of the code and no extra tool.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGES = ("fetch", "transcribe", "turns", "editorial", "post", "review")
STAGE_DEPENDENCIES = {
    "transcribe": {"fetch"},  # caption files come over fetch's HTTP client
    "review": {"post", "editorial"},  # posts are parsed and rendered; a re-ask from the
    # preview translates one turn again with the editorial step's own translator
}
DOORS = ("cli", "__main__", "flows", "testing")
DOOR_DEPENDENCIES = {("cli", "flows"), ("__main__", "cli")}  # the CLI runs the flows
LAYER = {"door": 3, "run": 2, "stage": 1, "ground": 0}
DB_IMPORTS = {"pipeline.config", "pipeline.errors", "pipeline.faults"}  # beside its own


def _modules() -> dict[str, Path]:
    out = {}
    for top in ("pipeline", "flows"):
        for path in (REPO / top).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def unit(module: str) -> tuple[str, str]:
    """(layer, unit): the unit is the stage or door package, or the ground module."""
    parts = module.split(".")
    if parts[0] == "flows":
        return "door", "flows"
    name = parts[1] if len(parts) > 1 else "pipeline"
    if name in DOORS:
        return "door", name
    if name == "run":
        return "run", name
    if name in STAGES:
        return "stage", name
    return "ground", name


def _imports(module: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(imported project module, line) for every import in the file, at any depth."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # `from pipeline import store` imports the module pipeline.store
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        found = set()
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module and name not in found:
                found.add(name)
                yield name, node.lineno


def _graph() -> dict[str, dict[str, int]]:
    modules = _modules()
    return {m: dict(_imports(m, p, modules)) for m, p in modules.items()}


def test_imports_run_from_the_doors_down_to_the_ground() -> None:
    wrong = []
    for module, imported in _graph().items():
        layer, own = unit(module)
        for target, line in imported.items():
            target_layer, other = unit(target)
            if other == own or target == "pipeline":
                continue  # within a unit; the package root holds only the version
            if other == "testing":
                wrong.append(f"{module}:{line} imports test support {target}")
            elif LAYER[target_layer] > LAYER[layer]:
                wrong.append(f"{module}:{line} ({layer}) imports upward: {target}")
            elif layer == target_layer == "stage" and other not in STAGE_DEPENDENCIES.get(
                own, set()
            ):
                wrong.append(f"{module}:{line}: stage {own} may not import stage {other}")
            elif layer == target_layer == "door" and (own, other) not in DOOR_DEPENDENCIES:
                wrong.append(f"{module}:{line}: door {own} may not import door {other}")
    assert wrong == []


def test_the_state_database_is_an_edge_of_the_ground() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, imported in _graph().items()
        if module.startswith("pipeline.db")
        for target in imported
        if not target.startswith("pipeline.db") and target not in DB_IMPORTS
    ]
    assert wrong == []


def test_no_import_cycles() -> None:
    graph = {m: set(targets) for m, targets in _graph().items()}
    # Tarjan's strongly connected components: any component of two or more is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == []


def test_the_contract_sees_function_level_and_type_checking_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pipeline.cli\n"
        "def f():\n    from pipeline.run import state\n"
    )
    modules = {"pipeline.fetch.m": source, "pipeline.run.state": source, "pipeline.cli": source}
    assert sorted(_imports("pipeline.fetch.m", source, modules)) == [
        ("pipeline.cli", 3),
        ("pipeline.run.state", 5),
    ]
    assert unit("pipeline.fetch.m") == ("stage", "fetch")
    assert unit("pipeline.store") == ("ground", "store")
    assert unit("flows.episode") == ("door", "flows")
