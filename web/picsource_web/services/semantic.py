"""Hybrid search: a text query ranked by its words and by its meaning together.

Why hybrid: exact words (core search tokens) are precise but miss "dog at the beach" for
a photo labelled "golden retriever, seashore"; meaning alone (cosine of MiniLM vectors,
picsource_core.text_embedding) finds that photo but may rank a loose match above an exact
one. So the candidates are the newest TOKEN_CANDIDATES word matches plus the images whose
text vector is nearest the query's (above SIMILARITY_FLOOR, so a nonsense query matches
nothing by meaning), and each scores ``TOKEN_WEIGHT * words + cosine``, where "words" is
whether the image holds every query token (any candidate, not only the newest matches).

Where the words come from: the scope's in-memory word index, read with its vectors
(services/vector_index.py, services/word_index.py), with the listing's exact-token
semantics; not a scan of the collection, which on SecantusDB reads the whole gallery for
a rare word. A plain search (no filter beyond the scope's own) needs nothing more: the
scope holds what the listing filter passes, and each page is read through that filter.
With a filter (colour, dates, marks...), each candidate is read back through the listing's
MongoDB filter without the words (``plain_filter``), with its stored tokens, so whether it
holds the words is decided on the document as it is now; only when a selective filter
rejects the newest in-memory matches (WORD_ROUNDS reads) does the search fall back to the
database's own scan of the word filter (``newest_ids``, time-bounded by the caller).

Filters and visibility: candidates come from the viewer's own scope only (a scope holds
only what its viewer may see, trash left out), and pass the listing's own filter
(visibility, colour, dates, has-text, marks; services/query.build_filter), so a filter
never lets through what the plain listing would not; each page is read through that
filter again. Ranked results are a bounded list (RANKED_MAX) kept per process, paged by
offset (RANKED_CURSOR), a cursor of its own kind.

Freshness: a ranked list is kept under the stamp of the scope's vectors and words, not the
request's listing stamp. A small scope is reread before the query that brings a new stamp,
so its lists are exact. A large one is reread in the background (VectorIndex), and until
the new read lands, lists ranked from the previous one stay in use: a word match or a
filter change made since that read can be missing for that long (about two reads of the
scope, see services/vector_index.py: ~20 s each at 100k images on SecantusDB). A miss is
computed by one thread per list while the others wait for it (no thundering herd when
a new read retires every list at once).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any

import numpy as np
from bson import ObjectId

from picsource_core.text_embedding import ModelFileError, TextEncoder, encoder
from picsource_web.services.errors import BadRequest
from picsource_web.services.listing_cache import EXPIRY_SPREAD, ListingCache
from picsource_web.services.vector_index import ScopeVectors, VectorIndex

log = logging.getLogger(__name__)

#: The newest word matches that are candidates whatever their meaning (older ones are
#: candidates through their meaning, and then count their words).
TOKEN_CANDIDATES = 50
#: Reads of the newest in-memory word matches through the listing filter (TOKEN_CANDIDATES
#: each) before a selective filter hands the word part to the database's scan.
WORD_ROUNDS = 2
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
#: A ranked list takes about 2.5 KB (12 bytes an id, Ranked), 1024 of them under 3 MB:
#: enough for a gallery's common searches (the bench's Zipf mix of 300) per process.
RANKED_CACHE = 1024
#: Ranked lists live under their vectors' stamp; the time limit is only a backstop.
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
    """A text query's results, best first, with what found each.

    Held as bytes (each id's 12 bytes, back to back), not as ObjectIds: a process keeps up
    to RANKED_CACHE lists of up to RANKED_MAX ids, and as objects they were most of what
    its garbage collector walked once the vector scopes held bytes (collections of
    ~185,000 objects took 110-215 ms under the semantic bench's load, a pause for every
    request of that process). Ids become ObjectIds a page at a time."""

    packed: bytes
    meaning: frozenset[bytes]
    #: The stamp of the vectors it was ranked with (older while a large scope is reread).
    vectors_stamp: str = ""

    @classmethod
    def of(cls, ids: Sequence[ObjectId], by_meaning: Iterable[ObjectId], vectors_stamp: str = "") -> Ranked:
        return cls(b"".join(i.binary for i in ids), frozenset(i.binary for i in by_meaning), vectors_stamp)

    def __len__(self) -> int:
        return len(self.packed) // 12

    def page(self, offset: int, limit: int) -> list[ObjectId]:
        """The ids ranked ``offset`` to ``offset + limit``, best first."""
        end = min(len(self), offset + limit)
        return [ObjectId(self.packed[12 * i:12 * i + 12]) for i in range(max(0, offset), end)]

    def found_by_meaning(self, ids: Iterable[ObjectId]) -> frozenset[ObjectId]:
        """Those of ``ids`` that were found by their meaning."""
        return frozenset(i for i in ids if i.binary in self.meaning)

    @property
    def ids(self) -> tuple[ObjectId, ...]:
        return tuple(self.page(0, len(self)))

    @property
    def by_meaning(self) -> frozenset[ObjectId]:
        return frozenset(ObjectId(b) for b in self.meaning)


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
    return Ranked.of(ranked, meaning)


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
#: Reads the ids matching a filter with their stored search tokens, in no order (a bounded
#: ``$in`` of candidates).
IdMatcher = Callable[[Mapping[str, Any]], Mapping[ObjectId, Sequence[str]]]


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
        self._ranked: ListingCache[Ranked] = ListingCache(RANKED_CACHE, RANKED_SECONDS, rebuild_after=True,
                                                     spread=EXPIRY_SPREAD)
        self._broken = False

    @property
    def available(self) -> bool:
        """False once the model failed to load: searches fall back to words alone."""
        return not self._broken

    def ranked(self, text: str, tokens: Sequence[str], stamp: str, scope_filter: Mapping[str, Any],
               token_filter: Mapping[str, Any], plain_filter: Mapping[str, Any],
               newest_ids: IdReader, matching: IdMatcher, wait: float | None = None) -> Ranked | None:
        """The ranked results of ``text`` (whose query tokens are ``tokens``) under
        ``stamp``, cached; None when the model cannot be used, or with ``wait``, when the
        scope's vectors were never read here and their first read takes longer (the
        caller then searches by words alone).

        ``scope_filter`` is what the viewer's scope holds, ``token_filter`` the listing
        filter with the words, ``plain_filter`` the same without them."""
        if self._broken:
            return None
        scope = self.index.vectors(stamp.split("@", 1)[0], stamp, scope_filter, wait)
        if scope is None:
            return None
        key = (scope.stamp, query_key(text), repr(sorted(token_filter.items())),
               repr(sorted(plain_filter.items())))
        try:
            return self._ranked.get_or_build(key, lambda: self._rank(
                text, tokens, scope, scope_filter, token_filter, plain_filter, newest_ids, matching))
        except (ModelFileError, ImportError, OSError) as exc:
            log.error("semantic search is off, the text model did not load: %s", exc)
            self._broken = True
            return None

    def _rank(self, text: str, tokens: Sequence[str], scope: ScopeVectors, scope_filter: Mapping[str, Any],
              token_filter: Mapping[str, Any], plain_filter: Mapping[str, Any], newest_ids: IdReader,
              matching: IdMatcher) -> Ranked:
        """Candidates by meaning and by words (in memory), read back through the listing
        filter in a few bounded ``$in`` reads, then combined."""
        semantic = self._scores(scope, self.queries.vector(text))
        if dict(plain_filter) == dict(scope_filter):  # no filter beyond the scope's own
            return self._rank_in_scope(tokens, scope, semantic)
        newest, held = scope.newest_with(tokens, TOKEN_CANDIDATES * WORD_ROUNDS)
        near = list(semantic)  # best first
        wanted = set(tokens)
        words: set[ObjectId] = set()  # read back: they hold every token now
        allowed: set[ObjectId] = set()  # read back: they pass the filter
        w = n = 0
        while True:
            more_words = sum(i in words for i in newest[:w]) < TOKEN_CANDIDATES and w < len(newest)
            more_meaning = len(allowed & semantic.keys()) < MEANING_WANTED and n < len(near)
            if not (more_words or more_meaning):
                break
            batch = newest[w:w + TOKEN_CANDIDATES] if more_words else []
            batch += near[n:n + FILTER_CHUNK] if more_meaning else []
            w += TOKEN_CANDIDATES if more_words else 0
            n += FILTER_CHUNK if more_meaning else 0
            found = matching(restrict(plain_filter, list(dict.fromkeys(batch))))
            allowed |= found.keys()
            words |= {i for i, stored in found.items() if wanted.issubset(stored)}
        by_words = [i for i in newest[:w] if i in words][:TOKEN_CANDIDATES]
        if len(by_words) < TOKEN_CANDIDATES and held > w:  # a selective filter: ask the database
            by_words = list(dict.fromkeys([*by_words, *newest_ids(token_filter, TOKEN_CANDIDATES)]))
        meaning_words = [i for i in near if i in words and i not in by_words]
        ranked = combine([*by_words, *meaning_words], semantic, allowed & semantic.keys())
        return replace(ranked, vectors_stamp=scope.stamp)

    @staticmethod
    def _rank_in_scope(tokens: Sequence[str], scope: ScopeVectors, semantic: dict[ObjectId, float]) -> Ranked:
        """A search without filters: every image of the scope passes, so the candidates
        need no read back (each page is still read through the listing filter), and the
        words are the scope's own (exact for a small scope; as of its last read for a
        large one, see the module docstring)."""
        newest, _ = scope.newest_with(tokens, TOKEN_CANDIDATES)
        words = set(scope.holding(tokens, list(semantic)))
        # Only the best RANKED_MAX by meaning alone can rank among the results beside the
        # word matches (a word adds to a score, never takes away): sort no more than those.
        best = dict(islice(((i, c) for i, c in semantic.items() if i not in words), RANKED_MAX))
        best.update((i, semantic[i]) for i in words)
        ranked = combine([*newest, *words], best, set(best))
        return replace(ranked, vectors_stamp=scope.stamp)

    @staticmethod
    def _scores(scope: ScopeVectors, vector: np.ndarray) -> dict[ObjectId, float]:
        """Cosines of the nearest SEMANTIC_CANDIDATES at or above the floor; a token match
        outside them counts by its words alone."""
        return dict(scope.nearest(vector, SEMANTIC_CANDIDATES, SIMILARITY_FLOOR))
