"""The Helm chart against the real control plane (etcd, kube-apiserver, kwok).

Every ci/*.yaml values set is validated by the API server itself (server-side dry-run,
so real schemas and admission, not a copy of them); then a release is installed, upgraded
and uninstalled, and what remains is exactly what NOTES.txt documents: the CRD (and the
PVCs of the bundled databases). Pods become Ready on kwok's simulated Node, which runs no
containers: this proves the objects are valid and wired (ServiceAccount, probes, selectors),
not that the images work; `make kind-up` is the check for that.

Not done here: `helm test` (its hook pod would need a real container to finish) and
server-side validation of the ServiceMonitor/PodMonitor/PrometheusRule, whose CRDs belong
to the Prometheus Operator; those are checked by the render tests and promtool instead.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.helm import CHART, CI_VALUES, CRD_FILE, MONITORING_GROUP, ci_id, helm, render
from tests.harness.cluster import Cluster
from tests.harness.kubeapi import wait_until
from tests.support.kubectl import KubectlRunner, wait_established

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

# Namespaced kinds a release may leave behind, checked after uninstall.
NAMESPACED_KINDS = ("deployments,statefulsets,pods,services,secrets,configmaps,serviceaccounts,"
                    "persistentvolumeclaims,galleries.picsource.io")  # fmt: skip


@pytest.fixture(scope="module")
def crd(kubectl: KubectlRunner) -> str:
    """The Gallery CRD applied (as `helm install` would from crds/) and Established."""
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_FILE))
    wait_established(kubectl, "galleries.picsource.io")
    return "galleries.picsource.io"


def _release(namespace: str) -> str:
    return "r" + namespace.removeprefix("t-")


def _get(kubectl: KubectlRunner, *args: str) -> Any:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


@pytest.mark.parametrize("values_file", CI_VALUES, ids=map(ci_id, CI_VALUES))
def test_ci_values_pass_server_side_dry_run(
    values_file: Path, crd: str, namespace: str, kubectl: KubectlRunner
) -> None:
    objects = render([values_file], release=_release(namespace), namespace=namespace)
    applied = [o for o in objects if not o["apiVersion"].startswith(MONITORING_GROUP)]
    monitoring = [o["kind"] for o in objects if o["apiVersion"].startswith(MONITORING_GROUP)]
    if ci_id(values_file) == "with-monitoring":
        assert sorted(monitoring) == ["PodMonitor", "PrometheusRule", "ServiceMonitor"]
    result = kubectl("apply", "--dry-run=server", "--server-side", "--field-manager=helm-test",
                     "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(applied))  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == len(applied), result.stdout
    assert all("(server dry run)" in line for line in lines), result.stdout


def test_install_upgrade_uninstall(
    crd: str, namespace: str, cluster: Cluster, kubectl: KubectlRunner
) -> None:
    release = _release(namespace)
    kube = Path(cluster.kubeconfig)
    out = helm("install", release, CHART, "-n", namespace, "--wait", "--timeout", "120s",
               kubeconfig=kube).stdout  # fmt: skip
    notes = out.split("NOTES:", 1)[1]
    assert f"helm test {release} -n {namespace}" in notes
    assert "kubectl apply -f manifests/examples/" in notes

    crd_obj = _get(kubectl, "crd", crd)
    established = {c["type"]: c["status"] for c in crd_obj["status"]["conditions"]}
    assert established["Established"] == "True"

    deployment_name = f"{release}-picsource-operator"
    selector = f"app.kubernetes.io/instance={release},app.kubernetes.io/component=operator"
    pods = _ready_operator_pods(kubectl, namespace, selector)  # operator.replicas: one leads, one stands by
    for pod in pods:
        assert pod["spec"]["serviceAccountName"] == deployment_name
        assert pod["spec"]["nodeName"], "scheduled onto the simulated Node"
        assert "--debug" not in pod["spec"]["containers"][0]["command"]

    helm("upgrade", release, CHART, "-n", namespace, "--wait", "--timeout", "120s",
         "--set", "operator.logLevel=debug", kubeconfig=kube)  # fmt: skip
    deployment = _get(kubectl, "-n", namespace, "deployment", deployment_name)
    assert deployment["metadata"]["generation"] == 2
    command = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
    assert "--debug" in command
    new_pods = _ready_operator_pods(kubectl, namespace, selector, not_named={p["metadata"]["name"] for p in pods})
    assert all("--debug" in p["spec"]["containers"][0]["command"] for p in new_pods)
    status = json.loads(helm("status", release, "-n", namespace, "-o", "json",
                             kubeconfig=kube).stdout)  # fmt: skip
    assert status["info"]["status"] == "deployed" and status["version"] == 2

    helm("uninstall", release, "-n", namespace, "--wait", "--timeout", "120s", kubeconfig=kube)
    wait_until(lambda: not _leftovers(kubectl, namespace, release), 60,
               f"release {release}'s objects to be gone")  # fmt: skip
    cluster_scoped = kubectl("get", "clusterroles,clusterrolebindings", "-l",
                             f"app.kubernetes.io/instance={release}", "-o", "name").stdout  # fmt: skip
    assert cluster_scoped.strip() == ""
    helm_secrets = kubectl("get", "secrets", "-n", namespace, "-l", "owner=helm", "-o", "name")
    assert helm_secrets.stdout.strip() == ""
    assert _get(kubectl, "crd", crd)["metadata"]["name"] == crd, "the CRD stays, as documented"


def test_bundled_services_and_default_gallery_keep_credentials_across_upgrade(
    crd: str, namespace: str, cluster: Cluster, kubectl: KubectlRunner
) -> None:
    release = _release(namespace)
    kube = Path(cluster.kubeconfig)
    values = CHART / "ci" / "with-default-gallery-values.yaml"
    # No --wait: the StatefulSets' PVCs stay Pending in a cluster without a provisioner.
    helm("install", release, CHART, "-n", namespace, "-f", values, kubeconfig=kube)
    secret_name = f"{release}-picsource-mongodb"
    first = _get(kubectl, "-n", namespace, "secret", secret_name)["data"]
    minio_first = _get(kubectl, "-n", namespace, "secret", f"{release}-picsource-minio")["data"]
    app_first = {name: _get(kubectl, "-n", namespace, "secret", f"{release}-picsource-{name}-app")["data"]
                 for name in ("mongodb", "minio")}
    gallery = _get(kubectl, "-n", namespace, "gallery", "photos")
    # The Gallery holds the application users' Secrets, never the root ones (#14 item 13).
    assert gallery["spec"]["database"]["uriSecretRef"] == {"name": f"{secret_name}-app", "key": "uri"}
    assert gallery["spec"]["storage"]["credentialsSecretRef"]["name"] == f"{release}-picsource-minio-app"
    # The app-users hook Job ran (kwok completes Job pods) and was deleted once it succeeded.
    assert kubectl("get", "jobs", "-n", namespace, "-o", "name").stdout.strip() == ""
    # The API server applied the CRD's defaults: the rendered spec is a valid Gallery.
    assert gallery["spec"]["storage"]["createBucket"] is True

    helm("upgrade", release, CHART, "-n", namespace, "-f", values,
         "--set", "mongodb.resources.limits.memory=2Gi", kubeconfig=kube)  # fmt: skip
    after = _get(kubectl, "-n", namespace, "secret", secret_name)["data"]
    assert after["password"] == first["password"], "an upgrade must not rotate the password"
    assert base64.b64decode(after["uri"]) == base64.b64decode(first["uri"])
    minio_after = _get(kubectl, "-n", namespace, "secret", f"{release}-picsource-minio")["data"]
    assert minio_after == minio_first
    for name, data in app_first.items():
        assert _get(kubectl, "-n", namespace, "secret", f"{release}-picsource-{name}-app")["data"] == data
    statefulset = _get(kubectl, "-n", namespace, "statefulset", secret_name)
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["memory"] == "2Gi"

    # The StatefulSet controller creates the PVCs; they must outlive the release.
    wait_until(lambda: len(_names(kubectl, namespace, "persistentvolumeclaims", release)) == 2,
               60, "the two PVCs of the bundled services")  # fmt: skip
    helm("uninstall", release, "-n", namespace, "--wait", "--timeout", "120s", kubeconfig=kube)
    wait_until(
        lambda: _leftovers(kubectl, namespace, release)
        == {f"persistentvolumeclaim/data-{release}-picsource-minio-0",
            f"persistentvolumeclaim/data-{release}-picsource-mongodb-0"},
        60, "only the documented PVCs to remain",
    )  # fmt: skip


def _ready_operator_pods(kubectl: KubectlRunner, namespace: str, selector: str, count: int = 2,
                         not_named: set[str] | frozenset[str] = frozenset()) -> list[dict[str, Any]]:  # fmt: skip
    found: list[dict[str, Any]] = []

    def ready() -> bool:
        pods = _get(kubectl, "-n", namespace, "pods", "-l", selector)["items"]
        live = [p for p in pods if p["metadata"]["name"] not in not_named
                and not p["metadata"].get("deletionTimestamp")]  # fmt: skip
        if len(live) != count:
            return False
        found[:] = live
        return all({c["type"]: c["status"] for c in p["status"].get("conditions", [])}.get("Ready") == "True"
                   for p in live)

    wait_until(ready, 90, f"{count} Ready operator pods ({selector})")
    return found


def _names(kubectl: KubectlRunner, namespace: str, kinds: str, release: str) -> set[str]:
    out = kubectl("get", kinds, "-n", namespace, "-l", f"app.kubernetes.io/instance={release}",
                  "-o", "name").stdout  # fmt: skip
    return {line for line in out.splitlines() if line.strip()}


def _leftovers(kubectl: KubectlRunner, namespace: str, release: str) -> set[str]:
    return _names(kubectl, namespace, NAMESPACED_KINDS, release)
