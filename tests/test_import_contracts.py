"""The import contracts in .importlinter hold, and they do catch a violation."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / ".importlinter"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(CONFIG), "--no-cache"],
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
    package = root.joinpath(*module.split("."))
    package.mkdir(parents=True, exist_ok=True)
    for parent in [root.joinpath(*module.split(".")[:i]) for i in range(1, len(module.split(".")) + 1)]:
        (parent / "__init__.py").touch()
    return package / "__init__.py"


def test_the_contracts_break_when_the_planner_does_io_or_the_pricing_imports_django(tmp_path):
    # Stand-in packages with the same names, so the unchanged .importlinter applies to them.
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    for section in parser.sections():
        for module in parser[section].get("source_modules", "").split():
            _module_file(tmp_path, module)
    _module_file(tmp_path, "engines.planner").write_text("import os\n")
    _module_file(tmp_path, "clusters.pricing").write_text("import django\n")
    result = _lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "engines.planner -> os" in result.stdout
    assert "clusters.pricing -> django" in result.stdout
