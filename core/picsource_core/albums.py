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

Album pages are not cached (no listing stamp): each is one indexed read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from picsource_core.mongo import ALBUM_IMAGES, ALBUMS, Document
from picsource_core.queue import utcnow

#: The most image ids one add or remove call takes: one bounded $in query, one answer.
MAX_IDS_PER_CALL = 500
#: The most albums one user may have: the Albums page lists them all on one page.
MAX_ALBUMS_PER_USER = 1000
#: Sort orders of an album page: the date taken (EXIF, else the upload time) or added.
SORT_FIELDS = {"taken": "taken_at", "added": "added_at"}

#: Album pages are read in date windows (AlbumDocuments.page): the first this wide, each next
#: four times wider, the last unbounded; oldest-first walks start at the first photograph.
FIRST_WINDOW = timedelta(days=7)
PAGE_WINDOWS = 7
OLDEST = datetime(1826, 1, 1, tzinfo=UTC)

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


def window_spans(newest_first: bool, edge: datetime | None, start: datetime) -> list[dict[str, Any]]:
    """The date ranges an album page reads, in order: from ``edge`` (the cursor's date,
    excluded; None on a first page) in the page's direction, the first FIRST_WINDOW wide
    and each next four times wider, the last unbounded, so nothing is ever missed.
    ``start`` is where the first window's far side is measured from: tomorrow for newest
    first (the first window is open above, for dates after tomorrow too), the oldest date
    seen before for oldest first (the first window is open below)."""
    spans: list[dict[str, Any]] = []
    width = FIRST_WINDOW
    for window in range(PAGE_WINDOWS - 1):
        if newest_first:
            far = start - width
            span = {"$gte": far} if window == 0 and edge is None else {"$gte": far, "$lt": start}
        else:
            far = start + width
            near = ({"$gt": edge} if edge is not None else {}) if window == 0 else {"$gte": start}
            span = {**near, "$lt": far}
        spans.append(span)
        start, width = far, width * 4
    spans.append({"$lt": start} if newest_first else {"$gte": start})
    return spans


class AlbumDocuments:
    """Reads and writes of albums and their memberships for one database."""

    def __init__(self, db: Database[Document]) -> None:
        self._albums = db[ALBUMS]
        self._members = db[ALBUM_IMAGES]
        #: album id -> the oldest sort date an oldest-first page found (a hint, see page).
        self._oldest: dict[ObjectId, datetime] = {}

    # --- albums -----------------------------------------------------------------------
    def insert(self, album: Document) -> None:
        self._albums.insert_one(album)

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
        return self._albums.find_one_and_update(
            {"_id": album["_id"], "owner_id": album["owner_id"]},
            {"$set": {**changes, "updated_at": utcnow()}}, return_document=ReturnDocument.AFTER)

    def delete(self, album: Mapping[str, Any]) -> bool:
        """Delete the album (at once invisible: every read starts from it), then its
        memberships; images are never touched. False if it was already gone."""
        gone = self._albums.delete_one({"_id": album["_id"], "owner_id": album["owner_id"]}).deleted_count
        self._members.delete_many({"album_id": album["_id"]})
        return bool(gone)

    # --- memberships ------------------------------------------------------------------
    def add(self, album: Mapping[str, Any], images: list[Mapping[str, Any]]) -> dict[ObjectId, str]:
        """Add the owner's ``images`` (checked by the caller) to the album: image id ->
        ADDED or ALREADY. Idempotent: a retry after a failure half-way adds the rest."""
        if not images:
            return {}
        ids = [image["_id"] for image in images]
        present = {doc["image_id"] for doc in self._members.find(
            {"album_id": album["_id"], "image_id": {"$in": ids}}, {"image_id": 1})}
        now = utcnow()
        new = [{"album_id": album["_id"], "image_id": image["_id"], "owner_id": album["owner_id"],
                "added_at": now, "taken_at": date_taken(image),
                "hidden": image.get("trashed_at") is not None}
               for image in images if image["_id"] not in present]
        if new:
            try:
                self._members.insert_many(new, ordered=False)
            except BulkWriteError as err:  # added by a concurrent call meanwhile: fine
                if any(e.get("code") != 11000 for e in err.details.get("writeErrors", [])):
                    raise
            self._albums.update_one({"_id": album["_id"]}, {"$set": {"updated_at": now}})
        return {oid: ALREADY if oid in present else ADDED for oid in ids}

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
        return {oid: REMOVED if oid in present else NOT_IN_ALBUM for oid in image_ids}

    def is_member(self, album_id: ObjectId, image_id: ObjectId) -> bool:
        return self._members.find_one({"album_id": album_id, "image_id": image_id,
                                       "hidden": {"$ne": True}}, {"_id": 1}) is not None

    def page(self, album_id: ObjectId, sort: str, *, newest_first: bool,
             after: tuple[datetime, ObjectId] | None, limit: int) -> list[Document]:
        """Memberships of one album, not trashed, sorted by ``sort`` ("taken" or "added")
        then image id, starting after the cursor ``after`` (sort value, image id).

        Read in date windows (PAGE_WINDOWS, each four times the last, the last unbounded):
        a MongoDB-wire server that reads every index match before ``limit`` (SecantusDB)
        would otherwise read the whole album for each page, ~1 s at 20,000 images. Ties
        with the cursor's date are one equality read, so no window needs an ``$or``."""
        field = SORT_FIELDS[sort]
        base: dict[str, Any] = {"album_id": album_id, "hidden": False}
        direction = DESCENDING if newest_first else ASCENDING
        order = [(field, direction), ("image_id", direction)]
        fields = {"image_id": 1, field: 1}
        out: list[Document] = []
        if after is not None:  # the rest of the cursor's own date first
            ties = {**base, field: after[0], "image_id": {"$lt" if newest_first else "$gt": after[1]}}
            out = list(self._members.find(ties, fields).sort(order).limit(limit))
        edge = after[0] if after is not None else None
        start = edge if edge is not None or newest_first else self._oldest.get(album_id, OLDEST)
        for span in window_spans(newest_first, edge, start or utcnow() + timedelta(days=1)):
            if len(out) >= limit:
                break
            out += self._members.find({**base, field: span}, fields).sort(order).limit(limit - len(out))
        if not newest_first and after is None and out:  # where the next oldest-first walk starts
            if len(self._oldest) >= 4096:
                self._oldest.clear()  # a hint only: forgetting costs a few more windows
            self._oldest[album_id] = out[0][field]
        return out[:limit]

    def first_image(self, album_id: ObjectId) -> ObjectId | None:
        """The most recently added image that is not trashed: the cover when none is set."""
        found = list(self._members.find({"album_id": album_id, "hidden": False}, {"image_id": 1})
                     .sort([("added_at", DESCENDING), ("image_id", DESCENDING)]).limit(1))
        return found[0]["image_id"] if found else None

    def counts(self, owner_id: ObjectId) -> dict[ObjectId, int]:
        """album id -> how many of its images are not in the trash, for all the owner's albums."""
        return {row["_id"]: int(row["n"]) for row in self._members.aggregate([
            {"$match": {"owner_id": owner_id, "hidden": False}},
            {"$group": {"_id": "$album_id", "n": {"$sum": 1}}},
        ])}

    def count(self, album_id: ObjectId) -> int:
        """How many of one album's images are not in the trash."""
        return self._members.count_documents({"album_id": album_id, "hidden": False})

    def albums_of(self, image_id: ObjectId) -> list[ObjectId]:
        """The ids of the albums an image is in."""
        return [doc["album_id"] for doc in self._members.find({"image_id": image_id}, {"album_id": 1})]
