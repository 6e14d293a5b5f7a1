"""WebP thumbnails at 256 and 1280 px on the long edge."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from picsource_worker.pipeline.decode import decode
from picsource_worker.pipeline.thumbnails import fit, make_thumbnails
from tests.support.images import large_jpeg, photo


def test_camera_jpeg_gets_both_sizes_as_webp_with_the_right_long_edge() -> None:
    image = decode(large_jpeg("rocket", (3000, 4000))).image  # portrait
    thumbs = {t.size: t for t in make_thumbnails(image, (256, 1280))}
    assert set(thumbs) == {256, 1280}
    for size, thumb in thumbs.items():
        opened = Image.open(io.BytesIO(thumb.data))
        assert opened.format == "WEBP"
        assert opened.size == (thumb.width, thumb.height)
        assert max(opened.size) == size and opened.height == size  # portrait: height is long
        assert abs(opened.width / opened.height - 0.75) < 0.01
    assert len(thumbs[256].data) < len(thumbs[1280].data)


def test_small_images_are_not_upscaled() -> None:
    thumbs = make_thumbnails(photo("chelsea"), (256, 1280))  # 451 x 300
    sizes = {t.size: (t.width, t.height) for t in thumbs}
    assert sizes[1280] == (451, 300)
    assert sizes[256] == (256, 170)


def test_thumbnail_looks_like_the_photo() -> None:
    original = photo("coffee")
    thumb = make_thumbnails(original, (256,))[0]
    opened = Image.open(io.BytesIO(thumb.data)).convert("RGB")
    reference = original.resize(opened.size, Image.Resampling.BOX)
    diff = [abs(a - b) for a, b in zip(opened.tobytes(), reference.tobytes(), strict=True)]
    assert sum(diff) / len(diff) < 6


def test_fit_and_bad_sizes() -> None:
    assert fit(Image.new("RGB", (1, 1)), 256).size == (1, 1)
    assert fit(Image.new("RGB", (5000, 10)), 256).size == (256, 1)
    with pytest.raises(ValueError):
        make_thumbnails(Image.new("RGB", (10, 10)), (0,))
