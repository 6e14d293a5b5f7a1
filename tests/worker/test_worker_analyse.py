"""`analyse`: every step on real photos, step isolation and hostile input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from picsource_worker.pipeline import AnalysisOptions, analyse
from tests.support.images import encode, exif_jpeg, mostly_red, photo, photo_jpeg, png_header_only

LIGHT = AnalysisOptions(labels=False, faces=False, ocr=False, safety=False)


def test_full_analysis_of_the_coffee_photo_with_models() -> None:
    result = analyse(photo_jpeg("coffee"), AnalysisOptions(ocr=False))
    assert result.ok and result.step_errors == {}
    assert result.labels[0][0] in {"espresso", "cup", "coffee mug"}
    assert result.embedding is not None and result.embedding.shape == (1280,)
    assert result.faces == 0 and result.safety is not None and result.safety < 0.5
    assert result.caption == f"A photo of an {result.labels[0][0]}, mostly brown and red." or (
        result.labels[0][0] != "espresso"
    )
    assert set(result.durations) >= {"decode", "thumbnails", "labels", "faces", "safety"}


def test_the_analysis_keeps_no_pixels_once_done() -> None:
    # The thumbnails' pixels are dropped before OCR (its detector is the memory peak) and
    # a finished analysis, held while the next image is analysed, keeps only their files.
    result = analyse(photo_jpeg("coffee"), AnalysisOptions(labels=False, faces=False))
    assert [t.size for t in result.thumbnails] == [1280, 256]
    assert all(t.image is None and t.data[:4] == b"RIFF" for t in result.thumbnails)
    assert result.safety is not None and result.text == ""


def test_light_analysis_of_a_photo_with_exif() -> None:
    result = analyse(exif_jpeg(), LIGHT)
    assert result.ok and result.step_errors == {}
    assert (result.format, result.width, result.height) == ("JPEG", 451, 300)
    assert result.exif is not None and result.exif.camera_model == "Canon EOS 5D Mark IV"
    assert [t.size for t in result.thumbnails] == [1280, 256]
    assert result.phash and result.dhash and len(result.palette) == 5
    assert result.labels == [] and result.faces is None and result.text is None
    assert result.caption == "A photo, mostly brown and grey."
    assert "labels" not in result.durations  # disabled steps do not run at all


def test_mostly_red_image_is_red() -> None:
    result = analyse(encode(mostly_red(), "PNG"), LIGHT)
    assert result.colour_families[0] == "red" and result.palette[0].family == "red"
    assert "mostly red" in (result.caption or "")


def test_a_failing_step_records_its_error_and_the_others_stand() -> None:
    result = analyse(photo_jpeg("rocket"), AnalysisOptions(
        labels=False, faces=False, ocr=False, safety=False, thumbnail_sizes=(0,)
    ))  # fmt: skip
    assert result.ok
    assert "thumbnail size must be positive" in result.step_errors["thumbnails"]
    assert result.thumbnails == []
    assert result.palette and result.phash  # hashed from the working image instead
    assert result.caption == "A photo, mostly blue and black."


def _gif() -> bytes:
    frames = [Image.new("RGB", (32, 32), c) for c in ((0, 200, 0), (200, 0, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("cmyk", encode(photo("coffee").convert("CMYK"), "JPEG")),
        ("16-bit", encode(Image.fromarray((np.arange(64 * 64, dtype=np.uint16) * 16).reshape(64, 64)), "PNG")),
        ("gif", _gif()),
        ("grey", encode(photo("astronaut").convert("L"), "JPEG")),
        ("1x1", encode(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG")),
        ("huge exif", exif_jpeg(huge_comment="y" * 60_000)),
        ("palette+alpha", encode(photo("rocket").convert("P"), "PNG", transparency=0)),
        ("webp", encode(photo("chelsea"), "WEBP")),
    ],
)  # fmt: skip
def test_awkward_but_valid_images_are_analysed(name: str, data: bytes) -> None:
    result = analyse(data, AnalysisOptions(ocr=False, safety=False))
    assert result.ok, result.fatal_error
    assert result.step_errors == {}, name
    assert result.thumbnails and result.palette and result.phash and result.caption


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"\x00" * 1000, "not a recognised image format"),
        (photo_jpeg("coffee")[:3000], "truncated"),
        (png_header_only(50_000, 50_000), "too large"),
    ],
)
def test_impossible_input_is_a_fatal_error_not_an_exception(data: bytes, reason: str) -> None:
    result = analyse(data, LIGHT)
    assert not result.ok and reason in (result.fatal_error or "")
    assert result.step_errors["decode"] == result.fatal_error
    assert result.thumbnails == [] and result.caption is None
