"""OCR's cheap paths: detection on a shrunk copy, recognition only on the boxes it found,
read from the full-resolution pixels; and a 12-megapixel upload still yields its text."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from picsource_worker.models import ocr
from picsource_worker.pipeline import AnalysisOptions, analyse
from tests.support.images import encode, large_jpeg, photo, sign

TEXT_ONLY = AnalysisOptions(labels=False, faces=False, safety=False, text_embedding=False)


def _photo_with_sign(size: tuple[int, int], at: tuple[int, int], text: str) -> Image.Image:
    picture = photo("coffee").resize(size)
    picture.paste(sign(text), at)
    return picture


def test_a_sign_in_a_12_megapixel_upload_is_read_through_the_whole_pipeline() -> None:
    data = encode(_photo_with_sign((4000, 3000), (1500, 1300), "GRAND OPENING"), "JPEG", quality=90)
    result = analyse(data, TEXT_ONLY)
    assert result.step_errors == {}
    assert result.text is not None and "GRAND OPENING" in result.text


def test_boxes_found_on_the_shrunk_copy_are_placed_on_the_full_image() -> None:
    picture = _photo_with_sign((3000, 2000), (1000, 800), "GRAND OPENING")
    assert max(ocr.detection_copy(picture).size) <= ocr.DETECT_SIDE
    quads = ocr._reader().detect(ocr.detection_copy(picture), (picture.height, picture.width))
    assert len(quads) == 1
    xs, ys = quads[0][:, 0], quads[0][:, 1]
    # The sign's letters sit at x 1050..1750, y 900..980 of the 3000 x 2000 picture.
    assert 980 <= xs.min() <= 1100 and 1650 <= xs.max() <= 1900
    assert 850 <= ys.min() <= 930 and 950 <= ys.max() <= 1050


def test_recognition_reads_only_the_boxes_detection_found() -> None:
    reading = ocr.read(_photo_with_sign((3000, 2000), (1000, 800), "NO PARKING"))
    assert reading.text == "NO PARKING"
    assert reading.detected == reading.recognised == 1


def test_a_photo_without_text_skips_recognition() -> None:
    for picture in (Image.open(io.BytesIO(large_jpeg("chelsea"))),
                    Image.new("RGB", (4000, 3000), (90, 120, 160))):  # fmt: skip
        assert ocr.read(picture) == ocr.Reading("", 0, 0)


def test_a_tall_box_is_turned_to_read_left_to_right() -> None:
    pixels = np.zeros((300, 100, 3), dtype=np.uint8)
    pixels[:, :, 0] = np.arange(300, dtype=np.uint8)[:, None]  # red grows downwards
    quad = np.array([[10, 20], [60, 20], [60, 220], [10, 220]], dtype=np.float32)
    strip = ocr.crop(Image.fromarray(pixels), quad)
    assert strip.shape[:2] == (50, 200)  # wider than tall now
    assert strip[:, :, 2].std() > 0 and strip[:, :, 0].std() == 0  # RGB came out as BGR
