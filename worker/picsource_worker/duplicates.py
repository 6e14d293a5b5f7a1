"""Near-duplicates among one owner's images, by pHash Hamming distance.

Hamming distance cannot be indexed in MongoDB, so the comparison runs here, over the
owner's hashes. Reading all of them for every job made each analysis cost grow with the
gallery: SecantusDB decodes every candidate document, 350 ms at 3,000 images, so an
import of thousands of photos spent more time reading hashes than analysing. Instead
each analysis process keeps the hashes of the owners it has met (``OwnerHashes``) and,
before each comparison, reads only the images analysed since its last read (the
``owner_analysed_at`` index), OVERLAP_SECONDS further back for a write that landed late
or a worker whose clock runs a little behind. The closest MAX_LINKS candidates within the
distance are read again by id before they are linked, so a hash that changed
(re-analysis) or an image deleted since never makes a wrong link.

A link is stored once (picsource_core.images.NEAR_DUPLICATES): the analysed image lists
the matches that do not already list it. So a re-analysis with the same hashes writes the
same list, and no other document is rewritten.

A recycled process leaves its copies to its successor (picsource_worker.hash_snapshots),
which would otherwise start by reading every image of the owner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from bson import ObjectId

from picsource_core.image_documents import ImageDocuments
from picsource_core.images import NEAR_DUPLICATES, near_duplicate_ids
from picsource_worker.pipeline.hashes import NEAR_DUPLICATE_DISTANCE

if TYPE_CHECKING:
    from picsource_worker.hash_snapshots import HashSnapshots

#: Upper bound on links per image: a burst of 500 identical shots should not bloat docs.
MAX_LINKS = 100
#: How far before its last read a process reads again (late writes, clock skew).
OVERLAP_SECONDS = 10.0
#: pHashes are 64 bits, stored as 16 hex digits (picsource_worker.pipeline.hashes).
HEX_DIGITS = 16
#: Hashes appended since the arrays were last rebuilt before a rebuild (amortises it).
MERGE_EVERY = 1024

_FIELDS = {"_id": 1, "analysis.phash": 1, "analysed_at": 1}


@dataclass(frozen=True)
class NearMatches:
    """``close``: the owner's images within the distance, closest first (at most MAX_LINKS);
    ``to_store``: those of them whose own list does not already link back, for this image's
    list."""

    close: list[ObjectId]
    to_store: list[ObjectId]


NO_MATCHES = NearMatches([], [])


def parse_phash(value: object) -> int | None:
    """A stored pHash as an int; None when it is not 16 hex digits."""
    if not isinstance(value, str) or len(value) != HEX_DIGITS:
        return None
    try:
        return int(value, 16)
    except ValueError:
        return None


@dataclass
class OwnerHashes:
    """One owner's (image id, pHash) pairs as this process last read them.

    Append-only: a re-analysed image is appended again under its new hash and the stale
    pair stays (the re-read by id filters it out). ``recent`` holds the pairs read within
    the overlap, so the next read's overlap does not append them twice.
    """

    ids: np.ndarray = field(default_factory=lambda: np.empty((0, 12), dtype=np.uint8))  # ObjectId bytes
    hashes: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    extra_ids: list[bytes] = field(default_factory=list)
    extra_hashes: list[int] = field(default_factory=list)
    recent: dict[ObjectId, tuple[int, datetime]] = field(default_factory=dict)
    read_until: datetime | None = None

    def add(self, image_id: ObjectId, phash: int, analysed_at: datetime | None) -> None:
        if self.recent.get(image_id, (None,))[0] == phash:
            return
        if analysed_at is not None:
            self.recent[image_id] = (phash, analysed_at)
        self.extra_ids.append(image_id.binary)
        self.extra_hashes.append(phash)
        if len(self.extra_ids) >= MERGE_EVERY:
            self._merge()

    def forget_before(self, moment: datetime) -> None:
        self.recent = {k: v for k, v in self.recent.items() if v[1] >= moment}

    def within(self, phash: int, limit: int) -> list[ObjectId]:
        """Ids whose hash as read is within ``limit`` bits of ``phash``, closest first (each
        once, at its closest as read)."""
        self._merge()
        distances = np.bitwise_count(self.hashes ^ np.uint64(phash))
        close = np.flatnonzero(distances <= limit)
        order = close[np.argsort(distances[close], kind="stable")]
        return list(dict.fromkeys(ObjectId(row.tobytes()) for row in self.ids[order]))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids as N x 12 bytes, hashes) of every pair read so far."""
        self._merge()
        return self.ids, self.hashes

    def _merge(self) -> None:
        if self.extra_ids:
            added = np.frombuffer(b"".join(self.extra_ids), dtype=np.uint8).reshape(-1, 12)
            self.ids = np.concatenate([self.ids, added])
            self.hashes = np.concatenate([self.hashes, np.array(self.extra_hashes, dtype=np.uint64)])
            self.extra_ids, self.extra_hashes = [], []


class NearDuplicates:
    """Finds an image's near-duplicates among its owner's images (one per process)."""

    def __init__(self, images: ImageDocuments, limit: int = NEAR_DUPLICATE_DISTANCE,
                 snapshots: HashSnapshots | None = None) -> None:
        self.images = images
        self.limit = limit
        self.owners: dict[Any, OwnerHashes] = {}
        #: Where a predecessor left its copies and this process leaves its own on recycling.
        self.snapshots = snapshots

    def save(self) -> int:
        """Leave this process's copies for its successor; how many owners were saved."""
        if self.snapshots is None:
            return 0
        return sum(self.snapshots.save(owner, known) for owner, known in self.owners.items())

    def find(self, owner_id: Any, image_id: ObjectId, phash: str) -> NearMatches:
        """The owner's other images whose pHash is within the limit, closest first."""
        wanted = parse_phash(phash)
        if wanted is None:
            return NO_MATCHES
        known = self._refresh(owner_id)
        # Closest as read first: a burst of hundreds of similar shots re-reads MAX_LINKS of them.
        candidates = [c for c in known.within(wanted, self.limit) if c != image_id][:MAX_LINKS]
        if not candidates:
            return NO_MATCHES
        scored: list[tuple[int, ObjectId, bool]] = []
        query = {"_id": {"$in": candidates}, "owner_id": owner_id}
        for doc in self.images.find(query, {"_id": 1, "analysis.phash": 1, NEAR_DUPLICATES: 1}):
            other = parse_phash((doc.get("analysis") or {}).get("phash"))
            if other is not None and (distance := (other ^ wanted).bit_count()) <= self.limit:
                scored.append((distance, doc["_id"], image_id in near_duplicate_ids(doc)))
        scored.sort(key=lambda row: (row[0], str(row[1])))
        return NearMatches([oid for _, oid, _ in scored], [oid for _, oid, back in scored if not back])

    def _refresh(self, owner_id: Any) -> OwnerHashes:
        known = self.owners.get(owner_id)
        if known is None:
            saved = self.snapshots.load(owner_id) if self.snapshots is not None else None
            known = self.owners[owner_id] = saved or OwnerHashes()
        started = datetime.now(UTC)
        # Owner and time alone: with a second operator clause (the pHash's $type) SecantusDB
        # no longer walks the index range but reads every image of the owner. parse_phash
        # drops documents without a hash.
        query: dict[str, Any] = {"owner_id": owner_id}
        if known.read_until is not None:
            query["analysed_at"] = {"$gte": known.read_until - timedelta(seconds=OVERLAP_SECONDS)}
        for doc in self.images.find(query, _FIELDS):
            value = parse_phash((doc.get("analysis") or {}).get("phash"))
            if value is not None:
                at = doc.get("analysed_at")
                known.add(doc["_id"], value, at.replace(tzinfo=UTC) if isinstance(at, datetime) else None)
        known.read_until = started
        known.forget_before(started - timedelta(seconds=2 * OVERLAP_SECONDS))
        return known
