"""Near-duplicates among one owner's images, by pHash Hamming distance.

Hamming distance cannot be indexed in MongoDB, so we read the owner's hashes (the
``owner_phash`` index covers the query) and compare in Python: 64-bit XORs are cheap
even for tens of thousands of images. Links are stored on both documents and kept
symmetric: re-analysing an image also removes links that no longer hold
(ImageDocuments.link_near_duplicates writes them).
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from picsource_core.image_documents import ImageDocuments
from picsource_worker.pipeline.hashes import NEAR_DUPLICATE_DISTANCE, hamming

#: Upper bound on links per image: a burst of 500 identical shots should not bloat docs.
MAX_LINKS = 100


def find_near_duplicates(
    images: ImageDocuments,
    owner_id: Any,
    image_id: ObjectId,
    phash: str,
    limit: int = NEAR_DUPLICATE_DISTANCE,
) -> list[ObjectId]:
    """Ids of the owner's other images whose pHash is within `limit` bits, closest first."""
    scored: list[tuple[int, ObjectId]] = []
    cursor = images.find(
        {"owner_id": owner_id, "analysis.phash": {"$type": "string"}, "_id": {"$ne": image_id}},
        {"_id": 1, "analysis.phash": 1},
    )
    for doc in cursor:
        other = (doc.get("analysis") or {}).get("phash")
        if not isinstance(other, str) or len(other) != len(phash):
            continue
        try:
            distance = hamming(phash, other)
        except ValueError:
            continue
        if distance <= limit:
            scored.append((distance, doc["_id"]))
    scored.sort(key=lambda pair: (pair[0], str(pair[1])))
    return [image for _, image in scored[:MAX_LINKS]]
