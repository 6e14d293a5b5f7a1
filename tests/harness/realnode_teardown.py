"""Teardown of the real node, from its state.json alone (so `make cluster-down` works from
another process than the one that started it).

Why this order: kubelet and kube-proxy first, so nothing restarts pods; then every process
in the node's cgroup tree (the containers) and the containerd shims (found by our unique
socket path in their arguments: they leave containerd's process group); then containerd
and the control plane; then the mounts inside the node's mount namespace, the anchor that
holds that namespace, the cgroup tree and the network namespace. Each step runs even when
an earlier one failed; the failures are reported together at the end.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from tests.harness import netns
from tests.harness.procs import ManagedProcess, kill_group, pid_alive
from tests.harness.tools import tools_dir

FIRST = ("kubelet", "kube-proxy")
THEN = (
    "containerd",
    "kube-scheduler",
    "kube-controller-manager",
    "kube-apiserver",
    "etcd",
    "relay",
)


class TeardownError(RuntimeError):
    """Something of the node could not be removed; the message lists what and where."""


def _ours(info: dict[str, Any]) -> bool:
    """The recorded pid is alive and still runs the recorded binary (pid reuse guard)."""
    pid = int(info.get("pid", 0) or 0)
    if pid <= 0 or not pid_alive(pid):
        return False
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return False
    # nsenter/unshare: the launcher, for the instant before it execs the recorded binary
    return Path(argv0).name in (Path(str(info.get("exe", ""))).name, "nsenter", "unshare")


def _stop(name: str, procs: dict[str, Any], live: dict[str, ManagedProcess]) -> None:
    info = procs.get(name)
    if info and _ours(info):
        kill_group(int(info["pid"]), grace=10.0)
    proc = live.pop(name, None)
    if proc is not None:
        proc.stop(grace=1.0)  # reaps our own child


def registry() -> Path:
    """One file per node that has not been torn down yet: a copy of its state.json.

    If pytest is killed, kubelet and containerd die with it (PR_SET_PDEATHSIG) but the
    containers, their shims and cgroups stay; the next node start reaps them from here.
    """
    return tools_dir().parent / "realnodes"


def register(name: str, state: dict[str, Any], state_dir: Path) -> None:
    registry().mkdir(parents=True, exist_ok=True)
    (registry() / f"{name}.json").write_text(json.dumps({**state, "state_dir": str(state_dir)}))


def reap_stale() -> list[str]:
    """Tear down registered nodes whose anchor is gone (their owner died); names reaped."""
    reaped = []
    for entry in sorted(registry().glob("*.json")) if registry().is_dir() else []:
        with contextlib.suppress(OSError, ValueError, TeardownError):  # kept for next time
            state = json.loads(entry.read_text())
            if _ours(state.get("processes", {}).get("anchor", {})):
                continue  # a running node (another session, or `make cluster-up`)
            _teardown(state, Path(state["state_dir"]), {})
            entry.unlink(missing_ok=True)
            reaped.append(entry.stem)
    return reaped


def teardown(state_dir: Path, live: dict[str, ManagedProcess]) -> None:
    state_file = state_dir / "state.json"
    if not state_file.exists():
        for proc in live.values():
            proc.stop()
        return
    state: dict[str, Any] = json.loads(state_file.read_text())
    _teardown(state, state_dir, live)
    with contextlib.suppress(OSError):
        state_file.unlink()
    (registry() / f"{state.get('netns', '')}.json").unlink(missing_ok=True)


def _teardown(state: dict[str, Any], state_dir: Path, live: dict[str, ManagedProcess]) -> None:
    procs: dict[str, Any] = state.get("processes", {})
    errors: list[str] = []

    def attempt(what: str, action: Any, *args: Any) -> Any:
        try:
            return action(*args)
        except Exception as exc:  # every step runs; failures are reported together
            errors.append(f"{what}: {exc}")
            return None

    for name in FIRST:
        attempt(f"stop {name}", _stop, name, procs, live)
    cgroup_root = str(state.get("cgroup_root", ""))
    if cgroup_root:
        attempt("kill the containers", netns.kill_cgroup_tree, cgroup_root)
    socket = str(state.get("socket", ""))
    if socket:
        attempt("stop containerd shims", netns.stop_pids, netns.pids_with_arg(socket))
    for name in THEN:
        attempt(f"stop {name}", _stop, name, procs, live)
    anchor = procs.get("anchor", {})
    if anchor and _ours(anchor):
        failed = attempt("unmount", netns.unmount_node, int(anchor["pid"]), state_dir) or []
        errors.extend(f"unmount {f}" for f in failed)
    attempt("stop the mount namespace anchor", _stop, "anchor", procs, live)
    for proc in live.values():
        proc.stop()
    live.clear()
    if cgroup_root:
        left = attempt("remove cgroups", netns.remove_cgroup_root, cgroup_root) or []
        errors.extend(f"cgroup left: {d}" for d in left)
    inode = str(state.get("netns_inode", ""))
    stragglers = netns.processes_in_netns(inode) if inode else []
    if stragglers:  # only ours can be in there; the namespace dies with the last of them
        attempt("stop what was left in the namespace", netns.stop_pids, stragglers)
        errors.append(f"processes {stragglers} were still in the node's network namespace")
    if errors:  # state.json stays, so `make cluster-down` can try again
        raise TeardownError("real node teardown incomplete: " + "; ".join(errors))
