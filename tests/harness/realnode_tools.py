"""What the real node needs on this machine, and one error naming everything missing.

Why: the real node depends on three kinds of things installed by different steps of
`.ci/tools.sh` (Go-built Kubernetes binaries, Debian packages, image archives). A test
that finds one missing must fail with the exact command that installs it, never skip.
"""

from __future__ import annotations

from pathlib import Path

from tests.harness import realnode_config as cfg
from tests.harness.tools import MissingToolError, images_dir, missing, tools_dir

CONTROL_PLANE = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]
NODE_BINARIES = ["kubelet", "kube-proxy"]
SYSTEM_TOOLS = {  # path -> Debian package (installed by `bash .ci/tools.sh apt`)
    "/usr/bin/containerd": "containerd",
    "/usr/bin/ctr": "containerd",
    "/usr/sbin/runc": "runc",
    "/usr/lib/cni/bridge": "containernetworking-plugins",
    "/usr/lib/cni/host-local": "containernetworking-plugins",
    "/usr/lib/cni/portmap": "containernetworking-plugins",
    "/usr/lib/cni/loopback": "containernetworking-plugins",
    "/usr/sbin/iptables": "iptables",
    "/usr/sbin/ip": "iproute2",
    "/usr/bin/nsenter": "util-linux",
    "/usr/bin/unshare": "util-linux",
}
NODE_IMAGES = ("pause", "coredns", "busybox")


def image_archive(name: str) -> Path:
    """Where .ci/node-images.sh (and .ci/images.sh) put an image: <name>-<tag>.tar."""
    repo_tag = name.rsplit("/", 1)[-1]
    return images_dir() / f"{repo_tag.replace(':', '-')}.tar"


def check_prerequisites() -> None:
    """MissingToolError naming every missing binary, package or image, and the fix."""
    problems = []
    absent = missing(CONTROL_PLANE + NODE_BINARIES)
    if absent:
        problems.append(f"{', '.join(absent)} (build with `make tools` into {tools_dir()})")
    for path, package in SYSTEM_TOOLS.items():
        if not Path(path).exists():
            problems.append(f"{path} (Debian package {package}: `bash .ci/tools.sh apt`)")
    for name in NODE_IMAGES:
        archive = image_archive(cfg.image(name))
        if not archive.exists():
            problems.append(f"image archive {archive} (`bash .ci/tools.sh node-images`)")
    if problems:
        raise MissingToolError("the real node needs: " + "; ".join(problems))
