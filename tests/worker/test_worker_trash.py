"""The worker purges images whose TRASH_DAYS are up: document, jobs, objects and counted
bytes, a bounded batch per pass, at most once per interval (a fake clock, no sleeps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from worker_services import seed_image

from picsource_core.config import ConfigurationError
from picsource_core.image_documents import ImageDocuments
from picsource_core.mongo import IMAGES, JOBS
from picsource_core.queue import JobQueue
from picsource_core.storage import ObjectStore
from picsource_core.trash import purge_image, trash_days
from picsource_worker.settings import Settings
from picsource_worker.trash import TrashPurge
from tests.support.clock import FakeClock
from tests.support.images import noisy_jpeg

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = 86_400.0


def _trash(docs: ImageDocuments, image_id: ObjectId, when: datetime) -> None:
    doc = docs.find_one({"_id": image_id})
    assert doc is not None and docs.trash(doc, when, f"retired-{image_id}")


def test_expired_trash_is_purged_in_bounded_passes(mongo_db: Any, object_store: ObjectStore) -> None:
    owner = ObjectId()
    old, older, recent, kept = (seed_image(mongo_db, object_store, noisy_jpeg(40 + n), owner)
                                for n in range(4))
    docs, queue = ImageDocuments(mongo_db), JobQueue(mongo_db)
    sizes = {d["_id"]: d["bytes"] for d in mongo_db[IMAGES].find()}
    total = docs.usage.current().bytes
    assert total == sum(sizes.values())
    _trash(docs, older, NOW - timedelta(days=45))
    _trash(docs, old, NOW - timedelta(days=30))
    _trash(docs, recent, NOW - timedelta(days=29, hours=23))
    clock = FakeClock(NOW.timestamp())
    purge = TrashPurge(docs, queue, object_store, days=30, interval=300, batch=1, clock=clock)

    assert purge.run_if_due() == 1  # the batch bound: the oldest first
    assert mongo_db[IMAGES].find_one({"_id": older}) is None
    assert purge.run_if_due() == 1  # a full batch: the next pass is due at once
    assert purge.run_if_due() == 0  # the rest is not expired yet
    remaining = {d["_id"] for d in mongo_db[IMAGES].find()}
    assert remaining == {recent, kept}
    assert docs.usage.current().bytes == total - sizes[old] - sizes[older]  # released on purge only
    assert mongo_db[JOBS].count_documents({"image_id": {"$in": [old, older]}}) == 0
    keys = list(object_store.list_keys(""))
    assert not [k for k in keys if str(old) in k or str(older) in k]
    assert [k for k in keys if str(recent) in k]  # a trashed image keeps its objects until purged

    clock.now += 2 * 3600  # "recent" has now expired
    assert purge.run_if_due() == 1
    assert purge.run_if_due() == 0  # found less than a batch: the next pass waits an interval
    clock.now += 60
    _trash(docs, kept, datetime.fromtimestamp(clock.now, UTC) - timedelta(days=31))
    assert purge.run_if_due() == 0  # not due yet: at most one pass per interval
    clock.now += 300
    assert purge.run_if_due() == 1
    assert mongo_db[IMAGES].count_documents({}) == 0 and list(object_store.list_keys("")) == []
    assert docs.usage.current().bytes == 0


def test_restored_images_are_never_purged(mongo_db: Any, object_store: ObjectStore) -> None:
    image_id = seed_image(mongo_db, object_store, noisy_jpeg(50))
    docs = ImageDocuments(mongo_db)
    _trash(docs, image_id, NOW - timedelta(days=90))
    doc = docs.find_one({"_id": image_id})
    assert doc is not None and docs.restore(doc) and not docs.restore(doc)
    purge = TrashPurge(docs, JobQueue(mongo_db), object_store, days=30, clock=FakeClock(NOW.timestamp()))
    assert purge.run_if_due() == 0
    assert mongo_db[IMAGES].find_one({"_id": image_id}) is not None


def test_trash_days_comes_from_the_environment() -> None:
    base = {"S3_ACCESS_KEY": "k", "S3_SECRET_KEY": "s"}
    assert Settings.from_env(base).trash_days == 30
    assert Settings.from_env({**base, "TRASH_DAYS": "7"}).trash_days == 7
    for bad in ("0", "-1", "thirty", "1.5", "99999"):
        with pytest.raises(ConfigurationError, match="TRASH_DAYS"):
            trash_days({"TRASH_DAYS": bad})


def test_an_image_restored_after_the_purge_read_it_is_kept(mongo_db: Any, object_store: ObjectStore) -> None:
    """The purge reads the expired images, then deletes them one by one: an owner who
    restores one in between keeps it, document and objects (nothing stored is lost)."""
    owner = ObjectId()
    image_id = seed_image(mongo_db, object_store, noisy_jpeg(60), owner)
    docs, queue = ImageDocuments(mongo_db), JobQueue(mongo_db)
    _trash(docs, image_id, NOW - timedelta(days=40))
    read_by_the_purge = docs.find_one({"_id": image_id})
    assert read_by_the_purge is not None
    assert docs.restore(read_by_the_purge)  # the owner, between the purge's read and its delete
    assert purge_image(docs, queue, object_store, read_by_the_purge,
                       trashed_by=NOW - timedelta(days=30)) is False
    assert mongo_db[IMAGES].find_one({"_id": image_id}) is not None
    assert [k for k in object_store.list_keys("") if str(image_id) in k]
    # Deleting for good from the trash needs the image to be in the trash at that moment.
    assert purge_image(docs, queue, object_store, read_by_the_purge, trashed_by=NOW) is False
    assert docs.trash(read_by_the_purge, NOW, "retired-again")
    assert purge_image(docs, queue, object_store, read_by_the_purge, trashed_by=NOW) is True
    assert not [k for k in object_store.list_keys("") if str(image_id) in k]
