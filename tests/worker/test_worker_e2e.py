"""The worker as a real process against real MongoDB-wire and MinIO servers.

One test runs the whole pipeline with the bundled models; the rest switch the model
steps off because they are about the queue, leases, retries and shutdown.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from PIL import Image
from worker_services import NO_MODELS, WorkerProcess, seed_image

from picsource_core.image_embedding import unpack
from picsource_core.mongo import IMAGES, JOBS
from picsource_core.storage import ObjectStore, thumbnail_key
from tests.observability.promtool import check_metrics
from tests.support.images import encode, large_jpeg, photo, photo_jpeg, sign, text_page
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


def _job(db: Any, image_id: ObjectId) -> dict[str, Any]:
    return db[JOBS].find_one({"image_id": image_id}) or {}


def _done(db: Any, ids: list[ObjectId]) -> bool:
    return db[JOBS].count_documents({"image_id": {"$in": ids}, "state": "done"}) == len(ids)


def test_full_pipeline_with_models_writes_thumbnails_document_and_metrics(
    mongo_db: Any, object_store: ObjectStore, core_env: dict[str, str], tmp_path: Path
) -> None:
    coffee = seed_image(mongo_db, object_store, large_jpeg("coffee", (4000, 3000)), title="morning")
    astronaut = seed_image(mongo_db, object_store, photo_jpeg("astronaut"))
    shop = seed_image(mongo_db, object_store, encode(sign("GRAND OPENING"), "PNG"))
    with WorkerProcess(core_env, tmp_path, WORKER_OCR="true") as worker:
        wait_until(lambda: _done(mongo_db, [coffee, astronaut, shop]), 180, f"jobs\n{worker.log()}")
        status, health = worker.get("/healthz")
        text = worker.metrics()
        wait_until(lambda: worker.sample("picsource_worker_jobs_total", result="done") == 3, 15, worker.log())
    assert status == 200 and health.strip() == "ok"
    assert check_metrics(text) == []
    for name in (
        "picsource_worker_jobs_total", "picsource_worker_step_duration_seconds_bucket",
        "picsource_queue_pending_jobs", "picsource_queue_oldest_pending_age_seconds",
        "picsource_worker_leases_expired_total", "picsource_worker_busy_slots",
    ):  # fmt: skip
        assert re.search(rf"^{name}[{{ ]", text, re.M), name
    assert 'step="labels"' in text and 'step="thumbnails"' in text

    doc = mongo_db[IMAGES].find_one({"_id": coffee})
    assert doc["status"] == "ready" and doc["analysis_error"] is None
    analysis = doc["analysis"]
    assert analysis["step_errors"] == {}
    assert (analysis["width"], analysis["height"]) == (4000, 3000)
    labels = [item["label"] for item in analysis["labels"]]
    assert labels[0] in {"espresso", "cup", "coffee mug"}
    assert analysis["faces"] == 0 and 0.0 <= analysis["safety"] < 0.5
    assert analysis["caption"].startswith(f"A photo of an {labels[0]}") or labels[0] != "espresso"
    assert "brown" in analysis["caption"] and doc["colour_families"][0] == "brown"
    assert {"espresso", "brown", "morning"} <= set(doc["search_tokens"]) or labels[0] != "espresso"
    vector = unpack(doc["embedding"])
    assert vector is not None and vector.shape == (1280,) and abs(float(vector @ vector) - 1) < 1e-3
    assert re.fullmatch(r"[0-9a-f]{16}", analysis["phash"])
    for size in (256, 1280):
        key = thumbnail_key(coffee, size)
        assert doc["thumbnails"][str(size)]["key"] == key
        thumb = Image.open(io.BytesIO(object_store.get_bytes(key)))
        assert thumb.format == "WEBP" and thumb.size == (size, size * 3 // 4)

    person = mongo_db[IMAGES].find_one({"_id": astronaut})
    assert person["status"] == "ready" and person["analysis"]["faces"] == 1
    assert "one person" in person["analysis"]["caption"]
    board = mongo_db[IMAGES].find_one({"_id": shop})
    assert "GRAND OPENING" in board["analysis"]["ocr_text"] and board["has_text"] is True
    assert 'with the text "GRAND OPENING' in board["analysis"]["caption"]
    assert {"grand", "opening"} <= set(board["search_tokens"])
    assert "yellow" in board["colour_families"]
    assert sorted(object_store.list_keys("thumbnails/")) == sorted(
        thumbnail_key(i, s) for i in (coffee, astronaut, shop) for s in (256, 1280)
    )


def test_near_duplicates_of_the_same_owner_are_linked_once(
    mongo_db: Any, object_store: ObjectStore, core_env: dict[str, str], tmp_path: Path
) -> None:
    owner, stranger = ObjectId(), ObjectId()
    cat = seed_image(mongo_db, object_store, encode(photo("chelsea"), "PNG"), owner)
    copy = seed_image(
        mongo_db,
        object_store,
        encode(photo("chelsea").resize((300, 200)), "JPEG", quality=40),
        owner,
    )
    coffee = seed_image(mongo_db, object_store, photo_jpeg("coffee"), owner)
    theirs = seed_image(mongo_db, object_store, photo_jpeg("chelsea"), stranger)
    ids = [cat, copy, coffee, theirs]
    with WorkerProcess(core_env, tmp_path, **NO_MODELS) as worker:
        wait_until(lambda: _done(mongo_db, ids), 120, f"four jobs\n{worker.log()}")
    docs = {d["_id"]: d for d in mongo_db[IMAGES].find({"_id": {"$in": ids}})}
    # Stored on the side analysed second (on both only if the two ran at the same moment).
    assert [cat] == docs[copy]["near_duplicates"] or [copy] == docs[cat]["near_duplicates"]
    assert set(docs[cat]["near_duplicates"]) <= {copy} and set(docs[copy]["near_duplicates"]) <= {cat}
    assert docs[coffee]["near_duplicates"] == []
    assert docs[theirs]["near_duplicates"] == []  # another owner's copy is not linked


def test_two_workers_never_process_one_job_at_once(
    mongo_db: Any, object_store: ObjectStore, core_env: dict[str, str], tmp_path: Path
) -> None:
    names = ["coffee", "chelsea", "astronaut", "rocket"]
    ids = [
        seed_image(mongo_db, object_store, encode(photo(names[i % 4]).rotate(i * 7), "JPEG"))
        for i in range(16)
    ]
    with (
        WorkerProcess(core_env, tmp_path, "alpha", WORKER_CONCURRENCY="2", **NO_MODELS) as a,
        WorkerProcess(core_env, tmp_path, "beta", WORKER_CONCURRENCY="2", **NO_MODELS) as b,
    ):
        wait_until(lambda: _done(mongo_db, ids), 180, f"16 jobs\n{a.log()}\n{b.log()}")

        def counted() -> float:  # a job's counter moves just after its document is done
            return sum(w.sample("picsource_worker_jobs_total", result="done") for w in (a, b))

        wait_until(lambda: counted() >= 16, 15, f"the done counters\n{a.log()}\n{b.log()}")
        per_worker = [w.sample("picsource_worker_jobs_total", result="done") for w in (a, b)]
    # every job was claimed exactly once (claim increments attempts) ...
    assert sorted({_job(mongo_db, i)["attempts"] for i in ids}) == [1]
    # ... and the two workers' counts add up to the number of jobs: nothing ran twice
    assert sum(per_worker) == 16
    assert mongo_db[IMAGES].count_documents({"_id": {"$in": ids}, "status": "ready"}) == 16


def test_sigkilled_worker_job_is_completed_by_another_after_lease_expiry(
    mongo_db: Any, object_store: ObjectStore, core_env: dict[str, str], tmp_path: Path
) -> None:
    # OCR on a 12-megapixel photo takes seconds: long enough to kill the worker mid-job
    image = seed_image(mongo_db, object_store, large_jpeg("astronaut", (4000, 4000)))
    lease = {"WORKER_LEASE_SECONDS": "3", "WORKER_OCR": "true", "WORKER_LABELS": "false",
             "WORKER_SAFETY": "false", "WORKER_FACES": "true"}  # fmt: skip
    victim = WorkerProcess(core_env, tmp_path, "victim", **lease).start()
    try:
        wait_until(
            lambda: mongo_db[IMAGES].find_one({"_id": image, "status": "processing"}),
            60, f"the victim to start the job\n{victim.log()}",
            interval=0.02,
        )  # fmt: skip
        victim.kill_group()
    finally:
        victim.stop()
    held = _job(mongo_db, image)
    assert held["state"] == "running" and held["lease_owner"].startswith("victim-"), held
    assert mongo_db[IMAGES].find_one({"_id": image})["status"] == "processing"

    with WorkerProcess(core_env, tmp_path, "rescuer", **lease) as rescuer:
        wait_until(lambda: _done(mongo_db, [image]), 120, f"the rescue\n{rescuer.log()}")
        wait_until(lambda: rescuer.sample("picsource_worker_leases_expired_total") == 1, 15, rescuer.log())
        wait_until(lambda: rescuer.sample("picsource_worker_jobs_total", result="done") == 1, 15, rescuer.log())
    job = _job(mongo_db, image)
    assert job["attempts"] == 2 and job["finished_at"] >= held["lease_expires"]
    assert mongo_db[IMAGES].find_one({"_id": image})["status"] == "ready"


def test_failures_retry_with_backoff_then_dead_letter_and_admin_retry_succeeds(
    mongo_db: Any, object_store: ObjectStore, core_env: dict[str, str], tmp_path: Path
) -> None:
    image = seed_image(mongo_db, object_store, photo_jpeg("rocket"))
    broken = {**core_env, "S3_BUCKET": "no-such-bucket-here"}  # every read fails
    retries = {"WORKER_MAX_ATTEMPTS": "3", "WORKER_RETRY_BACKOFF_SECONDS": "0.3", **NO_MODELS}
    with WorkerProcess(broken, tmp_path, "broken", **retries) as worker:
        wait_until(lambda: _job(mongo_db, image).get("state") == "failed", 60, worker.log())
        wait_until(lambda: worker.sample("picsource_worker_jobs_total", result="retry") == 2, 15, worker.log())
        wait_until(lambda: worker.sample("picsource_worker_jobs_total", result="failed") == 1, 15, worker.log())
    job = _job(mongo_db, image)
    assert job["attempts"] == 3 and "NoSuchBucket" in job["last_error"]
    doc = mongo_db[IMAGES].find_one({"_id": image})
    assert doc["status"] == "failed" and "NoSuchBucket" in doc["analysis_error"]

    from picsource_core.queue import JobQueue

    assert JobQueue(mongo_db).retry(job["_id"])  # what the admin page does
    with WorkerProcess(core_env, tmp_path, "fixed", **NO_MODELS) as worker:
        wait_until(lambda: _done(mongo_db, [image]), 60, worker.log())
    doc = mongo_db[IMAGES].find_one({"_id": image})
    assert doc["status"] == "ready" and doc["analysis_error"] is None


def test_undecodable_uploads_fail_at_once_with_a_recorded_error(
    mongo_db: Any, object_store: ObjectStore, core_env: dict[str, str], tmp_path: Path
) -> None:
    garbage = seed_image(mongo_db, object_store, b"definitely not an image" * 100)
    truncated_data = photo_jpeg("coffee")
    truncated = seed_image(mongo_db, object_store, truncated_data[: len(truncated_data) // 3])
    fine = seed_image(mongo_db, object_store, photo_jpeg("chelsea"))
    with WorkerProcess(core_env, tmp_path, WORKER_MAX_ATTEMPTS="5", **NO_MODELS) as worker:
        wait_until(lambda: _done(mongo_db, [fine]), 60, worker.log())
        wait_until(lambda: mongo_db[JOBS].count_documents({"state": "failed"}) == 2, 60, worker.log())
    for image, reason in ((garbage, "not a recognised image format"), (truncated, "truncated")):
        doc = mongo_db[IMAGES].find_one({"_id": image})
        assert doc["status"] == "failed" and reason in doc["analysis_error"]
        assert "decode" in doc["analysis"]["step_errors"]
        assert _job(mongo_db, image)["attempts"] == 1  # no pointless retries
    assert mongo_db[IMAGES].find_one({"_id": fine})["status"] == "ready"


def test_sigterm_drains_finishing_the_current_job_and_exits_zero(
    mongo_db: Any, object_store: ObjectStore, core_env: dict[str, str], tmp_path: Path
) -> None:
    ids = [
        seed_image(mongo_db, object_store, large_jpeg("rocket", (4000, 3000), seed=i))
        for i in range(6)
    ]
    with WorkerProcess(core_env, tmp_path, WORKER_GRACE_SECONDS="30", **NO_MODELS) as worker:
        wait_until(
            lambda: mongo_db[IMAGES].find_one({"_id": {"$in": ids}, "status": "processing"}),
            60, worker.log(), interval=0.02,
        )  # fmt: skip
        worker.signal(15)
        assert worker.wait(40) == 0, worker.log()
    states = [_job(mongo_db, i)["state"] for i in ids]
    assert "running" not in states and states.count("done") >= 1, states
    assert "pending" in states  # it stopped claiming
    statuses = {d["status"] for d in mongo_db[IMAGES].find({"_id": {"$in": ids}})}
    assert "processing" not in statuses


def test_sigterm_with_a_short_grace_releases_the_job_and_exits_zero(
    mongo_db: Any, object_store: ObjectStore, core_env: dict[str, str], tmp_path: Path
) -> None:
    # OCR of a dense page takes seconds: the job is still running when the grace is over.
    image = seed_image(mongo_db, object_store, encode(text_page(), "JPEG", quality=90))
    slow = {"WORKER_GRACE_SECONDS": "0.6", "WORKER_OCR": "true", "WORKER_FACES": "true",
            "WORKER_LABELS": "false", "WORKER_SAFETY": "false"}  # fmt: skip
    with WorkerProcess(core_env, tmp_path, **slow) as worker:
        wait_until(
            lambda: mongo_db[IMAGES].find_one({"_id": image, "status": "processing"}),
            60, worker.log(), interval=0.02,
        )  # fmt: skip
        worker.signal(15)
        assert worker.wait(20) == 0, worker.log()
    job = _job(mongo_db, image)
    assert job["state"] == "pending" and job["attempts"] == 0 and job["lease_owner"] is None
    assert mongo_db[IMAGES].find_one({"_id": image})["status"] == "pending"
    assert "gave job" in worker.log()


def test_a_job_that_outlives_the_timeout_is_failed_and_the_process_replaced(
    mongo_db: Any, object_store: ObjectStore, core_env: dict[str, str], tmp_path: Path
) -> None:
    # OCR of a dense page takes seconds; a photo alone can finish inside the second.
    image = seed_image(mongo_db, object_store, encode(text_page(), "JPEG", quality=90))
    hung = {"WORKER_JOB_TIMEOUT_SECONDS": "1", "WORKER_MAX_ATTEMPTS": "1", "WORKER_OCR": "true",
            "WORKER_FACES": "true", "WORKER_LABELS": "false", "WORKER_SAFETY": "false"}  # fmt: skip
    with WorkerProcess(core_env, tmp_path, **hung) as worker:
        wait_until(lambda: _job(mongo_db, image).get("state") == "failed", 60, worker.log())
        wait_until(lambda: worker.log().count("started analysis process 0") == 2, 30, worker.log())
        assert worker.get("/healthz")[0] == 200
        wait_until(lambda: worker.sample("picsource_worker_jobs_total", result="failed") == 1, 15, worker.log())
    assert "timed out after 1s" in _job(mongo_db, image)["last_error"]
    doc = mongo_db[IMAGES].find_one({"_id": image})
    assert doc["status"] == "failed" and "timed out" in doc["analysis_error"]
    assert "exited with 1" in worker.log()
