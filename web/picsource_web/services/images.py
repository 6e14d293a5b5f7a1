"""Image repository: reads, edits and deletes with visibility decided in one place.

Visibility rule (the privacy matrix tests pin it down): the owner sees everything they
own; anyone may see ``public`` images; ``unlisted`` ones only through their share token;
``private`` ones only their owner; an image in the trash only its owner. Everyone else gets ``NotFound`` — the same answer as
for an id that does not exist — so nobody can probe for other people's private images.
Pages of many images (listings, ranked searches) are read by ``ImageListings``
(services/listings.py), which the repository holds as ``listings``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from picsource_core.image_documents import ImageDocuments
from picsource_core.image_embedding import EMBEDDING
from picsource_core.images import (
    ARCHIVED,
    FAVOURITE,
    PRIVATE,
    PUBLIC,
    STATUSES,
    UNLISTED,
    having_links,
    linking_to,
    near_duplicate_ids,
)
from picsource_core.mongo import Document
from picsource_core.queue import JobQueue, utcnow
from picsource_core.search import query_tokens
from picsource_core.storage import ObjectStore
from picsource_core.text_embedding import TEXT_VECTOR
from picsource_core.trash import TRASHED_AT, purge_image
from picsource_web.services.errors import NotFound
from picsource_web.services.likeness import SIMILAR_CANDIDATES, rank_by_cosine
from picsource_web.services.listing_cache import ListingCache
from picsource_web.services.listings import TILE_FIELDS, ImageListings, Page
from picsource_web.services.metadata import ImageMetadata
from picsource_web.services.query import public_listing
from picsource_web.services.scan import ListingScan
from picsource_web.services.users import Viewer, parse_object_id


def new_share_token() -> str:
    return secrets.token_urlsafe(18)


def can_view(doc: Document, viewer: Viewer, share_token: str | None = None) -> bool:
    if viewer.user_id is not None and doc.get("owner_id") == viewer.user_id:
        return True
    if doc.get(TRASHED_AT) is not None:
        return False
    if doc.get("visibility") == PUBLIC:
        return True
    return bool(
        doc.get("visibility") == UNLISTED and share_token
        and secrets.compare_digest(str(doc.get("share_token", "")), share_token)
    )


def can_edit(doc: Document, viewer: Viewer) -> bool:
    return viewer.user_id is not None and doc.get("owner_id") == viewer.user_id


class ImageRepository:
    def __init__(self, db: Database[Document], store: ObjectStore, queue: JobQueue,
                 cache: ListingCache[Page] | None = None, scan_mode: str = "auto") -> None:
        self.docs = ImageDocuments(db)
        self.db = db
        self.store = store
        self.queue = queue
        #: Listing and ranked-search pages (services/listings.py), cached in ``cache``.
        self.listings = ImageListings(self.docs, db, cache, scan_mode)

    @property
    def scanner(self) -> ListingScan:
        """How listings are read (services/scan.py), as the listings read them."""
        return self.listings.scanner

    # --- reads ------------------------------------------------------------------
    def get_visible(self, image_id: object, viewer: Viewer, share_token: str | None = None,
                    projection: dict[str, int] | None = None) -> Document:
        oid = parse_object_id(image_id)
        doc = self.docs.find_one({"_id": oid}, projection) if oid else None
        if doc is None or not can_view(doc, viewer, share_token):
            raise NotFound("No such image.")
        return doc

    def get_owned(self, image_id: object, viewer: Viewer) -> Document:
        """For edits and deletes: only the owner; others get the same 404 as a missing id."""
        oid = parse_object_id(image_id)
        if oid is None or viewer.user_id is None:
            raise NotFound("No such image.")
        doc = self.docs.find_one({"_id": oid, "owner_id": viewer.user_id})
        if doc is None:
            raise NotFound("No such image.")
        return doc

    def get_by_share_token(self, token: str) -> Document:
        if not token or len(token) > 64:
            raise NotFound("This share link is not valid (any more).")
        doc = self.docs.find_one({"share_token": token, "visibility": {"$in": [UNLISTED, PUBLIC]},
                                  TRASHED_AT: None})
        if doc is None:
            raise NotFound("This share link is not valid (any more).")
        return doc

    def find_duplicate(self, owner_id: ObjectId, sha256: str) -> Document | None:
        """The owner's image with these bytes ({"_id": ...}), if any: uploads skip it."""
        found = self.find_by_hashes(owner_id, [sha256])
        return {"_id": found[sha256]} if sha256 in found else None

    def find_by_hashes(self, owner_id: ObjectId, sha256s: list[str]) -> dict[str, ObjectId]:
        """sha256 -> image id for those of ``sha256s`` the owner already has. The one query
        behind duplicate detection (uploads, the importer's lookup); scoped to the owner,
        so nobody learns which bytes another user stored. Uses the owner_sha256 index."""
        if not sha256s:
            return {}
        flt = ({"owner_id": owner_id, "sha256": sha256s[0]} if len(sha256s) == 1
               else {"owner_id": owner_id, "sha256": {"$in": sha256s}})
        return {str(doc["sha256"]): doc["_id"]
                for doc in self.docs.find(flt, {"_id": 1, "sha256": 1})}

    def owned_many(self, owner_id: ObjectId, ids: list[ObjectId],
                   projection: Mapping[str, Any] | None = None) -> list[Document]:
        """Those of ``ids`` that are the owner's images, trashed ones included (bulk actions
        and zip downloads); others' images are simply absent."""
        return list(self.docs.find({"_id": {"$in": ids}, "owner_id": owner_id}, projection))

    def located(self, owner_id: ObjectId, bounds: tuple[float, float, float, float],
                limit: int) -> list[Document]:
        """The owner's photos with a GPS position inside (south, west, north, east), newest
        first, at most ``limit``: the map's points. Trashed images are left out; archived
        ones stay (the map is of everything the owner keeps)."""
        south, west, north, east = bounds
        flt = {"owner_id": owner_id, TRASHED_AT: None,
               "analysis.exif.latitude": {"$gte": south, "$lte": north},
               "analysis.exif.longitude": {"$gte": west, "$lte": east}}
        fields = {"title": 1, "thumbnails": 1, "status": 1, "visibility": 1, "owner_id": 1,
                  "analysis.exif.latitude": 1, "analysis.exif.longitude": 1}
        return list(self.docs.find(flt, fields).sort("_id", -1).limit(limit))

    def with_near_duplicates(self, owner_id: ObjectId, limit: int) -> list[Document]:
        """The owner's photos (not in the trash) that the worker linked to a near-duplicate,
        at most ``limit``: what duplicate review groups. Those whose own list has a link,
        newest first, then the ones they link to (a link is stored on one side only)."""
        fields = {EMBEDDING: 0, "search_tokens": 0, TEXT_VECTOR: 0}
        scope = {"owner_id": owner_id, TRASHED_AT: None}
        linking = list(self.docs.find({**scope, **having_links()}, fields).sort("_id", -1).limit(limit))
        have = {doc["_id"] for doc in linking}
        wanted = list(dict.fromkeys(oid for doc in linking for oid in near_duplicate_ids(doc) if oid not in have))
        room = limit - len(linking)
        if not wanted or room <= 0:
            return linking
        return linking + list(self.docs.find({**scope, "_id": {"$in": wanted[:room]}}, fields))

    def newest_owned(self, owner_id: ObjectId, limit: int, projection: Mapping[str, Any]) -> list[Document]:
        """The owner's newest images (trash left out), at most ``limit``, through the listing
        scanner (windowed where the server needs it): autocomplete's words."""
        return list(self.scanner.newest(self.docs, {"owner_id": owner_id, TRASHED_AT: None}, limit, dict(projection)))

    def similar(self, doc: Document, viewer: Viewer, limit: int = 8) -> list[Document]:
        """Near-duplicates recorded by the worker first, then the images that look most
        alike: candidates share a label or a colour family with ``doc`` (SIMILAR_CANDIDATES
        of them at most, found through the windowed scan), ranked by the cosine of their
        image embeddings (the worker's EfficientNet features); without embeddings they
        keep the scan's newest-first order.

        Candidates are restricted to what the viewer may see (own images, or public ones
        for other viewers), so "similar" never reveals someone else's private image.
        """
        scope: dict[str, Any] = (
            {"owner_id": viewer.user_id} if viewer.user_id is not None and viewer.user_id == doc["owner_id"]
            else public_listing()
        )
        scope[TRASHED_AT] = None
        near_found: dict[ObjectId, Document] = {}
        near_ids = near_duplicate_ids(doc)
        if near_ids:
            for item in self.docs.find({"_id": {"$in": near_ids[:limit]}, **scope}, TILE_FIELDS):
                near_found[item["_id"]] = item
        if len(near_found) < limit:  # and those whose own list links to this one
            for item in self.docs.find({**linking_to(doc["_id"]), **scope}, TILE_FIELDS).limit(limit):
                near_found.setdefault(item["_id"], item)
        labels = [str(lbl["label"]) for lbl in (doc.get("analysis") or {}).get("labels") or []
                  if isinstance(lbl, dict) and lbl.get("label")][:3]
        queries: list[dict[str, Any]] = [
            {**scope, "search_tokens": token} for token in query_tokens(" ".join(labels))[:2]
        ]
        queries += [{**scope, "colour_families": fam} for fam in (doc.get("colour_families") or [])[:1]]
        found: dict[ObjectId, Document] = {}
        for extra in queries:  # windowed: cheap even when thousands share a label
            if len(found) > SIMILAR_CANDIDATES:
                break
            for item in self.scanner.newest(self.docs, extra, SIMILAR_CANDIDATES + 1, TILE_FIELDS):
                found.setdefault(item["_id"], item)
        for oid in (doc["_id"], *near_found):
            found.pop(oid, None)
        looks = self._by_look(doc["_id"], list(found.values()))
        return (list(near_found.values()) + looks)[:limit]

    def _by_look(self, image_id: ObjectId, candidates: list[Document]) -> list[Document]:
        """``candidates`` by the cosine of their embedding with the image's, most alike first
        (stable: those without one keep their order, after those with one)."""
        wanted = [image_id, *(c["_id"] for c in candidates)]
        vectors = {d["_id"]: d.get(EMBEDDING) for d in self.docs.find({"_id": {"$in": wanted}}, {EMBEDDING: 1})}
        target = vectors.get(image_id)
        if target is None or not candidates:
            return candidates
        return rank_by_cosine(target, candidates, vectors)

    def usage(self, owner_id: ObjectId, up_to: ObjectId | None = None) -> tuple[int, int]:
        """(image count, total bytes) of one owner (only images up to ``up_to`` if given)."""
        match: dict[str, Any] = {"owner_id": owner_id}
        if up_to is not None:
            match["_id"] = {"$lte": up_to}
        rows = list(self.docs.aggregate([
            {"$match": match},
            {"$group": {"_id": None, "n": {"$sum": 1}, "bytes": {"$sum": "$bytes"}}},
        ]))
        return (int(rows[0]["n"]), int(rows[0]["bytes"])) if rows else (0, 0)

    def usage_and_duplicate(self, owner_id: ObjectId, sha256: str) -> tuple[tuple[int, int], ObjectId | None]:
        """``usage(owner_id)`` and the id of the owner's image with these bytes, in one pass
        (an upload under a quota needs both; the pass reads the owner's images anyway)."""
        rows = list(self.docs.aggregate([
            {"$match": {"owner_id": owner_id}},
            {"$group": {"_id": None, "n": {"$sum": 1}, "bytes": {"$sum": "$bytes"},
                        "same": {"$max": {"$cond": [{"$eq": ["$sha256", sha256]}, "$_id", None]}}}},
        ]))
        if not rows:
            return (0, 0), None
        same = rows[0].get("same")
        return (int(rows[0]["n"]), int(rows[0]["bytes"])), same if isinstance(same, ObjectId) else None

    def usage_by_owner(self) -> dict[ObjectId, tuple[int, int]]:
        return {
            row["_id"]: (int(row["n"]), int(row["bytes"]))
            for row in self.docs.aggregate([
                {"$group": {"_id": "$owner_id", "n": {"$sum": 1}, "bytes": {"$sum": "$bytes"}}},
            ])
        }

    def count_by_status(self) -> dict[str, int]:
        """How many images are in each analysis status, every status named (for the admin)."""
        counts = dict.fromkeys(STATUSES, 0)
        for row in self.docs.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}]):
            counts[str(row["_id"])] = int(row["n"])
        return counts

    # --- writes -----------------------------------------------------------------
    def update_metadata(self, doc: Document, meta: ImageMetadata, *,
                        embed_later: list[ObjectId] | None = None) -> Document:
        """Apply an edit. Making an image private also retires its share link for good: a
        link handed out before must not come back to life if it is shared again later.
        A changed text asks the worker to embed it again (core's ``edit``); bulk edits pass
        ``embed_later`` and ask for all of them at once (``request_embeds``)."""
        changes: dict[str, Any] = {"title": meta.title, "description": meta.description,
                                   "tags": meta.tags, "visibility": meta.visibility}
        if meta.visibility == PRIVATE and doc.get("visibility") != PRIVATE:
            changes["share_token"] = new_share_token()
        return self.docs.edit(doc, changes, embed_later=embed_later)

    def request_embeds(self, image_ids: list[ObjectId]) -> int:
        """Ask the worker to embed these images' text again, in one write."""
        return self.docs.request_embeds(image_ids)

    def set_marks(self, doc: Document, *, favourite: bool | None = None,
                  archived: bool | None = None) -> Document:
        """Set the owner's favourite and/or archived marks (None leaves one as it is);
        through the one write path, so the Favourites, Archive and main grids change at once."""
        changes: dict[str, Any] = {}
        if favourite is not None:
            changes[FAVOURITE] = favourite
        if archived is not None:
            changes[ARCHIVED] = archived
        return self.docs.edit(doc, changes) if changes else doc

    def mark_pending(self, image_id: ObjectId) -> None:
        """Show the image as waiting for analysis again (an admin retried its job)."""
        self.docs.mark_pending(image_id)

    def rotate_share_token(self, doc: Document) -> str:
        """A new share link; the old one stops working at once."""
        token = new_share_token()
        self.docs.edit(doc, {"share_token": token})
        return token

    def trash(self, doc: Document) -> bool:
        """Move to the trash (picsource_core.trash): out of every listing and out of
        everyone else's reach at once, its share link retired for good; False if it was
        there already."""
        return self.docs.trash(doc, utcnow(), new_share_token())

    def restore(self, doc: Document) -> bool:
        """Back out of the trash; False if it was not in it."""
        return self.docs.restore(doc)

    def purge(self, doc: Document, *, from_trash: bool = False) -> bool:
        """Delete for good: document, jobs and objects (picsource_core.trash.purge_image).
        ``from_trash``: only while it is in the trash (a restore that raced ahead wins)."""
        return purge_image(self.docs, self.queue, self.store, doc,
                           trashed_by=utcnow() if from_trash else None)

    def trashed(self, owner_id: ObjectId, batch: int = 200) -> Iterator[Document]:
        """The owner's trashed images, a batch of ids at a time (for emptying the trash)."""
        while True:
            found = list(self.docs.find({"owner_id": owner_id, TRASHED_AT: {"$ne": None}},
                                        {"owner_id": 1, "visibility": 1, "bytes": 1}).limit(batch))
            yield from found
            if len(found) < batch:
                return

    def empty_trash(self, owner_id: ObjectId) -> int:
        """Purge every image in the owner's trash (their explicit request); how many went."""
        return sum(self.purge(doc, from_trash=True) for doc in self.trashed(owner_id))
