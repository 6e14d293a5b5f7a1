"""The Gallery scale subresource: `kubectl scale gallery/NAME --replicas=N` (and so an HPA or
KEDA) drives the worker Deployment, and /scale reports what runs and how to select it."""

from __future__ import annotations

from typing import Any

import pytest
from operator_runner import Env, OperatorProcess

from tests.harness.kubeapi import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

SCALE = "/apis/picsource.io/v1alpha1/namespaces/{ns}/galleries/{name}/scale"
WORKER = "/apis/apps/v1/namespaces/{ns}/deployments/{name}-worker"


def test_kubectl_scale_drives_the_workers_and_scale_reports_them(
        gallery_env: Env, running_operator: OperatorProcess, kubectl: Any) -> None:
    env = gallery_env
    env.apply(env.gallery("photos", worker={"replicas": 1}))
    env.wait_condition("photos", "Ready", "True", timeout=60)

    kubectl("scale", "gallery/photos", "--replicas=3", "-n", env.namespace)
    wait_until(lambda: (env.obj(WORKER.format(ns="{ns}", name="photos")) or {}).get("spec", {}).get("replicas") == 3,
               30, "the worker Deployment scaled to 3")
    wait_until(lambda: (env.get("photos") or {}).get("status", {}).get("workerReadyReplicas") == 3, 30,
               "3 ready workers in status")
    scale = env.obj(SCALE.format(ns="{ns}", name="photos")) or {}
    assert scale["spec"]["replicas"] == 3
    assert scale["status"]["replicas"] == 3
    selector = scale["status"]["selector"]
    assert "app.kubernetes.io/component=worker" in selector and "app.kubernetes.io/instance=photos" in selector
    pods = env.obj(f"/api/v1/namespaces/{{ns}}/pods?labelSelector={selector}") or {}
    assert len(pods["items"]) == 3  # the selector finds exactly the worker pods


def test_scaling_a_gallery_that_autoscales_is_refused_naming_why(
        gallery_env: Env, running_operator: OperatorProcess, kubectl: Any) -> None:
    env = gallery_env
    env.apply(env.gallery("archive", base="autoscaling"))
    result = kubectl("scale", "gallery/archive", "--replicas=3", "-n", env.namespace, check=False)
    assert result.returncode != 0
    assert "worker.replicas and worker.autoscaling are mutually exclusive" in result.stderr
