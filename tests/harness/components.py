"""Command lines of the control-plane components: pure functions of paths and ports.

Why separate: these flags are the substance of "a real cluster on loopback" (RBAC,
ServiceAccount signing, request-header auth, kwok's node selection) and read best on
their own, away from the process plumbing in cluster.py.
"""

from __future__ import annotations

from pathlib import Path

from tests.harness.pki import SERVICE_CLUSTER_IP_RANGE, Pki
from tests.harness.procs import LOOPBACK

POD_CIDR = "10.244.0.0/16"  # must not overlap SERVICE_CLUSTER_IP_RANGE
KWOK_STAGES = Path(__file__).with_name("kwok_stages.yaml")


def etcd(exe: Path, data_dir: Path, port: int, peer_port: int) -> list[str]:
    client, peer = f"http://{LOOPBACK}:{port}", f"http://{LOOPBACK}:{peer_port}"
    return [
        str(exe),
        "--name=picsource",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=picsource={peer}",
        "--initial-cluster-state=new",
        "--unsafe-no-fsync=true",  # throw-away data: durability buys nothing here
        "--quota-backend-bytes=2147483648",
        "--log-level=warn",
    ]


def apiserver(exe: Path, pki: Pki, etcd_port: int, port: int) -> list[str]:
    return [
        str(exe),
        f"--etcd-servers=http://{LOOPBACK}:{etcd_port}",
        f"--bind-address={LOOPBACK}",
        f"--advertise-address={LOOPBACK}",
        f"--secure-port={port}",
        f"--cert-dir={pki.directory}",
        f"--tls-cert-file={pki.apiserver_crt}",
        f"--tls-private-key-file={pki.apiserver_key}",
        f"--client-ca-file={pki.ca_crt}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        f"--requestheader-client-ca-file={pki.front_proxy_ca_crt}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki.front_proxy_client_crt}",
        f"--proxy-client-key-file={pki.front_proxy_client_key}",
        # The kubernetes Service's endpoint would be 127.0.0.1, which Endpoints
        # validation rejects; nothing in the tests routes through it.
        "--endpoint-reconciler-type=none",
        "--authorization-mode=Node,RBAC",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        "--allow-privileged=true",
        "--profiling=false",
        "--v=0",
    ]


def _kube_common(kubeconfig: Path, port: int) -> list[str]:
    """Flags controller-manager and scheduler share: admin identity, own loopback port."""
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={LOOPBACK}",
        f"--secure-port={port}",  # never the default 10257/10259: clusters run side by side
        "--leader-elect=false",  # one replica; skips the lease wait at start
        "--profiling=false",
    ]


def controller_manager(exe: Path, kubeconfig: Path, pki: Pki, port: int) -> list[str]:
    return [
        str(exe),
        *_kube_common(kubeconfig, port),
        f"--service-account-private-key-file={pki.sa_key}",
        f"--root-ca-file={pki.ca_crt}",
        f"--cluster-signing-cert-file={pki.ca_crt}",
        f"--cluster-signing-key-file={pki.ca_key}",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        "--use-service-account-credentials=true",
        "--controllers=*",
    ]


def scheduler(exe: Path, kubeconfig: Path, port: int) -> list[str]:
    return [str(exe), *_kube_common(kubeconfig, port)]


def kwok(exe: Path, kubeconfig: Path, config: Path) -> list[str]:
    """kwok plays the kubelet only for Nodes annotated kwok.x-k8s.io/node=fake."""
    return [
        str(exe),
        f"--kubeconfig={kubeconfig}",
        f"--config={config}",
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        f"--cidr={POD_CIDR}",
        "--node-lease-duration-seconds=40",
    ]
