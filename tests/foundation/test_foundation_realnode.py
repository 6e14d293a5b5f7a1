"""The real node: a Ready kubelet, a real pod of a real image reached through a Service
ClusterIP and its DNS name, and a namespace nothing leaves.

Clients of pods and Services run inside the node's network namespace (`real_cluster.call`);
only the API server is relayed to the host. The session fixture checks after teardown
that no mount, netfilter rule, sysctl or cgroup is left on the host.
"""

from __future__ import annotations

import ipaddress
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.dnsquery import DnsError, resolve
from tests.harness.kubeapi import KubeApi, node_ready, wait_until
from tests.harness.realnode import RealCluster
from tests.harness.realnode_config import (
    CLUSTER_DOMAIN,
    DNS_SERVICE_IP,
    NODE_IP,
    NODE_NAME,
    POD_CIDR,
    image,
)
from tests.harness.tools import versions

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
PAGE = "hello from a real pod"


@pytest.fixture
def real_namespace(real_cluster: RealCluster) -> Iterator[str]:
    api = real_cluster.api()
    name = f"rn-{uuid.uuid4().hex[:8]}"
    api.create(
        "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    wait_until(
        lambda: api.get(f"/api/v1/namespaces/{name}/serviceaccounts/default") is not None,
        60,
        "the default ServiceAccount",
    )
    yield name
    api.delete(f"/api/v1/namespaces/{name}")


def busybox_pod(
    name: str, script: str, labels: dict[str, str] | None = None, restart: str = "Always"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": image("busybox"),
                    "imagePullPolicy": "Never",
                    "command": ["/bin/sh", "-c", script],
                    "securityContext": {"runAsUser": 65534, "allowPrivilegeEscalation": False},
                    "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
                }
            ],
            "volumes": [{"name": "scratch", "emptyDir": {}}],  # the image has only /bin
        },
    }


def wait_phase(
    api: KubeApi, namespace: str, name: str, phases: set[str], timeout: float
) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def reached() -> bool:
        pod = api.get(f"/api/v1/namespaces/{namespace}/pods/{name}") or {}
        found.update(pod)
        return pod.get("status", {}).get("phase") in phases

    wait_until(reached, timeout, f"pod {namespace}/{name} in {sorted(phases)}")
    return found


def test_node_is_ready_with_the_pinned_kubelet(real_cluster: RealCluster) -> None:
    node = real_cluster.api().get(f"/api/v1/nodes/{NODE_NAME}")
    assert node_ready(node)
    assert node is not None
    assert node["status"]["nodeInfo"]["kubeletVersion"] == versions()["KUBERNETES_VERSION"]
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert addresses["InternalIP"] == NODE_IP
    print(f"real node timings: {real_cluster.timings}")


def test_pod_answers_through_service_ip_and_dns(
    real_cluster: RealCluster, real_namespace: str
) -> None:
    api, ns = real_cluster.api(), real_namespace
    script = f"echo '{PAGE}' > /scratch/index.html && exec httpd -f -p 8080 -h /scratch"
    api.create(f"/api/v1/namespaces/{ns}/pods", busybox_pod("web", script, {"app": "web"}))
    service = api.create(
        f"/api/v1/namespaces/{ns}/services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    pod = wait_phase(api, ns, "web", {"Running"}, 120)
    assert ipaddress.ip_address(pod["status"]["podIP"]) in ipaddress.ip_network(POD_CIDR)
    cluster_ip = service["spec"]["clusterIP"]

    def fetch() -> str:
        with urllib.request.urlopen(f"http://{cluster_ip}/", timeout=3) as resp:  # noqa: S310
            return str(resp.read().decode())

    page: list[str] = []

    def answered() -> bool:
        page.append(real_cluster.call(fetch))
        return True

    wait_until(answered, 60, "the Service ClusterIP to answer (kube-proxy rules)")
    assert page[-1].strip() == PAGE

    fqdn = f"web.{ns}.svc.{CLUSTER_DOMAIN}"
    answers: list[list[str]] = []

    def resolved() -> bool:
        try:  # CoreDNS learns the new Service from its watch a moment later
            answers.append(real_cluster.call(lambda: resolve(DNS_SERVICE_IP, fqdn)))
        except DnsError:
            return False
        return True

    wait_until(resolved, 30, f"CoreDNS to answer {fqdn}")
    assert answers[-1] == [cluster_ip]

    # A pod resolves the short name through kubelet's clusterDNS and fetches the page.
    client = busybox_pod(
        "client",
        f"nslookup web.{ns}.svc.{CLUSTER_DOMAIN} && wget -qO- http://web/",
        restart="Never",
    )
    api.create(f"/api/v1/namespaces/{ns}/pods", client)
    done = wait_phase(api, ns, "client", {"Succeeded", "Failed"}, 120)
    status, log = api.request("GET", f"/api/v1/namespaces/{ns}/pods/client/log")
    assert done["status"]["phase"] == "Succeeded", log
    assert status == 200 and PAGE in log and cluster_ip in log


def test_nothing_leaves_the_namespace(real_cluster: RealCluster, real_namespace: str) -> None:
    api, ns = real_cluster.api(), real_namespace
    # 192.0.2.1 is TEST-NET-1: never routed anywhere, even if the packet could leave.
    # No `wget -T`: Debian's static busybox segfaults with it. The deadline bounds a hang.
    script = "ip route; wget -qO- http://192.0.2.1/ 2>&1; echo wget exit $?"
    probe = busybox_pod("probe", script, restart="Never")
    probe["spec"]["activeDeadlineSeconds"] = 60
    api.create(f"/api/v1/namespaces/{ns}/pods", probe)
    done = wait_phase(api, ns, "probe", {"Succeeded", "Failed"}, 120)
    _, log = api.request("GET", f"/api/v1/namespaces/{ns}/pods/probe/log")
    assert done["status"]["phase"] == "Succeeded", log
    assert "wget exit 1" in log, log
    assert "unreachable" in log or "No route to host" in log, log

    routes = subprocess.run(
        real_cluster.exec_argv(["ip", "route", "show", "default"]),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert routes.strip() == "", f"the node's namespace has a default route: {routes}"
