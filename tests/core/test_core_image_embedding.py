"""The stored image embedding (picsource_core.image_embedding): packed float16 bytes,
read back close to the vector, and the lists of older documents read as well (pure)."""

from __future__ import annotations

import numpy as np

from picsource_core.image_embedding import pack, unpack


def test_a_vector_is_stored_normalised_in_two_bytes_a_value_and_reads_back_close() -> None:
    rng = np.random.default_rng(7)
    vector = rng.normal(size=1280)
    stored = pack(vector)
    assert isinstance(stored, bytes) and len(stored) == 2560
    back = unpack(stored)
    assert back is not None and back.dtype == np.float32 and back.shape == (1280,)
    unit = vector / np.linalg.norm(vector)
    assert np.max(np.abs(back - unit)) < 1e-3
    other = rng.normal(size=1280)
    other_back = unpack(pack(other))
    assert other_back is not None
    exact = float(unit @ (other / np.linalg.norm(other)))
    assert abs(float(back @ other_back) - exact) < 1e-3  # a cosine survives to three decimals


def test_nothing_to_store_for_an_empty_or_broken_vector() -> None:
    assert pack(None) is None and pack([]) is None
    assert pack([1.0, float("nan")]) is None and pack([float("inf"), 0.0]) is None
    zero = unpack(pack([0.0, 0.0]))
    assert zero is not None and not zero.any()


def test_older_lists_read_and_anything_else_reads_as_none() -> None:
    listed = unpack([0.6, 0.8])
    assert listed is not None and listed.tolist() == [np.float32(0.6), np.float32(0.8)]
    for junk in (None, b"", b"\x00", [], ["a"], [1.0, None], "0.6,0.8", {"v": [1.0]}, 3.0,
                 np.array([np.inf], dtype="<f2").tobytes(), [float("nan")]):
        assert unpack(junk) is None, junk
