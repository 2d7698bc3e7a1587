"""The house rules of DESIGN.md, checked on the source: floors run one way, no import circles,
the core never names ``backends``, small files and functions, engine tables name real conditions."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PKG = ROOT / "advisor"

# Lowest floor first. A module may import its own floor and those below, never one above.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("advisor", "advisor.errors", "advisor.model", "advisor.signals", "advisor.terminal"),
    ("advisor.io", "advisor.config"),
    ("advisor.workload",),  # reads a run's tags (io) into supervised / rl / gan / unknown
    ("advisor.remedies", "advisor.rules"),
    ("advisor.engine",),
    ("advisor.pipeline", "advisor.tracking", "advisor.ray_executor"),  # ray_executor: Ray, imported lazily
    ("advisor.analyze", "advisor.watch", "advisor.evaluate", "advisor.live", "advisor.tune", "advisor.render", "advisor.tb_plugin"),
    ("advisor.commands",),
    ("advisor.cli", "advisor.__main__"),
)
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80
VECTORISED_READER = "advisor/io/_fast"  # its numpy kernels are long by nature (the one exception)


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, tuple[pathlib.Path, ast.Module]]:
    return {_module_name(p): (p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(PKG.rglob("*.py"))}


SOURCES = _sources()


def _runtime_nodes(tree: ast.Module):
    """Every node except what sits under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", getattr(child.test, "attr", None)) == "TYPE_CHECKING":
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _imports(name: str, tree: ast.Module) -> set[str]:
    """Every module this one imports when it runs, at module level or inside functions."""
    out: set[str] = set()
    package = name if SOURCES[name][0].name == "__init__.py" else name.rpartition(".")[0]
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out.add(base)
            # `from advisor.io import wire` imports the submodule advisor.io.wire
            out.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in SOURCES)
    return out


def _floor(module: str) -> int:
    best, level = -1, -1
    for i, names in enumerate(FLOORS):
        for n in names:
            if (module == n or module.startswith(n + ".")) and len(n) > best:
                best, level = len(n), i
    return level


def _graph() -> dict[str, set[str]]:
    return {m: {i for i in _imports(m, tree) if i in SOURCES and i != m} for m, (_, tree) in SOURCES.items()}


def test_every_module_has_a_floor():
    assert [m for m in SOURCES if _floor(m) < 0] == []


def test_imports_never_go_up_a_floor():
    up = [
        f"{m} (floor {_floor(m)}) imports {i} (floor {_floor(i)})"
        for m, deps in _graph().items()
        for i in sorted(deps)
        if _floor(i) > _floor(m) and not m.startswith(i + ".") and i != "advisor"
    ]
    assert up == []


def test_no_import_circles():
    graph = _graph()
    # A package's __init__ importing its own submodules is how packages export names, not a circle.
    edges = {m: {d for d in deps if not d.startswith(m + ".") and not m.startswith(d + ".")} for m, deps in graph.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(edges[m]):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d) :] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert cycles == []


def test_the_core_never_imports_backends():
    offenders = sorted(m for m, (_, tree) in SOURCES.items() for i in _imports(m, tree) if i == "backends" or i.startswith("backends."))
    assert offenders == []


def test_files_and_functions_stay_small():
    long_files = []
    long_functions = []
    for m, (path, tree) in SOURCES.items():
        rel = path.relative_to(ROOT).as_posix()
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_FILE_LINES:
            long_files.append(f"{rel}: {n} lines")
        if rel.startswith(VECTORISED_READER):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{rel}:{node.lineno} {node.name}: {length} lines")
    assert long_files == []
    assert long_functions == []


def test_engine_tables_name_known_conditions():
    from advisor import engine
    from advisor.rules import BY_ID

    named = {c for table in (engine.CONFLICTS, engine.EXPLAINS) for k, vs in table.items() for c in (k, *vs)}
    assert sorted(named - set(BY_ID)) == []


@pytest.mark.parametrize("module", ["advisor.engine", "advisor.pipeline"])
def test_floor_checker_sees_real_edges(module):
    """The checker is not vacuous: the engine imports the rules, the pipeline the engine."""
    deps = _graph()[module]
    assert any(d.startswith("advisor.rules") or d == "advisor.engine" for d in deps)
