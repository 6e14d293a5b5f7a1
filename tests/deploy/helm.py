"""Running the pinned helm against the chart, for the deploy tests.

Why a module: every deploy test renders or installs charts/picsource the same way, and
a missing helm must fail with the command that installs it, never skip.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.tools import REPO, MissingToolError, binary
from tests.support.commands import run_checked

CHART = REPO / "charts" / "picsource"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
CRD_FILE = CHART / "crds" / "galleries.picsource.io.yaml"
# Kinds that need the Prometheus Operator's CRDs, which the test cluster does not have.
MONITORING_GROUP = "monitoring.coreos.com/"


def helm_exe() -> str:
    try:
        return str(binary("helm"))
    except MissingToolError as exc:
        pytest.fail(str(exc), pytrace=False)


def helm(*args: str | Path, kubeconfig: Path | None = None, check: bool = True,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run helm; with check=True a non-zero exit fails the test showing its output."""
    argv = [helm_exe(), *(str(a) for a in args)]
    if kubeconfig is not None:
        argv.append(f"--kubeconfig={kubeconfig}")
    return run_checked(argv, check=check, timeout=timeout, shown="helm " + " ".join(argv[1:]))


def value_args(values_files: Iterable[Path] = (), sets: Sequence[str] = ()) -> list[str]:
    args: list[str] = []
    for f in values_files:
        args += ["-f", str(f)]
    for s in sets:
        args += ["--set", s]
    return args


def render(values_files: Iterable[Path] = (), sets: Sequence[str] = (),
           release: str = "rel", namespace: str = "picsource") -> list[dict[str, Any]]:  # fmt: skip
    """`helm template` (hooks included) parsed into a list of objects."""
    out = helm("template", release, CHART, "--namespace", namespace,
               *value_args(values_files, sets)).stdout  # fmt: skip
    return [d for d in yaml.safe_load_all(out) if d]


def find(objects: list[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    """The one object of `kind` whose name ends with `name_suffix`."""
    matches = [o for o in objects
               if o["kind"] == kind and o["metadata"]["name"].endswith(name_suffix)]  # fmt: skip
    assert len(matches) == 1, f"expected one {kind} *{name_suffix}, got {[o['metadata']['name'] for o in matches]}"
    return matches[0]


def pod_specs(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(object name, pod spec) of every Pod, Deployment, StatefulSet and Job rendered."""
    specs = []
    for o in objects:
        if o["kind"] == "Pod":
            specs.append((o["metadata"]["name"], o["spec"]))
        elif o["kind"] in ("Deployment", "StatefulSet", "Job"):
            specs.append((o["metadata"]["name"], o["spec"]["template"]["spec"]))
    return specs


def ci_id(path: Path) -> str:
    return path.name.removesuffix("-values.yaml")
