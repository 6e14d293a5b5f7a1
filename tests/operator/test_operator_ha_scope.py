"""Namespaced mode: the operator as the chart runs it with operator.watchNamespaces, on a
ServiceAccount holding only the chart's Roles (no ClusterRole at all), with leader election.
It reconciles the listed namespace and leaves Galleries elsewhere alone."""

from __future__ import annotations

import contextlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from operator_runner import Env, OperatorProcess
from test_operator_rbac import chart_rbac, service_account_kubeconfig

from tests.harness.cluster import Cluster
from tests.harness.kubeapi import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def namespaced_roles(namespace: str) -> list[dict[str, Any]]:
    """The chart's Roles for watchNamespaces={namespace}, released into that same namespace,
    each bound to the test's ServiceAccount."""
    objects: list[dict[str, Any]] = []
    for role in chart_rbac(f"operator.watchNamespaces={{{namespace}}}"):
        if role["kind"] != "Role":
            continue
        name = role["metadata"]["name"]
        role["metadata"] = {"name": name, "namespace": namespace}
        objects += [role, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                           "metadata": {"name": name, "namespace": namespace},
                           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                           "subjects": [{"kind": "ServiceAccount", "name": "picsource-operator",
                                         "namespace": namespace}]}]
    return objects


def test_namespaced_operator_runs_on_roles_only_and_ignores_other_namespaces(
        cluster: Cluster, gallery_env: Env, kubectl: Any, tmp_path: Path) -> None:
    env = gallery_env
    kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                  "items": namespaced_roles(env.namespace)}))
    other = f"other-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", other)
    operator = OperatorProcess(
        cluster, env.namespace, tmp_path / "operator.log", as_deployed=True,
        kubeconfig=service_account_kubeconfig(cluster, env.namespace, tmp_path / "sa.kubeconfig"),
        extra_env={"PICSOURCE_OPERATOR_LEADER_ELECTION": "true", "POD_NAMESPACE": env.namespace})
    try:
        operator.start()
        elsewhere = env.gallery("elsewhere")
        elsewhere["metadata"]["namespace"] = other
        env.apply(elsewhere)
        env.apply(env.gallery("scratch", base="reclaim-delete"))
        env.wait_condition("scratch", "Ready", "True", timeout=60)
        kubectl("delete", "service", "scratch-web", "-n", env.namespace)
        wait_until(lambda: env.obj("/api/v1/namespaces/{ns}/services/scratch-web") is not None, 10,
                   "the Service restored under the namespaced Role")
        kubectl("delete", "gallery", "scratch", "-n", env.namespace, "--timeout=60s")
        assert not env.minio.client().bucket_exists(env.buckets[-1])
        ignored = env.api.get(f"/apis/picsource.io/v1alpha1/namespaces/{other}/galleries/elsewhere") or {}
        assert "status" not in ignored and not ignored["metadata"].get("finalizers")
        assert "forbidden" not in operator.log().lower(), operator.log()[-3000:]
    finally:
        env.cleanup()
        operator.stop()
        with contextlib.suppress(Exception):
            kubectl("delete", "namespace", other, "--wait=false", check=False)
