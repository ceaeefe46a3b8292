"""The layout's rules, checked: short functions, no import cycle, the pipeline's layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nncli"
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text(), filename=str(path))
    return out


def _top_level_imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """nncli modules imported when ``name`` is imported (not inside functions or
    TYPE_CHECKING blocks)."""
    found = set()
    for node in tree.body:
        if isinstance(node, ast.If):  # `if TYPE_CHECKING:` imports never run
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in known:
                found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names} & known
    return found - {name}


def test_no_function_is_longer_than_the_limit():
    long = []
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {length} lines")
    assert long == []


def test_no_import_cycle():
    modules = _modules()
    known = set(modules)
    graph = {name: _top_level_imports(name, tree, known) for name, tree in modules.items()}

    def visit(node: str, stack: list[str]) -> None:
        if node in stack:
            pytest.fail("import cycle: " + " → ".join(stack[stack.index(node) :] + [node]))
        for nxt in graph[node]:
            visit(nxt, stack + [node])

    for name in graph:
        visit(name, [])


#: the stages in pipeline order; each may import only those before it (and the shared
#: modules beside them: errors, config, cores); api and cli come last
STAGES = ("io", "prepare", "learn", "scale", "assess", "deploy", "show", "api", "cli")


@pytest.mark.parametrize(
    ("layer", "may_not_import"),
    [
        (f"nncli.{stage}", tuple(f"nncli.{later}" for later in STAGES[i + 1 :]))
        for i, stage in enumerate(STAGES[:-1])
    ],
)
def test_layers_import_only_what_comes_before_them(layer, may_not_import):
    bad = []
    for name, tree in _modules().items():
        if not name.startswith(layer):
            continue
        for node in _runtime_nodes(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith(may_not_import):
                    bad.append(f"{name} imports {node.module}")
    assert bad == []


def _runtime_nodes(tree: ast.Module) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (type-only imports)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            skipped |= {id(n) for n in ast.walk(node)}
    return [n for n in ast.walk(tree) if id(n) not in skipped]


def test_every_stage_says_what_it_is_for_and_what_it_may_import():
    """Each stage folder's __init__ opens with one sentence on its job, and names the
    stages it may import, which are exactly those before it."""
    for i, stage in enumerate(STAGES[:7]):
        text = ast.get_docstring(_modules()[f"nncli.{stage}"]) or ""
        assert text.startswith(f"{stage} — "), stage
        allowed, rule = STAGES[:i], text.rpartition("May import ")[2]
        if allowed:
            named = set(rule.replace(" and ", ", ").rstrip(".").split(", "))
            assert named == set(allowed), (stage, named)
        else:
            assert "Imports no other stage" in text


def test_shared_modules_import_no_stage():
    """errors, config and cores are below every stage."""
    modules = _modules()
    for name in ("nncli.errors", "nncli.config", "nncli.cores"):
        for node in _runtime_nodes(modules[name]):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(tuple(f"nncli.{s}" for s in STAGES)), name
