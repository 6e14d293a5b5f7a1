"""Read the photographic facts people search and filter by out of an EXIF block.

Cameras, phones and editors write EXIF with every kind of quirk (rationals with a zero
denominator, strings padded with NULs, bytes where text belongs, GPS in degrees/minutes/
seconds). Each field is parsed on its own and a field that cannot be read is left out,
so one odd tag never costs the rest.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from PIL import Image

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825

_MAKE, _MODEL, _DATETIME = 0x010F, 0x0110, 0x0132
_EXPOSURE, _FNUMBER, _ISO = 0x829A, 0x829D, 0x8827
_TAKEN, _FOCAL, _LENS_MAKE, _LENS_MODEL = 0x9003, 0x920A, 0xA433, 0xA434
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4


@dataclass(frozen=True)
class ExifInfo:
    """The subset of EXIF the gallery shows; every field is optional."""

    camera_make: str | None = None
    camera_model: str | None = None
    lens: str | None = None
    taken_at: datetime | None = None
    exposure_time: float | None = None
    f_number: float | None = None
    iso: int | None = None
    focal_length: float | None = None
    latitude: float | None = None
    longitude: float | None = None

    def as_document(self) -> dict[str, Any]:
        """Fields that are set, for storing in the image document."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @property
    def exposure_text(self) -> str | None:
        """Shutter speed as photographers write it: "1/250 s" or "2 s"."""
        t = self.exposure_time
        if t is None:
            return None
        if 0 < t < 1:
            return f"1/{round(1 / t)} s"
        return f"{t:g} s"


def read_exif(exif: Image.Exif) -> ExifInfo:
    """Parse the interesting tags of `exif`; missing or malformed tags come back as None."""
    sub = _ifd(exif, _EXIF_IFD)
    gps = _ifd(exif, _GPS_IFD)

    def tag(tag_id: int) -> Any:
        value = sub.get(tag_id)
        return exif.get(tag_id) if value is None else value

    lens = _text(tag(_LENS_MODEL))
    lens_make = _text(tag(_LENS_MAKE))
    if lens and lens_make and not lens.lower().startswith(lens_make.lower()):
        lens = f"{lens_make} {lens}"
    iso = tag(_ISO)
    if isinstance(iso, tuple | list):
        iso = iso[0] if iso else None
    return ExifInfo(
        camera_make=_text(exif.get(_MAKE)),
        camera_model=_text(exif.get(_MODEL)),
        lens=lens,
        taken_at=_date(tag(_TAKEN)) or _date(exif.get(_DATETIME)),
        exposure_time=_number(tag(_EXPOSURE)),
        f_number=_number(tag(_FNUMBER)),
        iso=_integer(iso),
        focal_length=_number(tag(_FOCAL)),
        latitude=_coordinate(gps.get(_GPS_LAT), gps.get(_GPS_LAT_REF), "S", 90.0),
        longitude=_coordinate(gps.get(_GPS_LON), gps.get(_GPS_LON_REF), "W", 180.0),
    )


def _ifd(exif: Image.Exif, tag_id: int) -> dict[int, Any]:
    try:
        return dict(exif.get_ifd(tag_id))
    except Exception:  # noqa: BLE001 - a broken sub-IFD only loses its own tags
        return {}


def _text(value: Any, limit: int = 200) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = "".join(ch for ch in value.replace("\x00", "") if ch.isprintable()).strip()
    return cleaned[:limit] or None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _integer(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _date(value: Any) -> datetime | None:
    text = _text(value)
    if not text:
        return None
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M", "%Y:%m:%d"):
        try:
            return datetime.strptime(text[:19], fmt)
        except ValueError:
            continue
    return None


def _coordinate(dms: Any, ref: Any, negative: str, limit: float) -> float | None:
    """Degrees/minutes/seconds plus a hemisphere letter to signed decimal degrees."""
    if not isinstance(dms, tuple | list) or not dms:
        return None
    parts = [_number(p) for p in dms[:3]]
    if any(p is None for p in parts):
        return None
    degrees = sum(p / 60**i for i, p in enumerate(parts) if p is not None)
    if _text(ref) == negative:
        degrees = -degrees
    if not -limit <= degrees <= limit:
        return None
    return round(degrees, 7)
