"""The text vectors of one visibility scope as a numpy matrix, kept per process.

Why a matrix in each web process and not a vector index in the database: it works on any
MongoDB-wire server (no Atlas-only ``$vectorSearch``), and scanning 100k vectors in memory
takes milliseconds (sign bits first, then exact scores for the best 2,000; ScopeVectors).
The price is memory (about 430 bytes a vector, 43 MB per 100k) and a full read of the
scope when it changes.

Privacy by construction: a scope is either one owner's own images or the public ones
(public_listing), never a mix, and a viewer is only ever given the scope they may see, so
no vector of another user's private image is in the matrix a query runs against. Images
in the trash are left out of both (no listing shows them).

Freshness: each scope's matrix is kept under the listing stamp it was read under (the
owner's own or the public one, picsource_core.stamps), which every write to an image of
the scope renews, the worker's new text vectors included. A request that brings a newer
stamp rebuilds the matrix (in the background for a large scope, see VectorIndex); one
reader builds, the others of that scope wait for it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from bson import ObjectId

from picsource_core.text_embedding import DIMENSIONS, TEXT_MODEL_ID, unpack

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
#: Reading a scope's vectors is one long read (100k documents take seconds on a slow
#: server): bounded by this, not by a request's operation timeout.
VECTOR_READ_SECONDS = 120.0

log = logging.getLogger(__name__)

#: Loads a scope's (id, packed vector, model id) rows from its filter, as stored.
Row = tuple[ObjectId, Any, Any]
Loader = Callable[[Mapping[str, Any]], Iterable[Row]]


@dataclass(frozen=True)
class ScopeVectors:
    """The vectors of one scope under one stamp: row i of ``raw`` is image ``ids[i]``.

    Held as the stored int8 rows (384 bytes each) with their inverse norms, plus one sign
    bit per component (48 bytes): a scope of 100k images takes about 43 MB instead of the
    150 MB of float32, and a query reads 5 MB of sign bits instead of 150 MB of floats."""

    stamp: str
    ids: tuple[ObjectId, ...]
    raw: np.ndarray  # n x 384 int8
    inverse_norms: np.ndarray  # n float32 (0 for a zero row)
    signs: np.ndarray  # n x 6 uint64: the sign bits of raw

    def nearest(self, query: np.ndarray, k: int, floor: float) -> list[tuple[ObjectId, float]]:
        """The ``k`` images most alike ``query`` (a unit vector) with a cosine of at least
        ``floor``, best first.

        Up to EXACT_ROWS every row is scored. Beyond, the RESCORED rows whose signs agree
        most with the query's (Hamming distance of the sign bits, a cheap estimate of the
        angle) are scored exactly: the true nearest of a real query are among them (the
        bench measures how often)."""
        if not self.ids or k <= 0:
            return []
        q = np.asarray(query, dtype=np.float32)
        rows = None
        if len(self.ids) > EXACT_ROWS:
            distances = np.bitwise_count(self.signs ^ sign_bits(q)).sum(axis=1, dtype=np.uint16)
            rows = np.argpartition(distances, RESCORED - 1)[:RESCORED]
        candidates = self.raw if rows is None else self.raw[rows]
        norms = self.inverse_norms if rows is None else self.inverse_norms[rows]
        scores = (candidates.astype(np.float32) @ q) * norms
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[scores[top] >= floor]
        order = top[np.argsort(-scores[top], kind="stable")]
        index = order if rows is None else rows[order]
        return [(self.ids[i], float(s)) for i, s in zip(index, scores[order], strict=True)]

    @property
    def nbytes(self) -> int:
        return int(self.raw.nbytes + self.inverse_norms.nbytes + self.signs.nbytes)


def sign_bits(vectors: np.ndarray) -> np.ndarray:
    """One bit per component (set when positive), as uint64 words: 6 per 384-vector."""
    bits = np.packbits(np.atleast_2d(vectors) > 0, axis=1)
    return np.ascontiguousarray(bits).view(np.uint64)


def build_scope(stamp: str, rows: Iterable[Row]) -> ScopeVectors:
    """A scope's vectors from its stored rows; vectors of another model or of the wrong
    size are left out (the worker embeds them again), never an error."""
    ids: list[ObjectId] = []
    blobs: list[bytes] = []
    for image_id, blob, model in rows:
        if model not in (None, TEXT_MODEL_ID) or not isinstance(blob, bytes | bytearray):
            continue
        if len(blob) == DIMENSIONS:
            ids.append(image_id)
            blobs.append(bytes(blob))
    raw = unpack(blobs, normalise=False)
    norms = np.linalg.norm(raw.astype(np.float32), axis=1)
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0).astype(np.float32)
    return ScopeVectors(stamp=stamp, ids=tuple(ids), raw=raw, inverse_norms=inverse, signs=sign_bits(raw))


class VectorIndex:
    """Scope key -> the newest ScopeVectors this process read; rebuilt on a new stamp.

    A small scope (up to SYNC_ROWS vectors) is rebuilt before the query that brings the
    new stamp, so the next search sees every change. A large one takes seconds to read on
    a slow server, so its query goes on with the previous vectors while one background
    thread reads the new ones: a search is never held up, and results stay within what
    the viewer may see, because every candidate passes the listing's filter afterwards
    (services/semantic.py); a just-changed image is at most missing, or briefly holds a
    candidate place it no longer deserves, until the rebuild lands.
    """

    def __init__(self, load: Loader, scopes: int = CACHED_SCOPES, sync_rows: int = SYNC_ROWS) -> None:
        self._load = load
        self._scopes = scopes
        self._sync_rows = sync_rows
        self._cache: OrderedDict[str, ScopeVectors] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[str, threading.Lock] = {}
        self._refreshing: set[str] = set()
        self.builds = 0

    def vectors(self, key: str, stamp: str, scope_filter: Mapping[str, Any]) -> ScopeVectors:
        """The scope's vectors read under ``stamp`` (or a newer read by another thread), or
        for a large scope with older vectors, those while the new ones are read."""
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
        if found is not None and found.stamp == stamp:
            return found
        if found is not None and len(found.ids) > self._sync_rows:
            self._refresh_later(key, stamp, scope_filter)
            return found
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

    def _refresh_later(self, key: str, stamp: str, scope_filter: Mapping[str, Any]) -> None:
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def refresh() -> None:
            try:
                self._build(key, stamp, scope_filter)
            except Exception:  # the next query tries again; the old vectors stay meanwhile
                log.exception("reading the text vectors of %s failed", key)
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        threading.Thread(target=refresh, name=f"vectors {key}", daemon=True).start()

    def memory(self) -> int:
        """Bytes held by the cached matrices (the bench reports it)."""
        with self._lock:
            return sum(v.nbytes for v in self._cache.values())
