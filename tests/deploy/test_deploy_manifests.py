"""manifests/: the plain-YAML install for kubectl users.

The generated files must match what the chart renders today (manifests/generate.py
--check), kustomize must build both directories, and the real API server must accept
them: the base is applied for real into a test namespace (the operator Deployment becomes
Available on kwok's simulated Node), the observability ConfigMaps and every example
Gallery pass a server-side dry-run (the CRD is applied first: a Gallery cannot be
validated without it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.helm import CRD_FILE, find, render
from tests.harness.tools import REPO, MissingToolError, binary
from tests.support.kubectl import KubectlRunner, wait_established

MANIFESTS = REPO / "manifests"
EXAMPLES = sorted((MANIFESTS / "examples").glob("*.yaml"))


def kustomize(directory: Path) -> list[dict[str, Any]]:
    try:
        exe = str(binary("kubectl"))
    except MissingToolError as exc:
        pytest.fail(str(exc), pytrace=False)
    result = subprocess.run([exe, "kustomize", str(directory)], capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def test_generated_manifests_are_in_sync_with_the_chart() -> None:
    result = subprocess.run([sys.executable, str(MANIFESTS / "generate.py"), "--check"],
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_crd_copy_is_the_chart_crd() -> None:
    copy = yaml.safe_load((MANIFESTS / "base" / "crds" / CRD_FILE.name).read_text())
    assert copy == yaml.safe_load(CRD_FILE.read_text())


def test_base_builds_with_the_charts_rbac_and_operator() -> None:
    objects = kustomize(MANIFESTS / "base")
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == sorted(["CustomResourceDefinition", "CustomResourceDefinition", "Namespace", "ServiceAccount",
                            "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
                            "Service", "Deployment"])  # fmt: skip
    chart = render()
    assert find(objects, "ClusterRole")["rules"] == find(chart, "ClusterRole")["rules"]
    binding = find(objects, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "picsource-operator", "namespace": "picsource"}
    ]
    deployment = find(objects, "Deployment")
    chart_deployment = find(chart, "Deployment", "-operator")
    assert deployment["spec"]["strategy"] == chart_deployment["spec"]["strategy"]
    assert (deployment["spec"]["template"]["spec"]["containers"][0]["command"]
            == chart_deployment["spec"]["template"]["spec"]["containers"][0]["command"])  # fmt: skip
    for o in objects:
        assert "helm.sh/chart" not in o["metadata"].get("labels", {}), o["metadata"]["name"]
        if o["kind"] not in ("CustomResourceDefinition", "Namespace", "ClusterRole",
                             "ClusterRoleBinding"):  # fmt: skip
            assert o["metadata"]["namespace"] == "picsource"


def test_observability_builds_from_the_shared_files() -> None:
    objects = kustomize(MANIFESTS / "observability")
    dashboard = find(objects, "ConfigMap", "-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    shared = REPO / "charts" / "picsource" / "files"
    assert dashboard["data"]["picsource-dashboard.json"] == (
        shared / "grafana-dashboard.json"
    ).read_text()
    rules = find(objects, "ConfigMap", "-prometheus-rules")
    assert yaml.safe_load(rules["data"]["prometheus-rules.yaml"]) == yaml.safe_load(
        (shared / "prometheus-rules.yaml").read_text()
    )


def test_there_are_examples_to_apply() -> None:
    assert EXAMPLES, "manifests/examples/ holds no example Gallery"


def _into_namespace(objects: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """The base as an overlay with `namespace: <namespace>` would make it, minus the CRD and
    Namespace (shared/created by fixtures), with cluster-scoped RBAC names made unique."""
    moved = []
    for o in objects:
        if o["kind"] in ("CustomResourceDefinition", "Namespace"):
            continue
        o = json.loads(json.dumps(o))
        if o["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            o["metadata"]["name"] += f"-{namespace}"
        else:
            o["metadata"]["namespace"] = namespace
        if o["kind"] == "ClusterRoleBinding":
            o["roleRef"]["name"] += f"-{namespace}"
        if o["kind"] in ("ClusterRoleBinding", "RoleBinding"):
            for subject in o["subjects"]:
                subject["namespace"] = namespace
        moved.append(o)
    return moved


@pytest.mark.cluster
def test_base_runs_the_operator_and_examples_are_accepted(
    namespace: str, kubectl: KubectlRunner
) -> None:
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_FILE))
    wait_established(kubectl, "galleries.picsource.io")
    base = kustomize(MANIFESTS / "base")
    result = kubectl("apply", "--dry-run=server", "--server-side", "-f", "-",
                     stdin=yaml.safe_dump_all([o for o in base if o["kind"] != "Deployment"
                                               and o["metadata"].get("namespace") is None]))  # fmt: skip
    assert "namespace/picsource serverside-applied (server dry run)" in result.stdout
    # For real, in the test namespace: the operator Deployment becomes Available on kwok.
    objects = _into_namespace(base, namespace)
    stdin = yaml.safe_dump_all(objects)
    try:
        result = kubectl("apply", "--server-side", "-f", "-", stdin=stdin)
        assert result.stdout.count("serverside-applied") == len(objects), result.stdout
        kubectl("-n", namespace, "rollout", "status", "deployment/picsource-operator",
                "--timeout=90s", timeout=120)  # fmt: skip
    finally:
        kubectl("delete", "--ignore-not-found", "-f", "-", stdin=stdin, timeout=120)
    observability = kustomize(MANIFESTS / "observability")
    for o in observability:
        o["metadata"]["namespace"] = namespace
    result = kubectl("apply", "--dry-run=server", "--server-side", "-f", "-",
                     stdin=yaml.safe_dump_all(observability))  # fmt: skip
    assert result.stdout.count("(server dry run)") == len(observability), result.stdout
    for example in EXAMPLES:
        docs = [d for d in yaml.safe_load_all(example.read_text()) if d]
        for d in docs:
            d["metadata"].pop("namespace", None)
        result = kubectl("apply", "--dry-run=server", "--server-side", "-n", namespace, "-f", "-",
                         stdin=yaml.safe_dump_all(docs))  # fmt: skip
        assert result.stdout.count("(server dry run)") == len(docs), (example, result.stdout)
