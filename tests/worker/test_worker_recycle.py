"""Recycled analysis processes against real MongoDB-wire and MinIO servers: with
WORKER_MAX_JOBS_PER_PROCESS=2 each process exits after its second job and the supervisor
forks a fresh one (picsource_worker.recycle); a stream of jobs is still analysed once each."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from PIL import ImageOps
from worker_services import WorkerProcess, seed_image

from picsource_core.mongo import IMAGES, JOBS
from picsource_core.storage import ObjectStore, thumbnail_key
from tests.support.images import encode, photo
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

NAMES = ("coffee", "chelsea", "astronaut", "rocket")


def _seed(db: Any, store: ObjectStore, first: int, count: int) -> list[ObjectId]:
    return [seed_image(db, store, encode(ImageOps.mirror(photo(NAMES[i % 4])) if i % 8 >= 4
                                         else photo(NAMES[i % 4]).rotate(i * 5), "JPEG"))  # fmt: skip
            for i in range(first, first + count)]  # fmt: skip


def _done(db: Any, ids: list[ObjectId]) -> bool:
    return db[JOBS].count_documents({"image_id": {"$in": ids}, "state": "done"}) == len(ids)


def _pids(log: str) -> list[str]:
    return re.findall(r"started analysis process \d+ \(pid (\d+)\)", log)


def test_recycled_processes_analyse_a_stream_of_jobs_once_each(
    mongo_db: Any, object_store: ObjectStore, core_env: dict[str, str], tmp_path: Path
) -> None:
    first = _seed(mongo_db, object_store, 0, 4)
    temp = tmp_path / "tmp"
    temp.mkdir()
    # Two slots: single-threaded model sessions, so every process is forked with the models.
    with WorkerProcess(core_env, tmp_path, "recycler", WORKER_CONCURRENCY="2", WORKER_OCR="false",
                       WORKER_MAX_JOBS_PER_PROCESS="2", TMPDIR=str(temp)) as worker:  # fmt: skip
        wait_until(lambda: _done(mongo_db, first), 180, f"the first jobs\n{worker.log()}")
        more = _seed(mongo_db, object_store, 4, 6)  # more arrive while processes come and go
        ids = first + more
        wait_until(lambda: _done(mongo_db, ids), 180, f"the stream of jobs\n{worker.log()}")
        wait_until(lambda: worker.sample("picsource_worker_jobs_total", result="done") == len(ids),
                   15, worker.log())  # fmt: skip
        # 10 jobs, 2 per process: at least 4 processes recycled (5 when split evenly)
        wait_until(lambda: worker.sample("picsource_worker_process_recycles_total") >= 4, 15, worker.log())
        status, health = worker.get("/healthz")
        outcomes = {r: worker.sample("picsource_worker_jobs_total", result=r)
                    for r in ("failed", "retry", "released", "lost")}  # fmt: skip
        expired = worker.sample("picsource_worker_leases_expired_total")
        log = worker.log()
        # each recycled process left the pHash copies of the owners it met to its successor
        owners = {str(d["owner_id"]) for d in mongo_db[IMAGES].find({"_id": {"$in": ids}}, {"owner_id": 1})}
        left = {p.stem for p in temp.glob("picsource-phashes-*/*.npz")}
    assert status == 200 and health.strip() == "ok"
    # fresh processes took over: more pids than slots, one per recycle at least
    pids = _pids(log)
    assert len(set(pids)) == len(pids) >= 2 + 4, log
    assert log.count("recycled; forking a fresh one") >= 4
    assert "exited with" not in log  # no process counted as crashed (no backoff, no warning)
    # nothing analysed twice or lost
    assert sorted({d["attempts"] for d in mongo_db[JOBS].find({"image_id": {"$in": ids}})}) == [1]
    assert outcomes == dict.fromkeys(outcomes, 0.0) and expired == 0
    for doc in mongo_db[IMAGES].find({"_id": {"$in": ids}}):
        assert doc["status"] == "ready" and doc["analysis_error"] is None, doc
        assert doc["analysis"]["step_errors"] == {} and doc["analysis"]["labels"], doc["analysis"]
        assert set(doc["thumbnails"]) == {"256", "1280"}
    assert sorted(object_store.list_keys("thumbnails/")) == sorted(
        thumbnail_key(i, s) for i in ids for s in (256, 1280)
    )
    assert worker.wait(0) == 0  # and it still drains and stops cleanly on SIGTERM
    # (one owner per seeded image: the processes still working at the stop saved none)
    assert len(left) >= 4 and left <= owners and not list(temp.glob("picsource-phashes-*"))
