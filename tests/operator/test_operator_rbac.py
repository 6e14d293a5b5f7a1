"""The operator works with exactly the chart's ClusterRole (least privilege), authenticated
as a ServiceAccount token instead of the harness's admin certificate."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from operator_runner import REPO, Env, OperatorProcess

from tests.harness.cluster import Cluster
from tests.harness.kubeapi import wait_until
from tests.harness.tools import binary

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def chart_cluster_role() -> dict[str, Any]:
    rendered = subprocess.run(
        [str(binary("helm")), "template", "ps", str(REPO / "charts/picsource"), "--namespace", "picsource",
         "--show-only", "templates/rbac.yaml"], capture_output=True, text=True, check=True).stdout
    (role,) = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "ClusterRole"]
    return dict(role)


def service_account_kubeconfig(cluster: Cluster, namespace: str, path: Path) -> Path:
    api = cluster.api()
    api.create(f"/api/v1/namespaces/{namespace}/serviceaccounts",
               {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "picsource-operator"}})
    token = api.create(f"/api/v1/namespaces/{namespace}/serviceaccounts/picsource-operator/token", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600}})["status"]["token"]
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "test", "cluster": {"server": cluster.server,
                                                   "certificate-authority": str(cluster.pki.ca_crt)}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "test", "user": "sa", "namespace": namespace}}],
    }))
    return path


def test_operator_runs_with_the_charts_least_privilege_role(cluster: Cluster, gallery_env: Env,
                                                           kubectl: Any, tmp_path: Path) -> None:
    env = gallery_env
    role = chart_cluster_role()
    name = f"picsource-operator-{env.namespace}"
    role["metadata"] = {"name": name}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": name},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
               "subjects": [{"kind": "ServiceAccount", "name": "picsource-operator",
                             "namespace": env.namespace}]}
    kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": [role, binding]}))
    operator = OperatorProcess(cluster, env.namespace, tmp_path / "operator.log",
                               kubeconfig=service_account_kubeconfig(cluster, env.namespace,
                                                                     tmp_path / "sa.kubeconfig"))
    try:
        operator.start()
        env.apply(env.gallery("scratch", base="reclaim-delete"))
        env.wait_condition("scratch", "Ready", "True", timeout=60)
        kubectl("delete", "service", "scratch-web", "-n", env.namespace)
        wait_until(lambda: env.obj("/api/v1/namespaces/{ns}/services/scratch-web") is not None, 10,
                   "the Service restored under the chart's role")
        assert any(e["reason"] == "ReadyTrue" for e in env.events("scratch"))
        kubectl("delete", "gallery", "scratch", "-n", env.namespace, "--timeout=60s")
        assert not env.minio.client().bucket_exists(env.buckets[-1])
        assert "forbidden" not in operator.log().lower(), operator.log()[-3000:]
    finally:
        env.cleanup()
        operator.stop()
        for kind in ("clusterrolebinding", "clusterrole"):
            with contextlib.suppress(Exception):
                kubectl("delete", kind, name, "--ignore-not-found", check=False)
