"""Location-free copies for images uploaded before uploads made them (#12 item 7).

Why in the worker: until an image's ``location`` is known, nobody but its owner gets its
original (web's present.object_key), so older images must be checked once. The analysis
job checks the image it analyses (``check_original``, from the bytes it read anyway);
``LocationBackfill`` checks images already analysed, a bounded batch per pass between
jobs, in slot 0 like the trash purge. Both store the copy first, then the field, through
picsource_core.location and core's one write path; running either twice writes the same
object and leaves the field as it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from minio.error import S3Error

from picsource_core.image_documents import ImageDocuments
from picsource_core.location import LOCATION, WITHHELD, save_location_free_copy
from picsource_core.storage import ObjectStore
from picsource_worker.backfill import Backfill

log = logging.getLogger(__name__)

#: Seconds between passes while unchecked images remain, and images per pass at most.
BACKFILL_INTERVAL_SECONDS = 60.0
BACKFILL_BATCH = 50
_FIELDS = {"owner_id": 1, "visibility": 1, "original_key": 1, "format": 1, "content_type": 1}


def check_original(store: ObjectStore, doc: Mapping[str, Any], data: bytes,
                   image_format: str | None = None) -> str:
    """The ``location`` value for an image whose original is ``data``, its copy stored."""
    return save_location_free_copy(store, doc["_id"], data, image_format or str(doc.get("format") or ""),
                                   str(doc.get("content_type") or "application/octet-stream"))


class LocationBackfill(Backfill):
    """Checks unchecked images when due; done for good once a pass finds none (uploads
    record the field themselves, so no new unchecked image appears)."""

    handled_message = "checked %d older image(s) for location"
    name = "location backfill"

    def __init__(self, images: ImageDocuments, store: ObjectStore, *,
                 interval: float = BACKFILL_INTERVAL_SECONDS, batch: int = BACKFILL_BATCH,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(interval=interval, batch=batch, clock=clock)
        self.images, self.store = images, store

    def _pass(self, now: float) -> int:
        found = list(self.images.find({LOCATION: {"$exists": False}}, _FIELDS).limit(self.batch))
        checked = sum(self._check(doc) for doc in found)
        self.done = len(found) < self.batch
        self._next = now if not self.done else now + self.interval
        return checked

    def _check(self, doc: Mapping[str, Any]) -> bool:
        if not doc.get("original_key"):
            return self.images.set_location(doc["_id"], WITHHELD)
        try:
            data = self.store.get_bytes(str(doc["original_key"]))
        except S3Error as exc:
            if exc.code not in {"NoSuchKey", "NoSuchObject", "NotFound"}:
                raise
            return self.images.set_location(doc["_id"], WITHHELD)  # nothing left to give anyone
        return self.images.set_location(doc["_id"], check_original(self.store, doc, data))
