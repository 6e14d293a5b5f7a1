"""The timeline key (picsource_core.timeline): pure tests of how it is built and clamped,
then the write path that keeps it (new documents, the worker's analysis, the backfill)
on a real MongoDB-wire server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from bson import ObjectId

from picsource_core import stamps
from picsource_core.image_documents import ImageDocuments
from picsource_core.images import new_image_doc
from picsource_core.mongo import IMAGES, USERS
from picsource_core.timeline import (
    FIRST_PHOTO,
    TIMELINE,
    capture_time,
    day_bound,
    document_time,
    key_time,
    read_oldest,
    timeline_key,
)

UPLOADED = datetime(2024, 5, 31, 12, 0, 0, tzinfo=UTC)
OWNER = ObjectId("65f000000000000000000002")


def _id_at(moment: datetime) -> ObjectId:
    return ObjectId(ObjectId.from_datetime(moment).binary[:4] + ObjectId().binary[4:])


def test_without_a_date_taken_the_key_is_the_upload_time_and_keeps_upload_order() -> None:
    ids = [_id_at(UPLOADED), _id_at(UPLOADED), _id_at(UPLOADED + timedelta(seconds=1))]
    keys = [timeline_key(i) for i in ids]
    assert [key_time(k) for k in keys] == [UPLOADED, UPLOADED, UPLOADED + timedelta(seconds=1)]
    assert sorted(keys) == [timeline_key(i) for i in sorted(ids)]  # ties: upload order
    assert len(set(keys)) == 3  # unique although two share a second


def test_a_plausible_date_taken_places_the_image_then_even_before_1970() -> None:
    image_id = _id_at(UPLOADED)
    for taken in (datetime(2001, 6, 1, 8, 30, tzinfo=UTC), datetime(1955, 3, 4, 10, 0, tzinfo=UTC),
                  datetime(1826, 1, 1, tzinfo=UTC), UPLOADED + timedelta(hours=23)):
        assert key_time(timeline_key(image_id, taken)) == taken
    old, older = timeline_key(image_id, datetime(1969, 12, 31, tzinfo=UTC)), timeline_key(image_id, datetime(1955, 1, 1))
    assert older < old < timeline_key(image_id)


def test_absurd_dates_taken_fall_back_to_the_upload_time() -> None:
    image_id = _id_at(UPLOADED)
    for absurd in (datetime(1, 1, 1), datetime(1825, 12, 31, 23, 59, 59, tzinfo=UTC),
                   UPLOADED + timedelta(days=1, seconds=1), datetime(2099, 1, 1, tzinfo=UTC),
                   datetime(9999, 12, 31, 23, 59, 59), "2001:06:01 08:30:00", 12345):
        assert capture_time(image_id, absurd) == UPLOADED, absurd
        assert timeline_key(image_id, absurd) == timeline_key(image_id)


def test_a_naive_date_taken_is_the_wall_clock_read_as_utc() -> None:
    image_id = _id_at(UPLOADED)
    naive, aware = datetime(2010, 7, 14, 22, 15), datetime(2010, 7, 14, 22, 15, tzinfo=UTC)
    assert timeline_key(image_id, naive) == timeline_key(image_id, aware)


def test_day_bounds_enclose_exactly_one_calendar_day() -> None:
    image_id = _id_at(UPLOADED)
    first = timeline_key(image_id, datetime(2001, 6, 1, 0, 0, 0, tzinfo=UTC))
    last = timeline_key(image_id, datetime(2001, 6, 1, 23, 59, 59, tzinfo=UTC))
    assert day_bound(date(2001, 6, 1)) <= first <= last < day_bound(date(2001, 6, 2))
    assert timeline_key(image_id, datetime(2001, 5, 31, 23, 59, 59, tzinfo=UTC)) < day_bound(date(2001, 6, 1))
    assert key_time(day_bound(FIRST_PHOTO.date())) == FIRST_PHOTO


def test_document_time_reads_the_key_or_computes_it_for_a_document_without_one() -> None:
    image_id = _id_at(UPLOADED)
    taken = datetime(2003, 2, 1, tzinfo=UTC)
    assert document_time({"_id": image_id, TIMELINE: timeline_key(image_id, taken)}) == taken
    assert document_time({"_id": image_id, "taken_at": taken}) == taken


def _doc(image_id: ObjectId) -> dict[str, Any]:
    return new_image_doc(
        image_id=image_id, owner_id=OWNER, title="pier", description="", tags=[], visibility="private",
        share_token=str(image_id), sha256=str(image_id), size=1, width=1, height=1,
        image_format="PNG", content_type="image/png", original_key=f"o/{image_id}")


def test_the_write_path_keeps_the_key_and_the_backfill_is_idempotent(mongo_db: Any) -> None:
    mongo_db[USERS].insert_one({"_id": OWNER, "username": "owner"})
    docs = ImageDocuments(mongo_db)
    fresh = _doc(ObjectId())
    docs.insert(fresh)
    assert mongo_db[IMAGES].find_one({"_id": fresh["_id"]})[TIMELINE] == timeline_key(fresh["_id"])
    assert read_oldest(mongo_db, OWNER) == timeline_key(fresh["_id"])  # kept with the stamp's renewal
    taken = datetime(1999, 12, 31, 23, 0, tzinfo=UTC)
    docs.apply_analysis(fresh["_id"], {"taken_at": taken})  # the worker read EXIF: it moves
    assert mongo_db[IMAGES].find_one({"_id": fresh["_id"]})[TIMELINE] == timeline_key(fresh["_id"], taken)
    docs.apply_analysis(fresh["_id"], {"caption": "x"})  # an analysis without taken_at keeps it
    assert mongo_db[IMAGES].find_one({"_id": fresh["_id"]})[TIMELINE] == timeline_key(fresh["_id"], taken)
    assert read_oldest(mongo_db, OWNER) == timeline_key(fresh["_id"], taken)  # the month menu's start
    # the worker's write (from the document it read) keeps it too, and only ever lowers it
    other = _doc(ObjectId())
    docs.insert(other)
    seen = docs.start_analysis(other["_id"])
    docs.apply_analysis(other["_id"], {"taken_at": datetime(2001, 1, 1, tzinfo=UTC)}, seen=seen)
    assert read_oldest(mongo_db, OWNER) == timeline_key(fresh["_id"], taken)
    seen = docs.start_analysis(other["_id"])
    older = datetime(1990, 6, 1, tzinfo=UTC)
    docs.apply_analysis(other["_id"], {"taken_at": older}, seen=seen)
    assert read_oldest(mongo_db, OWNER) == timeline_key(other["_id"], older)

    legacy = [_doc(ObjectId()) for _ in range(3)]  # stored before the key existed
    for doc in legacy:
        del doc[TIMELINE]
    legacy[0]["taken_at"] = datetime(1960, 1, 2, tzinfo=UTC)
    mongo_db[IMAGES].insert_many(legacy)
    before = stamps.owner_stamp(mongo_db[USERS].find_one({"_id": OWNER}))
    assert docs.backfill_timeline(batch=2) == 3
    assert stamps.owner_stamp(mongo_db[USERS].find_one({"_id": OWNER})) != before  # listings re-read
    stored = {d["_id"]: d[TIMELINE] for d in mongo_db[IMAGES].find({}, {TIMELINE: 1})}
    assert stored[legacy[0]["_id"]] == timeline_key(legacy[0]["_id"], datetime(1960, 1, 2, tzinfo=UTC))
    assert all(stored[d["_id"]] == timeline_key(d["_id"]) for d in legacy[1:])
    assert docs.backfill_timeline() == 0  # a second start-up finds nothing to do
    assert read_oldest(mongo_db, OWNER) == stored[legacy[0]["_id"]]  # 1960 is the oldest now
