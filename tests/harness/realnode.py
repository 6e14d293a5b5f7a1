"""A real single-node Kubernetes cluster inside a network namespace of its own.

Why: kwok's simulated pods cannot show what real pods show (a missing passwd entry, a
presigned URL pointing at an in-cluster address). This node runs our images in real
containers: etcd, kube-apiserver, controller-manager, scheduler, containerd + runc,
kubelet, kube-proxy (iptables) and CoreDNS, all inside one network and mount namespace
held by an anchor process (netns.py), pod cgroups under `/picsource-<id>`. From the host only the API server is reachable, through a relay on
127.0.0.1 (netns_relay.py), so pytest, kubectl and helm work unchanged; clients that talk
to pods or Services run inside the namespace (`exec_argv`, `call`).

    RealCluster(state_dir).up()    # node Ready and CoreDNS available
    RealCluster(state_dir).down()  # every pid stopped, mounts, cgroups, netns removed

Every image archive in ~/.cache/picsource/images is in containerd's k8s.io namespace
(realnode_images.py); pods use `imagePullPolicy: Never` (or IfNotPresent) with its tags.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.harness import components, netns, realnode_images, realnode_teardown
from tests.harness import pki as pki_mod
from tests.harness import realnode_config as cfg
from tests.harness.kubeapi import KubeApi, node_ready, wait_until
from tests.harness.netns_relay import in_netns, relay_argv
from tests.harness.procs import LOOPBACK, ManagedProcess, StartupError, free_port, log_tail
from tests.harness.realnode_manifests import coredns_objects, object_path
from tests.harness.realnode_tools import check_prerequisites
from tests.harness.tools import binary

T = TypeVar("T")
ETCD_PORT, ETCD_PEER_PORT, KCM_PORT, SCHED_PORT = 2379, 2380, 10257, 10259


class RealCluster:
    """One real node whose whole state (PKI, data, logs, pids, namespace name) is state_dir."""

    def __init__(
        self, state_dir: Path, kubeconfig: Path | None = None, detach: bool = False
    ) -> None:
        self.detach = detach
        self.state_dir = Path(state_dir).resolve()
        self.kubeconfig = kubeconfig or self.state_dir / "kubeconfig"
        self.pki = pki_mod.Pki(self.state_dir / "pki")
        self.state_file = self.state_dir / "state.json"
        self.log_dir = self.state_dir / "logs"
        self.processes: dict[str, ManagedProcess] = {}
        self.timings: dict[str, float] = {}
        saved = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        self.name: str = saved.get("netns", f"picsource-{secrets.token_hex(4)}")
        self.server: str = saved.get("server", "")
        self.anchor_pid: int = int(saved.get("anchor_pid", 0))
        self.netns_inode: str = saved.get("netns_inode", "")
        self.cgroup_root = f"/{self.name}"
        self.socket = self.state_dir / "containerd" / "containerd.sock"

    # --- clients --------------------------------------------------------------------
    def api(self) -> KubeApi:
        return KubeApi(self.server, self.pki)

    @property
    def netns_path(self) -> Path:
        return netns.netns_path(self.anchor_pid)

    def exec_argv(self, argv: list[str]) -> list[str]:
        """argv that runs a client inside the node's network namespace (host mounts)."""
        return ["nsenter", f"--net={self.netns_path}", "--", *argv]

    def call(self, fn: Callable[[], T], timeout: float = 60.0) -> T:
        """fn() on a thread inside the node's network namespace (sockets open in there)."""
        return in_netns(str(self.netns_path), fn, timeout)

    # --- lifecycle ------------------------------------------------------------------
    def up(self, timeout: float = 420.0) -> RealCluster:  # on failure: all stopped, logs kept
        check_prerequisites()
        realnode_teardown.reap_stale()  # nodes whose pytest was killed
        self.down()  # a stale half-started node from an earlier run
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        try:
            self._start(started + timeout)
        except BaseException as exc:
            try:
                self.stop()  # keep logs for diagnosis, leave the host clean
            except realnode_teardown.TeardownError as cleanup:
                exc.add_note(str(cleanup))
            raise
        self.timings["total"] = time.monotonic() - started
        return self

    def _start(self, deadline: float) -> None:
        pki_mod.generate(self.pki.directory, extra_ips=(cfg.NODE_IP,))
        node_crt, node_key = pki_mod.client_cert(
            self.pki, "kubelet", f"/O=system:nodes/CN=system:node:{cfg.NODE_NAME}"
        )
        anchor = self._launch("anchor", netns.anchor_argv(), enter=False, exe="sleep")
        wait_until(lambda: netns.anchor_ready(anchor.pid), 10, "the node's mount namespace")
        self.anchor_pid = anchor.pid
        self.netns_inode = os.readlink(self.netns_path)
        netns.configure_network(self.anchor_pid)
        netns.prepare_mounts(self.anchor_pid, self.state_dir)
        netns.create_cgroup_root(self.cgroup_root)
        relay_port = free_port()
        self.server = f"https://{LOOPBACK}:{relay_port}"
        self._launch("relay", relay_argv(self.netns_path, relay_port), enter=False)
        self._write_state()
        started = time.monotonic()
        self._start_control_plane(deadline)
        self.timings["control_plane"] = time.monotonic() - started
        self._start_containerd(deadline)
        self._start_node(node_crt, node_key, deadline)
        self._start_coredns(deadline)

    def _start_control_plane(self, deadline: float) -> None:
        etcd = self._launch(
            "etcd",
            components.etcd(binary("etcd"), self.state_dir / "etcd", ETCD_PORT, ETCD_PEER_PORT),
        )
        etcd.wait_ready(lambda: self.call(_etcd_ok), _left(deadline), "healthy")
        base = components.apiserver(
            binary("kube-apiserver"), self.pki, ETCD_PORT, cfg.APISERVER_PORT
        )
        argv = cfg.apiserver_args(base, self.pki.admin_crt, self.pki.admin_key)
        apiserver = self._launch("kube-apiserver", argv)
        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        self.kubeconfig.write_text(pki_mod.kubeconfig_text(self.server, self.pki, "picsource-real"))
        self.kubeconfig.chmod(0o600)
        apiserver.wait_ready(self.api().readyz, _left(deadline), "ready (/readyz)")
        inside = self.state_dir / "admin-inside.kubeconfig"
        inside.write_text(
            cfg.kubeconfig(
                self._inside_server(),
                self.pki.ca_crt,
                self.pki.admin_crt,
                self.pki.admin_key,
                "admin",
            )
        )
        inside.chmod(0o600)
        self._launch(
            "kube-controller-manager",
            components.controller_manager(
                binary("kube-controller-manager"), inside, self.pki, KCM_PORT
            ),
        )
        self._launch(
            "kube-scheduler", components.scheduler(binary("kube-scheduler"), inside, SCHED_PORT)
        )

    def _start_containerd(self, deadline: float) -> None:
        root = self.state_dir / "containerd"
        cni_conf = self.state_dir / "cni" / "net.d"
        cni_conf.mkdir(parents=True, exist_ok=True)
        (cni_conf / "10-picsource.conflist").write_text(
            json.dumps(cfg.cni_conflist(self.state_dir / "cni" / "ipam"), indent=2)
        )
        config = root / "config.toml"
        root.mkdir(parents=True, exist_ok=True)
        config.write_text(
            cfg.containerd_config(root / "root", root / "state", self.socket, cni_conf)
        )
        self.timings["image_import"] = realnode_images.populate(
            root / "root", self.anchor_pid, root
        )
        containerd = self._launch("containerd", ["/usr/bin/containerd", f"--config={config}"])
        containerd.wait_ready(self.socket.exists, _left(deadline), "listening")

    def _start_node(self, node_crt: Path, node_key: Path, deadline: float) -> None:
        started = time.monotonic()
        kubelet_dir = self.state_dir / "kubelet"
        (kubelet_dir / "manifests").mkdir(parents=True, exist_ok=True)
        kubeconfig = kubelet_dir / "kubeconfig"
        kubeconfig.write_text(
            cfg.kubeconfig(
                self._inside_server(), self.pki.ca_crt, node_crt, node_key, cfg.NODE_NAME
            )
        )
        config = kubelet_dir / "config.json"
        config.write_text(
            json.dumps(
                cfg.kubelet_config(
                    kubelet_dir / "root",
                    self.state_dir / "pod-logs",
                    self.pki.ca_crt,
                    self.cgroup_root,
                    kubelet_dir / "manifests",
                ),
                indent=2,
            )
        )
        kubelet = self._launch(
            "kubelet",
            cfg.kubelet_args(
                binary("kubelet"), config, kubeconfig, kubelet_dir / "root", self.socket
            ),
        )
        proxy_config = self.state_dir / "kube-proxy.json"
        proxy_config.write_text(
            json.dumps(
                cfg.kube_proxy_config(self.state_dir / "admin-inside.kubeconfig", 10256, 10249)
            )
        )
        self._launch("kube-proxy", [str(binary("kube-proxy")), f"--config={proxy_config}"])
        api = self.api()
        kubelet.wait_ready(
            lambda: node_ready(api.get(f"/api/v1/nodes/{cfg.NODE_NAME}")),
            _left(deadline),
            "reporting its Node Ready",
        )
        self.timings["node_ready"] = time.monotonic() - started

    def _start_coredns(self, deadline: float) -> None:
        started = time.monotonic()
        api = self.api()
        for obj in coredns_objects():
            api.create(object_path(obj), obj)

        def available() -> bool:
            self._check_alive()
            dep = api.get("/apis/apps/v1/namespaces/kube-system/deployments/coredns") or {}
            return int(dep.get("status", {}).get("availableReplicas", 0) or 0) >= 1

        wait_until(available, _left(deadline), "CoreDNS available")
        self.timings["coredns_ready"] = time.monotonic() - started

    # --- plumbing -------------------------------------------------------------------
    def _inside_server(self) -> str:
        return f"https://{cfg.NODE_IP}:{cfg.APISERVER_PORT}"

    def _launch(
        self, name: str, argv: list[str], enter: bool = True, exe: str = ""
    ) -> ManagedProcess:
        """Start argv (inside the node's namespaces when enter); exe: its final argv[0]."""
        full = netns.enter_argv(self.anchor_pid, argv) if enter else argv
        proc = ManagedProcess(
            name, full, self.log_dir / f"{name}.log", cwd=self.state_dir, detach=self.detach
        )
        proc.start()
        self.processes[name] = proc
        self._write_state(exe={name: exe or argv[0]})
        return proc

    def _check_alive(self) -> None:
        for proc in self.processes.values():
            if not proc.running():
                raise StartupError(
                    f"{proc.name} exited; log {proc.log_path}:\n{log_tail(proc.log_path)}"
                )

    def _write_state(self, exe: dict[str, str] | None = None) -> None:
        saved = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        procs: dict[str, Any] = saved.get("processes", {})
        for name, proc in self.processes.items():
            entry = procs.setdefault(name, {})
            entry["pid"] = proc.pid
            if exe and name in exe:
                entry["exe"] = exe[name]
        state = {
            "netns": self.name,
            "server": self.server,
            "anchor_pid": self.anchor_pid,
            "netns_inode": self.netns_inode,
            "cgroup_root": self.cgroup_root,
            "socket": str(self.socket),
            "kubeconfig": str(self.kubeconfig),
            "processes": procs,
        }
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state, indent=2))
        realnode_teardown.register(self.name, state, self.state_dir)

    def stop(self) -> None:
        """Stop every process and undo every namespace, mount and cgroup; keep the logs."""
        realnode_teardown.teardown(self.state_dir, self.processes)
        self.processes = {}

    def down(self) -> None:
        """stop(), then remove all state (PKI, data, logs, kubeconfig)."""
        self.stop()
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self.kubeconfig.unlink(missing_ok=True)


def _etcd_ok() -> bool:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{ETCD_PORT}/health", timeout=2) as resp:  # noqa: S310
        return bool(json.loads(resp.read()).get("health") == "true")


def _left(deadline: float) -> float:
    return max(1.0, deadline - time.monotonic())
