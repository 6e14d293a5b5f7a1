"""Two operator replicas with leader election: one acts, the other waits, and takes over when
the leader is killed (SIGKILL, no clean release) within a bounded time."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from operator_runner import Env, OperatorProcess, metric_value

from tests.harness.cluster import Cluster
from tests.harness.kubeapi import wait_until
from tests.harness.pki import kubeconfig_text

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

LEASE = "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/picsource-operator"
# Short terms keep the test quick; the defaults are 8 s / 4.8 s / 1.6 s.
TIMING = {"PICSOURCE_OPERATOR_LEASE_SECONDS": "4", "PICSOURCE_OPERATOR_LEASE_RENEW_DEADLINE_SECONDS": "2.5",
          "PICSOURCE_OPERATOR_LEASE_RETRY_SECONDS": "0.5"}


def replica(cluster: Cluster, env: Env, tmp_path: Path, name: str) -> OperatorProcess:
    return OperatorProcess(cluster, env.namespace, tmp_path / f"{name}.log", as_deployed=True, extra_env={
        "PICSOURCE_OPERATOR_LEADER_ELECTION": "true", "POD_NAMESPACE": env.namespace, "POD_ID": name, **TIMING})


def holder(env: Env) -> str:
    return str(((env.obj(LEASE) or {}).get("spec") or {}).get("holderIdentity") or "")


def reconciled(proc: OperatorProcess, gallery: str) -> bool:
    return any(f"/{gallery}]" in line and "Handler 'reconcile_gallery" in line and "succeeded" in line
               for line in proc.log().splitlines())


def test_one_replica_leads_and_the_other_takes_over_when_it_is_killed(
        cluster: Cluster, gallery_env: Env, tmp_path: Path, kubectl: Any) -> None:
    env = gallery_env
    first = replica(cluster, env, tmp_path, "op-a").start()
    wait_until(lambda: holder(env) == "op-a", 30, "op-a to hold the Lease")
    second = replica(cluster, env, tmp_path, "op-b").start()  # live (standby probe), not leading
    try:
        env.apply(env.gallery("before"))
        env.wait_condition("before", "Ready", "True", timeout=60)
        assert holder(env) == "op-a"
        assert reconciled(first, "before")
        assert "waiting to lead" in second.log()
        assert "reconcile_gallery" not in second.log()  # the standby never ran a handler
        # Both are scrapeable (a standby is not "down"); only one says it reconciles.
        assert metric_value(first.metrics(), "picsource_operator_leader") == 1
        assert metric_value(second.metrics(), "picsource_operator_leader") == 0

        first.kill()
        env.apply(env.gallery("after"))
        wait_until(lambda: holder(env) == "op-b", 30, "op-b to take the Lease")
        env.wait_condition("after", "Ready", "True", timeout=60)
        assert reconciled(second, "after")
        assert metric_value(second.metrics(), "picsource_operator_leader") == 1
        lease = (env.obj(LEASE) or {})["spec"]
        assert lease["leaseTransitions"] >= 1
    finally:
        env.cleanup()  # while a leader can still run the finalizers
        first.stop()
        second.stop()
        print("--- op-a ---\n" + "\n".join(first.log().splitlines()[-40:]))
        print("--- op-b ---\n" + "\n".join(second.log().splitlines()[-40:]))


def test_a_leader_stopping_cleanly_hands_over_at_once(cluster: Cluster, gallery_env: Env, tmp_path: Path) -> None:
    env = gallery_env
    first = replica(cluster, env, tmp_path, "op-a").start()
    wait_until(lambda: holder(env) == "op-a", 30, "op-a to hold the Lease")
    second = replica(cluster, env, tmp_path, "op-b").start()
    try:
        first.stop()  # SIGTERM: Kopf stops, the Lease is released
        assert "released the Lease" in first.log()
        wait_until(lambda: holder(env) == "op-b", 10, "op-b to take the released Lease")
    finally:
        first.stop()
        second.stop()


def test_a_leader_that_loses_the_lease_stops_at_once(cluster: Cluster, gallery_env: Env, tmp_path: Path) -> None:
    """Somebody else in the Lease (here a hand edit, as a partitioned leader would find it):
    the leader exits with status 1 instead of acting beside the new holder."""
    env = gallery_env
    first = replica(cluster, env, tmp_path, "op-a").start()
    try:
        wait_until(lambda: holder(env) == "op-a", 30, "op-a to hold the Lease")

        def steal() -> bool:  # retried: the leader's renewal may come between GET and PUT (409)
            lease = env.obj(LEASE) or {}
            lease["spec"]["holderIdentity"] = "intruder"
            status, _ = env.api.request("PUT", LEASE.format(ns=env.namespace), lease)
            return status == 200

        wait_until(steal, 10, "the Lease rewritten to another holder")
        assert first.process is not None and first.process.proc is not None
        proc = first.process.proc
        wait_until(lambda: proc.poll() is not None, 15, "op-a to exit")
        assert proc.returncode == 1
        assert "leadership lost, exiting: another process took the Lease" in first.log()
    finally:
        first.stop()


class Relay:
    """A TCP relay to the API server that the test can cut, as a network partition would."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                server = socket.create_connection(self.upstream)
                self.sockets += [client, server]
                for a, b in ((client, server), (server, client)):
                    threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def test_a_leader_cut_off_from_the_api_server_stops_by_its_renew_deadline(
        cluster: Cluster, gallery_env: Env, tmp_path: Path) -> None:
    """Renewals failing (here the connection cut, so requests are refused) count against the
    renew deadline, which ends before the Lease does: the leader exits with status 1 rather
    than act while a standby may already have taken over."""
    env = gallery_env
    url = urlsplit(cluster.server)
    relay = Relay((url.hostname or "127.0.0.1", url.port or 443))
    kubeconfig = tmp_path / "relay.kubeconfig"
    kubeconfig.write_text(kubeconfig_text(f"https://127.0.0.1:{relay.port}", cluster.pki))
    first = OperatorProcess(cluster, env.namespace, tmp_path / "op-a.log", kubeconfig, as_deployed=True,
                            extra_env={"PICSOURCE_OPERATOR_LEADER_ELECTION": "true", "POD_NAMESPACE": env.namespace,
                                       "POD_ID": "op-a", **TIMING})
    try:
        first.start()
        wait_until(lambda: holder(env) == "op-a", 30, "op-a to hold the Lease")
        assert first.process is not None and first.process.proc is not None
        proc = first.process.proc
        relay.cut()
        wait_until(lambda: proc.poll() is not None, 15, "op-a to exit")
        assert proc.returncode == 1
        assert "leadership lost, exiting: could not renew the Lease" in first.log()
    finally:
        relay.cut()
        first.stop()
