"""Backup and restore benchmark: a GalleryBackup of N images, then a Gallery restored from it.

Runs the real control plane, MinIO, the MongoDB-wire server and the operator as a
subprocess (as bench_operator.py does). The gallery's documents and objects are inserted
directly (no uploads, no analysis): N image documents of a realistic size, each with an
original and a 256 px thumbnail of a few KB, ten users and an album holding every tenth
image. Then it prints:

* backup: GalleryBackup created → Completed (wall time, and the operator's own
  status.durationSeconds), its size and object count;
* restore: a new Gallery with spec.restoreFrom created → Restored=True (documents
  inserted, objects copied server-side), then → Ready;
* the operator's peak resident memory (VmHWM) over both (its limit in the chart: 256 MiB).

    python bench/bench_backup.py [--images 10000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests/operator"), str(REPO / "core")]

import pymongo  # noqa: E402
from bson import ObjectId  # noqa: E402
from operator_stage import operator_stage  # noqa: E402

from picsource_core.storage import original_key, thumbnail_key  # noqa: E402
from tests.harness.services import MinioServer  # noqa: E402

NAMESPACE = "bench"
API = f"/apis/picsource.io/v1alpha1/namespaces/{NAMESPACE}"


def gallery(name: str, minio: MinioServer, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "picsource.io/v1alpha1", "kind": "Gallery",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"web": {"replicas": 1},
                     "storage": {"endpoint": minio.url, "bucket": f"bench-{name}", "credentialsSecretRef": {"name": "s3"}},
                     "database": {"uriSecretRef": {"name": "mongo"}, "name": f"bench_{name}"}, **spec}}


def condition(obj: dict[str, Any] | None, kind: str) -> str:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return str(cond.get("status"))
    return ""


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait(check: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} after {timeout:.0f}s")
        time.sleep(0.1)
    return time.monotonic() - started


def seed(mongo_uri: str, minio: MinioServer, database: str, bucket: str, images: int) -> tuple[int, int]:
    """Insert the gallery's documents and objects; returns (documents, objects)."""
    db = pymongo.MongoClient(mongo_uri, tz_aware=True)[database]
    now = datetime.now(UTC)
    users = [{"_id": ObjectId(), "username": f"user{i}", "username_key": f"user{i}", "password_hash": "x" * 60,
              "created_at": now} for i in range(10)]
    db.users.insert_many(users)
    docs = []
    vector = [0.01 * (k % 97) for k in range(384)]  # semantic search's text vector: ~3.5 KB of BSON
    for i in range(images):
        owner = users[i % len(users)]["_id"]
        image_id = ObjectId()
        docs.append({"_id": image_id, "owner_id": owner, "sha256": os.urandom(32).hex(), "share_token": os.urandom(16).hex(),
                     "original_key": original_key(owner, image_id), "visibility": "private", "bytes": 4096,
                     "caption": f"picture {i}", "tags": ["beach", "sea", f"t{i % 50}"],
                     "search_tokens": ["beach", "sea", "picture", str(i)], "created_at": now,
                     "analysis": {"phash": os.urandom(8).hex(), "labels": [{"name": "sea", "score": 0.9}]},
                     "text_vector": vector})
    for start in range(0, images, 1000):
        db.images.insert_many(docs[start:start + 1000])
    album = {"_id": ObjectId(), "owner_id": users[0]["_id"], "title": "Best", "share_token": os.urandom(16).hex()}
    db.albums.insert_one(album)
    members = [{"album_id": album["_id"], "image_id": d["_id"], "owner_id": users[0]["_id"], "hidden": False,
                "added_at": now, "taken_at": None} for d in docs[::10]]
    if members:
        db.album_images.insert_many(members)
    client = minio.client()
    original, thumb = os.urandom(4096), os.urandom(1500)

    def put(doc: dict[str, Any]) -> None:
        client.put_object(bucket, doc["original_key"], io.BytesIO(original), len(original))
        client.put_object(bucket, thumbnail_key(doc["_id"], 256), io.BytesIO(thumb), len(thumb))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, docs))
    return len(users) + len(docs) + 1 + len(members), 2 * len(docs)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=10_000)
    args = parser.parse_args()
    with operator_stage("bench-backup-", NAMESPACE) as stage:
        minio, mongo, api = stage.minio, stage.mongo, stage.api
        operator = stage.start_operator()
        api.create(f"{API}/galleries", gallery("source", minio))
        wait(lambda: condition(api.get(f"{API}/galleries/source"), "Ready") == "True", 120, "source not Ready")
        t0 = time.monotonic()
        documents, objects = seed(mongo.uri, minio, "bench_source", "bench-source", args.images)
        print(f"seeded {args.images} images: {documents} documents, {objects} objects in {time.monotonic() - t0:.1f}s")

        api.create(f"{API}/gallerybackups", {
            "apiVersion": "picsource.io/v1alpha1", "kind": "GalleryBackup",
            "metadata": {"name": "source-b1", "namespace": NAMESPACE},
            "spec": {"gallery": "source", "destination": {"bucket": "bench-backups", "prefix": "galleries"}}})
        backup_s = wait(lambda: ((api.get(f"{API}/gallerybackups/source-b1") or {}).get("status") or {})
                        .get("phase") in ("Completed", "Failed"), 1800, "backup not finished")
        status = (api.get(f"{API}/gallerybackups/source-b1") or {})["status"]
        if status["phase"] != "Completed":
            raise RuntimeError(f"backup failed: {json.dumps(status)}")
        print(f"backup of {args.images} images: {backup_s:.1f}s wall (operator: {status['durationSeconds']:.1f}s), "
              f"{status['documentCount']} documents, {status['objectCount']} objects, "
              f"{status['sizeBytes'] / 1e6:.1f} MB")

        api.create(f"{API}/galleries", gallery("copy", minio, restoreFrom={"backup": "source-b1"}))
        restore_s = wait(lambda: condition(api.get(f"{API}/galleries/copy"), "Restored") == "True", 1800,
                         "restore not done")
        ready_s = restore_s + wait(lambda: condition(api.get(f"{API}/galleries/copy"), "Ready") == "True", 120,
                                   "restored gallery not Ready")
        restored = pymongo.MongoClient(mongo.uri)["bench_copy"].images.count_documents({})
        print(f"restore of {args.images} images: Restored in {restore_s:.1f}s, Ready in {ready_s:.1f}s "
              f"({restored} image documents back)")
        assert operator.process is not None
        peak = peak_rss_mb(operator.process.pid)
        print(f"operator peak RSS (VmHWM) over backup and restore: {peak:.0f} MB")
        print(json.dumps({"images": args.images, "backup_s": round(backup_s, 2),
                          "backup_operator_s": status["durationSeconds"], "backup_bytes": status["sizeBytes"],
                          "objects": status["objectCount"], "restore_s": round(restore_s, 2),
                          "restore_ready_s": round(ready_s, 2), "operator_peak_rss_mb": round(peak, 1)}))
        return 0 if restored == args.images else 1


if __name__ == "__main__":
    sys.exit(main())
