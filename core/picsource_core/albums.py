"""Albums: the album documents and their memberships, the one owner of both collections.

An album belongs to one user and holds any number of that user's images; an image may be
in many albums. Membership is its own small document (``album_images``: album, image,
owner, when it was added, the date it sorts by when sorted by date taken, and whether the
image is in the trash), so an album page is one sorted, limited index query, paginated by
cursor, whatever the album's size; deleting an album deletes its memberships, never images.

Why memberships copy two facts of the image (its date taken and whether it is trashed):
an album page sorts and filters on them without reading every image of the album. The copy
is kept where those facts change, by the image write path (picsource_core.image_documents
calls ``AlbumImages`` when it trashes, restores, analyses or deletes an image), so a
trashed image leaves every album page at once, comes back on restore, and a purged one
leaves its albums for good (and stops being any album's cover). Readers still check each
image they show (its owner, its trash mark), so a copy that lags behind, after a crash
between the two writes, can make a page short but never shows what it should not.

Every write of an album document or its memberships renews the owner's listing stamp
after it (picsource_core.stamps), so the owner's requests may keep a *settled* album
document (``settled``) in process under that stamp, like their listing pages; writes
made for an image write (``AlbumImages``) are followed by the image's own renewal.

Each membership also takes its album's next number when it is added (``seq``; the album
keeps the count, ADDED_SEQ): "date added" pages are read by that number, which always
splits, so each page is a bounded read however many images were added at once
(picsource_core.album_windows). Memberships written before numbers existed are numbered
once, in the order they were added, the first time their album needs it (``numbered``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pymongo
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from picsource_core import stamps
from picsource_core.album_windows import DateHints, seq_spans
from picsource_core.mongo import ALBUM_IMAGES, ALBUMS, Document
from picsource_core.queue import utcnow

#: The most image ids one add or remove call takes: one bounded $in query, one answer.
MAX_IDS_PER_CALL = 500
#: The most albums one user may have: the Albums page lists them all on one page.
MAX_ALBUMS_PER_USER = 1000
#: Sort orders of an album page and the membership field each reads: the date taken
#: (EXIF, else the upload time) or the order added (the membership's number).
SORT_FIELDS = {"taken": "taken_at", "added": "seq"}

#: The album's count of numbers handed to its memberships (each membership's ``seq``).
ADDED_SEQ = "added_seq"
#: How long numbering an album's memberships from before numbers existed may take (once
#: per album; a large album's first page by date added waits for it: 20,000 took 39 s on a
#: loaded 2-core machine). Below gunicorn's 60 s worker timeout; a cut-short one resumes.
NUMBERING_SECONDS = 45.0
NUMBERING_BATCH = 1000
#: The album's image count and the ``updated_at`` it was made at (AlbumDocuments.count).
COUNTED = "counted"
#: Read this many more after a cursor: the cursor's own membership and any rare tie.
TIES = 4

ADDED, ALREADY = "added", "already_in_album"
REMOVED, NOT_IN_ALBUM = "removed", "not_in_album"


def date_taken(image: Mapping[str, Any]) -> datetime | None:
    """What "date taken" sorts by: the EXIF capture time when the worker found one, else
    the upload time."""
    taken = image.get("taken_at")
    return taken if isinstance(taken, datetime) else image.get("created_at")


class AlbumImages:
    """The memberships' side of image writes: called by ImageDocuments, never by views."""

    def __init__(self, db: Database[Document]) -> None:
        self._albums = db[ALBUMS]
        self._members = db[ALBUM_IMAGES]

    def set_trashed(self, image_id: ObjectId, trashed: bool) -> None:
        """The image went to the trash (or came back): album pages drop (or regain) it, and
        its albums' ``updated_at`` moves (their counts are cached under it)."""
        self._members.update_many({"image_id": image_id}, {"$set": {"hidden": trashed}})
        self._renew(image_id)

    def _renew(self, image_id: ObjectId) -> None:
        albums = [doc["album_id"] for doc in self._members.find({"image_id": image_id}, {"album_id": 1})]
        if albums:
            self._albums.update_many({"_id": {"$in": albums}}, {"$set": {"updated_at": utcnow()}})

    def set_date_taken(self, image: Mapping[str, Any]) -> None:
        """The worker (re)read the image's capture time: album pages sort it there."""
        self._members.update_many({"image_id": image["_id"]}, {"$set": {"taken_at": date_taken(image)}})

    def forget(self, image_id: ObjectId) -> None:
        """The image was deleted for good: out of every album, no album's cover any more."""
        self._renew(image_id)
        self._members.delete_many({"image_id": image_id})
        self._albums.update_many({"cover_image_id": image_id}, {"$set": {"cover_image_id": None}})


class AlbumDocuments:
    """Reads and writes of albums and their memberships for one database."""

    def __init__(self, db: Database[Document]) -> None:
        self._albums = db[ALBUMS]
        self._members = db[ALBUM_IMAGES]
        #: Where each album's pages by date taken are (in process; album_windows.DateHints).
        self._hints = DateHints()

    # --- albums -----------------------------------------------------------------------
    def _touch(self, album: Mapping[str, Any]) -> None:
        """After a write: the owner's listing stamp, so no cached copy of the album survives it."""
        stamps.touch(self._albums.database, album.get("owner_id"), public=False)

    def insert(self, album: Document) -> None:
        self._albums.insert_one(album)
        self._touch(album)

    def find_one(self, query: Mapping[str, Any]) -> Document | None:
        return self._albums.find_one(query)

    def owned(self, owner_id: ObjectId) -> list[Document]:
        """The owner's albums, newest first (at most MAX_ALBUMS_PER_USER exist)."""
        return list(self._albums.find({"owner_id": owner_id}).sort("_id", DESCENDING)
                    .limit(MAX_ALBUMS_PER_USER))

    def count_owned(self, owner_id: ObjectId) -> int:
        return self._albums.count_documents({"owner_id": owner_id})

    def by_ids(self, owner_id: ObjectId, album_ids: Iterable[ObjectId]) -> list[Document]:
        return list(self._albums.find({"_id": {"$in": list(album_ids)}, "owner_id": owner_id})
                    .sort("title", ASCENDING))

    def update(self, album: Mapping[str, Any], changes: Mapping[str, Any]) -> Document | None:
        """Apply changes to one owner's album; the album as written, None if it is gone."""
        written = self._albums.find_one_and_update(
            {"_id": album["_id"], "owner_id": album["owner_id"]},
            {"$set": {**changes, "updated_at": utcnow()}}, return_document=ReturnDocument.AFTER)
        self._touch(album)
        return written

    def delete(self, album: Mapping[str, Any]) -> bool:
        """Delete the album (at once invisible: every read starts from it), then its
        memberships; images are never touched. False if it was already gone."""
        gone = self._albums.delete_one({"_id": album["_id"], "owner_id": album["owner_id"]}).deleted_count
        self._members.delete_many({"album_id": album["_id"]})
        self._touch(album)
        return bool(gone)

    # --- memberships ------------------------------------------------------------------
    def add(self, album: Mapping[str, Any], images: list[Mapping[str, Any]]) -> dict[ObjectId, str]:
        """Add the owner's ``images`` (checked by the caller) to the album: image id ->
        ADDED or ALREADY. Idempotent: a retry after a failure half-way adds the rest.
        New memberships take the album's next numbers, in image id order (a number a
        failed insert took is just a gap); the album's ``updated_at`` moves after the
        insert, so no page is cached from before it under the new time."""
        if not images:
            return {}
        ids = [image["_id"] for image in images]
        present = {doc["image_id"] for doc in self._members.find(
            {"album_id": album["_id"], "image_id": {"$in": ids}}, {"image_id": 1})}
        fresh = sorted((image for image in images if image["_id"] not in present), key=lambda i: i["_id"])
        if fresh and self.numbered(album) is not None:
            reserved = self._albums.find_one_and_update(
                {"_id": album["_id"]}, {"$inc": {ADDED_SEQ: len(fresh)}},
                {ADDED_SEQ: 1}, return_document=ReturnDocument.AFTER)
            first = int(reserved[ADDED_SEQ]) - len(fresh) if reserved else 0
            now = utcnow()
            new = [{"album_id": album["_id"], "image_id": image["_id"], "owner_id": album["owner_id"],
                    "added_at": now, "seq": first + n, "taken_at": date_taken(image),
                    "hidden": image.get("trashed_at") is not None}
                   for n, image in enumerate(fresh)]
            try:
                self._members.insert_many(new, ordered=False)
            except BulkWriteError as err:  # added by a concurrent call meanwhile: fine
                if any(e.get("code") != 11000 for e in err.details.get("writeErrors", [])):
                    raise
            self._albums.update_one({"_id": album["_id"]}, {"$set": {"updated_at": now}})
            self._touch(album)
        return {oid: ALREADY if oid in present else ADDED for oid in ids}

    def number_all(self) -> int:
        """Number the memberships of every album made before numbers existed (the schema
        migration that does it ahead of the first page that would); returns how many
        albums it numbered. Resumable like ``numbered``."""
        albums = list(self._albums.find({ADDED_SEQ: {"$exists": False}}, {"_id": 1}))
        return sum(self.numbered(album) is not None for album in albums)

    def numbered(self, album: Mapping[str, Any]) -> int | None:
        """The album's count of membership numbers, after numbering the memberships written
        before numbers existed (once per album, in the order they were added; then the
        count is stored, and adds number on from it). None if the album is gone.

        Until the count is stored every membership is such an old one, so the numbers are
        computed over all of them: a numbering cut short (a timeout, a restarted worker)
        is resumed by the next, which writes only what is missing. Two replicas numbering
        at once write the same numbers unless a membership left meanwhile; a number held
        twice is only a tie, which pages still order by image id."""
        if ADDED_SEQ in album:
            return int(album[ADDED_SEQ])
        with pymongo.timeout(NUMBERING_SECONDS):
            members = sorted(self._members.find({"album_id": album["_id"]},
                                                {"added_at": 1, "image_id": 1, "seq": 1}),
                             key=lambda m: (m["added_at"], m["image_id"]))
            writes = [UpdateOne({"_id": m["_id"]}, {"$set": {"seq": n}})
                      for n, m in enumerate(members) if m.get("seq") != n]
            for start in range(0, len(writes), NUMBERING_BATCH):
                self._members.bulk_write(writes[start:start + NUMBERING_BATCH], ordered=False)
            done = self._albums.find_one_and_update(
                {"_id": album["_id"]}, {"$max": {ADDED_SEQ: len(members)}}, {ADDED_SEQ: 1},
                return_document=ReturnDocument.AFTER)
        return None if done is None else int(done[ADDED_SEQ])

    def remove(self, album: Mapping[str, Any], image_ids: list[ObjectId]) -> dict[ObjectId, str]:
        """Take images out of the album: image id -> REMOVED or NOT_IN_ALBUM. A removed
        cover stops being the cover."""
        present = {doc["image_id"] for doc in self._members.find(
            {"album_id": album["_id"], "image_id": {"$in": image_ids}}, {"image_id": 1})}
        if present:
            self._members.delete_many({"album_id": album["_id"], "image_id": {"$in": list(present)}})
            changes: dict[str, Any] = {"updated_at": utcnow()}
            if album.get("cover_image_id") in present:
                changes["cover_image_id"] = None
            self._albums.update_one({"_id": album["_id"]}, {"$set": changes})
            self._touch(album)
        return {oid: REMOVED if oid in present else NOT_IN_ALBUM for oid in image_ids}

    def is_member(self, album_id: ObjectId, image_id: ObjectId) -> bool:
        return self._members.find_one({"album_id": album_id, "image_id": image_id,
                                       "hidden": {"$ne": True}}, {"_id": 1}) is not None

    def page(self, album: Mapping[str, Any], sort: str, *, newest_first: bool,
             after: tuple[Any, ObjectId] | None, limit: int) -> list[Document]:
        """Memberships of one album, not trashed, sorted by ``sort`` ("taken": date taken;
        "added": the membership's number) then image id, starting after the cursor
        ``after`` (that sort value, image id). Read in ranges of the sort key
        (picsource_core.album_windows), so no page reads the whole album on SecantusDB."""
        if sort == "added":
            top = self.numbered(album)
            return [] if top is None else self._page_by_number(album["_id"], top, newest_first, after, limit)
        return self._page_by_date(album["_id"], newest_first, after, limit)

    def _page_by_number(self, album_id: ObjectId, top: int, newest_first: bool,
                        after: tuple[Any, ObjectId] | None, limit: int) -> list[Document]:
        base: dict[str, Any] = {"album_id": album_id, "hidden": False}
        direction = DESCENDING if newest_first else ASCENDING
        order = [("seq", direction), ("image_id", direction)]
        edge = int(after[0]) if after is not None else None

        def passed(member: Mapping[str, Any]) -> bool:  # the cursor's own number: ties
            return (after is not None and member["seq"] == edge
                    and (member["image_id"] >= after[1] if newest_first else member["image_id"] <= after[1]))

        out: list[Document] = []
        for span in seq_spans(newest_first, edge, top, limit):
            query = {**base, "seq": span} if span else base
            found = self._members.find(query, {"image_id": 1, "seq": 1}).sort(order)
            out += [m for m in found.limit(limit - len(out) + (TIES if edge is not None else 0)) if not passed(m)]
            if len(out) >= limit:
                break
        return out[:limit]

    def _page_by_date(self, album_id: ObjectId, newest_first: bool,
                      after: tuple[Any, ObjectId] | None, limit: int) -> list[Document]:
        """Ties with the cursor's date are one equality read, so no window needs an ``$or``."""
        field = SORT_FIELDS["taken"]
        base: dict[str, Any] = {"album_id": album_id, "hidden": False}
        direction = DESCENDING if newest_first else ASCENDING
        order = [(field, direction), ("image_id", direction)]
        fields = {"image_id": 1, field: 1}
        out: list[Document] = []
        if after is not None:  # the rest of the cursor's own date first
            ties = {**base, field: after[0], "image_id": {"$lt" if newest_first else "$gt": after[1]}}
            out = list(self._members.find(ties, fields).sort(order).limit(limit))
        edge = after[0] if after is not None else None
        for span in self._hints.spans(album_id, newest_first, edge, utcnow()):
            if len(out) >= limit:
                break
            query = {**base, field: span} if span else base
            out += self._members.find(query, fields).sort(order).limit(limit - len(out))
        self._hints.learn(album_id, newest_first, edge, [m[field] for m in out[:limit]], limit)
        return out[:limit]

    def first_image(self, album: Mapping[str, Any]) -> ObjectId | None:
        """The most recently added image that is not trashed: the cover when none is set."""
        found = self.page(album, "added", newest_first=True, after=None, limit=1)
        return found[0]["image_id"] if found else None

    def counts(self, owner_id: ObjectId) -> dict[ObjectId, int]:
        """album id -> how many of its images are not in the trash, for all the owner's albums."""
        return {row["_id"]: int(row["n"]) for row in self._members.aggregate([
            {"$match": {"owner_id": owner_id, "hidden": False}},
            {"$group": {"_id": "$album_id", "n": {"$sum": 1}}},
        ])}

    @staticmethod
    def settled(album: Mapping[str, Any]) -> bool:
        """Whether reading the album's pages writes nothing more to its document: its
        memberships are numbered and its count is stored under its ``updated_at``. Only a
        settled document may be kept in process: a kept copy of an unsettled one would
        have every page read number or count the album again (1.3 s at 20,000)."""
        kept, at = album.get(COUNTED), album.get("updated_at")
        return ADDED_SEQ in album and isinstance(kept, Mapping) and at is not None and kept.get("at") == at

    def count(self, album: Mapping[str, Any]) -> int:
        """How many of one album's images are not in the trash. The count is kept on the
        album under the ``updated_at`` it was made at (every change of the album, its
        members or their trash marks moves that time, after the change), so each change
        is counted once for every replica, not once per process (a count of 20,000
        memberships reads them all: 1.3 s on SecantusDB). It is stored only while the
        album still has that time, so a count made across a change is never kept."""
        at, kept = album.get("updated_at"), album.get(COUNTED)
        if at is not None and isinstance(kept, Mapping) and kept.get("at") == at:
            return int(kept["n"])
        n = self._members.count_documents({"album_id": album["_id"], "hidden": False})
        if at is not None:
            self._albums.update_one({"_id": album["_id"], "updated_at": at}, {"$set": {COUNTED: {"at": at, "n": n}}})
        return n

    def albums_of(self, image_id: ObjectId) -> list[ObjectId]:
        """The ids of the albums an image is in."""
        return [doc["album_id"] for doc in self._members.find({"image_id": image_id}, {"album_id": 1})]
