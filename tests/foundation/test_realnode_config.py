"""The real node's pure builders: config documents, image names, image archives.

No processes start here; test_foundation_realnode.py runs the node itself.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.harness import realnode_config as cfg
from tests.harness.dnsquery import DnsError, build_query, parse_a_records
from tests.harness.image_archive import ImageSpec, archive, layer_tar
from tests.harness.netns_relay import relay_argv
from tests.harness.pki import SERVICE_CLUSTER_IP_RANGE
from tests.harness.realnode_manifests import coredns_objects, object_path
from tests.harness.realnode_tools import image_archive
from tests.harness.tools import versions


def test_image_names_come_from_versions_env() -> None:
    assert cfg.image("pause").startswith(f"{cfg.IMAGE_REPO}/pause:v1.")
    assert cfg.image("coredns").endswith(":" + versions()["COREDNS_VERSION"])
    assert image_archive(cfg.image("busybox")).name == "busybox-bookworm.tar"
    with pytest.raises(KeyError, match="unknown node image"):
        cfg.image("nginx")


def test_containerd_config_answers_this_machine(tmp_path: Path) -> None:
    text = cfg.containerd_config(
        tmp_path / "root", tmp_path / "state", tmp_path / "s.sock", tmp_path / "net.d"
    )
    assert "restrict_oom_score_adj = true" in text  # no CAP_SYS_RESOURCE on this VM
    assert "SystemdCgroup = false" in text
    assert f'sandbox_image = "{cfg.image("pause")}"' in text
    assert f'address = "{tmp_path / "s.sock"}"' in text
    assert f'root = "{tmp_path / "root"}"' in text


def test_cni_has_no_nat_and_keeps_ipam_state_in_the_state_dir(tmp_path: Path) -> None:
    conflist = cfg.cni_conflist(tmp_path / "ipam")
    bridge = conflist["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["bridge"] == cfg.BRIDGE
    assert bridge["ipMasq"] is False
    assert bridge["ipam"]["dataDir"] == str(tmp_path / "ipam")
    assert bridge["ipam"]["ranges"][0][0]["gateway"] == cfg.POD_GATEWAY
    assert [p["type"] for p in conflist["plugins"]] == ["bridge", "portmap"]


def test_kubelet_config_for_cgroup_v1_and_cluster_dns(tmp_path: Path) -> None:
    config = cfg.kubelet_config(
        tmp_path, tmp_path / "logs", tmp_path / "ca.crt", "/picsource-x", tmp_path / "manifests"
    )
    assert config["failCgroupV1"] is False
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["oomScoreAdj"] == 0
    assert config["clusterDNS"] == [cfg.DNS_SERVICE_IP]
    assert config["cgroupRoot"] == "/picsource-x"
    assert config["podLogsDir"] == str(tmp_path / "logs")
    assert config["resolvConf"] == ""  # never the host's resolvers


def test_kube_proxy_leaves_host_wide_conntrack_sysctls_alone(tmp_path: Path) -> None:
    config = cfg.kube_proxy_config(tmp_path / "kubeconfig", 10256, 10249)
    assert config["mode"] == "iptables"
    assert config["conntrack"]["maxPerCore"] == 0
    assert config["conntrack"]["tcpEstablishedTimeout"] == "0s"


def test_apiserver_moves_to_the_node_address() -> None:
    base = [
        "kube-apiserver",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        "--secure-port=1234",
        "--endpoint-reconciler-type=none",
        "--v=0",
    ]
    args = cfg.apiserver_args(base, Path("/c.crt"), Path("/c.key"))
    assert f"--advertise-address={cfg.NODE_IP}" in args
    assert f"--secure-port={cfg.APISERVER_PORT}" in args
    assert "--kubelet-preferred-address-types=InternalIP" in args
    assert not any(a.startswith("--endpoint-reconciler-type") for a in args)
    assert "--secure-port=1234" not in args
    assert "--kubelet-client-certificate=/c.crt" in args


def test_kubeconfig_embeds_credentials(tmp_path: Path) -> None:
    for name in ("ca", "c", "k"):
        (tmp_path / name).write_bytes(name.encode())
    doc = json.loads(
        cfg.kubeconfig("https://x:1", tmp_path / "ca", tmp_path / "c", tmp_path / "k", "kubelet")
    )
    assert doc["clusters"][0]["cluster"]["server"] == "https://x:1"
    assert doc["users"][0]["user"]["client-key-data"] == "aw=="  # base64 of "k"


def test_coredns_objects_route_and_serve_the_dns_ip() -> None:
    objects = coredns_objects()
    service = next(o for o in objects if o["kind"] == "Service")
    assert service["spec"]["clusterIP"] == cfg.DNS_SERVICE_IP
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == cfg.image("coredns")
    assert pod["containers"][0]["imagePullPolicy"] == "Never"
    assert pod["dnsPolicy"] == "Default"
    assert "forward" not in next(o for o in objects if o["kind"] == "ConfigMap")["data"]["Corefile"]
    paths = [object_path(o) for o in objects]
    assert "/api/v1/namespaces/kube-system/services" in paths
    assert "/apis/rbac.authorization.k8s.io/v1/clusterroles" in paths
    with pytest.raises(KeyError, match="no route"):
        object_path({"kind": "Gallery", "metadata": {"name": "x"}})


def test_dns_service_ip_is_in_the_service_range() -> None:
    import ipaddress

    assert ipaddress.ip_address(cfg.DNS_SERVICE_IP) in ipaddress.ip_network(
        SERVICE_CLUSTER_IP_RANGE
    )


# --- image archives ------------------------------------------------------------------------
def _spec() -> ImageSpec:
    return ImageSpec(
        name="picsource.local/tiny:1",
        files={"/bin/busybox": (b"\x7fELF fake", 0o755)},
        symlinks={"/bin/sh": "busybox"},
        entrypoint=["/bin/sh"],
        user="65535:65535",
    )


def test_layer_is_reproducible_with_parents_and_links() -> None:
    first, second = layer_tar(_spec()), layer_tar(_spec())
    assert first == second
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["bin"].isdir()
    assert members["bin/busybox"].mode == 0o755 and members["bin/busybox"].mtime == 0
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"


def test_archive_is_a_docker_save_with_matching_digests() -> None:
    data = archive(_spec())
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        entry = manifest[0]
        layer = tar.extractfile(entry["Layers"][0]).read()  # type: ignore[union-attr]
        config_bytes = tar.extractfile(entry["Config"]).read()  # type: ignore[union-attr]
    assert entry["RepoTags"] == ["picsource.local/tiny:1"]
    config = json.loads(config_bytes)
    assert config["rootfs"]["diff_ids"] == [f"sha256:{hashlib.sha256(layer).hexdigest()}"]
    assert entry["Config"] == f"{hashlib.sha256(config_bytes).hexdigest()}.json"
    assert config["config"]["User"] == "65535:65535"
    assert config["config"]["Entrypoint"] == ["/bin/sh"]


def test_archive_needs_a_tag() -> None:
    with pytest.raises(ValueError, match="explicit :tag"):
        archive(ImageSpec(name="localhost:5000/tiny", files={}))


def test_dns_query_roundtrip_is_well_formed() -> None:
    query = build_query("web.ns.svc.cluster.local", 7)
    assert query[12:16] == b"\x03web"
    answer = (
        query[:2]
        + b"\x81\x80"
        + b"\x00\x01\x00\x01\x00\x00\x00\x00"
        + query[12:]
        + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x05\x00\x04\x0a\x00\x00\x2a"
    )
    assert parse_a_records(answer, 7) == ["10.0.0.42"]
    with pytest.raises(DnsError, match="does not match"):
        parse_a_records(answer, 8)
    nxdomain = answer[:2] + b"\x81\x83" + answer[4:]
    with pytest.raises(DnsError, match="NXDOMAIN"):
        parse_a_records(nxdomain, 7)


def test_the_api_relay_starts_without_pythonpath(tmp_path: Path) -> None:
    """The relay is its own process: it must find its module from any cwd, with no
    PYTHONPATH (a bare `pytest` has none), or the node start waits for it in vain."""
    argv = relay_argv(tmp_path / "no-such-netns", 1)[:-4]  # no arguments: usage, exit 2
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "ModuleNotFoundError" not in result.stderr
