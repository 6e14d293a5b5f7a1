"""Configuration of the real node: pure functions of paths and addresses.

Why separate: every setting here answers a fact of this machine (cgroup v1, no
CAP_SYS_RESOURCE, no registry, no route out) and reads best in one place, unit-tested
without starting anything. realnode.py does the I/O.

Addresses inside the cluster's network namespace (nothing here is routed outside it):
  NODE_IP        a dummy interface: kube-apiserver binds/advertises it, kubelet reports it
  POD_CIDR       the cni0 bridge (gateway .1) with host-local IPAM
  SERVICE range  pki.SERVICE_CLUSTER_IP_RANGE, routed to the dummy so that locally
                 originated ClusterIP traffic reaches kube-proxy's OUTPUT rules
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

from tests.harness.tools import versions

NODE_NAME = "picsource-node"
NODE_IP = "10.243.0.1"
NODE_DEVICE = "picsource0"  # dummy interface holding NODE_IP
POD_CIDR = "10.244.0.0/24"
POD_GATEWAY = "10.244.0.1"
BRIDGE = "cni0"
DNS_SERVICE_IP = "10.0.0.10"
CLUSTER_DOMAIN = "cluster.local"
APISERVER_PORT = 6443
IMAGE_REPO = "picsource.local"

# kubelet writes these kernel-wide sysctls when they differ from what it wants; inside
# the node's mount namespace each is shadowed by a file so the host's values never change.
KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)


def image(name: str) -> str:
    """The one home of the node images' names (.ci/node-images.sh asks here too)."""
    pinned = versions()
    tags = {
        "pause": pinned["KUBERNETES_VERSION"],
        "coredns": pinned["COREDNS_VERSION"],
        "busybox": "bookworm",
    }
    if name not in tags:
        raise KeyError(f"unknown node image {name!r}; known: {', '.join(sorted(tags))}")
    return f"{IMAGE_REPO}/{name}:{tags[name]}"


def containerd_config(root: Path, state: Path, socket: Path, cni_conf_dir: Path) -> str:
    """containerd 1.6 (Debian) config: own dirs and socket, CRI tuned for this VM."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{socket}"
[ttrpc]
  address = "{socket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"
[{cri}]
  sandbox_image = "{image("pause")}"
  # The VM lacks CAP_SYS_RESOURCE: without this every sandbox fails with
  # "can't get final child's PID from pipe".
  restrict_oom_score_adj = true
  enable_selinux = false
  max_container_log_line_size = 16384
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
  discard_unpacked_layers = false
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  BinaryName = "runc"
  SystemdCgroup = false
[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{cni_conf_dir}"
  max_conf_num = 1
[{cri}.registry]
  config_path = ""
"""


def cni_conflist(ipam_dir: Path) -> dict[str, Any]:
    """bridge + host-local IPAM + portmap + loopback on cni0; IPAM state in ipam_dir."""
    return {
        "cniVersion": "0.4.0",
        "name": "picsource",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,  # no NAT: nothing outside the namespace to talk to
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(ipam_dir),
                    "ranges": [[{"subnet": POD_CIDR, "gateway": POD_GATEWAY}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(
    root_dir: Path, pod_logs_dir: Path, ca_file: Path, cgroup_root: str, static_pods: Path
) -> dict[str, Any]:
    """KubeletConfiguration for cgroup v1 without CAP_SYS_RESOURCE and no swap of host state."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,  # this machine only has cgroup v1
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root,  # every pod cgroup under one tree removed at teardown
        "oomScoreAdj": 0,
        "address": NODE_IP,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "clusterDNS": [DNS_SERVICE_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        "podLogsDir": str(pod_logs_dir),
        "staticPodPath": str(static_pods),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_file)},
        },
        "authorization": {"mode": "Webhook"},
        "failSwapOn": False,
        "protectKernelDefaults": False,  # its sysctls are shadowed in the mount namespace
        "makeIPTablesUtilChains": False,
        "localStorageCapacityIsolation": True,
        "imageGCHighThresholdPercent": 100,  # never delete our imported images
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "serializeImagePulls": False,
        "resolvConf": "",  # pods get only the cluster DNS, never the host's resolvers
        "registerNode": True,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "nodeStatusReportFrequency": "10s",
        "fileCheckFrequency": "5s",
        "syncFrequency": "10s",
        "runtimeRequestTimeout": "2m",
        "volumePluginDir": str(root_dir / "volume-plugins"),
    }


def kube_proxy_config(kubeconfig: Path, healthz_port: int, metrics_port: int) -> dict[str, Any]:
    """iptables mode; conntrack limits left alone (those sysctls are host-wide)."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "bindAddress": NODE_IP,
        "clusterCIDR": POD_CIDR,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"masqueradeAll": False, "syncPeriod": "10s", "minSyncPeriod": "0s"},
        "nodePortAddresses": [f"{NODE_IP}/32"],
    }


def kubelet_args(
    exe: Path, config: Path, kubeconfig: Path, root_dir: Path, socket: Path
) -> list[str]:
    return [
        str(exe),
        f"--config={config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={root_dir}",
        f"--container-runtime-endpoint=unix://{socket}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={NODE_IP}",
        "--v=1",
    ]


def apiserver_args(base: list[str], kubelet_cert: Path, kubelet_key: Path) -> list[str]:
    """The loopback control plane's apiserver flags, moved to NODE_IP for pods.

    Pods reach it through the `kubernetes` Service, so the endpoint reconciler runs
    again (NODE_IP is a valid endpoint, 127.0.0.1 was not), and the apiserver reaches
    kubelets by their InternalIP, with a client certificate, for logs and exec.
    """
    dropped = (
        "--bind-address=",
        "--advertise-address=",
        "--endpoint-reconciler-type=",
        "--secure-port=",
    )
    kept = [a for a in base if not a.startswith(dropped)]
    return [
        *kept,
        "--bind-address=0.0.0.0",
        f"--advertise-address={NODE_IP}",
        f"--secure-port={APISERVER_PORT}",
        "--kubelet-preferred-address-types=InternalIP",
        f"--kubelet-client-certificate={kubelet_cert}",
        f"--kubelet-client-key={kubelet_key}",
    ]


def kubeconfig(server: str, ca: Path, cert: Path, key: Path, user: str) -> str:
    """A kubeconfig with embedded credentials for one component identity."""

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "picsource",
                "cluster": {"server": server, "certificate-authority-data": b64(ca)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)},
            }
        ],
        "contexts": [{"name": user, "context": {"cluster": "picsource", "user": user}}],
        "current-context": user,
    }
    return json.dumps(document, indent=2)


def main(argv: list[str]) -> int:
    """`python3 -m tests.harness.realnode_config image pause` prints an image name."""
    if len(argv) != 2 or argv[0] != "image":
        print("usage: python3 -m tests.harness.realnode_config image NAME", file=sys.stderr)
        return 2
    print(image(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
