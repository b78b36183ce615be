"""The metering engine stays pure: no Django, no I/O, no clocks (`datetime` is used for arithmetic on
times passed in; nothing in the engine reads the current time)."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

ENGINE = "engines.metering"
ALLOWED = {"__future__", "collections", "dataclasses", "datetime", "math", "numpy", "re", "typing", "workers"}
ENGINE_DIR = Path(__file__).resolve().parents[3] / "engines" / "metering"


def test_engine_imports_only_pure_modules() -> None:
    graph = grimp.build_graph("engines", include_external_packages=True)
    engine_modules = graph.find_descendants(ENGINE) | {ENGINE}
    imported = set()
    for module in engine_modules:
        imported |= graph.find_modules_directly_imported_by(module)
    project = {name for name in imported if name.startswith("engines.metering")}
    assert project <= engine_modules, (
        f"engine imports billing modules outside itself: {project - engine_modules}"
    )
    outside = {
        name for name in imported - project if not name.startswith(("engines.planner", "engines.kube"))
    }
    assert {name.split(".")[0] for name in outside} <= ALLOWED, sorted(outside)
    assert "django" not in graph.modules or not graph.chain_exists(ENGINE, "django", as_packages=True)


def test_engine_never_reads_the_clock() -> None:
    for path in ENGINE_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        calls = {
            node.func.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        }
        assert not calls & {"now", "utcnow", "today", "time", "monotonic"}, path.name
