"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, controller-manager,
scheduler and kwok simulating one Node.

Why: the operator and the chart must be tested against the genuine API server with
RBAC, admission, the ServiceAccount token machinery and a real scheduler, yet no
container runtime is available. kwok plays the kubelet: Pods scheduled onto its fake
Node are reported Running and Ready, so Deployments become available.

    Cluster(state_dir).up()   # ready in well under a minute once binaries are cached
    Cluster(state_dir).down() # stops every process recorded in state.json, removes state

CLI (used by `make cluster-up` / `make cluster-down`):
    python -m tests.harness.cluster up|down|status [--state-dir DIR]
with its state under .run/cluster and the admin kubeconfig at .run/kubeconfig (next to
the state dir). The daemons outlive `up`; `down` stops them by their recorded pids.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import urllib.request
from pathlib import Path

from tests.harness import components
from tests.harness import pki as pki_mod
from tests.harness.kubeapi import KubeApi, fake_node, node_ready, wait_until
from tests.harness.procs import (
    LOOPBACK,
    ManagedProcess,
    StartupError,
    free_port,
    kill_group,
    log_tail,
    pid_alive,
    port_taken,
)
from tests.harness.tools import REPO, MissingToolError, binary, missing, tools_dir

NODE_NAME = "kwok-node-0"
COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]


class Cluster:
    """One control plane whose whole state (PKI, etcd data, logs, pids) is state_dir."""

    def __init__(
        self, state_dir: Path, kubeconfig: Path | None = None, detach: bool = False
    ) -> None:
        self.detach = detach  # True: processes outlive this Python process (the CLI)
        self.state_dir = Path(state_dir).resolve()
        self.kubeconfig = kubeconfig or self.state_dir / "kubeconfig"
        self.pki = pki_mod.Pki(self.state_dir / "pki")
        self.state_file = self.state_dir / "state.json"
        self.log_dir = self.state_dir / "logs"
        self.server = ""
        self.processes: dict[str, ManagedProcess] = {}
        self.startup_seconds = 0.0
        if self.state_file.exists():
            self.server = json.loads(self.state_file.read_text()).get("server", "")

    # --- queries --------------------------------------------------------------------
    def api(self) -> KubeApi:
        return KubeApi(self.server, self.pki)

    def recorded_pids(self) -> dict[str, dict[str, object]]:
        if not self.state_file.exists():
            return {}
        pids: dict[str, dict[str, object]] = json.loads(self.state_file.read_text()).get(
            "processes", {}
        )
        return pids

    def is_running(self) -> bool:
        procs = self.recorded_pids()
        return bool(procs) and all(_ours(info) for info in procs.values())

    # --- lifecycle ------------------------------------------------------------------
    def up(self, timeout: float = 120.0) -> Cluster:
        absent = missing(COMPONENTS + ["kubectl"])
        if absent:
            raise MissingToolError(
                f"missing {', '.join(absent)} for the test control plane; install with "
                f"`make tools` (builds etcd, Kubernetes and kwok into {tools_dir()})"
            )
        if self.is_running() and self.api().readyz():
            return self
        self.down()  # clears a stale half-started state
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        for attempt in (1, 2):
            try:
                self._start(timeout)
                break
            except StartupError as exc:
                self.stop_processes()  # keep the logs under state_dir for diagnosis
                # Another process may take a free port between our probe and the bind.
                if attempt == 2 or not port_taken(exc):
                    raise
                shutil.rmtree(self.state_dir / "etcd", ignore_errors=True)  # new ports
            except BaseException:
                self.stop_processes()
                raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _start(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pki_mod.generate(self.pki.directory)
        etcd_port, etcd_peer = free_port(), free_port()
        api_port = free_port()
        self.server = f"https://{LOOPBACK}:{api_port}"
        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        self.kubeconfig.write_text(pki_mod.kubeconfig_text(self.server, self.pki))
        self.kubeconfig.chmod(0o600)

        etcd = self._launch(
            "etcd", components.etcd(binary("etcd"), self.state_dir / "etcd", etcd_port, etcd_peer)
        )
        etcd.wait_ready(lambda: _etcd_healthy(etcd_port), _left(deadline), "healthy")
        apiserver = self._launch(
            "kube-apiserver",
            components.apiserver(binary("kube-apiserver"), self.pki, etcd_port, api_port),
        )
        api = self.api()
        apiserver.wait_ready(api.readyz, _left(deadline), "ready (/readyz)")
        kcm_port, sched_port = free_port(), free_port()
        kubeconfig = self.kubeconfig
        self._launch(
            "kube-controller-manager",
            components.controller_manager(
                binary("kube-controller-manager"), kubeconfig, self.pki, kcm_port
            ),
        )
        self._launch(
            "kube-scheduler", components.scheduler(binary("kube-scheduler"), kubeconfig, sched_port)
        )
        kwok_config = self.state_dir / "kwok.yaml"
        shutil.copyfile(components.KWOK_STAGES, kwok_config)
        self._launch("kwok", components.kwok(binary("kwok"), kubeconfig, kwok_config))
        api.create("/api/v1/nodes", fake_node(NODE_NAME))

        def settled() -> bool:
            for proc in self.processes.values():
                if not proc.running():
                    raise StartupError(
                        f"{proc.name} exited; log {proc.log_path}:\n{log_tail(proc.log_path)}"
                    )
            sa = api.get("/api/v1/namespaces/default/serviceaccounts/default")
            return sa is not None and node_ready(api.get(f"/api/v1/nodes/{NODE_NAME}"))

        try:
            wait_until(
                settled, _left(deadline), "the kwok Node Ready and the default ServiceAccount"
            )
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; component logs in {self.log_dir}") from None

    def _launch(self, name: str, argv: list[str]) -> ManagedProcess:
        proc = ManagedProcess(
            name, argv, self.log_dir / f"{name}.log", cwd=self.state_dir, detach=self.detach
        )
        proc.start()
        self.processes[name] = proc
        self._write_state()
        return proc

    def _write_state(self) -> None:
        state = {
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "processes": {
                name: {"pid": p.pid, "exe": p.argv[0]} for name, p in self.processes.items()
            },
        }
        self.state_file.write_text(json.dumps(state, indent=2))

    def down(self) -> None:
        """Stop every recorded process and remove all state (PKI, data, logs, kubeconfig)."""
        self.stop_processes()
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir, ignore_errors=True)
        if self.kubeconfig.exists():
            self.kubeconfig.unlink()

    def stop_processes(self) -> None:
        """Stop every recorded process, newest first; forget their pids."""
        for name, info in reversed(list(self.recorded_pids().items())):
            if _ours(info):
                kill_group(int(str(info["pid"])), grace=10.0)
            proc = self.processes.pop(name, None)
            if proc is not None:
                proc.stop(grace=1.0)  # reaps our own child
        for proc in self.processes.values():
            proc.stop()
        self.processes = {}
        self.state_file.unlink(missing_ok=True)


def _left(deadline: float) -> float:
    return max(1.0, deadline - time.monotonic())


def _etcd_healthy(port: int) -> bool:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/health", timeout=2) as resp:  # noqa: S310
        return bool(json.loads(resp.read()).get("health") == "true")


def _ours(info: dict[str, object]) -> bool:
    """The recorded pid is alive and still runs our binary (guards against pid reuse)."""
    pid = int(str(info.get("pid", 0)))
    if pid <= 0 or not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return False
    return cmdline == str(info.get("exe"))


# --- CLI ---------------------------------------------------------------------------------
RUN_STATE = REPO / ".run" / "cluster"


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.harness.cluster")
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=RUN_STATE,
        help="where PKI, etcd data, logs and pids live (default .run/cluster); "
        "the kubeconfig is written next to it",
    )
    parser.add_argument(
        "--node",
        choices=["kwok", "real"],
        default="kwok",
        help="kwok: simulated Node (default); real: containerd + kubelet in a network "
        "namespace (tests/harness/realnode.py, state in .run/realnode)",
    )
    args = parser.parse_args(argv)
    command = args.command
    if args.node == "real" or command == "down":
        from tests.harness import realnode_cli  # only the real node needs its modules

        code = realnode_cli.main(command)
        if args.node == "real":
            return code
    kubeconfig = args.state_dir.resolve().parent / "kubeconfig"
    cluster = Cluster(args.state_dir, kubeconfig, detach=True)
    if command == "up":
        if cluster.is_running() and cluster.api().readyz():
            print(f"cluster already up at {cluster.server}; kubeconfig {kubeconfig}")
            return 0
        try:
            cluster.up()
        except (MissingToolError, StartupError, TimeoutError) as exc:
            print(f"cluster-up failed: {exc}", file=sys.stderr)
            return 1
        version = cluster.api().version().get("gitVersion")
        print(
            f"cluster up in {cluster.startup_seconds:.1f}s: {cluster.server} (Kubernetes {version})\n"
            f"  export KUBECONFIG={kubeconfig}\n"
            f"  logs: {cluster.log_dir}/*.log   stop: make cluster-down"
        )
        return 0
    if command == "down":
        cluster.down()
        print("cluster stopped; state removed")
        return 0
    if command == "status":
        running = cluster.is_running() and cluster.api().readyz()
        print(f"cluster {'up at ' + cluster.server if running else 'down'}")
        return 0 if running else 3
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
