"""`make cluster-up NODE=real` / `make cluster-down`: the real node as detached daemons.

Why a module of its own: cluster.py's CLI stays about the kwok control plane and only
hands over; the real node's state lives in .run/realnode, its admin kubeconfig (through
the 127.0.0.1 relay) at .run/kubeconfig, like the kwok cluster's.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.harness.procs import StartupError
from tests.harness.realnode import RealCluster
from tests.harness.realnode_teardown import TeardownError
from tests.harness.tools import REPO, MissingToolError

RUN_STATE = REPO / ".run" / "realnode"


def main(command: str, state_dir: Path = RUN_STATE) -> int:
    kubeconfig = state_dir.resolve().parent / "kubeconfig"
    node = RealCluster(state_dir, kubeconfig, detach=True)
    if command == "up":
        if node.server and node.pki.complete() and node.api().readyz():
            print(f"real node already up at {node.server}; kubeconfig {kubeconfig}")
            return 0
        try:
            node.up()
        except (MissingToolError, StartupError, TimeoutError, TeardownError) as exc:
            print(f"cluster-up NODE=real failed: {exc}", file=sys.stderr)
            return 1
        figures = ", ".join(f"{k} {v:.1f}s" for k, v in node.timings.items())
        print(
            f"real node up ({figures}): API {node.server} (relayed into the node's namespace)\n"
            f"  export KUBECONFIG={kubeconfig}\n"
            f"  a shell next to the pods: nsenter --target={node.anchor_pid} --net --mount\n"
            f"  logs: {node.log_dir}/*.log   stop: make cluster-down"
        )
        return 0
    if command == "down":
        if not node.state_file.exists():
            return 0
        try:
            node.down()
        except TeardownError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        print("real node stopped; namespace, mounts and cgroups removed")
        return 0
    if command == "status":
        running = bool(node.server) and node.pki.complete() and node.api().readyz()
        print(f"real node {'up at ' + node.server if running else 'down'}")
        return 0 if running else 3
    return 2
