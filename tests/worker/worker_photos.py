"""Test images for the worker: real photos from scikit-image and generated edge cases."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from skimage import data


def photo(name: str) -> Image.Image:
    """One of scikit-image's sample photos (coffee, chelsea, astronaut, rocket) as RGB."""
    return Image.fromarray(getattr(data, name)()).convert("RGB")


def encode(image: Image.Image, fmt: str = "JPEG", **params: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def jpeg(name: str, quality: int = 90, **params: Any) -> bytes:
    return encode(photo(name), "JPEG", quality=quality, **params)


def large_jpeg(name: str, size: tuple[int, int] = (4000, 3000), seed: int = 0,
               quality: int = 88) -> bytes:  # fmt: skip
    """A camera-sized JPEG: an upscaled sample photo plus sensor-like noise."""
    base = photo(name).resize(size, Image.Resampling.BICUBIC)
    noise = np.random.default_rng(seed).integers(-6, 7, (size[1], size[0], 3), dtype=np.int16)
    pixels = np.clip(np.asarray(base, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    return encode(Image.fromarray(pixels), "JPEG", quality=quality)


def mostly_red(size: tuple[int, int] = (640, 480)) -> Image.Image:
    """85% red with a grey-blue stripe, mildly noisy like a photo of a red wall."""
    w, h = size
    pixels = np.zeros((h, w, 3), dtype=np.int16)
    pixels[:] = (200, 24, 30)
    pixels[int(h * 0.85) :] = (90, 100, 120)
    pixels += np.random.default_rng(1).integers(-10, 11, pixels.shape, dtype=np.int16)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims huge dimensions but carries almost no data (a decompression bomb)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def exif_jpeg(image: Image.Image | None = None, **tags: Any) -> bytes:
    """A JPEG whose EXIF carries camera, exposure, date and GPS tags written by Pillow."""
    image = image or photo("chelsea")
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D Mark IV"
    exif[0x0112] = tags.get("orientation", 1)
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2023:07:14 18:30:05"
    sub[0x829A] = 1 / 250
    sub[0x829D] = 2.8
    sub[0x8827] = 400
    sub[0x920A] = 50.0
    sub[0xA434] = "EF50mm f/1.8 STM"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (48.0, 51.0, 29.88)
    gps[3] = "W"
    gps[4] = (2.0, 17.0, 40.2)
    if "huge_comment" in tags:
        exif[0x010E] = tags["huge_comment"]  # ImageDescription
    return encode(image, "JPEG", quality=90, exif=exif)


def text_page(lines: int = 90, size: tuple[int, int] = (3000, 6000)) -> Image.Image:
    """A page densely covered in printed lines: OCR reads every one, which takes seconds
    (4.4 s for 60 lines on the 2-core development machine), so a job on it reliably
    outlives a 1-second job timeout."""
    page = Image.new("RGB", size, (250, 250, 245))
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=44)
    for i in range(lines):
        draw.text((80, 60 + i * 64), f"Line {i:02d}: the quick brown fox jumps over the lazy dog {i * 7}",
                  font=font, fill=(20, 20, 20))
    return page


def sign(text: str = "GRAND OPENING", size: tuple[int, int] = (900, 300)) -> Image.Image:
    """A shop sign: dark bold letters on a pale yellow board (Pillow's bundled font)."""
    board = Image.new("RGB", size, (250, 240, 170))
    draw = ImageDraw.Draw(board)
    draw.text((50, 100), text, font=ImageFont.load_default(size=80), fill=(25, 25, 35))
    return board
