"""Perceptual hashes for near-duplicate detection.

pHash (DCT of a 32x32 grey image) survives re-encoding, resizing and mild colour
changes; dHash (gradient signs) is cheaper and catches a different set of edits. Both are
64-bit and stored as 16 hex digits so MongoDB documents stay readable.
"""

from __future__ import annotations

from dataclasses import dataclass

import imagehash
from PIL import Image

#: Hamming distance (of 64 bits) at or under which two photos count as near-duplicates.
NEAR_DUPLICATE_DISTANCE = 8


@dataclass(frozen=True)
class Hashes:
    phash: str
    dhash: str


def perceptual_hashes(image: Image.Image) -> Hashes:
    """pHash and dHash of `image` (pass the small thumbnail: the result is the same, faster)."""
    return Hashes(phash=str(imagehash.phash(image)), dhash=str(imagehash.dhash(image)))


def hamming(a: str, b: str) -> int:
    """Number of differing bits between two hex hashes of the same length."""
    if len(a) != len(b):
        raise ValueError(f"hashes differ in length: {len(a)} vs {len(b)}")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def is_near_duplicate(a: str, b: str, limit: int = NEAR_DUPLICATE_DISTANCE) -> bool:
    return hamming(a, b) <= limit
