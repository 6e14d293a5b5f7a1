"""Decode an upload once into an RGB working image that every later step shares.

Decoding dominates the cost of a 12-megapixel JPEG, so we ask libjpeg for a scaled
decode (Pillow's draft mode: the DCT is scaled by 1/2, 1/4 or 1/8 while decoding) to the
smallest size that still covers the largest thumbnail, and never hold the full-resolution
bitmap. Other formats are decoded fully and reduced to the same working size: PNG, WebP,
GIF, AVIF and HEIC/HEIF (whose plugin picsource_core.image_formats registers, for the web
tier's validation too). Everything that can go wrong with hostile or odd files (bombs,
truncation, 16-bit, palette, CMYK, animation, alpha) is handled here so the rest of the
pipeline only sees plain RGB.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from picsource_core.image_formats import register_openers

#: Long edge of the working image: the largest thumbnail the web tier shows.
WORKING_EDGE = 1280
#: Images whose working copy would exceed this long edge are reduced to it.
MAX_WORKING_EDGE = 2048
#: Default pixel budget (the web tier's default upload limit too); anything larger is
#: refused before its pixels are decoded: a 50 MP PNG alone needs 150 MB decoded.
DEFAULT_MAX_PIXELS = 50_000_000


class DecodeError(Exception):
    """The bytes cannot be turned into an image; analysis of this upload is impossible."""


@dataclass(frozen=True)
class Decoded:
    """An orientation-corrected RGB working image plus facts about the original file."""

    image: Image.Image
    format: str
    width: int
    height: int
    mode: str
    frames: int
    exif: Image.Exif


def decode(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Decoded:
    """Decode `data` into a `Decoded`, or raise `DecodeError` with a readable reason."""
    if not data:
        raise DecodeError("empty file")
    register_openers()
    try:
        with warnings.catch_warnings():
            # Our own pixel budget below replaces Pillow's bomb warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise DecodeError(f"image too large: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise DecodeError("not a recognised image format") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise DecodeError(f"unreadable image header: {exc}") from exc

    width, height = im.size
    if width < 1 or height < 1:
        raise DecodeError(f"invalid dimensions {width}x{height}")
    if width * height > max_pixels:
        raise DecodeError(
            f"image too large: {width}x{height} = {width * height} pixels exceeds {max_pixels}"
        )
    fmt = im.format or "unknown"
    mode = im.mode
    frames = int(getattr(im, "n_frames", 1) or 1)
    try:
        exif = im.getexif()
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the picture
        exif = Image.Exif()

    try:
        if fmt == "JPEG":
            _draft(im)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
        rgb = _to_rgb(im)
        rgb = _reduce(rgb)
        rgb = _transpose(rgb, exif)
    except DecodeError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise DecodeError(f"corrupt or truncated image data: {exc}") from exc

    if _orientation_swaps(exif):
        width, height = height, width
    return Decoded(rgb, fmt, width, height, mode, frames, exif)


def _draft(im: Image.Image) -> None:
    """Ask libjpeg for a scaled decode whose long edge still covers WORKING_EDGE."""
    w, h = im.size
    long_edge = max(w, h)
    if long_edge <= WORKING_EDGE:
        return
    scale = WORKING_EDGE / long_edge
    target = (max(1, int(w * scale)), max(1, int(h * scale)))
    # draft() keeps a size >= target; RGB is only honoured for YCbCr sources (CMYK stays CMYK).
    im.draft("RGB" if im.mode in ("RGB", "YCbCr") else im.mode, target)


def _to_rgb(im: Image.Image) -> Image.Image:
    """Flatten any mode to 8-bit RGB: alpha over white, 16-bit scaled, CMYK converted."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or (mode == "I" and arr.max() > 255) else 255.0
        if mode == "F":
            lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
            arr = (arr - lo) / (hi - lo or 1.0) * 255.0
        else:
            arr = arr / top * 255.0
        grey = Image.fromarray(np.clip(np.nan_to_num(arr), 0, 255).astype(np.uint8), "L")
        return grey.convert("RGB")
    if mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
        mode = im.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    # CMYK (Pillow already undoes Adobe's inverted storage), L, 1, YCbCr, LAB, HSV.
    return im.convert("RGB")


def _reduce(im: Image.Image) -> Image.Image:
    """Shrink by an integer box filter until the long edge is at most MAX_WORKING_EDGE."""
    long_edge = max(im.size)
    if long_edge <= MAX_WORKING_EDGE:
        return im
    factor = -(-long_edge // MAX_WORKING_EDGE)  # ceil division
    if factor > 1 and min(im.size) >= factor:
        im = im.reduce(factor)
    if max(im.size) > MAX_WORKING_EDGE:
        im.thumbnail((MAX_WORKING_EDGE, MAX_WORKING_EDGE), Image.Resampling.BILINEAR)
    return im


#: EXIF orientation -> the transpose that shows the picture upright (as ImageOps.exif_transpose).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _transpose(im: Image.Image, exif: Image.Exif) -> Image.Image:
    """Apply the EXIF orientation to the working image (done after reducing: cheaper)."""
    method = _ORIENTATION.get(_orientation(exif))
    return im.transpose(method) if method is not None else im


def _orientation(exif: Image.Exif) -> int:
    value = exif.get(0x0112, 1)
    return value if isinstance(value, int) else 1


def _orientation_swaps(exif: Image.Exif) -> bool:
    return _orientation(exif) in (5, 6, 7, 8)
