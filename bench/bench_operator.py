"""Operator benchmark: apply → Ready latency, 100 galleries at once, and operator memory.

Runs the real control plane (tests/harness/cluster.py), MinIO, the MongoDB-wire server
and the operator as a subprocess, then prints figures:

* apply → Ready p50/p90 over N galleries applied one after another (goal p50 ≤ 3 s);
* 100 galleries applied at once: time until every one is Ready (goal ≤ 60 s);
* operator resident memory (VmRSS, VmHWM) with those galleries (goal ≤ 150 MB).

Pods are simulated by kwok, so "Ready" means the operator bound storage and database,
applied every child, and the Deployments report their replicas ready.

    python bench/bench_operator.py [--sequential 10] [--burst 100] [--burst-web-replicas 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests/operator")]

from operator_stage import operator_stage  # noqa: E402

from tests.harness.services import MinioServer  # noqa: E402

NAMESPACE = "bench"
GALLERIES = f"/apis/picsource.io/v1alpha1/namespaces/{NAMESPACE}/galleries"


def gallery(name: str, minio: MinioServer, web_replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "picsource.io/v1alpha1", "kind": "Gallery",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "web": {"replicas": web_replicas},
            "storage": {"endpoint": minio.url, "bucket": f"bench-{name}",
                        "credentialsSecretRef": {"name": "s3"}},
            "database": {"uriSecretRef": {"name": "mongo"}, "name": f"bench_{name}"},
        },
    }


def is_ready(obj: dict[str, Any]) -> bool:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def rss_mb(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                  if ":" in line)
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sequential", type=int, default=10)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--burst-web-replicas", type=int, default=2)
    args = parser.parse_args()
    t0 = time.monotonic()
    with operator_stage("bench-operator-", NAMESPACE) as stage:
        print(f"control plane, MinIO, MongoDB and the CRDs up in {time.monotonic() - t0:.1f}s")
        minio, api = stage.minio, stage.api
        operator = stage.start_operator()
        assert operator.process is not None
        pid = operator.process.pid
        print(f"operator started; RSS idle {rss_mb(pid)[0]:.0f} MB")

        # 1. apply → Ready, one at a time.
        latencies = []
        for i in range(args.sequential):
            name = f"seq{i}"
            started = time.monotonic()
            api.create(GALLERIES, gallery(name, minio, web_replicas=2))
            while not is_ready(api.get(f"{GALLERIES}/{name}") or {}):
                if time.monotonic() - started > 60:
                    raise TimeoutError(f"{name} not Ready after 60s")
                time.sleep(0.05)
            latencies.append(time.monotonic() - started)
        latencies.sort()
        p50 = statistics.median(latencies)
        p90 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.9))]
        print(f"apply → Ready ({args.sequential} galleries, 2 web + 1 worker pods each): "
              f"p50 {p50:.2f}s  p90 {p90:.2f}s  max {latencies[-1]:.2f}s  (goal p50 ≤ 3 s)")

        # 2. a burst applied at once.
        names = [f"burst{i}" for i in range(args.burst)]
        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda n: api.create(GALLERIES, gallery(n, minio, web_replicas=args.burst_web_replicas)), names))
        applied = time.monotonic() - started
        peak = 0.0
        while True:
            items = (api.get(GALLERIES) or {}).get("items") or []
            ready = sum(1 for g in items if g["metadata"]["name"].startswith("burst") and is_ready(g))
            peak = max(peak, rss_mb(pid)[0])
            if ready == args.burst:
                break
            if time.monotonic() - started > 300:
                raise TimeoutError(f"only {ready}/{args.burst} Ready after 300s")
            time.sleep(0.25)
        elapsed = time.monotonic() - started
        print(f"{args.burst} galleries applied at once ({args.burst_web_replicas} web + 1 worker pod each; "
              f"created in {applied:.1f}s): "
              f"all Ready in {elapsed:.1f}s  (goal ≤ 60 s)")
        time.sleep(10)  # a couple of timer rounds with every gallery steady
        total = args.sequential + args.burst
        rss, hwm = rss_mb(pid)
        print(f"operator memory with {total} galleries: RSS {rss:.0f} MB, peak {max(hwm, peak):.0f} MB "
              f"(goal ≤ 150 MB)")
        metrics = operator.metrics()
        for line in metrics.splitlines():
            if line.startswith(("picsource_operator_reconciles_total", "picsource_operator_reconcile_duration_seconds_sum",
                                "picsource_operator_reconcile_duration_seconds_count")):
                print("  " + line)
        print(json.dumps({"apply_ready_p50_s": round(p50, 3), "apply_ready_p90_s": round(p90, 3),
                          "burst": args.burst, "burst_all_ready_s": round(elapsed, 2),
                          "operator_rss_mb": round(rss, 1), "operator_peak_rss_mb": round(max(hwm, peak), 1)}))
        return 0


if __name__ == "__main__":
    sys.exit(main())
