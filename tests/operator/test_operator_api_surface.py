"""What a cluster user sees: `kubectl explain`, the Ingress lifecycle, /metrics hygiene,
and quantities validated at admission."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from operator_runner import Env, OperatorProcess

from tests.harness.kubeapi import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

INGRESS = "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/family"


def test_kubectl_explain_reads_well(gallery_env: Env, kubectl: Any) -> None:
    # The API server publishes a new CRD's OpenAPI a moment after it is Established.
    wait_until(lambda: kubectl("explain", "gallery.spec.worker", check=False).returncode == 0, 60,
               "the Gallery schema in the API server's OpenAPI")
    raw = kubectl("explain", "gallery.spec.worker").stdout
    text = " ".join(raw.split())  # kubectl wraps descriptions
    assert "KIND: Gallery" in text and "GROUP: picsource.io" in text
    assert "Set either a fixed replicas count or autoscaling." in text
    fields = {line.split()[0] for line in raw.splitlines() if line.startswith("  ") and "<" in line}
    assert fields == {"analysis", "autoscaling", "replicas", "resources", "image", "pods"}
    assert "Scale workers from the analysis queue backlog" in text
    text = " ".join(kubectl("explain", "gallery.spec.storage.bucket").stdout.split())
    assert "Immutable once set." in text
    text = " ".join(kubectl("explain", "gallery.spec.pods").stdout.split())
    assert "refine it per component" in text and "topologySpreadConstraints" in text
    text = " ".join(kubectl("explain", "gallery.spec.web.ingress.annotations").stdout.split())
    assert "nginx.ingress.kubernetes.io/proxy-body-size" in text
    text = " ".join(kubectl("explain", "gallery.status.conditions").stdout.split())
    assert "StorageBound" in text


def test_ingress_follows_the_host(gallery_env: Env, running_operator: OperatorProcess,
                                  kubectl: Any) -> None:
    env = gallery_env
    doc = env.gallery("family", base="ingress")
    env.secret("family-admin", {"username": "admin", "password": "correct horse battery"})
    env.apply(doc)
    wait_until(lambda: env.obj(INGRESS) is not None, 20, "the Ingress")
    ingress = env.obj(INGRESS) or {}
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["family.example.com"], "secretName": "family-tls"}]
    assert ingress["metadata"]["ownerReferences"][0]["name"] == "family"
    wait_until(lambda: (env.get("family") or {}).get("status", {}).get("url") == "https://family.example.com/",
               20, "status.url from the Ingress host")
    web = env.obj("/apis/apps/v1/namespaces/{ns}/deployments/family-web") or {}
    env_vars = {e["name"]: e for e in web["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env_vars["ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "family-admin"
    kubectl("patch", "gallery", "family", "-n", env.namespace, "--type=json",
            "-p", json.dumps([{"op": "remove", "path": "/spec/web/ingress"}]))
    wait_until(lambda: env.obj(INGRESS) is None, 20, "the Ingress to be removed with the host")
    wait_until(lambda: (env.get("family") or {}).get("status", {}).get("url")
               == f"http://family-web.{env.namespace}.svc", 20, "status.url back to the Service")


def test_metrics_pass_promtool(gallery_env: Env, running_operator: OperatorProcess) -> None:
    env = gallery_env
    env.apply(env.gallery("photos", web={"replicas": 1}))
    env.wait_condition("photos", "Ready", "True", timeout=60)
    text = running_operator.metrics()
    for name in ("picsource_operator_reconciles_total", "picsource_operator_reconcile_duration_seconds_bucket",
                 "picsource_operator_galleries", "picsource_operator_drift_corrections_total",
                 "picsource_operator_autoscaler_decisions_total"):
        assert name in text, name
    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed with the prometheus Debian package"
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_bad_quantities_are_rejected_at_admission(gallery_env: Env) -> None:
    doc = gallery_env.gallery("bad", web={"resources": {"requests": {"cpu": "lots"}}})
    result = gallery_env.apply(doc, check=False)
    assert result.returncode != 0
    assert "spec.web.resources.requests.cpu" in result.stderr, result.stderr


def test_a_spec_whose_children_are_rejected_is_reported_not_retried(
        gallery_env: Env, running_operator: OperatorProcess) -> None:
    env = gallery_env
    # Schema-valid, but the Deployment it implies is not: requests above limits.
    doc = env.gallery("photos", web={"replicas": 1, "resources": {"requests": {"cpu": "2"},
                                                                  "limits": {"cpu": "1"}}})
    env.apply(doc)
    cond = env.wait_condition("photos", "Ready", "False", reason="InvalidSpec", timeout=30)
    assert "must be less than or equal to cpu limit" in cond["message"]
    assert (env.get("photos") or {})["status"]["phase"] == "Degraded"
    wait_until(lambda: any(e["reason"] == "InvalidSpec" for e in env.events("photos")), 15,
               "an InvalidSpec Warning event")
    # Fixing the spec recovers.
    doc["spec"]["web"] = {"replicas": 1}
    env.apply(doc)
    env.wait_condition("photos", "Ready", "True", timeout=60)
    assert running_operator.process is not None and running_operator.process.running()


@pytest.mark.parametrize("ref", ["storage.credentialsSecretRef", "database.uriSecretRef", "auth.adminSecretRef"])
def test_secret_refs_cannot_name_another_namespace(gallery_env: Env, ref: str) -> None:
    """A Gallery reads Secrets from its own namespace only: the schema has no namespace
    field on a reference, so naming one is refused at admission, not silently followed."""
    doc = gallery_env.gallery("elsewhere")
    node = doc["spec"]
    *parents, leaf = ref.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = {**node.get(leaf, {}), "name": "stolen", "namespace": "kube-system"}
    result = gallery_env.apply(doc, check=False)
    assert result.returncode != 0, "a reference into another namespace was accepted"
    assert f'unknown field "spec.{ref}.namespace"' in result.stderr, result.stderr
