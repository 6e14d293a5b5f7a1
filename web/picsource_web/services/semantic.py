"""Hybrid search: a text query ranked by its words and by its meaning together.

Why hybrid: exact words (core search tokens) are precise but miss "dog at the beach" for
a photo labelled "golden retriever, seashore"; meaning alone (cosine of MiniLM vectors,
picsource_core.text_embedding) finds that photo but may rank a loose match above an exact
one. So the candidates are the token matches (the newest TOKEN_CANDIDATES, through the
listing's own scan) plus the images whose text vector is nearest the query's
(above SIMILARITY_FLOOR, so a nonsense query matches nothing by meaning), and each
scores ``TOKEN_WEIGHT * words + cosine``.

Filters and visibility: the semantic candidates come from the viewer's own scope only
(services/vector_index.py), and then pass the listing's own MongoDB filter (visibility,
colour, dates, has-text, marks; services/query.build_filter without the words), so a
filter never lets through what the plain listing would not; each page is read through that
filter again. Ranked results are a bounded list (RANKED_MAX) kept per process under the
scope's listing stamp, and paged by offset (RANKED_CURSOR), a cursor of its own kind.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from bson import ObjectId

from picsource_core.text_embedding import ModelFileError, TextEncoder, encoder
from picsource_web.services.errors import BadRequest
from picsource_web.services.listing_cache import ListingCache
from picsource_web.services.vector_index import ScopeVectors, VectorIndex

log = logging.getLogger(__name__)

#: Token matches read for a ranked list: about what a page of the plain search reads, so a
#: search by words costs no more than before on a server that scans for rare words.
TOKEN_CANDIDATES = 50
#: The nearest vectors considered (above the floor), best first...
SEMANTIC_CANDIDATES = 1000
#: ...checked against the listing's filters FILTER_CHUNK at a time, until MEANING_WANTED
#: pass (a selective filter reads more chunks; most queries read one).
FILTER_CHUNK = 100
MEANING_WANTED = 100
RANKED_MAX = 200
#: Below this cosine a text is not about the query (MiniLM: unrelated texts score about
#: 0.0-0.2, paraphrases 0.4 and up; checked against tests/web/relevance).
SIMILARITY_FLOOR = 0.3
#: What an exact word match adds to the cosine: enough that a word match with some
#: meaning beats a loose meaning-only match, not so much that meaning stops counting.
TOKEN_WEIGHT = 0.35
#: Query vectors kept per process (a repeated or paged query is embedded once).
QUERY_CACHE = 512
RANKED_CACHE = 256
#: Ranked lists live under their stamp; the time limit is only the stamps' usual backstop.
RANKED_SECONDS = 300.0
#: Ranked pages are cursored by offset: "~" cannot occur in a listing cursor (URL-safe base64).
RANKED_CURSOR = re.compile(r"~([0-9]{1,3})")


def parse_ranked_cursor(text: str) -> int | None:
    """The offset in a ranked cursor ("~48"); None for any other cursor; BadRequest for a
    ranked one out of range."""
    match = RANKED_CURSOR.fullmatch(text)
    if not text.startswith("~"):
        return None
    if match is None or int(match.group(1)) >= RANKED_MAX:
        raise BadRequest("invalid_cursor", "The page cursor is malformed; start again from the first page.")
    return int(match.group(1))


def ranked_cursor(offset: int) -> str:
    return f"~{offset}"


def take_ranked_cursor(params: Mapping[str, str]) -> tuple[dict[str, str], int | None]:
    """The request's parameters without a ranked cursor, and that cursor's offset (None:
    there is none), so the listing's own cursor parsing never sees one."""
    args = {name: params[name] for name in params}
    offset = parse_ranked_cursor((args.get("cursor") or "").strip())
    if offset is not None:
        del args["cursor"]
    return args, offset


@dataclass(frozen=True)
class Ranked:
    """A text query's results, best first, with what found each."""

    ids: tuple[ObjectId, ...]
    by_meaning: frozenset[ObjectId]
    #: The stamp of the vectors it was ranked with (older while a large scope is reread).
    vectors_stamp: str = ""


def combine(token_ids: Sequence[ObjectId], semantic: Mapping[ObjectId, float],
            allowed: set[ObjectId], limit: int = RANKED_MAX) -> Ranked:
    """Pure ranking: token matches and those of ``allowed`` near in meaning (cosine in
    ``semantic``, at least the floor), by ``TOKEN_WEIGHT * words + cosine``; ties keep
    the newer image first."""
    words = set(token_ids)
    candidates = words | {i for i, score in semantic.items() if score >= SIMILARITY_FLOOR and i in allowed}

    def score(image_id: ObjectId) -> float:
        return TOKEN_WEIGHT * (image_id in words) + max(semantic.get(image_id, 0.0), 0.0)

    ranked = sorted(candidates, key=lambda i: (-score(i), -int.from_bytes(i.binary, "big")))[:limit]
    meaning = frozenset(i for i in ranked if semantic.get(i, 0.0) >= SIMILARITY_FLOOR)
    return Ranked(ids=tuple(ranked), by_meaning=meaning)


def query_key(text: str) -> str:
    """Queries that embed alike share a cache entry (the tokenizer lowercases)."""
    return " ".join(text.split()).casefold()


class QueryVectors:
    """Query text -> unit vector, embedded in this process (the encoder is loaded on first
    use, after gunicorn's fork) and kept in a small LRU."""

    def __init__(self, load: Callable[[], TextEncoder] = lambda: encoder(threads=1),
                 entries: int = QUERY_CACHE) -> None:
        self._load = load
        self._entries = entries
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def vector(self, text: str) -> np.ndarray:
        key = query_key(text)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        vector = self._load().embed([key])[0]
        vector.setflags(write=False)
        with self._lock:
            self._cache[key] = vector
            while len(self._cache) > self._entries:
                self._cache.popitem(last=False)
        return vector


#: Reads image ids: (filter, at most n) -> ids, newest first (the listing's own scan).
IdReader = Callable[[Mapping[str, Any], int], list[ObjectId]]
#: Reads the ids matching a filter, in no order (a bounded ``$in`` of candidates).
IdMatcher = Callable[[Mapping[str, Any]], set[ObjectId]]


def restrict(flt: Mapping[str, Any], ids: Sequence[ObjectId]) -> dict[str, Any]:
    """``flt`` and "the image is one of ``ids``", keeping any ``_id`` range it has. The
    ``_id`` condition comes first: SecantusDB plans by the first field, and reads the few
    candidates by id instead of scanning the collection (any MongoDB does either way)."""
    own = flt.get("_id")
    rest = {k: v for k, v in flt.items() if k != "_id"}
    if own is None:
        return {"_id": {"$in": list(ids)}, **rest}
    if isinstance(own, Mapping) and "$in" not in own:
        return {"_id": {"$in": list(ids), **own}, **rest}
    return {"$and": [{"_id": {"$in": list(ids)}}, dict(flt)]}


class SemanticSearch:
    """Ranks text queries (see the module docstring); ``ranked`` is all a caller needs."""

    def __init__(self, index: VectorIndex, queries: QueryVectors | None = None) -> None:
        self.index = index
        self.queries = queries or QueryVectors()
        self._ranked: ListingCache[Ranked] = ListingCache(RANKED_CACHE, RANKED_SECONDS)
        self._broken = False

    @property
    def available(self) -> bool:
        """False once the model failed to load: searches fall back to words alone."""
        return not self._broken

    def ranked(self, text: str, stamp: str, scope_filter: Mapping[str, Any],
               token_filter: Mapping[str, Any], plain_filter: Mapping[str, Any],
               newest_ids: IdReader, matching_ids: IdMatcher) -> Ranked | None:
        """The ranked results of ``text`` under ``stamp`` (cached); None when the model
        cannot be used (the caller then searches by words alone).

        ``scope_filter`` is what the viewer's vector scope holds, ``token_filter`` the
        listing filter with the words, ``plain_filter`` the same without them."""
        if self._broken:
            return None
        scope = self.index.vectors(stamp.split("@", 1)[0], stamp, scope_filter)
        key = (stamp, scope.stamp, query_key(text), repr(sorted(token_filter.items())),
               repr(sorted(plain_filter.items())))
        found = self._ranked.get(key)
        if found is not None:
            return found
        try:
            vector = self.queries.vector(text)
        except (ModelFileError, ImportError, OSError) as exc:
            log.error("semantic search is off, the text model did not load: %s", exc)
            self._broken = True
            return None
        semantic = self._scores(scope, vector)
        tokens = newest_ids(token_filter, TOKEN_CANDIDATES)
        by_words = set(tokens)
        near = [i for i in semantic if i not in by_words]  # best first
        allowed: set[ObjectId] = set()
        for start in range(0, len(near), FILTER_CHUNK):  # until enough pass the filters
            allowed |= matching_ids(restrict(plain_filter, near[start:start + FILTER_CHUNK]))
            if len(allowed) >= MEANING_WANTED:
                break
        ranked = replace(combine(tokens, semantic, allowed), vectors_stamp=scope.stamp)
        self._ranked.put(key, ranked)
        return ranked

    @staticmethod
    def _scores(scope: ScopeVectors, vector: np.ndarray) -> dict[ObjectId, float]:
        """Cosines of the nearest SEMANTIC_CANDIDATES at or above the floor; a token match
        outside them counts by its words alone."""
        return dict(scope.nearest(vector, SEMANTIC_CANDIDATES, SIMILARITY_FLOOR))
