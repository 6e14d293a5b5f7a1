"""core sits below web, worker and operator; those three never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAYERS = {
    "core": "picsource_core",
    "web": "picsource_web",
    "worker": "picsource_worker",
    "operator": "picsource_operator",
}
FORBIDDEN = {
    "core": {"picsource_web", "picsource_worker", "picsource_operator"},
    "web": {"picsource_worker", "picsource_operator"},
    "worker": {"picsource_web", "picsource_operator"},
    "operator": {"picsource_web", "picsource_worker"},
}


def imported_packages(source: str) -> set[str]:
    """Top-level package names imported by a module (absolute imports only)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def layer_violations(repo: Path) -> list[str]:
    problems = []
    for layer, forbidden in FORBIDDEN.items():
        for path in sorted((repo / layer).rglob("*.py")):
            if "node_modules" in path.parts:
                continue
            bad = imported_packages(path.read_text()) & forbidden
            problems += [f"{path.relative_to(repo)} imports {name}" for name in sorted(bad)]
    return problems


def test_import_reader_sees_both_import_forms() -> None:
    source = "import picsource_web.app\nfrom picsource_worker.x import y\nfrom . import z\n"
    assert imported_packages(source) == {"picsource_web", "picsource_worker"}


def test_layering_checker_catches_a_violation(tmp_path: Path) -> None:
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "bad.py").write_text("from picsource_web import app\n")
    assert layer_violations(tmp_path) == ["worker/bad.py imports picsource_web"]


def test_packages_respect_the_layering() -> None:
    assert [p for p in LAYERS if (REPO / p).is_dir()] == list(LAYERS)
    assert layer_violations(REPO) == []


def test_operator_folder_is_not_a_package() -> None:
    """A package called `operator` would shadow the standard library module."""
    assert not (REPO / "operator" / "__init__.py").exists()
