"""The analysis job on HEIC and AVIF originals, against real SecantusDB and MinIO: WebP
thumbnails of the upright picture, the capture date and place from EXIF, the upright
size, colours and labels; the original is never rewritten."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pytest
from bson import ObjectId
from PIL import Image
from worker_services import seed_image

from picsource_core.image_embedding import unpack
from picsource_core.mongo import IMAGES
from picsource_core.queue import JobQueue
from picsource_core.storage import ObjectStore
from picsource_worker.job import JobContext, JobState, run_job
from picsource_worker.pipeline import AnalysisOptions, analyse
from tests.support import images as samples

LIGHT = AnalysisOptions(labels=False, faces=False, ocr=False, safety=False)


def _run(db: Any, store: ObjectStore, image_id: ObjectId, options: AnalysisOptions) -> dict[str, Any]:
    ctx = JobContext(db=db, store=store, queue=JobQueue(db), max_attempts=3, options=options)
    job = ctx.queue.claim("test-worker", 30)
    assert job is not None and job.image_id == image_id
    assert run_job(ctx, job, JobState()) == "done"
    doc = db[IMAGES].find_one({"_id": image_id})
    assert doc is not None
    return doc  # type: ignore[no-any-return]


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_a_sideways_phone_photo_gets_upright_webp_thumbnails_date_place_and_colours(
        mongo_db: Any, object_store: ObjectStore, fmt: str) -> None:
    upright = samples.photo("chelsea")  # 451 x 300, a ginger cat
    data = samples.camera_file(fmt, upright.transpose(Image.Transpose.ROTATE_90), orientation=6)
    image_id = seed_image(mongo_db, object_store, data)
    doc = _run(mongo_db, object_store, image_id, LIGHT)

    assert doc["status"] == "ready" and doc["analysis_error"] is None
    analysis = doc["analysis"]
    assert analysis["step_errors"] == {}
    assert analysis["format"] == fmt and (analysis["width"], analysis["height"]) == (451, 300)
    assert doc["taken_at"] == datetime(2023, 7, 14, 18, 30, 5)
    assert analysis["exif"]["latitude"] == pytest.approx(48.8583, abs=1e-4)
    assert analysis["exif"]["longitude"] == pytest.approx(-2.2945, abs=1e-4)
    for size, entry in doc["thumbnails"].items():
        thumb = object_store.get_bytes(entry["key"])
        assert thumb[:4] == b"RIFF" and thumb[8:12] == b"WEBP"
        with Image.open(io.BytesIO(thumb)) as im:
            assert im.size == (entry["width"], entry["height"])
            assert im.width > im.height  # landscape: turned upright exactly once
            assert max(im.size) == min(int(size), 451)
    assert doc["colour_families"][0] == "brown"  # the cat, in its own colours
    assert object_store.get_bytes(doc["original_key"]) == data  # the original, untouched


def test_a_heic_gets_the_labels_the_same_photo_gets_as_jpeg(
        mongo_db: Any, object_store: ObjectStore) -> None:
    coffee = samples.photo("coffee")
    image_id = seed_image(mongo_db, object_store, samples.camera_file("HEIF", coffee))
    labels_only = AnalysisOptions(labels=True, faces=False, ocr=False, safety=False)
    doc = _run(mongo_db, object_store, image_id, labels_only)
    as_jpeg = analyse(samples.encode(coffee, "JPEG", quality=90), labels_only)
    assert doc["analysis"]["labels"] and as_jpeg.labels
    assert doc["analysis"]["labels"][0]["label"] == as_jpeg.labels[0][0]
    vector = unpack(doc["embedding"])
    assert vector is not None and vector.shape == (1280,)


def test_a_truncated_heic_fails_the_image_with_a_reason(
        mongo_db: Any, object_store: ObjectStore) -> None:
    data = samples.camera_file("HEIF")
    image_id = seed_image(mongo_db, object_store, data[: len(data) // 2])
    ctx = JobContext(db=mongo_db, store=object_store, queue=JobQueue(mongo_db), max_attempts=3,
                     options=LIGHT)
    job = ctx.queue.claim("test-worker", 30)
    assert job is not None
    run_job(ctx, job, JobState())
    doc = mongo_db[IMAGES].find_one({"_id": image_id})
    assert doc["status"] == "failed" and doc["analysis_error"]
    assert doc["thumbnails"] == {}
