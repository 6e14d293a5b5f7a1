"""Image repository: reads, edits and deletes with visibility decided in one place.

Visibility rule (the privacy matrix tests pin it down): the owner sees everything they
own; anyone may see ``public`` images; ``unlisted`` ones only through their share token;
``private`` ones only their owner; an image in the trash only its owner. Everyone else gets ``NotFound`` — the same answer as
for an id that does not exist — so nobody can probe for other people's private images.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pymongo
from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import PyMongoError

from picsource_core import stamps
from picsource_core.image_documents import TEXT_MODEL, ImageDocuments
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
from picsource_core.location import LOCATION_FIELDS
from picsource_core.mongo import Document
from picsource_core.queue import JobQueue, utcnow
from picsource_core.search import query_tokens
from picsource_core.storage import ObjectStore
from picsource_core.text_embedding import TEXT_VECTOR
from picsource_core.timeline import TIMELINE
from picsource_core.trash import TRASHED_AT, purge_image
from picsource_web.services.errors import BadRequest, NotFound
from picsource_web.services.likeness import SIMILAR_CANDIDATES, rank_by_cosine
from picsource_web.services.listing_cache import ListingCache
from picsource_web.services.metadata import ImageMetadata
from picsource_web.services.packed_docs import PackedDocs
from picsource_web.services.query import ImageQuery, build_filter, encode_cursor, public_listing
from picsource_web.services.scan import ListingScan, choose_scan
from picsource_web.services.semantic import SemanticSearch, query_key, ranked_cursor, restrict
from picsource_web.services.users import Viewer, parse_object_id
from picsource_web.services.vector_index import VECTOR_READ_SECONDS, VectorIndex
from picsource_web.services.word_index import SEARCH_TOKENS, stored_tokens

log = logging.getLogger(__name__)

# Fields a grid tile needs; keeps list queries small (no embeddings, no OCR text).
TILE_FIELDS = {
    "owner_id": 1, "title": 1, "visibility": 1, "status": 1, "width": 1, "height": 1,
    "thumbnails": 1, "analysis.caption": 1, "analysis.dominant_hex": 1, "analysis.palette": 1,
    "created_at": 1, "tags": 1, "share_token": 1, "content_type": 1, "sha256": 1,
    FAVOURITE: 1, ARCHIVED: 1, TRASHED_AT: 1, TIMELINE: 1, "taken_at": 1, **LOCATION_FIELDS,
}


#: How long a ranked search reads its word matches (ImageRepository.word_matches).
WORDS_SCAN_SECONDS = 1.0


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


@dataclass(frozen=True)
class Page:
    """One page of a listing. ``version`` names its content (the query and the listing
    stamp it was read under), so views can cache what they derive from it."""

    items: Sequence[Document]
    next_cursor: str | None
    version: str = ""
    cached: bool = False
    #: Cached by another worker of the pod (services/shared_cache.py).
    shared: bool = False
    #: A ranked text search's results found by meaning (services/semantic.py).
    meaning: frozenset[ObjectId] = frozenset()

    @property
    def source(self) -> str:
        """Where the page came from: this process's cache, the pod's, or the database."""
        return "shared" if self.shared else "cache" if self.cached else "database"


def listing_stamp(db: Database[Document], flt: dict[str, Any], viewer: Viewer) -> str:
    """The stamp a listing filter depends on: the viewer's own (loaded with the request:
    build_filter scopes "mine" to the viewer) or the public one (one small read)."""
    if "owner_id" in flt:
        if viewer.user is None or viewer.user.id != flt["owner_id"]:
            raise ValueError("an owner listing for someone other than the viewer")
        return f"owner:{viewer.user.id}@{viewer.user.listing_stamp}"
    return f"public@{stamps.read_public(db)}"


class _NoTextModel(Exception):
    """The text model cannot be used: a search is ranked by words alone instead."""


class ImageRepository:
    def __init__(self, db: Database[Document], store: ObjectStore, queue: JobQueue,
                 cache: ListingCache[Page] | None = None, scan_mode: str = "auto") -> None:
        self.docs = ImageDocuments(db)
        self.db = db
        self.store = store
        self.queue = queue
        self.cache: ListingCache[Page] = cache if cache is not None else ListingCache(0, 0)
        self._scan_mode = scan_mode
        self._scanner: ListingScan | None = None
        #: Text queries ranked by words and meaning, within the viewer's scope.
        self.semantic: SemanticSearch | None = SemanticSearch(VectorIndex(self._text_vectors))

    @property
    def scanner(self) -> ListingScan:
        """How listings are read (services/scan.py); decided on first use, because ``auto``
        asks the server, and the app starts while MongoDB may still be down."""
        if self._scanner is None:
            self._scanner = choose_scan(self._scan_mode, lambda: self.db.client.admin.command("buildInfo"))
        return self._scanner

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

    def list_page(self, query: ImageQuery, viewer: Viewer,
                  projection: dict[str, int] | None = None, ranked_from: int | None = None) -> Page:
        """One page of images; fetch one extra to know whether a next page exists.

        Served from the listing cache while the scope's stamp is unchanged; the stamp is
        read before the query (the viewer's own with the request), so a write that lands
        meanwhile retires the new entry too.

        A text query (without a listing cursor) is ranked by words and meaning instead
        (services/semantic.py), paged from ``ranked_from`` (a ranked cursor's offset).
        """
        if query.tokens and query.cursor is None and not query.trashed and self.semantic is not None:
            ranked = self._ranked_page(query, viewer, projection or TILE_FIELDS, ranked_from or 0)
            if ranked is not None or ranked_from:  # a later ranked page without the model: none
                return ranked or Page(items=[], next_cursor=None)
        elif ranked_from is not None:
            raise BadRequest("invalid_cursor", "This cursor pages a search by words (q); "
                             "start again from the first page.")
        flt = build_filter(query, viewer)
        fields = projection or TILE_FIELDS
        if not self.cache.enabled:
            return self._query_page(flt, query, fields, "")
        stamp = listing_stamp(self.db, flt, viewer)
        version = f"{stamp}|{query.key}|{query.sort}|{query.limit}|{sorted(fields)}|{flt!r}"
        page = self._cached(version)
        if page is not None:
            return page
        # A process's threads that miss the same page (after an edit retired it) wait for
        # one build instead of each reading the database.
        built = self.cache.get_or_build(version, lambda: self._packed(self._query_page(flt, query, fields, version)))
        return self._for_reader(built, cached=False)

    def _query_page(self, flt: dict[str, Any], query: ImageQuery, fields: dict[str, int],
                    version: str) -> Page:
        """Read in the query's key order (date taken or added); the cursor is the last
        document's key, so the next page continues after it."""
        scan = self.scanner.newest if query.sort == "newest" else self.scanner.oldest
        key = query.key
        docs = scan(self.docs, flt, query.limit + 1, {**fields, key: 1}, key)
        more = len(docs) > query.limit
        docs = docs[: query.limit]
        last = docs[-1].get(key) if more and docs else None
        return Page(items=docs, next_cursor=encode_cursor(last) if isinstance(last, ObjectId) else None,
                    version=version)

    def _ranked_page(self, query: ImageQuery, viewer: Viewer, fields: dict[str, int],
                     offset: int) -> Page | None:
        """One page of a ranked text search; None when the text model is unavailable.
        Every page is read through the listing's own filter, whatever the ranking held,
        and kept in the listing cache under the stamp like any listing page (only when
        the ranking used the scope's current vectors)."""
        assert self.semantic is not None
        words = build_filter(replace(query, cursor=None), viewer)
        plain = build_filter(replace(query, tokens=[], cursor=None), viewer)
        stamp = listing_stamp(self.db, words, viewer)
        version = f"{stamp}|ranked|{offset}|{query.limit}|{sorted(fields)}|{plain!r}|{query_key(query.text)}"
        page = self._cached(version)
        if page is not None:
            return page
        scope = {"owner_id": words["owner_id"]} if "owner_id" in words else public_listing()

        def build() -> Page:
            assert self.semantic is not None
            ranked = self.semantic.ranked(
                query.text, query.tokens, stamp, {**scope, TRASHED_AT: None}, words, plain,
                self.word_matches,
                lambda flt: {d["_id"]: stored_tokens(d.get(SEARCH_TOKENS))
                             for d in self.docs.find(flt, {"_id": 1, SEARCH_TOKENS: 1})})
            if ranked is None:
                raise _NoTextModel
            wanted = ranked.page(offset, query.limit)
            found = {d["_id"]: d for d in self.docs.find(restrict(plain, wanted), fields)} if wanted else {}
            more = offset + query.limit < len(ranked)
            # Ranked with the scope's previous vectors (new ones are being read): this
            # request's answer, under no version, so neither it nor its tiles are kept.
            return self._packed(Page(
                items=[found[i] for i in wanted if i in found],
                next_cursor=ranked_cursor(offset + query.limit) if more else None,
                version=version if ranked.vectors_stamp == stamp else "",
                meaning=ranked.found_by_meaning(wanted)))

        # Like a listing page, one past its time answers while it is built again.
        try:
            built = self.cache.get_or_build(version, build, keep=lambda page: bool(page.version))
        except _NoTextModel:
            return None
        return self._for_reader(built, cached=False)

    # --- the listing cache holds pages packed (services/packed_docs.py) -------------------
    def _cached(self, version: str) -> Page | None:
        found = self.cache.lookup(version)
        if found is None:
            return None
        page, shared = found
        return replace(self._for_reader(page, cached=True), shared=shared)

    def _packed(self, page: Page) -> Page:
        return replace(page, items=PackedDocs.pack(page.items, self.db.codec_options))

    @staticmethod
    def _for_reader(page: Page, *, cached: bool) -> Page:
        """A page the cache holds (always through ``_packed``), with documents of this
        reader's own, decoded on first read."""
        assert isinstance(page.items, PackedDocs)
        return replace(page, items=page.items.fresh(), cached=cached)

    def word_matches(self, flt: Mapping[str, Any], need: int,
                     seconds: float | None = None) -> list[ObjectId]:
        """The ids of the newest ``need`` images matching ``flt`` (a ranked search's word
        matches), read for at most ``seconds`` (WORDS_SCAN_SECONDS): a rare combination of
        words makes SecantusDB's windowed scan read the whole gallery, tens of seconds at
        100k, past the request's timeout; the search then goes on by meaning alone instead
        of failing (and of tripping the MongoDB breaker for everyone)."""
        limit = WORDS_SCAN_SECONDS if seconds is None else seconds
        try:
            with pymongo.timeout(limit):
                return [d["_id"] for d in self.scanner.newest(self.docs, flt, need, {"_id": 1})]
        except PyMongoError as exc:
            if not exc.timeout:
                raise
            log.warning("a ranked search read its word matches for over %.1f s: ranked by meaning alone", limit)
            return []

    def _text_vectors(self, scope: Mapping[str, Any]) -> Iterator[tuple[ObjectId, Any, Any, Any]]:
        """A vector scope's rows (services/vector_index.py): id, packed text vector, model,
        search tokens; every document of the scope (the words of one without a vector yet
        still count)."""
        with pymongo.timeout(VECTOR_READ_SECONDS):  # one long read, not a request's
            for doc in self.docs.find(dict(scope), {TEXT_VECTOR: 1, TEXT_MODEL: 1, SEARCH_TOKENS: 1}):
                yield doc["_id"], doc.get(TEXT_VECTOR), doc.get(TEXT_MODEL), doc.get(SEARCH_TOKENS)

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
