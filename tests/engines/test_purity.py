"""Every engine stays pure: no Django, no I/O, no clocks, no unseeded randomness.

`.importlinter`'s `engines-pure` contract forbids the impure modules; this is its other half, an
allow-list: every module an engine imports from outside the engines (directly, or through another
engine module) must be one of these. A new import has to be added here, on purpose. And no engine
reads the clock: times are passed in (`datetime` is for arithmetic on them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

ENGINES = Path(__file__).resolve().parents[2] / "engines"
# Standard-library and third-party modules with no I/O, clock or global randomness.
SHARED = {"__future__", "collections", "dataclasses", "typing", "enum", "math", "numpy"}
ALLOWED = {
    # json: an autoscaling/v1 HorizontalPodAutoscaler carries what v2 adds in annotations of JSON.
    "engines.kube": SHARED | {"decimal", "datetime", "functools", "json", "re"},
    "engines.federation": SHARED | {"heapq", "types", "zlib"},
    "engines.metering": SHARED | {"datetime", "decimal", "re"},  # money rounds as Decimal, once
    # The planner guards a shared table cache with a lock, fingerprints plans, and solves its LP
    # lower bound with HiGHS.
    "engines.planner": SHARED
    | {"bisect", "functools", "hashlib", "highspy", "itertools", "operator", "threading"},
    # Replays a recorded period through the planner: an event heap over the same pure engines.
    "engines.replay": SHARED | {"heapq"},
}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("engines", include_external_packages=True)


@pytest.mark.parametrize("engine", sorted(ALLOWED))
def test_each_engine_imports_only_pure_modules(graph: grimp.ImportGraph, engine: str) -> None:
    modules = graph.find_descendants(engine) | {engine}
    imported: set[str] = set()
    for module in modules:
        imported |= graph.find_modules_directly_imported_by(module)
    outside = {name for name in imported if not name.startswith("engines.")}
    assert {name.split(".")[0] for name in outside} <= ALLOWED[engine], sorted(outside)
    reached = {name for name in imported if name.startswith("engines.") and name not in modules}
    kernel = graph.find_descendants("engines.kube") | {"engines.kube"}
    planner = graph.find_descendants("engines.planner") | {"engines.planner"}
    # Engines build on the kernel; metering prices with the planner's catalog and replay plans with
    # the planner; nothing else crosses.
    allowed_engines = kernel | (planner if engine in ("engines.metering", "engines.replay") else set())
    assert reached <= allowed_engines, sorted(reached - allowed_engines)
    assert "django" not in graph.modules or not graph.chain_exists(engine, "django", as_packages=True)


@pytest.mark.parametrize("path", sorted(ENGINES.rglob("*.py")), ids=lambda p: str(p.relative_to(ENGINES)))
def test_no_engine_reads_the_clock(path: Path) -> None:
    calls = {
        node.func.attr
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}, path.name
