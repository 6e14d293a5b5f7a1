"""Upload validation by content: what the bytes are, never what the name or MIME type claims.

Pure: takes bytes and limits, returns an ``ImageInfo`` or raises ``UploadRejected`` with
an HTTP status and a machine-readable reason (also the metrics label). Order matters:
size before decoding (cheap), header before pixels (a 20000x20000 PNG bomb is refused
from its header without allocating 400 million pixels), then a full decode so a
truncated file is caught here rather than in the worker. ``content_digest`` is the first,
cheap part alone (size and sha256, no Pillow): uploads look a duplicate up with it before
anything is decoded.
"""

from __future__ import annotations

import hashlib
import io
import threading
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError, features

from picsource_core.image_formats import (
    CONTENT_TYPES,
    EXTENSIONS,
    HEIC_TYPE,
    LABELS,
    content_type,
    register_openers,
    sniff_bmff,
)
from picsource_web.services.errors import ServiceError

#: Bytes of a file that ``content_type`` and ``sniff_bmff`` look at (the ``ftyp`` box).
_HEAD_BYTES = 64


def accepted_formats() -> dict[str, str]:
    """Pillow format name -> MIME type of every format this process decodes and we accept:
    JPEG, PNG, WEBP, GIF, and AVIF and HEIF (HEIC) when Pillow can open them."""
    register_openers()
    return {name: mime for name, mime in CONTENT_TYPES.items()
            if name in Image.OPEN and (name != "AVIF" or features.check("avif"))}


def accepted_names() -> str:
    """The accepted formats as people call them, for messages and the upload page."""
    return ", ".join(LABELS.get(name, name) for name in accepted_formats())


def accept_attribute() -> str:
    """The upload form's ``accept=``: MIME types and file extensions. The extensions are
    what lets a .heic through on systems whose file picker knows no image/heic type."""
    formats = accepted_formats()
    types = [*formats.values(), *([HEIC_TYPE] if "HEIF" in formats else [])]
    return ",".join([*types, *(ext for name in formats for ext in EXTENSIONS[name])])


class UploadRejected(ServiceError):
    """The upload is refused; ``status`` is the HTTP status, ``reason`` the metrics label."""


#: Full decodes run one at a time per process. A 50-megapixel PNG needs about 200 MB of
#: pixels; with gthread workers (WEB_THREADS) several uploads of one process would
#: otherwise decode at once and multiply that. Other requests are not held back by it.
DECODE_SLOTS = threading.BoundedSemaphore(1)
#: How long an upload waits for the decode slot before it is refused with 503 "busy".
DECODE_WAIT_SECONDS = 20.0


@dataclass(frozen=True)
class ImageInfo:
    format: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    sha256: str


def content_digest(data: bytes, *, max_bytes: int) -> str:
    """The sha256 of ``data`` after the size checks, without decoding anything."""
    if not data:
        raise UploadRejected(400, "empty", "The file is empty (0 bytes).")
    if len(data) > max_bytes:
        raise UploadRejected(
            413, "too_large",
            f"The file is {len(data):,} bytes; the limit is {max_bytes:,} bytes.",
        )
    return hashlib.sha256(data).hexdigest()


def validate_image(data: bytes, *, max_bytes: int, max_pixels: int, sha256: str | None = None,
                   decode_wait: float = DECODE_WAIT_SECONDS) -> ImageInfo:
    """Identify and fully decode ``data``; raise UploadRejected with a clear message.
    ``sha256``: the content_digest already taken (saves hashing twice); ``decode_wait``:
    how long to wait for this process's decode slot."""
    digest = content_digest(data, max_bytes=max_bytes) if sha256 is None else sha256
    formats = accepted_formats()
    try:
        # Identify from the header only; Pillow reads no pixel data here.
        with warnings.catch_warnings():
            # Pillow's own guard warns above ~89 MP and raises above ~179 MP; our limit
            # (checked explicitly below) is the one that counts, so the warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(formats)) as probe:
                fmt, (width, height) = str(probe.format), probe.size
    except UnidentifiedImageError:
        looks_like = sniff_bmff(data[:_HEAD_BYTES])
        if looks_like in formats:  # a HEIC/AVIF header, but libheif/libavif refuse the rest
            raise UploadRejected(
                422, "corrupt", f"The file looks like {LABELS.get(looks_like, looks_like)} but is "
                                "damaged or truncated and cannot be read.",
            ) from None
        raise UploadRejected(
            415, "unsupported_format",
            f"This file is not an image we accept. Accepted formats: {accepted_names()}.",
        ) from None
    except Image.DecompressionBombError:
        raise UploadRejected(
            422, "too_many_pixels",
            f"The image has too many pixels; the limit is {max_pixels:,} pixels.",
        ) from None
    except (OSError, ValueError, SyntaxError) as err:
        raise UploadRejected(422, "corrupt", f"The image could not be read: {_reason(err)}.") from None
    if fmt not in formats:
        raise UploadRejected(
            415, "unsupported_format",
            f"{fmt} images are not accepted. Accepted formats: {accepted_names()}.",
        )
    if width <= 0 or height <= 0:
        raise UploadRejected(422, "corrupt", "The image has no pixels.")
    if width * height > max_pixels:
        raise UploadRejected(
            422, "too_many_pixels",
            f"The image is {width}x{height} = {width * height:,} pixels; "
            f"the limit is {max_pixels:,} pixels.",
        )
    if not DECODE_SLOTS.acquire(timeout=decode_wait):
        raise UploadRejected(503, "busy", "The server is busy checking other images; "
                                          "please try again in a moment.")
    try:
        _decode_fully(data, fmt)
    finally:
        DECODE_SLOTS.release()
    return ImageInfo(
        format=fmt, content_type=content_type(fmt, data[:_HEAD_BYTES]), width=width, height=height,
        size_bytes=len(data), sha256=digest,
    )


def _decode_fully(data: bytes, fmt: str) -> None:
    """verify() checks structure/CRCs; load() decodes pixels, catching truncated JPEGs."""
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as img:
            img.verify()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:
                if fmt == "JPEG":
                    # Decode at 1/8 scale: the whole stream is still read (truncation is
                    # caught) without allocating the full-size bitmap.
                    img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
                img.load()
    except Exception as err:  # Pillow raises OSError, SyntaxError, ValueError, struct.error...
        raise UploadRejected(
            422, "corrupt", f"The image is damaged or truncated and cannot be decoded ({_reason(err)})."
        ) from None


def _reason(err: BaseException) -> str:
    """A decoder's message on one line (libheif's end with a newline)."""
    return " ".join(str(err).split()) or type(err).__name__
