"""The image embedding as the image document stores it: packed float16 bytes (pure).

The worker keeps each image's L2-normalised EfficientNet-Lite0 feature vector (1,280
values) on the document, and "similar images" ranks candidates by its cosine. Stored as a
BSON array of doubles it was 16.8 KB of a 19 KB document and 1,280 values to decode, and
a MongoDB-wire server such as SecantusDB decodes the whole document before it projects:
every read of an analysed image (a listing, a lookup by id, the worker's own reads) paid
for a vector it did not want. As 2,560 bytes of little-endian float16 it is one value.
float16 keeps three significant digits, far finer than a ranking of a few dozen
candidates by cosine needs. Documents written before hold a list of floats; ``unpack``
reads both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The document field.
EMBEDDING = "embedding"
_STORED = np.dtype("<f2")


def pack(vector: Any) -> bytes | None:
    """The vector, L2-normalised, as stored; None for an empty or non-finite vector."""
    if vector is None:
        return None
    flat = np.asarray(vector, dtype=np.float64).ravel()
    if flat.size == 0 or not np.all(np.isfinite(flat)):
        return None
    norm = float(np.linalg.norm(flat))
    if norm > 0:
        flat = flat / norm
    return flat.astype(_STORED).tobytes()


def unpack(value: Any) -> np.ndarray | None:
    """A stored embedding as float32 (packed bytes, or the list older documents hold);
    None for anything else, so one malformed document never breaks a page."""
    if isinstance(value, bytes | bytearray):
        if not value or len(value) % _STORED.itemsize:
            return None
        vector = np.frombuffer(value, dtype=_STORED).astype(np.float32)
    elif isinstance(value, list) and value and all(isinstance(v, int | float) for v in value):
        vector = np.asarray(value, dtype=np.float32)
    else:
        return None
    return vector if np.all(np.isfinite(vector)) else None
