"""The federation engine stays pure: no Django, no I/O, no clocks, no unseeded randomness.

Static check of the import graph with grimp (the library under import-linter): every module the
engine imports, directly or through other project modules, must be on the allow-list below.
"""

from __future__ import annotations

import grimp

ENGINE = "engines.federation"
# Standard-library and third-party modules with no I/O, clock or global randomness.
ALLOWED = {
    "__future__",
    "collections",
    "dataclasses",
    "enum",
    "heapq",
    "math",
    "numpy",
    "types",
    "typing",
    "zlib",
}


def test_engine_imports_only_pure_modules() -> None:
    graph = grimp.build_graph("engines", include_external_packages=True)
    engine_modules = graph.find_descendants(ENGINE) | {ENGINE}
    imported = set()
    for module in engine_modules:
        imported |= graph.find_modules_directly_imported_by(module)
    project = {name for name in imported if name.startswith("engines.")}
    # The Kubernetes kernel is shared by every engine (and is itself pure).
    kernel = graph.find_descendants("engines.kube") | {"engines.kube"}
    assert project <= engine_modules | kernel, (
        f"engine imports project modules outside itself: {project - engine_modules - kernel}"
    )
    external = {name.split(".")[0] for name in imported - project}
    assert external <= ALLOWED, f"engine imports impure modules: {sorted(external - ALLOWED)}"


def test_no_import_chain_reaches_django() -> None:
    graph = grimp.build_graph("engines", include_external_packages=True)
    assert "django" not in graph.modules or not graph.chain_exists(ENGINE, "django", as_packages=True)
