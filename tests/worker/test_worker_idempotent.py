"""Processing the same job twice gives the same document and no extra objects."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from worker_services import seed_image

from picsource_core.mongo import IMAGES
from picsource_core.queue import JobQueue
from picsource_core.storage import ObjectStore
from picsource_worker.job import JobContext, JobState, run_job
from picsource_worker.pipeline import AnalysisOptions
from tests.support.images import encode, photo, photo_jpeg

VOLATILE = {"updated_at", "analysed_at"}


def _run_next(ctx: JobContext) -> str:
    job = ctx.queue.claim("test-worker", 30)
    assert job is not None
    return run_job(ctx, job, JobState())


def _snapshot(
    db: Any, store: ObjectStore
) -> tuple[list[dict[str, Any]], dict[str, tuple[int, str, str]]]:
    docs = [
        {k: v for k, v in d.items() if k not in VOLATILE} for d in db[IMAGES].find().sort("_id")
    ]
    objects = {key: store.stat(key) for key in store.list_keys("thumbnails/")}
    return docs, objects


def test_same_job_twice_gives_the_same_result(mongo_db: Any, object_store: ObjectStore) -> None:
    owner = ObjectId()
    first = seed_image(mongo_db, object_store, encode(photo("chelsea"), "PNG"), owner)
    seed_image(mongo_db, object_store, photo_jpeg("chelsea", quality=50), owner)
    queue = JobQueue(mongo_db)
    ctx = JobContext(
        db=mongo_db, store=object_store, queue=queue, max_attempts=3,
        options=AnalysisOptions(labels=False, faces=False, ocr=False, safety=False),
    )  # fmt: skip
    assert [_run_next(ctx), _run_next(ctx)] == ["done", "done"]
    before = _snapshot(mongo_db, object_store)
    assert len(before[1]) == 4 and [len(d["near_duplicates"]) for d in before[0]] == [0, 1]  # stored once

    job = queue.get_for_image(first)
    assert job is not None and queue.retry(job["_id"])
    assert _run_next(ctx) == "done"
    after = _snapshot(mongo_db, object_store)
    assert after == before  # same fields, same thumbnail keys, same bytes (etags)


def test_job_for_a_deleted_image_is_skipped(mongo_db: Any, object_store: ObjectStore) -> None:
    image = seed_image(mongo_db, object_store, photo_jpeg("rocket"))
    mongo_db[IMAGES].delete_one({"_id": image})
    queue = JobQueue(mongo_db)
    ctx = JobContext(db=mongo_db, store=object_store, queue=queue, max_attempts=3,
                     options=AnalysisOptions(labels=False, faces=False, ocr=False, safety=False))  # fmt: skip
    assert _run_next(ctx) == "skipped"
    assert list(object_store.list_keys("thumbnails/")) == []
    assert queue.get_for_image(image)["state"] == "done"  # type: ignore[index]


def test_missing_original_fails_the_image_at_once(mongo_db: Any, object_store: ObjectStore) -> None:
    image = seed_image(mongo_db, object_store, photo_jpeg("rocket"))
    object_store.delete(mongo_db[IMAGES].find_one({"_id": image})["original_key"])
    queue = JobQueue(mongo_db)
    ctx = JobContext(db=mongo_db, store=object_store, queue=queue, max_attempts=5,
                     options=AnalysisOptions(labels=False, faces=False, ocr=False, safety=False))  # fmt: skip
    assert _run_next(ctx) == "failed"
    doc = mongo_db[IMAGES].find_one({"_id": image})
    assert doc["status"] == "failed" and "missing from object storage" in doc["analysis_error"]
    assert queue.get_for_image(image)["state"] == "failed"  # type: ignore[index]
