"""The cluster admin's knobs on the real control plane: a Gallery with scheduling,
metadata, Ingress and image-digest knobs yields Deployments carrying them, and their pods
are admitted in a namespace that enforces the `restricted` Pod Security Standard.

Admission is checked two ways, both deterministic: a Pod built from each Deployment's
template is created with a server-side dry run (PodSecurity admission answers at once),
and the ReplicaSet controller's own Pods are waited for (they exist only if admitted).
A deliberately non-compliant Pod is refused in the same namespace, so the check can fail.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from operator_runner import Env, OperatorProcess

from tests.harness.cluster import Cluster
from tests.harness.kubeapi import wait_until

pytestmark = [pytest.mark.cluster]

DEPLOYMENT = "/apis/apps/v1/namespaces/{ns}/deployments/tuned-{component}"
INGRESS = "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/tuned"
DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.fixture
def restricted(gallery_env: Env, kubectl: Any) -> str:
    """The test's namespace, enforcing the restricted Pod Security Standard."""
    kubectl("label", "namespace", gallery_env.namespace, "--overwrite",
            "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/enforce-version=latest")
    return gallery_env.namespace


@pytest.fixture
def priority_class(cluster: Cluster) -> Iterator[str]:
    """A PriorityClass (cluster-wide: the Priority admission plugin refuses pods naming none)."""
    name = f"gallery-{uuid.uuid4().hex[:8]}"
    api = cluster.api()
    api.create("/apis/scheduling.k8s.io/v1/priorityclasses", {
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": name}, "value": 1000, "description": "picsource knobs test"})
    yield name
    api.delete(f"/apis/scheduling.k8s.io/v1/priorityclasses/{name}")


def pod_from(deployment: dict[str, Any], namespace: str) -> dict[str, Any]:
    template = copy.deepcopy(deployment["spec"]["template"])
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {**template["metadata"], "name": f"probe-{uuid.uuid4().hex[:8]}",
                         "namespace": namespace},
            "spec": template["spec"]}


def dry_run(kubectl: Any, pod: dict[str, Any]) -> Any:
    return kubectl("create", "--dry-run=server", "-o", "name", "-f", "-", stdin=json.dumps(pod), check=False)


def test_knobs_reach_the_deployments_and_their_pods_pass_restricted(
        gallery_env: Env, running_operator: OperatorProcess, kubectl: Any, restricted: str,
        priority_class: str) -> None:
    env = gallery_env
    on_kwok = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "type", "operator": "In", "values": ["kwok"]}]}]}}}
    spread = {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"}
    toleration = {"key": "dedicated", "operator": "Equal", "value": "gallery", "effect": "NoSchedule"}
    worker_image = f"ghcr.io/picsource/worker@{DIGEST}"
    env.apply(env.gallery(
        "tuned",
        pods={"nodeSelector": {"kubernetes.io/os": "linux"}, "tolerations": [toleration],
              "affinity": on_kwok, "topologySpreadConstraints": [spread],
              "priorityClassName": priority_class, "imagePullSecrets": [{"name": "registry"}],
              "labels": {"cost-centre": "photos"}, "annotations": {"example.com/owner": "team-a"}},
        web={"replicas": 1, "pods": {"labels": {"tier": "front"}},
             "ingress": {"host": "tuned.example.com", "className": "public",
                         "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"}}},
        worker={"replicas": 1, "image": worker_image, "pods": {"priorityClassName": priority_class}}))

    def deployment(component: str) -> dict[str, Any]:
        return env.obj(DEPLOYMENT.replace("{component}", component)) or {}

    wait_until(lambda: bool(deployment("web")) and bool(deployment("worker")), 30, "both Deployments")
    for component in ("web", "worker"):
        template = deployment(component)["spec"]["template"]
        spec = template["spec"]
        assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
        assert spec["tolerations"] == [toleration]
        assert spec["affinity"] == on_kwok
        assert spec["priorityClassName"] == priority_class
        assert spec["imagePullSecrets"] == [{"name": "registry"}]
        (constraint,) = spec["topologySpreadConstraints"]
        assert constraint["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == component
        assert template["metadata"]["labels"]["cost-centre"] == "photos"
        assert template["metadata"]["annotations"]["example.com/owner"] == "team-a"
    assert deployment("web")["spec"]["template"]["metadata"]["labels"]["tier"] == "front"
    assert "tier" not in deployment("worker")["spec"]["template"]["metadata"]["labels"]
    assert deployment("worker")["spec"]["template"]["spec"]["containers"][0]["image"] == worker_image

    ingress = env.obj(INGRESS) or {}
    assert ingress["spec"]["ingressClassName"] == "public"
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "201m"

    # Admission: a Pod from each template passes `restricted`; a non-compliant one does not.
    for component in ("web", "worker"):
        result = dry_run(kubectl, pod_from(deployment(component), restricted))
        assert result.returncode == 0, f"{component}: {result.stderr}"
    rogue = pod_from(deployment("web"), restricted)
    del rogue["spec"]["containers"][0]["securityContext"]
    refused = dry_run(kubectl, rogue)
    assert refused.returncode != 0 and 'violates PodSecurity "restricted:latest"' in refused.stderr, \
        refused.stderr

    # And the ReplicaSet controller's own Pods were admitted: scheduled on the kwok node, Ready.
    env.wait_condition("tuned", "Ready", "True", timeout=90)
    pods = (env.obj("/api/v1/namespaces/{ns}/pods?labelSelector=app.kubernetes.io%2Finstance%3Dtuned")
            or {}).get("items") or []
    assert sorted(p["metadata"]["labels"]["app.kubernetes.io/component"] for p in pods) == ["web", "worker"]
    assert all(p["spec"]["priorityClassName"] == priority_class and p["spec"]["priority"] == 1000
               for p in pods)


@pytest.mark.parametrize(("spec", "message"), [
    ({"pods": {"labels": {"app.kubernetes.io/instance": "other"}}}, "the operator's own labels"),
    ({"worker": {"pods": {"annotations": {"picsource.io/config-hash": "x"}}}}, "under picsource.io/"),
    ({"web": {"pods": {"tolerations": [{"key": "a", "operator": "Sometimes"}]}}},
     "spec.web.pods.tolerations[0].operator"),
    ({"pods": {"topologySpreadConstraints": [{"maxSkew": 1}]}}, "topologyKey: Required value"),
])
def test_bad_knobs_are_refused_at_admission(gallery_env: Env, spec: dict[str, Any], message: str) -> None:
    doc = gallery_env.gallery("bad")
    doc["spec"].update(spec)
    result = gallery_env.apply(doc, check=False)
    assert result.returncode != 0, "accepted"
    assert message in result.stderr, result.stderr


def test_a_knob_the_schema_allows_but_the_operator_refuses_is_reported(
        gallery_env: Env, running_operator: OperatorProcess) -> None:
    env = gallery_env
    env.apply(env.gallery("cramped", worker={"resources": {"limits": {"memory": "512Mi"}}}))
    cond = env.wait_condition("cramped", "Ready", "False", reason="InvalidSpec", timeout=30)
    assert "spec.worker.resources.limits.memory 512Mi cannot hold one analysis process" in cond["message"]
