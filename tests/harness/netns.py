"""The real node's sandbox on the host: a network namespace and a mount namespace, both
held by one anchor process, and a cgroup tree, all created here and all removed again.

Why: the real node runs containerd, kubelet and pods as root on a shared machine. The
network namespace gives it a loopback of its own, a dummy interface for the node address
and a bridge for pods, with no route and no NAT to the outside. The mount namespace (a
slave of the host's, so nothing propagates back) holds every mount kubelet and containerd
make, private tmpfs over /run, /var/lib and /var/log (containerd's shim sockets, pod netns
files, CNI cache, /var/log/containers) and files shadowing the kernel-wide sysctls
kubelet would otherwise rewrite. All pods live under one cgroup root, so teardown finds
every container process by pid without guessing by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.harness.pki import SERVICE_CLUSTER_IP_RANGE
from tests.harness.procs import StartupError, kill_group, pid_alive
from tests.harness.realnode_config import KUBELET_SYSCTLS, NODE_DEVICE, NODE_IP

CGROUP_FS = Path("/sys/fs/cgroup")
PRIVATE_TMPFS = ("/run", "/var/lib", "/var/log")
NETNS_SYSCTLS = {  # per-namespace on this kernel; never written on the host
    "net.ipv4.ip_forward": "1",
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.ipv4.conf.all.route_localnet": "1",
}


class NamespaceError(StartupError):
    """A namespace or cgroup operation failed; the message has the command's stderr."""


def run(argv: list[str], timeout: float = 30.0) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise NamespaceError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr}")
    return result.stdout


def netns_path(anchor_pid: int) -> Path:
    """The node's network namespace, held by the anchor (no /run/netns entry on the host)."""
    return Path(f"/proc/{anchor_pid}/ns/net")


def anchor_argv() -> list[str]:
    """The anchor: sleeps in a new network namespace and a new slave mount namespace.

    `unshare -n` rather than `ip netns add`: the latter leaves a shared bind mount of
    /run/netns on the host for good; this namespace dies with the anchor.
    """
    return ["unshare", "--net", "--mount", "--propagation", "slave", "--", "sleep", "infinity"]


def enter_argv(anchor_pid: int, argv: list[str]) -> list[str]:
    """argv run inside the anchor's network and mount namespaces (nsenter execs, same pid)."""
    return ["nsenter", f"--target={anchor_pid}", "--net", "--mount", "--", *argv]


def configure_network(anchor_pid: int) -> None:
    """Loopback, the node's address on a veth pair, the Service route; no default route.

    A veth pair rather than a dummy device: this kernel has no dummy driver.
    """
    ip = enter_argv(anchor_pid, ["ip"])
    run([*ip, "link", "set", "lo", "up"])
    run([*ip, "link", "add", NODE_DEVICE, "type", "veth", "peer", "name", f"{NODE_DEVICE}p"])
    run([*ip, "addr", "add", f"{NODE_IP}/32", "dev", NODE_DEVICE])
    run([*ip, "link", "set", f"{NODE_DEVICE}p", "up"])
    run([*ip, "link", "set", NODE_DEVICE, "up"])
    # Locally originated ClusterIP traffic needs a route before kube-proxy's OUTPUT DNAT.
    run([*ip, "route", "add", SERVICE_CLUSTER_IP_RANGE, "dev", NODE_DEVICE])
    for key, value in NETNS_SYSCTLS.items():
        run(enter_argv(anchor_pid, ["sysctl", "-q", "-w", f"{key}={value}"]))


def processes_in_netns(inode_link: str) -> list[int]:
    """Pids whose network namespace is inode_link (e.g. 'net:[4026532281]')."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{entry}/ns/net") == inode_link:
                    found.append(int(entry))
    return found


def anchor_ready(pid: int) -> bool:
    """The anchor has left our network and mount namespaces (unshare is done)."""
    try:
        theirs = [os.readlink(f"/proc/{pid}/ns/{kind}") for kind in ("net", "mnt")]
    except OSError:
        return False
    ours = [os.readlink(f"/proc/self/ns/{kind}") for kind in ("net", "mnt")]
    return all(a != b for a, b in zip(theirs, ours, strict=True))


def prepare_mounts(anchor_pid: int, state_dir: Path) -> None:
    """Private tmpfs and sysctl shadows inside the anchor's mount namespace."""
    for target in PRIVATE_TMPFS:
        run(enter_argv(anchor_pid, ["mount", "-t", "tmpfs", "-o", "mode=755", "picsource", target]))
    shadows = state_dir / "sysctl-shadow"
    shadows.mkdir(parents=True, exist_ok=True)
    for key in KUBELET_SYSCTLS:
        shadow = shadows / key.replace("/", ".")
        shadow.write_text(Path("/proc/sys", key).read_text())
        run(enter_argv(anchor_pid, ["mount", "--bind", str(shadow), f"/proc/sys/{key}"]))


def mounts_in(pid: int) -> list[str]:
    """Mount points of pid's mount namespace, in mount order (from mountinfo)."""
    try:
        lines = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
    except OSError:
        return []
    return [_unescape(line.split()[4]) for line in lines]


def _unescape(path: str) -> str:
    return path.encode().decode("unicode_escape") if "\\" in path else path


def unmount_node(anchor_pid: int, state_dir: Path) -> list[str]:
    """Unmount, newest first, what the node mounted in its namespace; returns failures."""
    host = set(mounts_in(os.getpid()))
    ours = [
        m
        for m in mounts_in(anchor_pid)
        if m.startswith(str(state_dir)) or m not in host or m.startswith("/proc/sys/")
    ]
    failed = []
    for mount_point in reversed(ours):
        result = subprocess.run(
            enter_argv(anchor_pid, ["umount", "-l", mount_point]),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0 and "not mounted" not in result.stderr:
            failed.append(f"{mount_point}: {result.stderr.strip()}")
    return failed


# --- cgroups ------------------------------------------------------------------------------
def hierarchies() -> list[Path]:
    """Every cgroup v1 hierarchy (and the unified one) mounted under /sys/fs/cgroup."""
    if not CGROUP_FS.is_dir():
        return []
    return sorted(p for p in CGROUP_FS.iterdir() if p.is_dir() and not p.is_symlink())


def create_cgroup_root(root: str) -> None:
    for hierarchy in hierarchies():
        (hierarchy / root.strip("/")).mkdir(exist_ok=True)


def cgroup_pids(root: str) -> set[int]:
    pids: set[int] = set()
    for hierarchy in hierarchies():
        base = hierarchy / root.strip("/")
        if not base.is_dir():
            continue
        for procs in base.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(p) for p in procs.read_text().split())
    return pids


def kill_cgroup_tree(root: str, timeout: float = 20.0) -> None:
    """SIGKILL every process in the node's cgroup tree until none is left."""
    deadline = time.monotonic() + timeout
    while True:
        pids = {p for p in cgroup_pids(root) if pid_alive(p)}
        if not pids:
            return
        if time.monotonic() > deadline:
            raise NamespaceError(f"processes {sorted(pids)} in cgroup {root} would not die")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def remove_cgroup_root(root: str) -> list[str]:
    """rmdir the tree bottom-up in every hierarchy; returns what could not be removed."""
    left = []
    for hierarchy in hierarchies():
        base = hierarchy / root.strip("/")
        if not base.is_dir():
            continue
        dirs = sorted((d for d in base.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts))
        for directory in [*dirs, base]:
            for _ in range(50):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
            if directory.exists():
                left.append(str(directory))
    return left


# --- processes outside any process group we own ---------------------------------------
def pids_with_arg(needle: str) -> list[int]:
    """Pids whose command line contains needle as a whole argument (our unique socket path)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle.encode() in args:
            found.append(int(entry))
    return found


def stop_pids(pids: list[int], grace: float = 5.0) -> None:
    for pid in pids:
        kill_group(pid, grace) if _leads_group(pid) else _kill(pid, grace)


def _leads_group(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return os.getpgid(pid) == pid
    return False


def _kill(pid: int, grace: float) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and pid_alive(pid):
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        if not pid_alive(pid):
            return
