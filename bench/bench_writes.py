"""Single-image writes and job claims against SecantusDB as a gallery grows.

Why: SecantusDB reads every index match before ``limit`` and scans the whole collection
for each findAndModify, so a write path that looked constant on MongoDB grew with the
gallery (a claim, a trash, a delete). This prints the median time of each worker and web
write path at two sizes, so a cost that grows with the collection shows as a ratio.

Run: `.venv/bin/python bench/bench_writes.py [--sizes 300,3000] [--rounds 20]`
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / p) for p in ("core", "worker")] + [str(REPO)]

from bson import ObjectId  # noqa: E402

from picsource_core.config import MongoSettings  # noqa: E402
from picsource_core.image_documents import ImageDocuments  # noqa: E402
from picsource_core.mongo import IMAGES, connect, ensure_indexes  # noqa: E402
from picsource_core.queue import JobQueue  # noqa: E402
from picsource_worker.duplicates import NearDuplicates  # noqa: E402
from tests.harness.services import MongoServer  # noqa: E402


def median_ms(action: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(size: int, rounds: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="bench-writes-"))
    mongo = MongoServer(work / "mongo")
    mongo.start()
    try:
        db = connect(MongoSettings(uri=mongo.uri + "?retryWrites=false", database="bench", timeout_ms=60_000))
        ensure_indexes(db)
        owner = ObjectId()
        docs = [{"_id": ObjectId(), "owner_id": owner, "status": "ready", "sha256": f"{i:064x}",
                 "share_token": f"t{i}", "visibility": "private", "bytes": 1000,
                 "search_tokens": [f"w{j}" for j in range(30)], "analysed_at": datetime(2026, 1, 1, tzinfo=UTC),
                 "analysis": {"phash": f"{(i * 2654435761) % 2**64:016x}"}} for i in range(size)]
        db[IMAGES].insert_many(docs)
        images, queue = ImageDocuments(db), JobQueue(db)
        queue.request([d["_id"] for d in docs], "analyse")
        near = NearDuplicates(images)
        near.find(owner, ObjectId(), "0123456789abcdef")  # the process's first, whole read

        def claim() -> None:
            job = queue.claim("bench", 300)
            assert job is not None
            queue.complete(job)

        return {
            "claim + complete": median_ms(claim, rounds),
            "start_analysis": median_ms(lambda: images.start_analysis(docs[-1]["_id"]), rounds),
            "near-duplicates (incremental)": median_ms(
                lambda: near.find(owner, ObjectId(), "0123456789abcdef"), rounds),
            "trash": median_ms(lambda: images.trash(docs.pop(), datetime.now(UTC), str(ObjectId())), rounds),
            "delete": median_ms(lambda: images.delete(docs.pop()), rounds),
        }
    finally:
        mongo.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="300,3000", help="image documents (and pending jobs) per run")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {size: measure(size, args.rounds) for size in sizes}
    print(f"{'median ms':32}" + "".join(f"{size:>10,}" for size in sizes) + "    ratio")
    for name in results[sizes[0]]:
        row = [results[size][name] for size in sizes]
        print(f"{name:32}" + "".join(f"{v:10.1f}" for v in row) + f"{row[-1] / row[0]:8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
