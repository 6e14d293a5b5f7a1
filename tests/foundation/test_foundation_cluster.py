"""The loopback control plane is a real, working Kubernetes: API, scheduling, kwok."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.harness.cluster import NODE_NAME
from tests.harness.procs import pid_alive, port_is_free
from tests.harness.tools import REPO, versions

pytestmark = pytest.mark.cluster


def test_apiserver_is_ready_and_reports_the_pinned_version(cluster: Any, kubectl: Any) -> None:
    api = cluster.api()
    assert api.readyz()
    pinned = versions()["KUBERNETES_VERSION"]
    assert api.version()["gitVersion"] == pinned
    out = json.loads(kubectl("version", "--output=json").stdout)
    assert out["serverVersion"]["gitVersion"] == pinned


def test_kwok_node_is_ready_and_schedulable(kubectl: Any) -> None:
    node = json.loads(kubectl("get", "node", NODE_NAME, "-o", "json").stdout)
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
    assert ready == "True"
    assert not [t for t in node["spec"].get("taints", []) if t["effect"] == "NoSchedule"]


def test_deployment_becomes_ready_on_the_kwok_node(kubectl: Any, namespace: str) -> None:
    manifest = textwrap.dedent(
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: hello}
        spec:
          replicas: 2
          selector: {matchLabels: {app: hello}}
          template:
            metadata: {labels: {app: hello}}
            spec:
              containers:
              - name: hello
                image: example.invalid/hello:1
                resources: {requests: {cpu: 100m, memory: 64Mi}}
        """
    )
    kubectl("apply", "-n", namespace, "-f", "-", stdin=manifest)
    kubectl("rollout", "status", "-n", namespace, "deployment/hello", "--timeout=90s",
            timeout=120)  # fmt: skip
    pods = json.loads(kubectl("get", "pods", "-n", namespace, "-l", "app=hello",
                              "-o", "json").stdout)["items"]  # fmt: skip
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["nodeName"] == NODE_NAME
        conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert conditions["Ready"] == "True"
        assert pod["status"]["phase"] == "Running"
    # ServiceAccount admission worked: the pod got a projected API token volume.
    volumes = [v["name"] for v in pods[0]["spec"]["volumes"]]
    assert any(name.startswith("kube-api-access-") for name in volumes)


@pytest.mark.slow
def test_cluster_cli_up_then_down_leaves_nothing_behind(tmp_path: Path) -> None:
    state = tmp_path / "run" / "cluster"
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    cli = [sys.executable, "-m", "tests.harness.cluster"]
    up = subprocess.run([*cli, "up", "--state-dir", str(state)], env=env, cwd=REPO,
                        capture_output=True, text=True, timeout=180)  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr
        print(up.stdout.strip())  # carries "cluster up in N.Ns" for the record
        recorded = json.loads((state / "state.json").read_text())
        pids = [int(p["pid"]) for p in recorded["processes"].values()]
        assert len(pids) == 5 and all(pid_alive(pid) for pid in pids)
        port = int(recorded["server"].rsplit(":", 1)[1])
        kubeconfig = tmp_path / "run" / "kubeconfig"
        status = subprocess.run([*cli, "status", "--state-dir", str(state)], env=env,
                                cwd=REPO, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert status.returncode == 0, status.stdout + status.stderr
        assert kubeconfig.exists()
    finally:
        down = subprocess.run([*cli, "down", "--state-dir", str(state)], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    assert down.returncode == 0, down.stderr
    assert not [pid for pid in pids if pid_alive(pid)]
    assert port_is_free(port)
    assert not state.exists() and not kubeconfig.exists()
