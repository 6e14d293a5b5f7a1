"""The worker keeps each image's text vector (semantic search) in step with its text:
made at analysis, made again after an edit (the EMBED job), never overwritten by a stale
one, asked for once for older images, and never a crash on odd or empty text.

Against the real MongoDB-wire server and MinIO, with the real bundled text encoder; the
image models are off (the text is the title, the caption and the colours).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bson import ObjectId
from worker_services import NO_MODELS, WorkerProcess, seed_image

from picsource_core.config import ConfigurationError
from picsource_core.image_documents import TEXT_DIGEST, TEXT_MODEL, ImageDocuments
from picsource_core.mongo import IMAGES, JOBS
from picsource_core.queue import ANALYSE, EMBED, JobQueue
from picsource_core.storage import ObjectStore
from picsource_core.text_embedding import TEXT_MODEL_ID, TEXT_VECTOR, document_text, encoder, unpack
from picsource_worker import embed
from picsource_worker.job import JobContext, JobState, bury_abandoned, run_job, settle_failure
from picsource_worker.pipeline import AnalysisOptions
from picsource_worker.settings import Settings
from tests.support.clock import FakeClock
from tests.support.images import noisy_jpeg, photo_jpeg
from tests.support.waiting import wait_until

OPTIONS = AnalysisOptions(labels=False, faces=False, ocr=False, safety=False)


def _context(db: Any, store: ObjectStore) -> JobContext:
    return JobContext(db=db, store=store, queue=JobQueue(db), max_attempts=3, options=OPTIONS)


def _run_next(ctx: JobContext, kind: str | None = None) -> str:
    job = ctx.queue.claim("test-worker", 30)
    assert job is not None and (kind is None or job.kind == kind), job
    return run_job(ctx, job, JobState())


def _doc(db: Any, image_id: ObjectId) -> dict[str, Any]:
    doc = db[IMAGES].find_one({"_id": image_id})
    assert doc is not None
    return doc


def _cosine_with_text(doc: dict[str, Any], text: str) -> float:
    stored = unpack([doc[TEXT_VECTOR]])[0]
    return float(stored @ encoder(threads=1).embed([text])[0])


def _analysed(ctx: JobContext, data: bytes, title: str) -> ObjectId:
    image_id = seed_image(ctx.db, ctx.store, data, title=title)
    assert _run_next(ctx, ANALYSE) == "done"
    return image_id


def _edit_title(db: Any, image_id: ObjectId, title: str) -> None:
    ImageDocuments(db).edit(_doc(db, image_id), {"title": title})


def test_analysis_stores_the_vector_of_the_whole_text(mongo_db: Any, object_store: ObjectStore) -> None:
    ctx = _context(mongo_db, object_store)
    image_id = _analysed(ctx, photo_jpeg("coffee"), "golden retriever on a seashore")
    doc = _doc(mongo_db, image_id)
    text = document_text(doc)
    assert text.startswith("golden retriever on a seashore. ") and "brown" in text  # + the analysis
    assert isinstance(doc[TEXT_VECTOR], bytes) and len(doc[TEXT_VECTOR]) == 384
    assert _cosine_with_text(doc, text) > 0.99  # int8 packing loses next to nothing
    assert _cosine_with_text(doc, "a tax form full of numbers") < 0.5
    assert doc[TEXT_MODEL] == TEXT_MODEL_ID and doc[TEXT_DIGEST] == embed.text_digest(text)
    assert embed.is_current(doc) and "text" not in doc["analysis"]["step_errors"]
    assert mongo_db[JOBS].count_documents({"kind": EMBED}) == 0  # nothing left to do


def test_editing_the_title_embeds_the_new_text(mongo_db: Any, object_store: ObjectStore) -> None:
    ctx = _context(mongo_db, object_store)
    image_id = _analysed(ctx, photo_jpeg("coffee"), "golden retriever on a seashore")
    before = _doc(mongo_db, image_id)[TEXT_VECTOR]
    _edit_title(mongo_db, image_id, "spreadsheet of quarterly tax figures")
    ImageDocuments(mongo_db).edit(_doc(mongo_db, image_id), {"visibility": "public"})  # not text
    assert mongo_db[JOBS].count_documents({"image_id": image_id, "kind": EMBED}) == 1

    assert _run_next(ctx, EMBED) == "done"
    doc = _doc(mongo_db, image_id)
    assert doc[TEXT_VECTOR] != before and doc["status"] == "ready"
    assert _cosine_with_text(doc, document_text(doc)) > 0.99
    assert document_text(doc).startswith("spreadsheet of quarterly tax figures")
    assert ctx.queue.claim("test-worker", 30) is None  # the job is done, nothing queued


def test_a_slow_embedding_never_stores_the_text_an_edit_replaced(mongo_db: Any,
                                                                 object_store: ObjectStore) -> None:
    """The edit lands while the encoder works on the old text: the old vector is refused
    (compare-and-set) and the new text is embedded instead."""
    ctx = _context(mongo_db, object_store)
    image_id = _analysed(ctx, photo_jpeg("coffee"), "golden retriever on a seashore")
    _edit_title(mongo_db, image_id, "a red bicycle")
    seen = _doc(mongo_db, image_id)
    embedded: list[str] = []

    def slow(texts: Sequence[str]) -> np.ndarray:
        embedded.extend(texts)
        if len(embedded) == 1:  # while the first text is being embedded, the owner edits
            _edit_title(mongo_db, image_id, "snowy mountain hut")
        return embed.encode(texts)

    assert embed.refresh(ctx.images, seen, slow) == "embedded"
    assert [t.split(".")[0] for t in embedded] == ["a red bicycle", "snowy mountain hut"]
    doc = _doc(mongo_db, image_id)
    assert doc[TEXT_DIGEST] == embed.text_digest(document_text(doc)) and embed.is_current(doc)
    assert _cosine_with_text(doc, document_text(doc)) > 0.99

    stale = embed.text_fields(seen)  # a vector of the old text, written late: refused
    assert not ctx.images.set_text_vector(seen, stale)
    assert _doc(mongo_db, image_id)[TEXT_VECTOR] == doc[TEXT_VECTOR]
    # The pending job (asked for by both edits) finds the vector current: nothing embedded.
    assert _run_next(ctx, EMBED) == "done" and _doc(mongo_db, image_id)[TEXT_VECTOR] == doc[TEXT_VECTOR]


def test_an_edit_during_analysis_is_caught_up(mongo_db: Any, object_store: ObjectStore) -> None:
    """The job read the old title; the owner edits while it analyses: once the analysis is
    written, the job embeds the text as it now is (the edit's EMBED job then has nothing
    left to do)."""
    ctx = _context(mongo_db, object_store)
    image_id = seed_image(mongo_db, object_store, photo_jpeg("coffee"), title="old title")
    edited: list[bool] = []

    def edit_mid_job(_durations: dict[str, float]) -> None:  # called between read and write
        if not edited:
            edited.append(True)
            _edit_title(mongo_db, image_id, "lighthouse at dusk")

    ctx.observe = edit_mid_job
    assert _run_next(ctx, ANALYSE) == "done"
    doc = _doc(mongo_db, image_id)
    assert doc["title"] == "lighthouse at dusk" and doc["status"] == "ready"
    assert document_text(doc).startswith("lighthouse at dusk") and embed.is_current(doc)
    assert _cosine_with_text(doc, document_text(doc)) > 0.99
    vector = doc[TEXT_VECTOR]
    assert _run_next(ctx, EMBED) == "done" and _doc(mongo_db, image_id)[TEXT_VECTOR] == vector


def test_backfill_asks_once_for_each_image_without_a_current_vector(mongo_db: Any,
                                                                   object_store: ObjectStore) -> None:
    ctx = _context(mongo_db, object_store)
    current = _analysed(ctx, noisy_jpeg(1), "has one")
    missing = _analysed(ctx, noisy_jpeg(2), "analysed before vectors existed")
    other_model = _analysed(ctx, noisy_jpeg(3), "embedded by an older model")
    pending = seed_image(mongo_db, object_store, noisy_jpeg(4))  # its analysis will embed
    mongo_db[IMAGES].update_one({"_id": missing}, {"$unset": {TEXT_VECTOR: "", TEXT_MODEL: "", TEXT_DIGEST: ""}})
    mongo_db[IMAGES].update_one({"_id": other_model}, {"$set": {TEXT_MODEL: "some-older-model"}})

    backfill = embed.TextBackfill(ctx.images, batch=1, clock=FakeClock())
    assert [backfill.run_if_due() for _ in range(3)] == [2, 0, 0]  # one walk, then done for good
    assert backfill.done
    asked = {job["image_id"] for job in mongo_db[JOBS].find({"kind": EMBED})}
    assert asked == {missing, other_model}
    assert mongo_db[JOBS].count_documents({"kind": EMBED}) == 2
    assert {_run_next(ctx) for _ in range(3)} == {"done"}  # the pending analysis, two EMBED
    for image_id in (current, missing, other_model, pending):
        assert embed.is_current(_doc(mongo_db, image_id))
    assert embed.TextBackfill(ctx.images, clock=FakeClock()).run_if_due() == 0  # a new process


def test_backfill_walks_upload_time_windows_a_bounded_pass_at_a_time(mongo_db: Any) -> None:
    """Images from years ago to now, a few per window: each pass reads windows until it has
    seen about a batch, so the walk takes several passes and asks for each image once."""
    owner = ObjectId()
    stamps = [datetime(2021, 3, 1, 12, tzinfo=UTC), datetime(2023, 6, 1, tzinfo=UTC),
              datetime(2023, 6, 1, 0, 0, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC),
              datetime.now(UTC) - timedelta(minutes=5)]
    old = [ObjectId.from_datetime(t) for t in stamps]
    current, pending = ObjectId.from_datetime(datetime(2022, 2, 2, tzinfo=UTC)), ObjectId()
    mongo_db[IMAGES].insert_many(
        [{"_id": i, "owner_id": owner, "status": "ready", "title": "old"} for i in old]
        + [{"_id": current, "owner_id": owner, "status": "ready", TEXT_MODEL: TEXT_MODEL_ID},
           {"_id": pending, "owner_id": owner, "status": "pending"}])
    backfill = embed.TextBackfill(ImageDocuments(mongo_db), batch=1, clock=FakeClock())
    asked = [backfill.run_if_due() for _ in range(12)]
    assert backfill.done and sum(asked) == len(old)
    assert max(asked) <= 2 and len([n for n in asked if n]) >= 3  # bounded passes
    jobs = list(mongo_db[JOBS].find({"kind": EMBED}))
    assert sorted(job["image_id"] for job in jobs) == sorted(old)  # once each, nothing else


@pytest.mark.parametrize("title", ["", "\x00\x01\u202e" + "🙂" * 2000, "鯨 " * 600 + "\U0001f40b"])
def test_odd_or_empty_text_never_fails_the_job(mongo_db: Any, object_store: ObjectStore, title: str) -> None:
    """An image with no text at all (no analysis text, no title) stores no vector but its
    digest, so the backfill leaves it alone; odd text (control characters, thousands of
    emoji, another script) is embedded like any other."""
    ctx = _context(mongo_db, object_store)
    image_id = seed_image(mongo_db, object_store, noisy_jpeg(5), enqueue=False)
    mongo_db[IMAGES].update_one({"_id": image_id}, {"$set": {"status": "ready", "title": "x"}})
    _edit_title(mongo_db, image_id, title)
    assert _run_next(ctx, EMBED) == "done"
    doc = _doc(mongo_db, image_id)
    assert embed.is_current(doc)
    if not document_text(doc).strip():
        assert doc[TEXT_VECTOR] is None
    else:
        assert len(doc[TEXT_VECTOR]) == 384 and _cosine_with_text(doc, document_text(doc)) > 0.99
    assert embed.TextBackfill(ctx.images, clock=FakeClock()).run_if_due() == 0


def test_a_failed_or_abandoned_embed_job_never_touches_the_image(mongo_db: Any,
                                                                object_store: ObjectStore) -> None:
    """An EMBED job's failure is its own: the image stays ready, whether the job fails for
    good or its worker died on its last attempt (buried)."""
    ahead = [timedelta(0)]  # the queue's clock: real time, moved ahead by the test
    ctx = _context(mongo_db, object_store)
    ctx.queue = JobQueue(mongo_db, max_attempts=1, clock=lambda: datetime.now(UTC) + ahead[0])
    first = _analysed(ctx, noisy_jpeg(7), "first")
    second = _analysed(ctx, noisy_jpeg(8), "second")
    _edit_title(mongo_db, first, "first, edited")
    _edit_title(mongo_db, second, "second, edited")
    failing = ctx.queue.claim("test-worker", 30)
    assert failing is not None and failing.kind == EMBED and not failing.sets_status
    with ctx.commit_lock:
        assert settle_failure(ctx, failing, "boom", permanent=True) == "failed"
    dying = ctx.queue.claim("test-worker", 30)
    assert dying is not None and dying.kind == EMBED
    ahead[0] = timedelta(seconds=31)  # its worker died: the lease expires on the last attempt
    assert bury_abandoned(ctx) == 1
    assert {job["state"] for job in mongo_db[JOBS].find({"kind": EMBED})} == {"failed"}
    for image_id in (first, second):
        doc = _doc(mongo_db, image_id)
        assert doc["status"] == "ready" and doc["analysis_error"] is None


@pytest.mark.slow
def test_a_worker_process_embeds_at_analysis_after_edits_and_for_older_images(
    mongo_db: Any, object_store: ObjectStore, core_env: dict[str, str], tmp_path: Path
) -> None:
    """The real worker: the encoder loads at warm-up, slot 0 backfills, EMBED jobs run."""
    older = seed_image(mongo_db, object_store, noisy_jpeg(6), enqueue=False, title="older photo")
    mongo_db[IMAGES].update_one({"_id": older}, {"$set": {"status": "ready"}})
    fresh = seed_image(mongo_db, object_store, photo_jpeg("coffee"), title="golden retriever")
    env = {**NO_MODELS, "WORKER_TEXT_EMBEDDING": "true"}
    with WorkerProcess(core_env, tmp_path, **env) as worker:
        wait_until(lambda: all(embed.is_current(_doc(mongo_db, i)) for i in (older, fresh)), 60, worker.log())
        _edit_title(mongo_db, fresh, "a tabby cat asleep")
        wait_until(lambda: embed.is_current(_doc(mongo_db, fresh)), 60, worker.log())
        wait_until(lambda: worker.sample("picsource_worker_step_duration_seconds_count", step="text") >= 1,
                   15, worker.log())
    doc = _doc(mongo_db, fresh)
    assert doc["status"] == "ready" and _cosine_with_text(doc, "a tabby cat asleep") > 0.5
    assert mongo_db[JOBS].count_documents({"state": {"$ne": "done"}}) == 0


def test_the_text_vector_can_be_switched_off_by_name() -> None:
    base = {"S3_ACCESS_KEY": "k", "S3_SECRET_KEY": "s"}
    assert Settings.from_env(base).analysis_options().text_embedding
    assert not Settings.from_env({**base, "WORKER_TEXT_EMBEDDING": "false"}).analysis_options().text_embedding
    with pytest.raises(ConfigurationError, match="WORKER_TEXT_EMBEDDING"):
        Settings.from_env({**base, "WORKER_TEXT_EMBEDDING": "sometimes"})
