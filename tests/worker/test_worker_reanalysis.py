"""Re-analysis after the models changed: analyses carry their pipeline version, the walk asks
for older ready images to be analysed again, a bounded number at a time and only while the
queue is short, records its progress and resumes from it; a REANALYSE job keeps the image
ready with its old analysis until the new one is written, and its failure stays on the job.

Against the real MongoDB-wire server and MinIO; the image models are off.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from worker_services import seed_image

from picsource_core.image_documents import ImageDocuments
from picsource_core.mongo import IMAGES, JOBS
from picsource_core.queue import ANALYSE, DONE, REANALYSE, JobQueue
from picsource_core.reanalysis import ANALYSIS_PIPELINE, ReanalysisLedger, pipeline_of
from picsource_core.storage import ObjectStore
from picsource_worker.job import JobContext, JobState, run_job, settle_failure
from picsource_worker.pipeline import AnalysisOptions
from picsource_worker.reanalysis import ReanalysisBackfill
from tests.support.clock import FakeClock
from tests.support.images import noisy_jpeg

OPTIONS = AnalysisOptions(labels=False, faces=False, ocr=False, safety=False, text_embedding=False)


def _context(db: Any, store: ObjectStore) -> JobContext:
    return JobContext(db=db, store=store, queue=JobQueue(db), max_attempts=3, options=OPTIONS)


def _images(db: Any, n: int, **fields: Any) -> list[ObjectId]:
    owner, first = ObjectId(), db[IMAGES].count_documents({})  # one upload a day, in order
    ids = [ObjectId.from_datetime(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=first + i)) for i in range(n)]
    db[IMAGES].insert_many([{"_id": i, "owner_id": owner, "status": "ready", **fields} for i in ids])
    return ids


def _walk(db: Any, **kwargs: Any) -> ReanalysisBackfill:
    return ReanalysisBackfill(ImageDocuments(db), JobQueue(db), ReanalysisLedger(db), clock=FakeClock(), **kwargs)


def _settle_reanalyses(db: Any, pipeline: int) -> None:
    """What the workers do with the jobs asked for: analyse again (the new pipeline), done."""
    for job in db[JOBS].find({"kind": REANALYSE, "state": "pending"}):
        db[IMAGES].update_one({"_id": job["image_id"]}, {"$set": {"analysis.pipeline": pipeline}})
        db[JOBS].update_one({"_id": job["_id"]}, {"$set": {"state": DONE}})


def test_an_analysis_records_the_pipeline_that_made_it(mongo_db: Any, object_store: ObjectStore) -> None:
    ctx = _context(mongo_db, object_store)
    image_id = seed_image(mongo_db, object_store, noisy_jpeg(1))
    job = ctx.queue.claim("w", 30)
    assert job is not None and run_job(ctx, job, JobState()) == "done"
    doc = mongo_db[IMAGES].find_one({"_id": image_id})
    assert doc["analysis"]["pipeline"] == ANALYSIS_PIPELINE == pipeline_of(doc)
    assert pipeline_of({"analysis": {}}) == 1  # analysed before the version was recorded


def test_the_walk_asks_once_for_each_older_ready_image_and_records_its_progress(mongo_db: Any) -> None:
    older = _images(mongo_db, 3)  # no pipeline recorded: 1
    _images(mongo_db, 2, analysis={"pipeline": 2})  # already current
    _images(mongo_db, 1, status="pending")  # its analysis will be current anyway
    walk = _walk(mongo_db, pipeline=2)
    assert walk.run_if_due() == 3
    assert walk.done and walk.run_if_due() == 0
    asked = sorted(job["image_id"] for job in mongo_db[JOBS].find({"kind": REANALYSE}))
    assert asked == older
    entry = ReanalysisLedger(mongo_db).get(2)
    assert entry is not None and entry["done"] and entry["requested"] == 3
    assert _walk(mongo_db, pipeline=2).run_if_due() == 0  # a restarted worker: walked already
    assert mongo_db[JOBS].count_documents({}) == 3


def test_the_walk_holds_back_while_the_queue_is_busy_and_asks_a_bounded_number(mongo_db: Any) -> None:
    older = _images(mongo_db, 10)
    walk = _walk(mongo_db, pipeline=2, max_backlog=3)
    assert walk.run_if_due() == 3  # only as many as the queue has room for
    walk._next = 0.0
    assert walk.run_if_due() == 0  # its own three are waiting: throttled
    passes = [3]
    while not walk.done:
        _settle_reanalyses(mongo_db, 2)
        walk._next = 0.0
        passes.append(walk.run_if_due())
    assert max(passes) <= 3 and sum(passes) == len(older)
    assert sorted(job["image_id"] for job in mongo_db[JOBS].find({"kind": REANALYSE})) == older


def test_a_new_worker_resumes_the_walk_where_the_ledger_says(mongo_db: Any) -> None:
    older = _images(mongo_db, 6)
    first = _walk(mongo_db, pipeline=2, max_backlog=2)
    assert first.run_if_due() == 2
    _settle_reanalyses(mongo_db, 2)
    second = _walk(mongo_db, pipeline=2, max_backlog=10)  # the worker restarted
    assert second.run_if_due() == 4 and second.done
    assert sorted(job["image_id"] for job in mongo_db[JOBS].find({"kind": REANALYSE})) == older


def test_nothing_is_walked_for_the_first_pipeline(mongo_db: Any) -> None:
    _images(mongo_db, 2)
    walk = _walk(mongo_db, pipeline=1)
    assert walk.run_if_due() == 0 and walk.done
    assert mongo_db[JOBS].count_documents({}) == 0


def test_a_reanalysis_keeps_the_image_ready_and_its_failure_stays_on_the_job(mongo_db: Any,
                                                                             object_store: ObjectStore) -> None:
    ctx = _context(mongo_db, object_store)
    image_id = seed_image(mongo_db, object_store, noisy_jpeg(2))
    job = ctx.queue.claim("w", 30)
    assert job is not None and job.kind == ANALYSE and run_job(ctx, job, JobState()) == "done"
    mongo_db[IMAGES].update_one({"_id": image_id}, {"$unset": {"analysis.pipeline": ""}})
    before = mongo_db[IMAGES].find_one({"_id": image_id})

    ctx.queue.request([image_id], REANALYSE)
    failing = ctx.queue.claim("w", 30)
    assert failing is not None and failing.kind == REANALYSE and not failing.sets_status
    with ctx.commit_lock:
        assert settle_failure(ctx, failing, "boom", permanent=True) == "failed"
    assert mongo_db[IMAGES].find_one({"_id": image_id}) == before  # untouched

    ctx.queue.request([image_id], REANALYSE)
    again = ctx.queue.claim("w", 30)
    assert again is not None and run_job(ctx, again, JobState()) == "done"
    after = mongo_db[IMAGES].find_one({"_id": image_id})
    assert after["status"] == "ready" and after["analysis"]["pipeline"] == ANALYSIS_PIPELINE
    assert after["thumbnails"] == before["thumbnails"]
