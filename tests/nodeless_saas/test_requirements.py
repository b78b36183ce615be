"""The product's requirements are the production image's, and nothing of development ships in it.

requirements.txt locks what the product imports at runtime; requirements-dev.txt locks the
simulator, tests and lint on top of it. The production image installs only the first, so a product
module that imports a package only the development lock holds would start in the demo and the tests
and fail in production: these tests catch that before an image is built.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What the production image runs; `lab` is installed only outside production (settings).
PRODUCT_PACKAGES = ("nodeless_saas", "tenants", "clusters", "policies", "billing", "ui", "engines", "workers")
FIRST_PARTY = {*PRODUCT_PACKAGES, "simulator", "lab", "bench", "tests"}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked(lock: str) -> dict[str, str]:
    """Distribution name → pinned version of every package a lock file pins."""
    pins = re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", (ROOT / lock).read_text(), re.MULTILINE)
    return {_normalized(name): version for name, version in pins}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> set[str]:
    """Top-level module names imported at runtime (at any depth, but not under `if TYPE_CHECKING`)."""
    found: set[str] = set()
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        pending.extend(ast.iter_child_nodes(node))
    return found


def _product_imports() -> dict[str, set[str]]:
    """Third-party top-level module → the product files that import it."""
    importers: dict[str, set[str]] = {}
    for package in PRODUCT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in _runtime_imports(ast.parse(path.read_text(), filename=str(path))):
                if name not in FIRST_PARTY and name not in sys.stdlib_module_names:
                    importers.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return importers


def test_the_product_imports_only_what_its_own_lock_installs() -> None:
    product = _locked("requirements.txt")
    distributions = packages_distributions()
    missing = {
        module: sorted(files)
        for module, files in _product_imports().items()
        if not any(_normalized(dist) in product for dist in distributions.get(module, []))
    }
    assert not missing, f"product modules import packages requirements.txt does not lock: {missing}"


def test_the_development_lock_keeps_the_product_pins() -> None:
    product, development = _locked("requirements.txt"), _locked("requirements-dev.txt")
    disagreements = {
        name: (product[name], development[name])
        for name in product.keys() & development.keys()
        if product[name] != development[name]
    }
    assert not disagreements
    assert re.search(r"^-c requirements\.txt$", (ROOT / "requirements-dev.in").read_text(), re.MULTILINE)


def test_no_development_tool_is_a_product_requirement() -> None:
    product = _locked("requirements.txt")
    for tool in ("moto", "flask", "pytest", "hypothesis", "playwright", "ruff", "mypy", "import-linter"):
        assert tool not in product, f"{tool} is in the product's lock"
        assert tool in _locked("requirements-dev.txt"), f"{tool} is missing from the development lock"


def test_the_image_installs_only_the_product_lock() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"pip install[^\n]*", dockerfile)
    assert installs == ["pip install --no-cache-dir -r requirements.txt"]
    assert "requirements-dev" not in dockerfile


def test_the_image_leaves_the_development_side_out() -> None:
    ignored = {
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if not line.startswith("#")
    }
    expected = {".git", ".venv", "var/", "tests/", "bench/", "lab/", "simulator/", "data/traces/"}
    assert expected <= ignored
