"""Upgrade benchmark: the operator's part of a release change, on the real control plane.

Runs the real control plane (tests/harness/cluster.py; pods simulated by kwok), MinIO, the
MongoDB-wire server and the operator as a subprocess, then prints figures:

* one gallery at a time: a new web and worker image applied → Progressing=True/RolledOut at
  the new generation (the schema step, the Deployments applied, every pod replaced and
  ready), p50/p90 over N galleries;
* every gallery at once: the same change applied to all N → all RolledOut;
* the schema migrations themselves against a database of M images that has none of the
  schema's indexes (a database from before migrations), and the check the operator makes on
  an already-current one.

What this does not measure: requests through the rollout. kwok pods serve nothing; the
zero-failed-requests figure needs real pods (bench/bench_real_cluster.py measures a web
image change under load, through images built by `make images`).

    python bench/bench_upgrade.py [--galleries 10] [--images 10000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests/operator"), str(REPO / "operator"), str(REPO / "core")]

import pymongo  # noqa: E402
from bson import ObjectId  # noqa: E402
from operator_stage import operator_stage  # noqa: E402

from picsource_core.mongo import IMAGES  # noqa: E402
from picsource_operator.migrations import migrate, recorded_version, schema_version  # noqa: E402
from tests.harness.cluster import Cluster  # noqa: E402
from tests.harness.services import MinioServer, MongoServer  # noqa: E402
from tests.harness.tools import binary  # noqa: E402

NAMESPACE = "bench"
GALLERIES = f"/apis/picsource.io/v1alpha1/namespaces/{NAMESPACE}/galleries"
OLD, NEW = "0.1.0", "0.1.1"


def gallery(name: str, minio: MinioServer) -> dict[str, Any]:
    return {
        "apiVersion": "picsource.io/v1alpha1", "kind": "Gallery",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "web": {"replicas": 2, "image": f"ghcr.io/picsource/web:{OLD}"},
            "worker": {"replicas": 1, "image": f"ghcr.io/picsource/worker:{OLD}"},
            "storage": {"endpoint": minio.url, "bucket": f"bench-{name}", "credentialsSecretRef": {"name": "s3"}},
            "database": {"uriSecretRef": {"name": "mongo"}, "name": f"bench_{name}"},
        },
    }


def rolled_out(obj: dict[str, Any], generation: int | None = None) -> bool:
    """Progressing=True/RolledOut computed from ``generation`` (default: the current one)."""
    want = generation if generation is not None else (obj.get("metadata") or {}).get("generation")
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Progressing":
            return bool(cond.get("reason") == "RolledOut" and cond.get("observedGeneration") == want)
    return False


def upgrade(cluster: Cluster, name: str, tag: str) -> None:
    """A new release's images for the gallery's web and worker pods."""
    patch = {"spec": {"web": {"image": f"ghcr.io/picsource/web:{tag}"},
                      "worker": {"image": f"ghcr.io/picsource/worker:{tag}"}}}
    subprocess.run([str(binary("kubectl")), f"--kubeconfig={cluster.kubeconfig}", "patch", "gallery", name,
                    "-n", NAMESPACE, "--type=merge", "-p", json.dumps(patch)], check=True, capture_output=True)


def wait_all(api: Any, names: list[str], timeout: float) -> float:
    started = time.monotonic()
    while True:
        items = {g["metadata"]["name"]: g for g in (api.get(GALLERIES) or {}).get("items") or []}
        if all(rolled_out(items.get(n) or {}) for n in names):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            done = sum(rolled_out(items.get(n) or {}) for n in names)
            raise TimeoutError(f"only {done}/{len(names)} rolled out after {timeout:.0f}s")
        time.sleep(0.1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def migration_figures(mongo: MongoServer, images: int) -> dict[str, float]:
    """Migrating a database of ``images`` images without indexes, and re-checking it."""
    client: Any = pymongo.MongoClient(mongo.uri)
    db = client["bench_migrations"]
    client.drop_database(db.name)
    owner = ObjectId()
    for start in range(0, images, 1000):
        db[IMAGES].insert_many([{"owner_id": owner, "status": "ready", "visibility": "private",
                                 "sha256": f"{i:064x}", "share_token": f"t{i}", "tags": [f"tag{i % 50}"]}
                                for i in range(start, min(images, start + 1000))])
    started = time.monotonic()
    migrate(db, schema_version())
    migrated = time.monotonic() - started
    started = time.monotonic()
    for _ in range(20):
        recorded_version(db)
    check = (time.monotonic() - started) / 20
    client.drop_database(db.name)
    client.close()
    return {"migrate_s": migrated, "current_check_ms": check * 1000}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--galleries", type=int, default=10)
    parser.add_argument("--images", type=int, default=10_000)
    args = parser.parse_args()
    with operator_stage("bench-upgrade-", NAMESPACE) as stage:
        cluster, minio, mongo, api = stage.cluster, stage.minio, stage.mongo, stage.api
        stage.start_operator()
        names = [f"g{i}" for i in range(args.galleries)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: api.create(GALLERIES, gallery(n, minio)), names))
        print(f"{len(names)} galleries on {OLD} rolled out in {wait_all(api, names, 300):.1f}s")

        latencies = []
        for name in names:  # 1. one at a time
            generation = int((api.get(f"{GALLERIES}/{name}") or {})["metadata"]["generation"]) + 1
            started = time.monotonic()
            upgrade(cluster, name, NEW)
            while not rolled_out(api.get(f"{GALLERIES}/{name}") or {}, generation):
                if time.monotonic() - started > 120:
                    raise TimeoutError(f"{name} not rolled out after 120s")
                time.sleep(0.05)
            latencies.append(time.monotonic() - started)
        p50, p90 = statistics.median(latencies), percentile(latencies, 0.9)
        print(f"image change → RolledOut, one gallery at a time ({len(names)}; 2 web + 1 worker pods): "
              f"p50 {p50:.2f}s  p90 {p90:.2f}s  max {max(latencies):.2f}s")

        started = time.monotonic()  # 2. every gallery at once, back to the first images
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: upgrade(cluster, n, OLD), names))
        wait_all(api, names, 300)
        burst = time.monotonic() - started
        print(f"image change applied to all {len(names)} at once → all RolledOut: {burst:.1f}s")

        figures = migration_figures(mongo, args.images)
        print(f"schema migrations on a database of {args.images} images without indexes: "
              f"{figures['migrate_s']:.2f}s; check of an already-current database: "
              f"{figures['current_check_ms']:.1f} ms")
        print(json.dumps({"galleries": len(names), "rollout_p50_s": round(p50, 2), "rollout_p90_s": round(p90, 2),
                          "rollout_max_s": round(max(latencies), 2), "burst_all_rolled_out_s": round(burst, 1),
                          "images": args.images, "migrate_s": round(figures["migrate_s"], 2),
                          "current_check_ms": round(figures["current_check_ms"], 2)}))
        return 0


if __name__ == "__main__":
    sys.exit(main())
