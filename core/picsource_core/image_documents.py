"""The one owner of the images collection: every write to an image document goes through here.

Why one place: listing pages are cached per replica under stamps (picsource_core.stamps),
and a write that forgot to renew them would keep serving a stale page. Each write method
renews the stamps its change affects itself, after the write, so a new write path cannot
forget: web and worker never hold the raw collection.

Search tokens are derived from the user's text and the analysis (picsource_core.search).
A write that changes either stores the new tokens in the same update when it knows the
whole document: the update is guarded by ``updated_at`` (every write renews it), so it
applies only if nobody wrote in between. If somebody did, the write falls back to two
steps (write, then tokens from the document as it now is), the same result either way.

Trash (picsource_core.trash) is two writes here too: ``trash`` sets ``trashed_at`` and
``restore`` removes it, each renewing the stamps, so listings drop or regain the image at
once; the purge is ``delete``.

Albums (picsource_core.albums) keep a copy of two facts of each member image, its trash
mark and its date taken, for their sorted pages: ``trash``, ``restore``,
``apply_analysis`` and ``delete`` update the memberships after their own write, for the
same reason the stamps are renewed here, and a purged image leaves its albums. The stamps
are renewed after the memberships: album pages are cached under the owner's stamp too.

The timeline key (picsource_core.timeline: where the image sorts by date taken) starts as
the upload time (picsource_core.images.new_image_doc); ``apply_analysis`` rewrites it in
the same update whenever the worker sends ``taken_at``, and ``backfill_timeline`` gives
documents stored before the key existed theirs.

Inserts and deletes also keep the gallery's running storage total (picsource_core.usage)
here, for the same reason: a delete path that forgot it would let the total drift.

The text vector of semantic search (picsource_core.text_embedding) is written here too:
``edit`` asks the worker to embed an image's text again whenever its title, description
or tags change (an ``EMBED`` job, picsource_core.queue), so no edit path can forget;
``set_text_vector`` stores a vector only if the document is still the one it was made
from (compare-and-set on ``updated_at``, which every change of its text renews), so a
slow job never overwrites newer text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.command_cursor import CommandCursor
from pymongo.cursor import Cursor
from pymongo.database import Database
from pymongo.errors import WriteError

from picsource_core import stamps
from picsource_core.albums import AlbumImages
from picsource_core.images import FAILED, NEAR_DUPLICATES, PENDING, PROCESSING, READY, linking_to
from picsource_core.mongo import IMAGES, Document
from picsource_core.queue import EMBED, JobQueue, utcnow
from picsource_core.search import image_search_tokens
from picsource_core.timeline import TIMELINE, record_oldest, timeline_key
from picsource_core.usage import GalleryUsage

log = logging.getLogger(__name__)

#: What a write needs back to know which listings it changed.
SCOPE_FIELDS = {"owner_id": 1, "visibility": 1}
#: What a delete needs back: the scope, and the size to take off the gallery's total.
GONE_FIELDS = {**SCOPE_FIELDS, "bytes": 1}
#: Everything but the large vector nobody reads when editing or analysing.
WHOLE = {"embedding": 0}
#: Beside the text vector (text_embedding.TEXT_VECTOR): the model that made it
#: (text_embedding.TEXT_MODEL_ID) and a digest of the text it was made from, so a model
#: change or a text change shows the vector is stale without embedding anything.
TEXT_MODEL = "text_model"
TEXT_DIGEST = "text_digest"
#: The fields whose change calls for a new text vector (the analysis's are the worker's).
USER_TEXT_FIELDS = ("title", "description", "tags")


class ImageDocuments:
    """Reads and writes of image documents for one database."""

    def __init__(self, db: Database[Document]) -> None:
        self._db = db
        self._images = db[IMAGES]
        #: The gallery's running storage total, kept by insert, remove and delete.
        self.usage = GalleryUsage(db)
        #: The images' side of album memberships (trash mark, date taken, purge).
        self.album_images = AlbumImages(db)
        #: Where ``edit`` asks for the text to be embedded again.
        self._jobs = JobQueue(db)

    # --- reads ------------------------------------------------------------------------
    def find_one(self, query: Mapping[str, Any], projection: Mapping[str, Any] | None = None) -> Document | None:
        return self._images.find_one(query, projection)

    def find(self, query: Mapping[str, Any], projection: Mapping[str, Any] | None = None) -> Cursor[Document]:
        """A cursor the caller may sort and limit."""
        return self._images.find(query, projection)

    def aggregate(self, pipeline: list[Mapping[str, Any]]) -> CommandCursor[Document]:
        return self._images.aggregate(pipeline)

    # --- writes by the web tier -------------------------------------------------------
    def insert(self, doc: Document, *, gallery_cap: int | None = None) -> None:
        """Store a new document and count its bytes in the gallery's running total.

        Under ``gallery_cap`` the bytes are reserved first, atomically, and StorageFull is
        raised if they do not fit; DuplicateKeyError when the owner has these bytes
        already (then nothing stays counted). After a timeout the outcome is unknown and the
        bytes stay counted: the total errs high, never low (see picsource_core.usage)."""
        size = int(doc.get("bytes") or 0)
        self.usage.reserve(size, gallery_cap)
        try:
            self._images.insert_one(doc)
        except WriteError:  # refused by the server (a duplicate): surely not stored
            self.usage.release(size)
            raise
        stamps.touch_image(self._db, doc, oldest=True)

    def remove(self, image_id: ObjectId) -> None:
        """Roll back an insert; a listing may have been cached with it meanwhile."""
        gone = self._delete_one({"_id": image_id})
        if gone is not None:
            self.usage.release(int(gone.get("bytes") or 0))
        stamps.touch_image(self._db, gone)

    def delete(self, doc: Mapping[str, Any], *, trashed_by: datetime | None = None) -> bool:
        """Delete one owner's image and every near-duplicate link to it; False if already gone.
        ``trashed_by``: only if it is in the trash since that moment or earlier, checked in
        the same operation, so an image restored after the caller read it is kept."""
        scope: dict[str, Any] = {"_id": doc["_id"], "owner_id": doc["owner_id"]}
        if trashed_by is not None:
            scope["trashed_at"] = {"$lte": trashed_by}
        gone = self._delete_one(scope)
        if gone is not None:
            self.usage.release(int(gone.get("bytes") or 0))
            self.unlink_near_duplicates(doc["_id"])
            self.album_images.forget(doc["_id"])
        stamps.touch_image(self._db, doc)  # after the memberships too: album pages are cached
        return gone is not None

    def trash(self, doc: Mapping[str, Any], when: datetime, share_token: str) -> bool:
        """Move one owner's image to the trash at ``when``, with a new share token (links
        handed out before stay dead, even after a restore); False if already there or gone."""
        moved = self._update_one(
            {"_id": doc["_id"], "owner_id": doc["owner_id"], "trashed_at": None},
            {"$set": {"trashed_at": when, "share_token": share_token, "updated_at": utcnow()}},
            SCOPE_FIELDS)
        if moved is not None:
            self.album_images.set_trashed(doc["_id"], True)
        stamps.touch_image(self._db, moved)
        return moved is not None

    def restore(self, doc: Mapping[str, Any]) -> bool:
        """Take one owner's image out of the trash; False if it was not in it (or is gone)."""
        back = self._update_one(
            {"_id": doc["_id"], "owner_id": doc["owner_id"], "trashed_at": {"$ne": None}},
            {"$unset": {"trashed_at": ""}, "$set": {"updated_at": utcnow()}}, SCOPE_FIELDS)
        if back is not None:
            self.album_images.set_trashed(doc["_id"], False)
        stamps.touch_image(self._db, back)
        return back is not None

    def edit(self, doc: Mapping[str, Any], changes: Mapping[str, Any], *,
             embed_later: list[ObjectId] | None = None) -> Document:
        """Apply a user's edit (title, description, tags, visibility, share token) to ``doc``,
        as it was read, with its search tokens; returns the document as written.

        A changed title, description or tag list asks for an ``EMBED`` job; a caller that
        edits many images passes ``embed_later`` to collect the ids instead and hands
        them to ``request_embeds`` once (one bulk write)."""
        updated: Document = {**doc, **changes, "updated_at": utcnow()}
        scope = {"_id": doc["_id"], "owner_id": doc["owner_id"]}
        fields = {**changes, "updated_at": updated["updated_at"]}
        if set(USER_TEXT_FIELDS) & changes.keys():
            self._write_with_tokens(scope, doc, fields, updated)
        else:
            self._images.update_one(scope, {"$set": fields})
        stamps.touch_image(self._db, updated, doc.get("visibility"))
        if any(field in changes and changes[field] != doc.get(field) for field in USER_TEXT_FIELDS):
            if embed_later is None:
                self.request_embeds([doc["_id"]])
            else:
                embed_later.append(doc["_id"])
        return updated

    def request_embeds(self, image_ids: list[ObjectId]) -> int:
        """Ask the worker to embed these images' text again (one bulk write; see
        picsource_core.queue ``request``)."""
        return self._jobs.request(image_ids, EMBED)

    # --- writes by the worker ---------------------------------------------------------
    def start_analysis(self, image_id: ObjectId) -> Document | None:
        """Mark the image ``processing`` and return it as it now is; None if it is gone."""
        # No touch: a tile shows pending and processing the same (picsource_core.stamps).
        return self._update_one({"_id": image_id}, {"$set": {"status": PROCESSING, "updated_at": utcnow()}}, WHOLE)

    def mark_failed(self, image_id: ObjectId, error: str) -> None:
        self._set_status(image_id, {"status": FAILED, "analysis_error": error[:2000]})

    def mark_pending(self, image_id: ObjectId) -> None:
        self._set_status(image_id, {"status": PENDING, "analysis_error": None})

    def apply_analysis(self, image_id: ObjectId, fields: Mapping[str, Any], *, status: str = READY,
                       error: str | None = None, seen: Mapping[str, Any] | None = None) -> Document | None:
        """Store analysis results with their search tokens; None if the image is gone.

        ``fields`` holds top-level fields such as ``analysis``, ``thumbnails``,
        ``colour_families``, ``has_text``, ``taken_at``; setting them whole makes a
        second run of the same job produce the same document. ``seen`` is the document
        as the job read it (start_analysis): with it, one round trip does it all.
        """
        now = utcnow()
        update = {**fields, "status": status, "analysis_error": error, "updated_at": now, "analysed_at": now}
        if "taken_at" in fields:  # the timeline follows the date taken, in the same write
            update[TIMELINE] = timeline_key(image_id, fields["taken_at"])
        if seen is not None:
            after: Document = {**seen, **update}
            if self._write_with_tokens({"_id": image_id}, seen, update, after):
                self._date_albums(after, fields)
                stamps.touch_image(self._db, after, oldest="taken_at" in fields)
                return after
            return None
        doc = self._update_one({"_id": image_id}, {"$set": update}, WHOLE)
        if doc is None:
            return None
        doc["search_tokens"] = self._store_tokens(doc)
        self._date_albums(doc, fields)
        stamps.touch_image(self._db, doc, oldest="taken_at" in fields)
        return doc

    def set_text_vector(self, seen: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
        """Store a text vector (``text_vector``, ``TEXT_MODEL``, ``TEXT_DIGEST``) made from
        ``seen``, only if the document is unchanged since (the same ``updated_at``); False
        when it changed or is gone: the caller reads it again. Not a user change, so
        ``updated_at`` stays; the listing stamps are renewed, because web processes keep
        the vectors of a listing scope under them (semantic search)."""
        written = self._update_one({"_id": seen["_id"], "updated_at": seen.get("updated_at")},
                                   {"$set": dict(fields)}, SCOPE_FIELDS)
        stamps.touch_image(self._db, written)
        return written is not None

    def _date_albums(self, doc: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
        """Album pages sort by date taken: tell the memberships when the worker read it (the
        owner's oldest timeline key, for the month menu, goes with the stamp's renewal)."""
        if "taken_at" in fields:
            self.album_images.set_date_taken(doc)

    def backfill_timeline(self, batch: int = 500) -> int:
        """Give documents stored before the timeline key existed theirs; how many were set.
        Idempotent (only documents without one; the key is a pure function of ``_id`` and
        ``taken_at``), so every start-up may run it. Listings change order: stamps renewed."""
        done, after = 0, None
        while True:  # in _id order from where the last batch ended: one walk, not a rescan per batch
            flt: dict[str, Any] = {"_id": {"$gt": after}} if after is not None else {}
            flt[TIMELINE] = {"$exists": False}
            found = list(self._images.find(flt, {"taken_at": 1, **SCOPE_FIELDS}).sort("_id", 1).limit(batch))
            public: dict[Any, bool] = {}
            for doc in found:
                key = timeline_key(doc["_id"], doc.get("taken_at"))
                self._images.update_one({"_id": doc["_id"], TIMELINE: {"$exists": False}}, {"$set": {TIMELINE: key}})
                owner = doc.get("owner_id")
                record_oldest(self._db, owner, key)
                public[owner] = public.get(owner, False) or stamps.affects_public([doc.get("visibility")])
            for owner, touches_public in public.items():  # once per owner, not per document
                if owner is not None:
                    stamps.touch(self._db, owner, public=touches_public)
            done += len(found)
            if len(found) < batch:
                return done
            after = found[-1]["_id"]

    def set_location(self, image_id: ObjectId, state: str) -> bool:
        """Record what the location check of an older image found (picsource_core.location);
        only where nothing is recorded yet, so it never overrides the upload's own answer.
        The listing stamps are renewed: a tile may now link to the original."""
        doc = self._update_one({"_id": image_id, "location": {"$exists": False}},
                               {"$set": {"location": state}}, SCOPE_FIELDS)
        stamps.touch_image(self._db, doc)
        return doc is not None

    def drop_stale_near_duplicate_links(self, image_id: ObjectId, still_close: list[ObjectId],
                                        seen: Mapping[str, Any] | None = None) -> None:
        """After a re-analysis: take ``image_id`` out of the lists of images no longer within
        the distance (``still_close``: every match it found, stored on either side). Its own
        list was replaced by the analysis write (links are stored once: picsource_core.images).

        Other images link to this one only once it has a pHash, that is after an analysis:
        when ``seen`` (the document before this analysis) has none, there is nothing to drop.
        """
        if seen is not None and not (seen.get("analysis") or {}).get("phash") and not seen.get(NEAR_DUPLICATES):
            return
        self._images.update_many({**linking_to(image_id), "_id": {"$nin": still_close}},
                                 {"$pull": {NEAR_DUPLICATES: image_id}})

    def unlink_near_duplicates(self, image_id: ObjectId) -> None:
        """Forget ``image_id`` in every other image's links (it failed analysis or was deleted)."""
        self._images.update_many(linking_to(image_id), {"$pull": {NEAR_DUPLICATES: image_id}})

    # --- one document by _id, without findAndModify ---------------------------------------
    # Why not find_one_and_update / find_one_and_delete: SecantusDB scans the whole
    # collection for every findAndModify (6 ms at 300 documents, 60-80 ms at 3,000, so
    # seconds at 100,000: each trashed image of a bulk action), while an update, a delete
    # and a read by _id are point lookups (2-4 ms). Every caller below uses the document
    # only for what the write cannot change (owner, visibility, bytes) or wants it after.
    def _update_one(self, query: Mapping[str, Any], update: Mapping[str, Any],
                    projection: Mapping[str, Any] | None) -> Document | None:
        """Apply ``update`` to the document ``query`` matches (it names ``_id``) and return
        it as read just after; None when nothing matched."""
        if not self._images.update_one(dict(query), dict(update)).matched_count:
            return None
        return self._images.find_one({"_id": query["_id"]}, projection)

    def _delete_one(self, query: Mapping[str, Any]) -> Document | None:
        """Delete the document ``query`` matches (it names ``_id``) and return its
        GONE_FIELDS as read just before; None when this call deleted nothing (a concurrent
        delete that won gets the document, never both)."""
        doc = self._images.find_one(dict(query), GONE_FIELDS)
        if doc is None or not self._images.delete_one(dict(query)).deleted_count:
            return None
        return doc

    # --- the two ways tokens are written ----------------------------------------------
    def _write_with_tokens(self, scope: Mapping[str, Any], seen: Mapping[str, Any],
                           fields: Mapping[str, Any], after: Document) -> bool:
        """One guarded update when nobody wrote since ``seen`` was read, else two steps.
        Fills ``after["search_tokens"]``; False when the document is gone."""
        tokens = image_search_tokens(after)
        guarded = {**scope, "updated_at": seen.get("updated_at")}
        if self._images.update_one(guarded, {"$set": {**fields, "search_tokens": tokens}}).matched_count:
            after["search_tokens"] = tokens
            return True
        doc = self._update_one(scope, {"$set": dict(fields)}, WHOLE)
        if doc is None:
            return False
        after.update(doc)
        after["search_tokens"] = self._store_tokens(doc)
        return True

    def _store_tokens(self, doc: Mapping[str, Any]) -> list[str]:
        tokens = image_search_tokens(doc)
        self._images.update_one({"_id": doc["_id"]}, {"$set": {"search_tokens": tokens}})
        return tokens

    def _set_status(self, image_id: ObjectId, fields: dict[str, Any]) -> None:
        doc = self._update_one({"_id": image_id}, {"$set": {**fields, "updated_at": utcnow()}}, SCOPE_FIELDS)
        stamps.touch_image(self._db, doc)
