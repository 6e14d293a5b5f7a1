"""How alike two images look: the cosine of the worker's image embeddings (pure).

The worker stores each image's 1280-d EfficientNet-Lite0 feature vector (``embedding``,
L2-normalised, packed: picsource_core.image_embedding). "Similar images" ranks a bounded
set of candidates by it (about 30 x 1280 products).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from bson import ObjectId

from picsource_core.image_embedding import unpack

#: Images "similar" reads at most to rank by look (label and colour matches, newest first).
SIMILAR_CANDIDATES = 24


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The cosine of two vectors (the worker stores unit vectors, but this does not rely on it)."""
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b)) / norm if norm else 0.0


def rank_by_cosine(target: Any, candidates: list[dict[str, Any]],
                   vectors: Mapping[ObjectId, Any]) -> list[dict[str, Any]]:
    """Candidates with a vector of the target's length, most alike first, then the rest in
    order. Vectors as stored (picsource_core.image_embedding.unpack reads them); a target
    that cannot be read leaves the order as it is."""
    wanted = unpack(target)
    if wanted is None:
        return candidates
    scored = [(cosine(wanted, v), i) for i, c in enumerate(candidates)
              if (v := unpack(vectors.get(c["_id"]))) is not None and v.shape == wanted.shape]
    ranked = [candidates[i] for _, i in sorted(scored, key=lambda pair: (-pair[0], pair[1]))]
    seen = {c["_id"] for c in ranked}
    return ranked + [c for c in candidates if c["_id"] not in seen]
