"""Pages of images for a viewer: listings in key order and text searches ranked by words
and meaning, both served through the listing cache under the scope's stamp.

Why apart from the repository (services/images.py): a page's way from the database to
a view (which scan reads it, how it is ranked, how it is cached and packed, when a cached
one is retired) is one concern with its own collaborators (services/scan.py, semantic.py,
listing_cache.py, packed_docs.py); the repository keeps what one image is and who may
see or change it. Every filter still comes from services/query.py (``build_filter``), so
visibility is decided there and nowhere here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pymongo
from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import PyMongoError

from picsource_core import stamps
from picsource_core.image_documents import TEXT_MODEL, ImageDocuments
from picsource_core.images import ARCHIVED, FAVOURITE
from picsource_core.location import LOCATION_FIELDS
from picsource_core.mongo import Document
from picsource_core.text_embedding import TEXT_VECTOR
from picsource_core.timeline import TIMELINE
from picsource_core.trash import TRASHED_AT
from picsource_web.services.errors import BadRequest
from picsource_web.services.listing_cache import ListingCache
from picsource_web.services.packed_docs import PackedDocs
from picsource_web.services.query import ImageQuery, build_filter, encode_cursor, public_listing
from picsource_web.services.scan import ListingScan, choose_scan
from picsource_web.services.semantic import SemanticSearch, query_key, ranked_cursor, restrict
from picsource_web.services.users import Viewer
from picsource_web.services.vector_index import COLD_WAIT_SECONDS, VECTOR_READ_SECONDS, VectorIndex
from picsource_web.services.word_index import SEARCH_TOKENS, stored_tokens

log = logging.getLogger(__name__)

# Fields a grid tile needs; keeps list queries small (no embeddings, no OCR text).
TILE_FIELDS = {
    "owner_id": 1, "title": 1, "visibility": 1, "status": 1, "width": 1, "height": 1,
    "thumbnails": 1, "analysis.caption": 1, "analysis.dominant_hex": 1, "analysis.palette": 1,
    "created_at": 1, "tags": 1, "share_token": 1, "content_type": 1, "sha256": 1,
    FAVOURITE: 1, ARCHIVED: 1, TRASHED_AT: 1, TIMELINE: 1, "taken_at": 1, **LOCATION_FIELDS,
}


#: How long a ranked search reads its word matches (ImageListings.word_matches).
WORDS_SCAN_SECONDS = 1.0


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
    #: A text search answered by words alone while this process reads its scope's vectors
    #: for the first time (services/vector_index.py): searching again soon ranks by meaning.
    meaning_pending: bool = False

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


class ImageListings:
    """Listing and ranked-search pages of the images collection (through ``docs``)."""

    def __init__(self, docs: ImageDocuments, db: Database[Document],
                 cache: ListingCache[Page] | None = None, scan_mode: str = "auto") -> None:
        self.docs = docs
        self.db = db
        self.cache: ListingCache[Page] = cache if cache is not None else ListingCache(0, 0)
        self._scan_mode = scan_mode
        self._scanner: ListingScan | None = None
        #: Text queries ranked by words and meaning, within the viewer's scope.
        self.semantic: SemanticSearch | None = SemanticSearch(VectorIndex(self.text_vectors))

    @property
    def scanner(self) -> ListingScan:
        """How listings are read (services/scan.py); decided on first use, because ``auto``
        asks the server, and the app starts while MongoDB may still be down."""
        if self._scanner is None:
            self._scanner = choose_scan(self._scan_mode, lambda: self.db.client.admin.command("buildInfo"))
        return self._scanner

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
            if self.semantic.available:  # the model works: the scope's vectors are being read
                return replace(self._listing_page(query, viewer, projection), meaning_pending=True)
        elif ranked_from is not None:
            raise BadRequest("invalid_cursor", "This cursor pages a search by words (q); "
                             "start again from the first page.")
        return self._listing_page(query, viewer, projection)

    def _listing_page(self, query: ImageQuery, viewer: Viewer, projection: dict[str, int] | None) -> Page:
        """A page in the query's key order (newest first, by date taken...), cached."""
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
        """One page of a ranked text search; None when the text model is unavailable, or
        for a first page, while this process reads the scope's vectors for the first time.
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
                             for d in self.docs.find(flt, {"_id": 1, SEARCH_TOKENS: 1})},
                # A first page does not wait long for a scope's first read: it is answered
                # by words alone meanwhile; a later page's offset needs the ranking itself.
                wait=COLD_WAIT_SECONDS if offset == 0 else None)
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

    def text_vectors(self, scope: Mapping[str, Any]) -> Iterator[tuple[ObjectId, Any, Any, Any]]:
        """A vector scope's rows (services/vector_index.py): id, packed text vector, model,
        search tokens; every document of the scope (the words of one without a vector yet
        still count)."""
        with pymongo.timeout(VECTOR_READ_SECONDS):  # one long read, not a request's
            for doc in self.docs.find(dict(scope), {TEXT_VECTOR: 1, TEXT_MODEL: 1, SEARCH_TOKENS: 1}):
                yield doc["_id"], doc.get(TEXT_VECTOR), doc.get(TEXT_MODEL), doc.get(SEARCH_TOKENS)
