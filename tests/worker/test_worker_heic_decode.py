"""Decoding iPhone-style files (pure: no servers): HEIC and AVIF come out upright, in RGB,
with their EXIF date and GPS readable, and their pixel budget is checked from the header."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from PIL import Image

from picsource_worker.pipeline.decode import DecodeError, decode
from picsource_worker.pipeline.exif import read_exif
from tests.support import images as samples

PHONE_FORMATS = ["HEIF", "AVIF"]


def _close(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of two same-sized images in grey levels (0..255)."""
    return float(np.abs(np.asarray(a.convert("L"), float) - np.asarray(b.convert("L"), float)).mean())


@pytest.mark.parametrize("fmt", PHONE_FORMATS)
def test_a_phone_photo_decodes_to_rgb_with_its_size_and_pixels(fmt: str) -> None:
    upright = samples.photo("chelsea")  # 451 x 300
    decoded = decode(samples.camera_file(fmt, upright))
    assert decoded.format == fmt and decoded.image.mode == "RGB"
    assert (decoded.width, decoded.height) == (451, 300) and decoded.image.size == (451, 300)
    assert _close(decoded.image, upright) < 6  # lossy, yet the same picture


def test_decode_opens_heic_with_pi_heif_whatever_was_registered_before() -> None:
    """The worker image has pi-heif only; a plugin another library left in Pillow's HEIF
    slot (imageio puts pillow-heif's there) must not be what the tests exercise."""
    import pi_heif
    import pillow_heif

    pillow_heif.register_heif_opener()
    assert decode(samples.heic()).format == "HEIF"
    assert Image.OPEN["HEIF"][0] is pi_heif.HeifImageFile


@pytest.mark.parametrize("fmt", PHONE_FORMATS)
def test_a_sideways_phone_photo_is_turned_upright_once(fmt: str) -> None:
    """Phones store the sensor's pixels and say "rotate 90 CW to view" (HEIF's irot box,
    EXIF orientation 6). pi-heif applies irot while decoding; Pillow's AVIF reports it as
    EXIF orientation, which decode applies: either way the result is upright, never twice."""
    upright = samples.photo("chelsea")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what the sensor saw: 300 x 451
    decoded = decode(samples.camera_file(fmt, stored, orientation=6))
    assert (decoded.width, decoded.height) == (451, 300)
    assert decoded.image.size == (451, 300)
    assert _close(decoded.image, upright) < 6


@pytest.mark.parametrize("fmt", PHONE_FORMATS)
def test_exif_date_camera_and_gps_are_read_from_a_phone_photo(fmt: str) -> None:
    info = read_exif(decode(samples.camera_file(fmt)).exif)
    assert info.taken_at == datetime(2023, 7, 14, 18, 30, 5)
    assert info.camera_make == "Canon" and info.iso == 400
    assert info.latitude == pytest.approx(48.8583, abs=1e-4)
    assert info.longitude == pytest.approx(-2.2945, abs=1e-4)


def test_a_10_bit_heic_comes_out_as_8_bit_rgb() -> None:
    decoded = decode(samples.heic_deep(40000))
    assert samples.heic_deep()[8:12] == b"heix" and decoded.image.mode == "RGB"
    assert decoded.image.getpixel((3, 3)) == (156, 156, 156)  # 40000 / 65535 * 255


def test_a_transparent_heic_is_flattened_over_white() -> None:
    decoded = decode(samples.heic(Image.new("RGBA", (64, 48), (200, 10, 10, 128))))
    assert decoded.mode == "RGBA" and decoded.image.mode == "RGB"
    r, g, b = decoded.image.getpixel((5, 5))  # type: ignore[misc]
    assert abs(r - 227) < 8 and abs(g - 132) < 8 and abs(b - 132) < 8  # half red over white


@pytest.mark.parametrize("fmt", PHONE_FORMATS)
def test_a_truncated_phone_photo_is_a_decode_error(fmt: str) -> None:
    data = samples.camera_file(fmt)
    with pytest.raises(DecodeError):
        decode(data[: len(data) // 2])


def test_a_heic_header_over_random_bytes_is_a_decode_error() -> None:
    fake = samples.heic()[:32] + np.random.default_rng(7).bytes(4000)
    with pytest.raises(DecodeError):
        decode(fake)


@pytest.mark.parametrize(("width", "height"), [(8000, 8000), (20000, 20000)])
def test_a_heic_claiming_too_many_pixels_is_refused_before_decoding(width: int, height: int) -> None:
    """8000x8000 passes Pillow's own bomb guard and is caught by our budget; 20000x20000 by
    Pillow's. Were the pixels decoded first, the error would be the size mismatch instead."""
    with pytest.raises(DecodeError, match="too large"):
        decode(samples.heic_claiming(width, height))
