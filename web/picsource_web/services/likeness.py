"""How alike two images look: the cosine of the worker's image embeddings (pure).

The worker stores each image's 1280-d EfficientNet-Lite0 feature vector (``embedding``,
L2-normalised). "Similar images" ranks a bounded set of candidates by it; plain Python is
fast enough for that many (about 30 x 1280 products), so the web tier needs no numpy.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from typing import Any

from bson import ObjectId

#: Images "similar" reads at most to rank by look (label and colour matches, newest first).
SIMILAR_CANDIDATES = 24


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """The cosine of two vectors (the worker stores unit vectors, but this does not rely on it)."""
    dot = sum(map(operator.mul, a, b))
    norm = math.sqrt(sum(map(operator.mul, a, a)) * sum(map(operator.mul, b, b)))
    return dot / norm if norm else 0.0


def rank_by_cosine(target: Sequence[float], candidates: list[dict[str, Any]],
                   vectors: Mapping[ObjectId, Sequence[float] | None]) -> list[dict[str, Any]]:
    """Candidates with a vector of the target's length, most alike first, then the rest in order."""
    scored = [(cosine(target, v), i) for i, c in enumerate(candidates)
              if (v := vectors.get(c["_id"])) and len(v) == len(target)]
    ranked = [candidates[i] for _, i in sorted(scored, key=lambda pair: (-pair[0], pair[1]))]
    seen = {c["_id"] for c in ranked}
    return ranked + [c for c in candidates if c["_id"] not in seen]
