"""The layers hold: the import-linter contracts in pyproject.toml, run as `make lint` runs them.

core sits below web, worker and operator, which never import each other; inside web the
views sit above the API's building blocks, both above the services, which know nothing of
Flask; the worker's pipeline and the operator's builders stay pure. The contracts are the
one statement of these rules; these tests make `make test` check them too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = ("core", "web", "worker", "operator")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run the repository's contracts over the packages under `tree`."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(tree / c) for c in COMPONENTS)}
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache", "--no-logo",
         str(REPO / "pyproject.toml")],
        cwd=tree, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


def python_sources(folder: str, names: list[str]) -> set[str]:
    """For copytree: keep packages and .py files, nothing else (no node_modules, templates)."""
    return {n for n in names if n == "node_modules" or
            (not n.endswith(".py") and not (Path(folder) / n).is_dir())}


def test_the_import_contracts_hold() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_contracts_catch_a_service_importing_a_view(tmp_path: Path) -> None:
    for component in COMPONENTS:
        shutil.copytree(REPO / component, tmp_path / component, ignore=python_sources)
    (tmp_path / "web/picsource_web/services/bad.py").write_text("from picsource_web.views import api\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    assert "picsource_web.services.bad -> picsource_web.views.api" in result.stdout


def test_operator_folder_is_not_a_package() -> None:
    """A package called `operator` would shadow the standard library module."""
    assert not (REPO / "operator" / "__init__.py").exists()
