"""Leader failover: how long after the leading operator is killed does the standby act?

Runs the real control plane (tests/harness/cluster.py), MinIO, the MongoDB-wire server
and two operator replicas as the chart runs them (`python -m picsource_operator` with
leader election and the default Lease timing: 8 s lease, 4.8 s renew deadline,
1.6 s retry). Each round kills the leader with SIGKILL (no clean release: the worst case),
creates a Gallery at once and measures

* takeover: kill → the standby holds the Lease;
* failover: kill → the new Gallery is Ready, reconciled by the new leader (goal ≤ 15 s).

The killed replica is restarted as the next round's standby.

    python bench/bench_failover.py [--rounds 5] [--lease-seconds 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests/operator")]

from operator_runner import OperatorProcess  # noqa: E402
from operator_stage import operator_stage  # noqa: E402

from tests.harness.services import MinioServer  # noqa: E402

NAMESPACE = "bench"
GALLERIES = f"/apis/picsource.io/v1alpha1/namespaces/{NAMESPACE}/galleries"
LEASE = f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/picsource-operator"


def gallery(name: str, minio: MinioServer) -> dict[str, Any]:
    return {
        "apiVersion": "picsource.io/v1alpha1", "kind": "Gallery",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"storage": {"endpoint": minio.url, "bucket": f"failover-{name}",
                             "credentialsSecretRef": {"name": "s3"}},
                 "database": {"uriSecretRef": {"name": "mongo"}, "name": f"failover_{name}"}},
    }


def is_ready(obj: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def until(check: Any, timeout: float, what: str) -> float:
    """Poll `check` every 50 ms; the monotonic time it first held."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} not within {timeout:.0f}s")
        time.sleep(0.05)
    return time.monotonic()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lease-seconds", type=float, default=8.0)
    args = parser.parse_args()
    replicas: dict[str, OperatorProcess] = {}
    with operator_stage("bench-failover-", NAMESPACE) as stage:
        minio, api = stage.minio, stage.api

        def holder() -> str:
            return str(((api.get(LEASE) or {}).get("spec") or {}).get("holderIdentity") or "")

        def start(name: str) -> OperatorProcess:
            replicas[name] = stage.start_operator(f"{name}.log", as_deployed=True, extra_env={
                "PICSOURCE_OPERATOR_LEADER_ELECTION": "true", "POD_NAMESPACE": NAMESPACE, "POD_ID": name,
                "PICSOURCE_OPERATOR_LEASE_SECONDS": str(args.lease_seconds)})
            return replicas[name]

        start("op-a")
        until(lambda: holder() == "op-a", 60, "op-a leading")
        start("op-b")
        api.create(GALLERIES, gallery("warmup", minio))
        until(lambda: is_ready(api.get(f"{GALLERIES}/warmup") or {}), 60, "warmup Ready")
        takeovers, failovers = [], []
        for i in range(args.rounds):
            leader = holder()
            standby = "op-b" if leader == "op-a" else "op-a"
            time.sleep(2.5)  # land anywhere in the renew cycle, as a real crash would
            replicas[leader].kill()
            killed = time.monotonic()
            api.create(GALLERIES, gallery(f"round{i}", minio))
            took = until(lambda s=standby: holder() == s, 120, f"{standby} leading")  # type: ignore[misc]
            ready = until(lambda i=i: is_ready(api.get(f"{GALLERIES}/round{i}") or {}), 120, f"round{i} Ready")
            takeovers.append(took - killed)
            failovers.append(ready - killed)
            print(f"round {i + 1}: killed {leader}; {standby} took the Lease after {took - killed:.1f}s, "
                  f"new Gallery Ready after {ready - killed:.1f}s")
            start(leader)  # back as the standby
        print(f"leader failover (SIGKILL → new Gallery Ready, lease {args.lease_seconds:g}s, {args.rounds} rounds): "
              f"median {statistics.median(failovers):.1f}s  max {max(failovers):.1f}s  (goal ≤ 15 s); "
              f"Lease taken after median {statistics.median(takeovers):.1f}s")
        print(json.dumps({"lease_seconds": args.lease_seconds, "rounds": args.rounds,
                          "failover_median_s": round(statistics.median(failovers), 2),
                          "failover_max_s": round(max(failovers), 2),
                          "takeover_median_s": round(statistics.median(takeovers), 2)}))
        return 0


if __name__ == "__main__":
    sys.exit(main())
