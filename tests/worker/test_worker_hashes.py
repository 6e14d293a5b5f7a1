"""Perceptual hashes: a re-encoded copy is a near-duplicate, another photo is not."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from picsource_worker.pipeline.decode import decode
from picsource_worker.pipeline.hashes import hamming, is_near_duplicate, perceptual_hashes
from picsource_worker.pipeline.thumbnails import make_thumbnails
from tests.support.images import encode, photo


def _hashes_via_thumbnail(data: bytes) -> tuple[str, str]:
    thumb = make_thumbnails(decode(data).image, (256,))[0]
    hashed = perceptual_hashes(Image.open(io.BytesIO(thumb.data)))
    return hashed.phash, hashed.dhash


def test_reencoded_and_resized_copy_is_a_near_duplicate() -> None:
    original = _hashes_via_thumbnail(encode(photo("chelsea"), "PNG"))
    copy = photo("chelsea").resize((300, 200))
    recoded = _hashes_via_thumbnail(encode(copy, "JPEG", quality=35))
    assert len(original[0]) == 16 and int(original[0], 16) >= 0
    assert hamming(original[0], recoded[0]) <= 8
    assert is_near_duplicate(original[0], recoded[0])


@pytest.mark.parametrize("other", ["coffee", "astronaut", "rocket"])
def test_unrelated_photo_is_not_a_near_duplicate(other: str) -> None:
    cat = _hashes_via_thumbnail(encode(photo("chelsea"), "PNG"))
    different = _hashes_via_thumbnail(encode(photo(other), "PNG"))
    assert hamming(cat[0], different[0]) > 8
    assert not is_near_duplicate(cat[0], different[0])


def test_hamming() -> None:
    assert hamming("0000000000000000", "0000000000000000") == 0
    assert hamming("ffffffffffffffff", "0000000000000000") == 64
    assert hamming("8000000000000001", "0000000000000000") == 2
    with pytest.raises(ValueError):
        hamming("ff", "fff")
