"""The house's import contracts (.importlinter) hold, and each kind of violation does break them."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / ".importlinter"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), str(CONFIG), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_repository_keeps_every_import_contract():
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _module_file(root: Path, module: str) -> Path:
    parts = module.split(".")
    for depth in range(1, len(parts) + 1):
        package = root.joinpath(*parts[:depth])
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").touch()
    return root.joinpath(*parts) / "__init__.py"


def _named_project_modules(parser: configparser.ConfigParser) -> set[str]:
    roots = set(parser["importlinter"]["root_packages"].split())
    names: set[str] = set()
    for section in parser.sections():
        for key in ("source_modules", "forbidden_modules", "layers", "ancestors"):
            names.update(re.split(r"[\s|:]+", parser[section].get(key, "")))
    return {name for name in names if name and name.split(".")[0] in roots}


VIOLATIONS = {
    # module: (its source, what lint-imports must then report)
    "engines.planner": ("import os\n", "engines.planner -> os"),
    "engines.federation": ("import django\n", "engines.federation -> django"),
    "clusters.pricing.aws": ("import django\n", "clusters.pricing.aws -> django"),
    "tenants.models": ("import clusters.models\n", "tenants.models -> clusters"),
    "policies.services": ("import workers.tasks\n", "policies.services -> workers.tasks"),
    "billing.views": ("import boto3\n", "billing.views -> boto3"),
    "workers.tasks": ("import simulator.runner\n", "workers.tasks -> simulator.runner"),
    "simulator.runner": ("import clusters.models\n", "simulator.runner -> clusters"),
    "clusters.observation.a": (
        "import clusters.observation.b\n",
        "No cycles are allowed in clusters.observation",
    ),
    "clusters.observation.b": ("import clusters.observation.a\n", ""),
}


def test_each_kind_of_violation_breaks_a_contract(tmp_path):
    # Stand-in packages with the same names, so the unchanged .importlinter applies to them.
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    for module in _named_project_modules(parser):
        _module_file(tmp_path, module)
    # Each import a contract ignores exists in the stand-ins too (an ignore that matches nothing is
    # itself reported); an ignored import of the standard library needs only its importer.
    roots = set(parser["importlinter"]["root_packages"].split())
    ignored = [parser[section].get("ignore_imports", "") for section in parser.sections()]
    for line in "\n".join(ignored).split("\n"):
        if "->" in line and not line.strip().startswith("#"):
            importer, imported = (part.strip() for part in line.split("->"))
            _module_file(tmp_path, importer).write_text(f"import {imported}\n")
            if imported.split(".")[0] in roots:
                _module_file(tmp_path, imported)
    for module, (source, _) in VIOLATIONS.items():
        _module_file(tmp_path, module).write_text(source)
    result = _lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    for module, (_, reported) in VIOLATIONS.items():
        assert reported in result.stdout, f"{module}: {reported!r} not reported\n{result.stdout}"
