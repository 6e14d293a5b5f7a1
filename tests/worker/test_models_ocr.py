"""RapidOCR text reading on Pillow-drawn signs."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from skimage import data

from picsource_worker.models.ocr import TextBox, read_text, reading_order

_FONT_CANDIDATES = [
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
]


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in _FONT_CANDIDATES:
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)  # Pillow's bundled TrueType font


def sign(lines: list[tuple[str, int]], size: tuple[int, int] = (900, 420)) -> Image.Image:
    image = Image.new("RGB", size, (238, 232, 214))
    draw = ImageDraw.Draw(image)
    y = 60
    for text, points in lines:
        draw.text((60, y), text, font=font(points), fill=(25, 25, 35))
        y += int(points * 1.6)
    return image


def test_grand_opening_sign() -> None:
    assert "GRAND OPENING" in read_text(sign([("GRAND OPENING", 80)]))


def test_lines_come_out_top_to_bottom() -> None:
    text = read_text(sign([("GRAND OPENING", 72), ("Saturday 10 am", 48)]))
    lines = text.splitlines()
    assert lines[0] == "GRAND OPENING"
    assert "Saturday" in lines[1]


def test_sign_inside_a_large_photo() -> None:
    photo = Image.fromarray(data.coffee()).resize((3000, 2000))
    photo.paste(sign([("GRAND OPENING", 80)]), (1000, 800))
    assert "GRAND OPENING" in read_text(photo)


def test_photos_without_text_read_empty() -> None:
    assert read_text(Image.fromarray(data.coffee())) == ""
    assert read_text(Image.new("RGB", (640, 480), "white")) == ""
    assert read_text(Image.new("RGB", (3, 3), "white")) == ""


def test_reading_order_groups_boxes_into_lines() -> None:
    boxes = [
        TextBox("OPENING", 0.9, left=300, top=12, bottom=52),
        TextBox("today", 0.9, left=40, top=90, bottom=120),
        TextBox("GRAND", 0.9, left=40, top=10, bottom=50),
    ]
    assert reading_order(boxes) == "GRAND OPENING\ntoday"
    assert reading_order([]) == ""
