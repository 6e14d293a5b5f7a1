"""The text vectors of one visibility scope as a numpy matrix, kept per process.

Why a matrix in each web process and not a vector index in the database: it works on any
MongoDB-wire server (no Atlas-only ``$vectorSearch``), and scanning 100k vectors in memory
takes milliseconds (sign bits first, then exact scores for the best 2,000; ScopeVectors).
The price is memory (about 430 bytes a vector, 43 MB per 100k) and a full read of the
scope when it changes. The same read brings each document's search tokens, kept as an
inverted index (services/word_index.py), so a ranked search finds its word matches in
memory instead of scanning the collection for them.

Privacy by construction: a scope is either one owner's own images or the public ones
(public_listing), never a mix, and a viewer is only ever given the scope they may see, so
no vector of another user's private image is in the matrix a query runs against. Images
in the trash are left out of both (no listing shows them).

Freshness: each scope's matrix is kept under the listing stamp it was read under (the
owner's own or the public one, picsource_core.stamps), which every write to an image of
the scope renews, the worker's new text vectors included. A request that brings a newer
stamp rebuilds the matrix and the words (in the background for a large scope, see
VectorIndex); one reader builds, the others of that scope wait for it. A scope this process
has never read is read on a thread of its own too: a first search page waits for it up to
COLD_WAIT_SECONDS and is otherwise answered by words alone (services/listings.py).

How stale a large scope's words can be: a change is seen once a read that began after it
lands. The first query after the change starts that read (or, if one is under way, the
one after it does), so a change is missing from word matches for at most about two reads
of the scope after it, while queries keep coming: at 100k images on SecantusDB a read
takes 17-20 s on a loaded 2-core machine (about 3 s of it the words), plus ~2 s to build;
bench/bench_semantic.py prints it. The gap is not covered by a database query meanwhile:
there is no index on when a document changed (``updated_at`` is unindexed, and text-vector
writes keep it), and the only cheap range, ``_id`` (uploads), would miss edits and the
analysis that follows an upload.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from bson import ObjectId

from picsource_core.text_embedding import DIMENSIONS, TEXT_MODEL_ID, unpack
from picsource_web.services.word_index import WordIndex, build_words, stored_tokens

#: Scopes kept per process (the least recently used is dropped): a scope of 100k images
#: takes about 43 MB; a small gallery's scopes are tiny.
CACHED_SCOPES = 8
#: Scopes up to this many vectors are scored whole; larger ones through the sign bits.
EXACT_ROWS = 8192
#: How many rows of a large scope are scored exactly (the sign bits' nearest).
RESCORED = 2000
#: Scopes up to this many vectors are rebuilt before the query that sees a new stamp;
#: larger ones in the background (VectorIndex).
SYNC_ROWS = 20_000
#: Rows whose norms are computed at a time (a float32 copy of 8192 rows is 12 MB).
NORM_ROWS = 8192
#: Reading a scope's vectors is one long read (100k documents take seconds on a slow
#: server): bounded by this, not by a request's operation timeout.
VECTOR_READ_SECONDS = 120.0
#: How long the first page of a search waits for a scope this process has never read
#: (services/listings.py): past it, the page is answered by words alone while the read
#: goes on. Small scopes land well within it (a few ms a thousand vectors on MongoDB);
#: 100,000 on SecantusDB take ~14 s, which no one should wait for a first search.
COLD_WAIT_SECONDS = 2.0

log = logging.getLogger(__name__)

#: Loads a scope's rows from its filter, as stored: every document of the scope (also those
#: without a text vector yet, whose words still count) as (id, packed text vector or None,
#: model id, search tokens).
Row = tuple[ObjectId, Any, Any, Any]
Loader = Callable[[Mapping[str, Any]], Iterable[Row]]
#: A document without a usable vector holds a zero row: it scores 0, below any floor.
ZERO_ROW = bytes(DIMENSIONS)


@dataclass(frozen=True)
class ScopeVectors:
    """The vectors and words of one scope under one stamp: row i of ``raw`` and of
    ``words`` is the image whose id is ``keys[i]``; rows are in ``_id`` order (the last is
    the newest).

    Held as the stored int8 rows (384 bytes each) with their inverse norms, plus one sign
    bit per component (48 bytes): a scope of 100k images takes about 43 MB instead of the
    150 MB of float32, and a query reads 5 MB of sign bits instead of 150 MB of floats.
    The ids are held as bytes too, and made ObjectIds only for the rows a query returns:
    100k ObjectId objects per scope were most of what the garbage collector walked in a
    web process (a full collection of two scopes' 340k objects took 124-293 ms under load,
    a pause every request in that process waited out)."""

    stamp: str
    raw: np.ndarray  # n x 384 int8
    inverse_norms: np.ndarray  # n float32 (0 for a zero row)
    signs: np.ndarray  # 6 x n uint64: the sign bits of raw, one row per 64 components
    words: WordIndex = field(default_factory=lambda: build_words([]))
    #: The rows' ids as 12-byte strings, ascending: finds a row by id (searchsorted). "S12"
    #: drops trailing zero bytes alike on every key, so their order and equality are the ids'.
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="S12"))

    def __len__(self) -> int:
        return len(self.keys)

    def ids_at(self, rows: np.ndarray) -> list[ObjectId]:
        """The ids of ``rows``, in their order: the keys' 12 bytes as stored (a "V12" view
        keeps the trailing zero bytes "S12" drops), all at once: a query's 1,000 nearest
        in 0.18 ms, against 0.9 ms one by one from "S12" items put back to 12 bytes."""
        return [ObjectId(key) for key in self.keys[rows].view("V12").tolist()]

    def id_at(self, row: int) -> ObjectId:
        """The id of row ``row``."""
        return self.ids_at(np.array([row]))[0]

    @property
    def ids(self) -> tuple[ObjectId, ...]:
        """Every row's id, in row order (for checks and the bench; queries use ``ids_at``)."""
        return tuple(self.ids_at(np.arange(len(self))))

    def nearest(self, query: np.ndarray, k: int, floor: float) -> list[tuple[ObjectId, float]]:
        """The ``k`` images most alike ``query`` (a unit vector) with a cosine of at least
        ``floor``, best first.

        Up to EXACT_ROWS every row is scored. Beyond, the RESCORED rows whose signs agree
        most with the query's (Hamming distance of the sign bits, a cheap estimate of the
        angle) are scored exactly: the true nearest of a real query are among them (the
        bench measures how often)."""
        if not len(self) or k <= 0:
            return []
        q = np.asarray(query, dtype=np.float32)
        rows = None
        if len(self) > EXACT_ROWS:
            distances = hamming(self.signs, sign_bits(q)[0])
            rows = np.argpartition(distances, RESCORED - 1)[:RESCORED]
        candidates = self.raw if rows is None else self.raw[rows]
        norms = self.inverse_norms if rows is None else self.inverse_norms[rows]
        scores = (candidates.astype(np.float32) @ q) * norms
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[(scores[top] >= floor) & (norms[top] > 0)]  # a row without a vector is never near
        order = top[np.argsort(-scores[top], kind="stable")]
        index = order if rows is None else rows[order]
        return list(zip(self.ids_at(index), scores[order].tolist(), strict=True))

    @property
    def nbytes(self) -> int:
        return int(self.raw.nbytes + self.inverse_norms.nbytes + self.signs.nbytes + self.words.nbytes
                   + self.keys.nbytes)

    def holding(self, tokens: Sequence[str], ids: Sequence[ObjectId]) -> list[ObjectId]:
        """Those of ``ids`` whose row holds every token (ids not in the scope hold none)."""
        if not ids or not len(self.keys):
            return []
        wanted = np.array([i.binary for i in ids], dtype="S12")
        at = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        hit = (self.keys[at] == wanted) & np.isin(at, self.words.rows_with(tokens))
        return [i for i, held in zip(ids, hit, strict=True) if held]

    def newest_with(self, tokens: Sequence[str], limit: int) -> tuple[list[ObjectId], int]:
        """The ids of the newest ``limit`` rows holding every token (the listing's word
        filter, see services/word_index.py), newest first, and how many rows hold them."""
        rows = self.words.rows_with(tokens)
        return self.ids_at(rows[::-1][:limit]), len(rows)


def sign_bits(vectors: np.ndarray) -> np.ndarray:
    """One bit per component (set when positive), as uint64 words: 6 per 384-vector."""
    bits = np.packbits(np.atleast_2d(vectors) > 0, axis=1)
    return np.ascontiguousarray(bits).view(np.uint64)


def hamming(columns: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Bits that differ between each row of ``columns`` (sign bits held column-major, one
    row of 64-bit words per 64 components) and ``query`` (one such word per row), as
    uint16. Column-major because each step then runs over one contiguous array: a scan of
    100k rows takes 0.4 ms, against 2.1 ms for a row-major table summed along its rows of
    six words (numpy's per-row reduction overhead; measured on this 2-core machine)."""
    distances = np.zeros(columns.shape[1], dtype=np.uint16)
    for column, word in zip(columns, query, strict=True):
        distances += np.bitwise_count(column ^ word)
    return distances


def _compact(row: Row) -> tuple[ObjectId, bytes, tuple[str, ...]]:
    """One stored row as kept while its scope is read: its usable vector (else ZERO_ROW)
    and its tokens, interned: the same words recur in every document, so each is held once
    instead of once per document (at 100k images, the read's peak memory otherwise holds
    a million small strings)."""
    image_id, blob, model, tokens = row
    usable = model in (None, TEXT_MODEL_ID) and isinstance(blob, bytes | bytearray) and len(blob) == DIMENSIONS
    return image_id, bytes(blob) if usable else ZERO_ROW, tuple(map(sys.intern, stored_tokens(tokens)))


def inverse_norms(raw: np.ndarray) -> np.ndarray:
    """1 / |row| (0 for a zero row), NORM_ROWS rows at a time: a float32 copy of all of
    100k rows would be 150 MB for a moment."""
    norms = np.zeros(len(raw), dtype=np.float32)
    for start in range(0, len(raw), NORM_ROWS):
        norms[start:start + NORM_ROWS] = np.linalg.norm(raw[start:start + NORM_ROWS].astype(np.float32), axis=1)
    return np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0).astype(np.float32)


def build_scope(stamp: str, rows: Iterable[Row]) -> ScopeVectors:
    """A scope's vectors and words from its stored rows. A vector of another model or of
    the wrong size counts as none (the worker embeds the image again), never an error."""
    listed = sorted(map(_compact, rows), key=lambda row: row[0].binary)  # ObjectIds order as their bytes
    raw = unpack([blob for _, blob, _ in listed], normalise=False)
    return ScopeVectors(stamp=stamp, raw=raw, inverse_norms=inverse_norms(raw),
                        signs=np.ascontiguousarray(sign_bits(raw).T), words=build_words(tokens for *_, tokens in listed),
                        keys=np.array([row[0].binary for row in listed], dtype="S12"))


class VectorIndex:
    """Scope key -> the newest ScopeVectors this process read; rebuilt on a new stamp.

    A scope this process has not read yet is read on a thread of its own; a caller that
    passes ``wait`` gets None when the read takes longer (and the next search the scope
    once it lands), one that does not waits for it. A small scope (up to SYNC_ROWS
    vectors) is rebuilt before the query that brings the new stamp, so the next search
    sees every change. A large one takes seconds to read on
    a slow server, so its query goes on with the previous vectors while one background
    thread reads the new ones: a search is never held up, and results stay within what
    the viewer may see, because every candidate passes the listing's filter afterwards
    (services/semantic.py) or is read through it with its page; a just-changed image is
    at most missing, or briefly holds a candidate place it no longer deserves (by meaning
    or by its former words), until the rebuild lands.
    """

    def __init__(self, load: Loader, scopes: int = CACHED_SCOPES, sync_rows: int = SYNC_ROWS) -> None:
        self._load = load
        self._scopes = scopes
        self._sync_rows = sync_rows
        self._cache: OrderedDict[str, ScopeVectors] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[str, threading.Lock] = {}
        #: Scopes being read on a thread of their own -> set when that read ends.
        self._reading: dict[str, threading.Event] = {}
        self.builds = 0

    def vectors(self, key: str, stamp: str, scope_filter: Mapping[str, Any],
                wait: float | None = None) -> ScopeVectors | None:
        """The scope's vectors read under ``stamp`` (or a newer read by another thread), or
        for a large scope with older vectors, those while the new ones are read. For a
        scope never read here, with ``wait``: None when its first read takes longer."""
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
        if found is not None and found.stamp == stamp:
            return found
        if found is not None and len(found) > self._sync_rows:
            self._read_later(key, stamp, scope_filter)
            return found
        if found is None and wait is not None:
            self._read_later(key, stamp, scope_filter).wait(wait)
            with self._lock:
                return self._cache.get(key)
        return self._build(key, stamp, scope_filter)

    def _build(self, key: str, stamp: str, scope_filter: Mapping[str, Any]) -> ScopeVectors:
        with self._lock:
            gate = self._building.setdefault(key, threading.Lock())
        with gate:  # one build per scope at a time; the others then find it
            with self._lock:
                found = self._cache.get(key)
            if found is not None and found.stamp == stamp:
                return found
            built = build_scope(stamp, self._load(scope_filter))
            with self._lock:
                self.builds += 1
                self._cache[key] = built
                self._cache.move_to_end(key)
                while len(self._cache) > self._scopes:
                    self._cache.popitem(last=False)
            return built

    def _read_later(self, key: str, stamp: str, scope_filter: Mapping[str, Any]) -> threading.Event:
        """Read the scope on a thread of its own, unless one already does; set when it ends."""
        with self._lock:
            if key in self._reading:
                return self._reading[key]
            done = self._reading[key] = threading.Event()

        def read() -> None:
            try:
                self._build(key, stamp, scope_filter)
            except Exception:  # the next query tries again; older vectors stay meanwhile
                log.exception("reading the text vectors of %s failed", key)
            finally:
                with self._lock:
                    del self._reading[key]
                done.set()

        threading.Thread(target=read, name=f"vectors {key}", daemon=True).start()
        return done

    def memory(self) -> int:
        """Bytes held by the cached matrices (the bench reports it)."""
        with self._lock:
            return sum(v.nbytes for v in self._cache.values())
