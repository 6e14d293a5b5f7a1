"""Listing stamps: shared values that change whenever a listing may, so pages can be cached.

Why: web replicas keep listing pages (the grid, search results) in memory, because a
MongoDB-wire server may read every candidate document for each page. A cached page is
only served while the stamp it was built under is still current, so a user sees their
own upload, edit or delete on their very next request, on any replica.

Two kinds of stamp: each user's own listings ("mine") use the ``listing_stamp`` field of
their user document, which the web tier loads on every request anyway (no extra round
trip); the public gallery and public search use one document in ``listing_stamps``.
Writers call ``touch`` *after* their write; readers read the stamp *before* they query.
A page cached under an old stamp is then never served after the write that made it old.
A stamp is a fresh ObjectId, never a counter, so a lost or recreated document can't
bring an old value (and a stale page) back.

Writes that must touch: image insert and delete, metadata and visibility edits, share
link rotation, every status change and analysis result (labels, caption, colours, the
safety flag). Near-duplicate links do not: listings neither show nor filter on them;
nor does the start of an analysis (pending -> processing): a tile shows both the same.
All of these are methods of picsource_core.image_documents.ImageDocuments, the only
writer of image documents, and each calls ``touch_image`` itself after its write.
Album writes touch the owner's stamp too (picsource_core.albums.AlbumDocuments), so
the owner's album documents can be kept under it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import PyMongoError

from picsource_core.mongo import STAMPS, USERS, Document
from picsource_core.timeline import TIMELINE, oldest_update

log = logging.getLogger(__name__)

#: The field of a user document that stamps that user's own listings.
OWNER_FIELD = "listing_stamp"
PUBLIC_ID = "public"
#: What a reader sees for a stamp nobody has written yet.
UNSET = "-"


def affects_public(visibilities: Iterable[str | None]) -> bool:
    """Whether a write touches the public listings: the image is public before or after
    it, or that is not known (None)."""
    return any(v is None or v == "public" for v in visibilities)


def touch(db: Database[Document], owner_id: Any, *, public: bool, oldest: ObjectId | None = None) -> None:
    """Renew the owner's stamp and, if asked, the public one.

    Best effort by design: the data write has already succeeded, and failing the
    request now would report an error for a change that happened. If the server is
    gone at this instant, the renewal is tried again in the background until it lands
    (``RENEWAL_RETRY_SECONDS``); only if this process dies first do caches fall back on
    their time limit (LISTING_CACHE_SECONDS).

    ``oldest``: a timeline key the write stored, kept with the owner's lowest in the same
    update of the user document (picsource_core.timeline.record_oldest; one write where
    an upload or an analysis made two). That part is not best effort: the month menu
    must never miss a month, so then an error is raised for the caller to retry.
    """
    user_update: dict[str, Any] = {"$set": {OWNER_FIELD: ObjectId()}}
    if oldest is not None:
        user_update.update(oldest_update(oldest))
    try:
        if owner_id is not None:
            db[USERS].update_one({"_id": owner_id}, user_update)
        if public:
            _renew_public(db)
    except PyMongoError:
        if oldest is not None and owner_id is not None:
            raise
        log.warning("could not renew listing stamps of %s (public: %s); trying again in the "
                    "background", owner_id, public, exc_info=True)
        _LATER.add(db, owner_id, public)


def _renew_public(db: Database[Document]) -> None:
    db[STAMPS].update_one({"_id": PUBLIC_ID}, {"$set": {"v": ObjectId()}}, upsert=True)


#: How long a process keeps trying a stamp renewal that failed, and the longest pause
#: between two tries (doubling from one second).
RENEWAL_RETRY_SECONDS = 900.0
RENEWAL_RETRY_MAX_PAUSE = 30.0


class _Renewals:
    """Stamp renewals that failed, tried again by one thread of the process until they land.

    Why: a write whose renewal failed (the server went away between the two) would
    otherwise be missing from every cached page that holds the old stamp until the page's
    time limit; tried again, it shows as soon as the server is back. Renewals are merged
    (a stamp is renewed once however many writes missed it), so an outage costs one
    thread and a set of owners, not a thread per write."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owners: dict[Any, Database[Document]] = {}
        self._public: Database[Document] | None = None
        self._since = 0.0
        self._thread_pid: int | None = None

    def add(self, db: Database[Document], owner_id: Any, public: bool) -> None:
        with self._lock:
            if not self._owners and self._public is None:
                self._since = time.monotonic()
            if owner_id is not None:
                self._owners[owner_id] = db
            if public:
                self._public = db
            if self._thread_pid != os.getpid():  # none yet, or inherited through a fork
                self._thread_pid = os.getpid()
                threading.Thread(target=self._run, name="stamp-renewals", daemon=True).start()

    def pending(self) -> int:
        with self._lock:
            return len(self._owners) + (self._public is not None)

    def _run(self) -> None:
        pause = 1.0
        while True:
            time.sleep(pause)
            with self._lock:
                owners, public = dict(self._owners), self._public
                if not owners and public is None:
                    self._thread_pid = None
                    return
                if time.monotonic() - self._since > RENEWAL_RETRY_SECONDS:
                    log.error("gave up renewing listing stamps of %d owners (public: %s) after %.0f s; "
                              "cached pages expire on their own", len(owners), public is not None,
                              RENEWAL_RETRY_SECONDS)
                    self._owners, self._public, self._thread_pid = {}, None, None
                    return
            try:
                for owner_id, db in owners.items():
                    db[USERS].update_one({"_id": owner_id}, {"$set": {OWNER_FIELD: ObjectId()}})
                    with self._lock:
                        if self._owners.get(owner_id) is db:
                            del self._owners[owner_id]
                if public is not None:
                    _renew_public(public)
                    with self._lock:
                        if self._public is public:
                            self._public = None
                pause = 1.0
                log.info("renewed listing stamps that had failed")
            except PyMongoError:
                pause = min(pause * 2, RENEWAL_RETRY_MAX_PAUSE)


_LATER = _Renewals()


def pending_renewals() -> int:
    """Stamps this process still has to renew (see ``touch``)."""
    return _LATER.pending()


def touch_image(db: Database[Document], doc: Mapping[str, Any] | None, *before: str | None,
                oldest: bool = False) -> None:
    """Touch the stamps one image document's listings depend on (a no-op for None:
    nothing was written). ``before`` names visibilities the write changed it from;
    ``oldest``: the write stored the document's timeline key (see ``touch``)."""
    if doc is None or doc.get("owner_id") is None:
        return
    key = doc.get(TIMELINE) if oldest else None
    touch(db, doc["owner_id"], public=affects_public([doc.get("visibility"), *before]),
          oldest=key if isinstance(key, ObjectId) else None)


def owner_stamp(user_doc: Mapping[str, Any]) -> str:
    value = user_doc.get(OWNER_FIELD)
    return UNSET if value is None else str(value)


def read_owner(db: Database[Document], owner_id: Any) -> str:
    """One user's stamp when the request did not load it (a visitor of their album)."""
    return owner_stamp(db[USERS].find_one({"_id": owner_id}, {OWNER_FIELD: 1}) or {})


def read_public(db: Database[Document]) -> str:
    found = db[STAMPS].find_one({"_id": PUBLIC_ID})
    return UNSET if found is None else str(found.get("v"))
