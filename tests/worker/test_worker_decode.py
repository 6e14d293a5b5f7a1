"""Decoding: draft mode for big JPEGs, orientation, and every kind of awkward file."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from picsource_worker.pipeline.decode import MAX_WORKING_EDGE, WORKING_EDGE, DecodeError, decode
from tests.support.images import encode, exif_jpeg, large_jpeg, photo, photo_jpeg, png_header_only


def test_large_jpeg_is_decoded_at_a_working_size_not_full_resolution() -> None:
    decoded = decode(large_jpeg("coffee", (4000, 3000)))
    assert (decoded.width, decoded.height) == (4000, 3000)
    assert decoded.format == "JPEG" and decoded.image.mode == "RGB"
    assert WORKING_EDGE <= max(decoded.image.size) <= MAX_WORKING_EDGE
    # draft mode scales by 1/2 here: exactly half of each side, aspect kept
    assert decoded.image.size == (2000, 1500)


def test_small_photo_keeps_its_size_and_pixels() -> None:
    decoded = decode(encode(photo("astronaut"), "PNG"))
    assert decoded.image.size == (512, 512)
    assert np.array_equal(np.asarray(decoded.image), np.asarray(photo("astronaut")))


def test_big_png_is_reduced_to_the_working_size() -> None:
    decoded = decode(encode(photo("rocket").resize((3000, 2000)), "PNG", compress_level=1))
    assert max(decoded.image.size) <= MAX_WORKING_EDGE
    assert (decoded.width, decoded.height) == (3000, 2000)


def test_exif_orientation_is_applied() -> None:
    upright = photo("chelsea")  # 451 x 300, landscape
    decoded = decode(exif_jpeg(upright, orientation=6))  # "rotate 90 CW to view"
    assert decoded.image.size == (300, 451)
    assert (decoded.width, decoded.height) == (300, 451)
    # the cat's face (top-left area of the landscape original) ends up top-right
    original = np.asarray(upright.convert("L"), dtype=float)
    turned = np.asarray(decoded.image.convert("L"), dtype=float)
    expected = np.rot90(original, k=-1)
    assert np.abs(turned - expected).mean() < 8


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"this is not an image at all" * 10, "not a recognised image format"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "image"),
    ],
)
def test_garbage_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(data)


def test_truncated_jpeg_is_an_error_not_a_crash() -> None:
    data = photo_jpeg("coffee")
    with pytest.raises(DecodeError, match="truncated|corrupt"):
        decode(data[: len(data) // 2])


@pytest.mark.parametrize(("width", "height"), [(30_000, 30_000), (100_000, 100_000)])
def test_bomb_sized_png_header_is_refused_before_decoding(width: int, height: int) -> None:
    with pytest.raises(DecodeError, match="too large"):
        decode(png_header_only(width, height))


def test_pixel_budget_is_configurable() -> None:
    with pytest.raises(DecodeError, match="exceeds 1000"):
        decode(photo_jpeg("coffee"), max_pixels=1000)


def test_cmyk_jpeg_keeps_its_colours() -> None:
    red = Image.new("RGB", (64, 48), (220, 30, 30)).convert("CMYK")
    decoded = decode(encode(red, "JPEG", quality=95))
    r, g, b = decoded.image.getpixel((10, 10))  # type: ignore[misc]
    assert decoded.mode == "CMYK"
    assert r > 180 and g < 80 and b < 80


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    ramp = np.tile(np.linspace(0, 65535, 256, dtype=np.uint16), (32, 1))
    data = encode(Image.fromarray(ramp), "PNG")
    decoded = decode(data)
    grey = np.asarray(decoded.image.convert("L"))
    assert grey[:, 0].max() < 5 and grey[:, -1].min() > 250
    assert 100 < grey[:, 128].mean() < 155  # mid-ramp is mid-grey, not saturated white


def test_animated_gif_uses_the_first_frame() -> None:
    frames = [Image.new("RGB", (40, 30), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    decoded = decode(buf.getvalue())
    assert decoded.frames == 3 and decoded.format == "GIF"
    r, g, b = decoded.image.getpixel((5, 5))  # type: ignore[misc]
    assert r > 200 and g < 50 and b < 50


def test_greyscale_and_one_pixel_and_alpha() -> None:
    grey = decode(encode(Image.fromarray(np.asarray(photo("coffee").convert("L"))), "JPEG"))
    assert grey.image.mode == "RGB" and grey.mode == "L"
    tiny = decode(encode(Image.new("RGB", (1, 1), (10, 200, 10)), "PNG"))
    assert tiny.image.size == (1, 1) and tiny.image.getpixel((0, 0)) == (10, 200, 10)
    clear = decode(encode(Image.new("RGBA", (8, 8), (0, 0, 0, 0)), "PNG"))
    assert clear.image.getpixel((4, 4)) == (255, 255, 255)  # transparent shows as white


def test_huge_exif_block_does_not_break_decoding() -> None:
    data = exif_jpeg(huge_comment="x" * 60_000)
    decoded = decode(data)
    assert decoded.image.size == (451, 300)
    assert len(decoded.exif.tobytes()) > 60_000
