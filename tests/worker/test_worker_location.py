"""The worker makes the location-free copy of images uploaded before uploads did: in the
analysis job and in a bounded backfill of images already analysed (real SecantusDB and
MinIO, a fake clock); the thumbnails it writes carry no metadata at all."""

from __future__ import annotations

import io
from typing import Any

from bson import ObjectId
from PIL import Image
from worker_services import seed_image

from picsource_core.image_documents import ImageDocuments
from picsource_core.location import NONE, REMOVED, WITHHELD
from picsource_core.mongo import IMAGES
from picsource_core.queue import JobQueue
from picsource_core.storage import ObjectStore, location_free_key
from picsource_worker.job import JobContext, JobState, run_job
from picsource_worker.location import LocationBackfill
from picsource_worker.pipeline import AnalysisOptions
from picsource_worker.pipeline.thumbnails import make_thumbnails
from tests.support import images as samples
from tests.support.clock import FakeClock

GPS = 0x8825


def _location_free(data: bytes) -> bool:
    exif = Image.open(io.BytesIO(data)).getexif()
    return exif.get_ifd(GPS) == {} and exif[0x0110] == "Canon EOS 5D Mark IV" and b"Paris" not in data


def test_the_analysis_job_checks_an_older_image(mongo_db: Any, object_store: ObjectStore) -> None:
    image_id = seed_image(mongo_db, object_store, samples.located("JPEG"))
    assert "location" not in mongo_db[IMAGES].find_one({"_id": image_id})
    ctx = JobContext(db=mongo_db, store=object_store, queue=JobQueue(mongo_db), max_attempts=3,
                     options=AnalysisOptions(labels=False, faces=False, ocr=False, safety=False))
    job = ctx.queue.claim("test-worker", 30)
    assert job is not None and run_job(ctx, job, JobState()) == "done"
    doc = mongo_db[IMAGES].find_one({"_id": image_id})
    assert doc["status"] == "ready" and doc["location"] == REMOVED
    assert _location_free(object_store.get_bytes(location_free_key(image_id)))


def test_the_backfill_checks_analysed_images_in_bounded_passes(mongo_db: Any,
                                                               object_store: ObjectStore) -> None:
    located = [seed_image(mongo_db, object_store, samples.located("JPEG", image=samples.noisy_image(n)),
                          enqueue=False) for n in range(3)]
    plain = seed_image(mongo_db, object_store, samples.noisy_jpeg(4), enqueue=False)
    gone = seed_image(mongo_db, object_store, samples.noisy_jpeg(5), enqueue=False)
    object_store.delete(mongo_db[IMAGES].find_one({"_id": gone})["original_key"])
    clock = FakeClock(1_000_000.0)
    backfill = LocationBackfill(ImageDocuments(mongo_db), object_store, interval=60, batch=3, clock=clock)

    assert backfill.run_if_due() == 3 and not backfill.done  # a full batch: more may wait
    assert backfill.run_if_due() == 2 and backfill.done
    clock.now += 3600
    assert backfill.run_if_due() == 0  # done for good: uploads record the field themselves
    states = {d["_id"]: d["location"] for d in mongo_db[IMAGES].find()}
    assert states == {**dict.fromkeys(located, REMOVED), plain: NONE, gone: WITHHELD}
    for image_id in located:
        assert _location_free(object_store.get_bytes(location_free_key(image_id)))
    assert not object_store.exists(location_free_key(plain))


def test_a_recorded_state_is_never_overridden(mongo_db: Any, object_store: ObjectStore) -> None:
    image_id = seed_image(mongo_db, object_store, samples.noisy_jpeg(6), enqueue=False)
    docs = ImageDocuments(mongo_db)
    assert docs.set_location(image_id, REMOVED)
    assert not docs.set_location(image_id, NONE)
    assert mongo_db[IMAGES].find_one({"_id": image_id})["location"] == REMOVED
    assert not docs.set_location(ObjectId(), NONE)


def test_thumbnails_carry_no_metadata() -> None:
    with Image.open(io.BytesIO(samples.located("JPEG", image=samples.noisy_image(7, (2000, 1500))))) as img:
        img.load()
        thumbs = make_thumbnails(img)
    for thumb in thumbs:
        assert b"EXIF" not in thumb.data and b"XMP " not in thumb.data and b"Paris" not in thumb.data
        assert not Image.open(io.BytesIO(thumb.data)).getexif()
