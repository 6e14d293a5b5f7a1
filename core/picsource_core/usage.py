"""The gallery's running storage total, so a gallery-wide cap costs one update per upload.

Why a counter and not a sum: summing every image's ``bytes`` on each upload reads the
whole collection, and gets slower as the gallery grows. One document holds the total of
the originals' bytes and the image count; ``ImageDocuments`` (the only writer of image
documents) adds an image's size when it inserts it and subtracts it when it deletes it.

Why a reservation: under a cap, the addition is conditional (``bytes <= cap - size``) and
atomic on the server, so of two uploads that would each fit alone but not together,
exactly one gets in, on any replica, with no check-then-act window.

Drift: the counter errs on the safe side. A process that dies between reserving and
inserting (or between deleting and subtracting) leaves the total a little high, never
low, so the cap may refuse a little early but is never exceeded. ``recount`` (run by the
admin's orphan sweep) sets it back to the sum of the documents.

Start-up: galleries older than the counter have images but no counter; ``initialise``
(web start-up, and the first reservation that finds no counter) creates it from one sum.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from picsource_core.mongo import IMAGES, USAGE, Document

#: The counter document's id: one per gallery (one gallery = one database).
GALLERY = "gallery"


class StorageFull(Exception):
    """The gallery-wide cap has no room for ``size`` more bytes (``used`` of ``cap``)."""

    def __init__(self, size: int, used: int, cap: int) -> None:
        super().__init__(f"gallery storage full: {size} bytes do not fit, {used} of {cap} used")
        self.size, self.used, self.cap = size, used, cap


@dataclass(frozen=True)
class Usage:
    images: int
    bytes: int


class GalleryUsage:
    """The running total of one gallery's stored originals."""

    def __init__(self, db: Database[Document]) -> None:
        self._db = db
        self._counters = db[USAGE]

    def current(self) -> Usage:
        """The total as counted (creating the counter first if it is missing)."""
        doc = self._counters.find_one({"_id": GALLERY})
        if doc is None:
            return self.initialise()
        return Usage(images=int(doc.get("images", 0)), bytes=int(doc.get("bytes", 0)))

    def reserve(self, size: int, cap: int | None) -> None:
        """Add one image of ``size`` bytes; under ``cap``, only if it fits (else StorageFull)."""
        if cap is not None and size > cap:
            raise StorageFull(size, 0, cap)
        query: Document = {"_id": GALLERY}
        if cap is not None:
            query["bytes"] = {"$lte": cap - size}
        for _ in range(2):
            if self._counters.update_one(query, {"$inc": {"bytes": size, "images": 1}}).matched_count:
                return
            if cap is None or self._counters.find_one({"_id": GALLERY}, {"_id": 1}) is None:
                self.initialise()  # no counter yet: create it from the documents, then retry
                continue
            raise StorageFull(size, self.current().bytes, cap)
        raise StorageFull(size, self.current().bytes, cap or 0)

    def release(self, size: int) -> None:
        """Subtract one image of ``size`` bytes (deleted, or an insert that did not happen)."""
        self._counters.update_one({"_id": GALLERY}, {"$inc": {"bytes": -size, "images": -1}})

    def initialise(self) -> Usage:
        """Create the counter from the documents if it does not exist yet (idempotent)."""
        usage = self._sum()
        try:
            self._counters.update_one(
                {"_id": GALLERY},
                {"$setOnInsert": {"bytes": usage.bytes, "images": usage.images}},
                upsert=True,
            )
        except DuplicateKeyError:  # another replica created it at the same moment
            pass
        doc = self._counters.find_one({"_id": GALLERY}) or {}
        return Usage(images=int(doc.get("images", 0)), bytes=int(doc.get("bytes", 0)))

    def recount(self) -> Usage:
        """Set the counter to the sum of the documents (repairs drift; an admin action).

        An upload between the sum and the write is counted twice or not at all; the next
        recount repairs that too, and uploads are rare next to this single write."""
        usage = self._sum()
        self._counters.update_one({"_id": GALLERY},
                                  {"$set": {"bytes": usage.bytes, "images": usage.images}}, upsert=True)
        return usage

    def _sum(self) -> Usage:
        rows = list(self._db[IMAGES].aggregate([
            {"$group": {"_id": None, "n": {"$sum": 1}, "bytes": {"$sum": "$bytes"}}},
        ]))
        return Usage(images=int(rows[0]["n"]), bytes=int(rows[0]["bytes"])) if rows else Usage(0, 0)
