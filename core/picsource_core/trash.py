"""Trash: a deleted image waits here until its owner restores it or TRASH_DAYS pass.

Why a field and not a move: a trashed image keeps its document (``trashed_at`` set) and
its objects, so a restore is one update and nothing is copied. Every listing and every
read by someone other than the owner leaves trashed images out (the web tier's query
builder and visibility rule), and a trash write renews the listing stamps like any
other write (picsource_core.image_documents), so a trashed image vanishes from grids,
search and public pages at once, on every replica.

Quota: the document and its ``bytes`` stay until the purge, so the owner's usage and the
gallery's running total (picsource_core.usage) keep counting it; ``purge_image`` goes
through ``ImageDocuments.delete``, which releases the bytes.

Purging happens in two places only: the owner's explicit "delete for good" / "empty
trash", and the worker's periodic ``purge_expired`` once TRASH_DAYS have passed. A web
request never purges on a timer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from picsource_core.config import Env
from picsource_core.image_documents import ImageDocuments
from picsource_core.queue import JobQueue
from picsource_core.storage import ObjectStore, image_prefixes

log = logging.getLogger(__name__)

#: When the image was moved to the trash; absent (or null) for images not in the trash.
TRASHED_AT = "trashed_at"
DEFAULT_TRASH_DAYS = 30
#: The longest TRASH_DAYS (100 years); the operator's spec.limits.trashDays has the same bound.
MAX_TRASH_DAYS = 36500
#: What a purge reads of a document: enough to delete it, release its bytes and its objects.
PURGE_FIELDS = {"owner_id": 1, "visibility": 1, "bytes": 1}


def trash_days(environ: Mapping[str, str]) -> int:
    """TRASH_DAYS: whole days a trashed image is kept (1..MAX_TRASH_DAYS, default 30);
    ConfigurationError naming the variable otherwise."""
    return Env(environ).int("TRASH_DAYS", DEFAULT_TRASH_DAYS, minimum=1, maximum=MAX_TRASH_DAYS)


def purge_image(images: ImageDocuments, queue: JobQueue, store: ObjectStore,
                doc: Mapping[str, Any], *, trashed_by: datetime | None = None) -> bool:
    """Delete an image for good: metadata first (it disappears at once), then its jobs,
    then its objects. False, and nothing touched, if the document was already gone or,
    with ``trashed_by``, is not in the trash since then (restored after ``doc`` was read).

    If object deletion fails half-way, the leftovers have no document and the orphan
    sweep removes them; nothing visible is left half-deleted."""
    if not images.delete(doc, trashed_by=trashed_by):
        return False
    queue.cancel_for_image(doc["_id"])
    for prefix in image_prefixes(doc["owner_id"], doc["_id"]):
        try:
            store.delete_prefix(prefix)
        except Exception:  # noqa: BLE001 - logged; the orphan sweep retries later
            log.warning("could not delete objects under %s; the orphan sweep will", prefix,
                        exc_info=True)
    return True


def purge_expired(images: ImageDocuments, queue: JobQueue, store: ObjectStore, *,
                  days: int, now: datetime, limit: int) -> int:
    """Purge at most ``limit`` images trashed ``days`` or more before ``now``, oldest first;
    returns how many. Bounded so one pass never holds a worker for long: the next pass
    takes the rest."""
    cutoff = now - timedelta(days=days)
    expired = list(images.find({TRASHED_AT: {"$lte": cutoff}}, PURGE_FIELDS)
                   .sort(TRASHED_AT, 1).limit(limit))
    return sum(purge_image(images, queue, store, doc, trashed_by=cutoff) for doc in expired)
