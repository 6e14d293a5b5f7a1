"""What the real node could leave behind on the host, captured before and after.

Why: the node runs as root and touches mounts, netfilter, sysctls and cgroups. Its
teardown promises the host is exactly as before in every one of those; this module
states that promise as data (a snapshot) and a pure comparison, so a test can check it.

Other work on the same machine may add unrelated mounts or rules while the node runs
(e.g. buildah), so the comparison looks at what the node can produce: mounts under its
state dir or the paths kubelet/containerd use by default, netfilter rules naming
KUBE-/CNI- chains or the pod and Service ranges, the sysctls kubelet and kube-proxy set,
and the node's cgroup tree.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.harness.netns import KUBELET_SYSCTLS, NETNS_SYSCTLS, hierarchies
from tests.harness.pki import SERVICE_CLUSTER_IP_RANGE
from tests.harness.realnode_config import NODE_IP, POD_CIDR

NODE_PATHS = (
    "/run/netns",
    "/run/containerd",
    "/var/lib/kubelet",
    "/var/lib/cni",
    "/var/lib/containerd",
    "/var/log/pods",
    "/var/log/containers",
    "/proc/sys",
)
RULE_MARKERS = ("KUBE-", "CNI-", POD_CIDR, SERVICE_CLUSTER_IP_RANGE, NODE_IP)


@dataclass(frozen=True)
class HostSnapshot:
    mounts: frozenset[str]
    rules: tuple[str, ...]  # netfilter lines (nft and legacy iptables), counters removed
    sysctls: tuple[tuple[str, str], ...]
    cgroups: frozenset[str]


def _sysctl_keys() -> list[str]:
    return [*KUBELET_SYSCTLS, *(k.replace(".", "/") for k in NETNS_SYSCTLS)]


def _rules() -> tuple[str, ...]:
    lines: list[str] = []
    for tool in ("iptables-save", "iptables-legacy-save", "ip6tables-save"):
        if shutil.which(tool) is None:
            continue
        out = subprocess.run([tool], capture_output=True, text=True, timeout=30, check=False)
        lines += [
            f"{tool}: {line}"
            for line in out.stdout.splitlines()
            if line and not line.startswith("#")
        ]
    return tuple(lines)


def snapshot() -> HostSnapshot:
    mounts = frozenset(
        line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
    )
    sysctls = []
    for key in _sysctl_keys():
        path = Path("/proc/sys", key)
        sysctls.append((key, path.read_text().strip() if path.exists() else "(absent)"))
    cgroups = frozenset(str(d) for h in hierarchies() for d in h.iterdir() if d.is_dir())
    return HostSnapshot(mounts, _rules(), tuple(sysctls), cgroups)


def leftovers(before: HostSnapshot, after: HostSnapshot, state_dir: Path, name: str) -> list[str]:
    """Human-readable differences the node is responsible for; empty when clean."""
    problems = []
    for mount in sorted(after.mounts - before.mounts):
        if mount.startswith((str(state_dir), *NODE_PATHS)):
            problems.append(f"mount left: {mount}")
    for rule in sorted(set(after.rules) - set(before.rules)):
        if any(marker in rule for marker in RULE_MARKERS):
            problems.append(f"netfilter rule left: {rule}")
    for (key, old), (_, new) in zip(before.sysctls, after.sysctls, strict=True):
        if old != new:
            problems.append(f"sysctl {key} changed: {old} -> {new}")
    for cgroup in sorted(after.cgroups - before.cgroups):
        if Path(cgroup).name == name:
            problems.append(f"cgroup left: {cgroup}")
    return problems
