"""The timeline sort key: where an image sits when listings sort by date taken.

Why a stored key and not a sort on ``taken_at``: listings are cursor-paginated scans of a
compound ``(scope, key)`` index (web's services/scan.py), which needs one totally
ordered, unique field. ``timeline`` is 12 bytes stored as an ObjectId (BSON compares them
bytewise, so range bounds and cursors work as for ``_id``):

* bytes 0–4: the capture instant, whole seconds since 0001-01-01 UTC, big-endian (40 bits
  cover every year ``datetime`` can hold, so photos from 1950 need no clamping to 1970);
* bytes 5–11: the last 7 bytes of the image's ``_id`` (part of its per-process random and
  its counter): unique in practice, and ties in one second keep upload order.

The capture instant is the worker's ``taken_at`` (EXIF DateTimeOriginal, stored as the
camera's wall-clock time) when it is plausible, else the upload time (the ``_id``'s).
Plausible means not before photography existed (FIRST_PHOTO) and not after the upload
(a day's slack for clocks and time zones): a camera whose clock reset to 0000 or jumped
to 2099 would otherwise pin its photos to either end of everybody's timeline for good.

Set on a fresh document by picsource_core.images.new_image_doc (the upload time), then
written only through picsource_core.image_documents (apply_analysis, and the
idempotent ``backfill`` for documents stored before the key existed).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from picsource_core.mongo import USERS, Document

#: The field holding the key, and the indexes (core's mongo.py) that pair it with a scope.
TIMELINE = "timeline"
#: The user document's lowest timeline key ever written (``$min``, see record_oldest).
OLDEST_FIELD = "timeline_oldest"
#: The earliest date taken believed (Niépce's first photograph); earlier EXIF dates are noise.
FIRST_PHOTO = datetime(1826, 1, 1, tzinfo=UTC)
#: How far after the upload an EXIF date may be (time zones, a slightly fast camera clock).
SLACK = timedelta(days=1)
_ORIGIN = datetime(1, 1, 1, tzinfo=UTC)
_SECONDS_BYTES, _TAIL_BYTES = 5, 7


def _aware(moment: datetime) -> datetime:
    """Naive datetimes (EXIF wall clock, or a client without tz_aware) are taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def capture_time(image_id: ObjectId, taken_at: Any) -> datetime:
    """The instant the image sorts at: a plausible ``taken_at``, else its upload time."""
    uploaded = image_id.generation_time
    if isinstance(taken_at, datetime):
        taken = _aware(taken_at)
        if FIRST_PHOTO <= taken <= uploaded + SLACK:
            return taken
    return uploaded


def _seconds(moment: datetime) -> int:
    return int((_aware(moment) - _ORIGIN).total_seconds())


def key_at(moment: datetime, tail: bytes = b"\x00" * _TAIL_BYTES) -> ObjectId:
    """The key of ``moment`` with ``tail``; with the default (zeros) it is the smallest key
    of that second, i.e. a bound: every image taken at or after ``moment`` has a key >= it."""
    return ObjectId(_seconds(moment).to_bytes(_SECONDS_BYTES, "big") + tail)


def timeline_key(image_id: ObjectId, taken_at: Any = None) -> ObjectId:
    """The image's stored key (see the module docstring)."""
    return key_at(capture_time(image_id, taken_at), image_id.binary[-_TAIL_BYTES:])


def day_bound(day: date) -> ObjectId:
    """The smallest key of a calendar day (UTC): ``from`` is ``>= day_bound(from)``, ``to``
    is ``< day_bound(to + 1 day)``."""
    return key_at(datetime(day.year, day.month, day.day, tzinfo=UTC))


def key_time(key: ObjectId) -> datetime:
    """The capture instant a key holds (UTC, whole seconds): what month headers show."""
    return _ORIGIN + timedelta(seconds=int.from_bytes(key.binary[:_SECONDS_BYTES], "big"))


def document_time(doc: dict[str, Any]) -> datetime:
    """The instant a listed document sorts at: from its key, or computed for a document
    the backfill has not reached yet."""
    key = doc.get(TIMELINE)
    if isinstance(key, ObjectId):
        return key_time(key)
    return capture_time(doc["_id"], doc.get("taken_at"))


def record_oldest(db: Database[Document], owner_id: Any, key: ObjectId) -> None:
    """Keep the owner's lowest timeline key on their user document (one ``$min`` update).

    Why: the month menu starts at the owner's oldest photo, and finding the lowest key
    on a server that reads every index match before ``limit`` (SecantusDB) reads the whole
    gallery, seconds at 40,000 images. The write path calls this with every key it
    writes; a deleted oldest photo leaves the value lower than needed (the menu then
    offers a few months with nothing in them, never misses one)."""
    if owner_id is not None:
        db[USERS].update_one({"_id": owner_id}, oldest_update(key))


def oldest_update(key: ObjectId) -> dict[str, Any]:
    """The user-document update that keeps ``key`` if it is the owner's lowest (also sent
    with a listing stamp's renewal: picsource_core.stamps.touch)."""
    return {"$min": {OLDEST_FIELD: key}}


def read_oldest(db: Database[Document], owner_id: Any) -> ObjectId | None:
    """The owner's lowest timeline key recorded by ``record_oldest``; None before any."""
    found = db[USERS].find_one({"_id": owner_id}, {OLDEST_FIELD: 1}) or {}
    key = found.get(OLDEST_FIELD)
    return key if isinstance(key, ObjectId) else None
