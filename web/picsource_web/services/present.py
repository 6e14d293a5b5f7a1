"""Turn image documents into plain view models for templates and the JSON API.

The document shape comes from core (upload fields) and the worker (``analysis``,
``thumbnails``, ``colour_families``...; see picsource_worker/results.py). Everything here
is defensive about missing or odd fields: an image analysed by an older worker, or not
analysed yet, still renders. URLs come from a ``MediaUrls`` so presigned and proxied
modes look the same to callers.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from picsource_core.image_formats import EXTENSIONS, HEIC_TYPE
from picsource_core.images import FAILED, PENDING, PROCESSING, PUBLIC, READY
from picsource_core.location import LOCATION, NONE, REMOVED
from picsource_core.mongo import Document
from picsource_core.storage import ObjectStore, location_free_key
from picsource_web.services.users import Viewer

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
GRID_SIZE = "256"
LARGE_SIZE = "1280"
VARIANTS = ("original", GRID_SIZE, LARGE_SIZE)
NEUTRAL = "#9ca3af"
# What a single-image read (page, status, media, API) fetches: all but the heavy or
# internal fields no view shows.
DETAIL_PROJECTION = {"embedding": 0, "search_tokens": 0}

ProxyUrl = Callable[[str, str, str | None], str]


def object_key(doc: Document, variant: str, *, owner: bool = False) -> str | None:
    """The storage key behind a variant for the viewer, or None when that derivative does
    not exist (yet) or is not theirs to have.

    The one rule for location privacy (picsource_core.location): the owner gets the
    untouched original; anyone else its location-free copy, or the original itself when
    it names no place, and nothing while that is unknown (an image from before the rule,
    until the worker checks it) or when the location cannot be removed without
    re-encoding: they still see the 1280 and 256 px variants, re-encoded without
    metadata. ``owner`` defaults to the safe answer: whatever is shared between viewers
    (grid tiles, cached fragments) is built for "anyone else"."""
    if variant == "original":
        original = str(doc.get("original_key") or "") or None
        if owner or original is None:
            return original
        state = doc.get(LOCATION)
        if state == REMOVED:
            return location_free_key(doc["_id"])
        return original if state == NONE else None
    thumbs = doc.get("thumbnails") or {}
    entry = thumbs.get(variant) if isinstance(thumbs, dict) else None
    if isinstance(entry, dict) and entry.get("key"):
        return str(entry["key"])
    return None


def owns(doc: Document, viewer_id: object) -> bool:
    """Whether the viewer (a user id, None when signed out) owns the image."""
    return viewer_id is not None and viewer_id == doc.get("owner_id")


def unavailable(doc: Document, variant: str) -> str:
    """Why object_key gave a viewer no object: a derivative not made yet, or an original
    only its owner may have (see object_key)."""
    if variant == "original" and doc.get("original_key"):
        return ("Only the owner can download this original: it names where it was taken, or has "
                "not been checked for that yet. The large version is available.")
    return "This image size is not available yet."


def etag(doc: Document, variant: str, key: str) -> str:
    """The entity tag of the bytes at ``key``: the original's hash, the same with a suffix
    for its location-free copy, the update time for a thumbnail."""
    if variant != "original":
        tag = f"{doc['_id']}-{variant}-{doc.get('updated_at', '')}"
    else:
        tag = str(doc.get("sha256")) + ("" if key == doc.get("original_key") else "-without-location")
    return tag.replace('"', "")


def download_name(doc: Document) -> str:
    """The title as a safe file name with the format's extension (core's table; HEIF that
    is not HEVC-coded gets .heif rather than .heic)."""
    fmt = str(doc.get("format"))
    ext = EXTENSIONS.get(fmt, (".bin",))[0]
    if fmt == "HEIF" and doc.get("content_type") not in (None, HEIC_TYPE):
        ext = ".heif"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", str(doc.get("title") or "")).strip("-.")[:60]
    return f"{stem or 'image-' + str(doc['_id'])}{ext}"


#: How long at least a URL of HTML served from an earlier signing window stays valid.
STILL_VALID_SECONDS = 60


@dataclass(frozen=True)
class MediaUrls:
    """Builds browser URLs for image bytes: presigned object-store URLs or web-tier proxy URLs.

    Presigned URLs are signed with a signing time rounded down to a window of half the
    expiry, so within a window the same object always gets the same URL: browsers cache
    the image across page views, and signing (≈0.2 ms each, 48 per grid page) is
    memoised per process. Every URL stays valid for at least half of its lifetime after
    it is handed out: PRESIGN_SECONDS for public images, and at most
    PRESIGN_PRIVATE_SECONDS (minutes) for private and unlisted ones, so a leaked link
    to a non-public image soon stops working. The memo is only a cache: replicas need
    not share it.
    """

    presigner: ObjectStore
    presign_seconds: int
    proxy: bool
    proxy_url: ProxyUrl
    clock: Callable[[], float] = time.time
    private_presign_seconds: int = 300

    def __post_init__(self) -> None:
        object.__setattr__(self, "_signed", functools.lru_cache(maxsize=8192)(self._sign))

    def _sign(self, key: str, window_start: int, headers: tuple[tuple[str, str], ...], lifetime: int) -> str:
        return self.presigner.client.presigned_get_object(
            self.presigner.bucket, key, expires=timedelta(seconds=lifetime),
            response_headers=dict(headers) or None,  # type: ignore[arg-type]
            request_date=datetime.fromtimestamp(window_start, UTC),
        )

    def lifetime(self, doc: Document) -> int:
        """How long a presigned URL for ``doc`` is valid: shorter unless it is public."""
        if doc.get("visibility") == PUBLIC:
            return self.presign_seconds
        return self.shortest_lifetime

    @property
    def shortest_lifetime(self) -> int:
        return min(self.presign_seconds, self.private_presign_seconds)

    @staticmethod
    def window_length(lifetime: int) -> int:
        """Seconds a signing window lasts for URLs valid ``lifetime``: half of it, so a URL
        signed at a window's start is still valid for half its lifetime at the window's end."""
        return max(60, lifetime // 2)

    def signing_window(self, lifetime: int | None = None) -> int:
        """The start of the current signing window: URLs built now stay the same all of it."""
        length = self.window_length(lifetime or self.presign_seconds)
        return int(self.clock()) // length * length

    def window(self) -> int:
        """What HTML built from these URLs depends on: the shortest signing window (0 in
        proxy mode, where URLs never change). Views key cached fragments by it."""
        return 0 if self.proxy else self.signing_window(self.shortest_lifetime)

    def previous_window(self) -> int | None:
        """The window before ``window()``, while every URL signed in it stays valid for at
        least STILL_VALID_SECONDS more; else None (and always in proxy mode). HTML built in
        it can answer once more while the current window's is built."""
        if self.proxy:
            return None
        lifetime = self.shortest_lifetime
        length = self.window_length(lifetime)
        current = self.signing_window(lifetime)
        # URLs signed at the previous window's start expire at current - length + lifetime.
        if current - length + lifetime - self.clock() < STILL_VALID_SECONDS:
            return None
        return current - length

    def presigned(self, key: str, headers: dict[str, str] | None = None, lifetime: int | None = None) -> str:
        signed: Callable[..., str] = self._signed  # type: ignore[attr-defined]
        seconds = lifetime or self.presign_seconds
        return signed(key, self.signing_window(seconds), tuple(sorted((headers or {}).items())), seconds)

    def url(self, doc: Document, variant: str, share_token: str | None = None,
            download: bool = False, *, owner: bool = False) -> str | None:
        """A URL for ``variant`` as the owner (``owner``) or anyone else sees it
        (object_key): in proxy mode the media route decides per request; presigned URLs
        point at the object that viewer gets."""
        key = object_key(doc, variant, owner=owner)
        if key is None:
            return None
        if self.proxy:
            url = self.proxy_url(str(doc["_id"]), variant, share_token)
            return url + ("&" if "?" in url else "?") + "download=1" if download else url
        headers = None
        if download:
            headers = {"response-content-disposition": f'attachment; filename="{download_name(doc)}"'}
        elif variant == "original":
            headers = {"response-content-type": str(doc.get("content_type") or "application/octet-stream")}
        return self.presigned(key, headers, self.lifetime(doc))

    def display_url(self, doc: Document, size: str, share_token: str | None = None, *,
                    owner: bool = False) -> str | None:
        """A thumbnail when ready; the original (as ``owner`` or anyone else gets it) for a
        finished image without thumbnails; None while analysis is pending (the page shows
        a placeholder and polls)."""
        url = self.url(doc, size, share_token)
        if url is None and doc.get("status") in (READY, FAILED):
            url = self.url(doc, "original", share_token, owner=owner)
        return url


def placeholder_colour(doc: Document) -> str:
    analysis = doc.get("analysis") or {}
    for candidate in [analysis.get("dominant_hex")] + [
        c.get("hex") for c in analysis.get("palette") or [] if isinstance(c, dict)
    ]:
        if isinstance(candidate, str) and _HEX.match(candidate):
            return candidate.lower()
    return NEUTRAL


def alt_text(doc: Document) -> str:
    caption = (doc.get("analysis") or {}).get("caption")
    return str(caption or doc.get("title") or "Image")


def tile(doc: Document, media: MediaUrls) -> dict[str, Any]:
    return {
        "id": str(doc["_id"]),
        "title": doc.get("title") or "",
        "alt": alt_text(doc),
        "status": doc.get("status", PENDING),
        "pending": doc.get("status") in (PENDING, PROCESSING),
        "visibility": doc.get("visibility"),
        "placeholder": placeholder_colour(doc),
        "thumb_url": media.display_url(doc, GRID_SIZE),
        "width": int(doc.get("width") or 1),
        "height": int(doc.get("height") or 1),
        "tags": list(doc.get("tags") or []),
        "favourite": bool(doc.get("favourite")),
        "archived": bool(doc.get("archived")),
    }


def _labels(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in analysis.get("labels") or []:
        if isinstance(item, dict) and item.get("label"):
            score = item.get("score", item.get("confidence"))
            pct = round(float(score) * 100) if isinstance(score, int | float) else None
            out.append({"label": str(item["label"]), "percent": pct})
    return out


def _palette(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in analysis.get("palette") or []:
        if isinstance(item, dict) and isinstance(item.get("hex"), str) and _HEX.match(item["hex"]):
            share = item.get("share")
            out.append({
                "hex": item["hex"].lower(), "name": str(item.get("name") or ""),
                "family": str(item.get("family") or ""),
                "percent": round(float(share) * 100) if isinstance(share, int | float) else None,
            })
    return out


def _exif(analysis: dict[str, Any], is_owner: bool) -> dict[str, Any]:
    raw = analysis.get("exif") or {}
    if not isinstance(raw, dict):
        return {}
    camera = " ".join(str(raw[k]) for k in ("camera_make", "camera_model") if raw.get(k))
    exposure = raw.get("exposure_time")
    shutter = None
    if isinstance(exposure, int | float) and exposure > 0:
        shutter = f"1/{round(1 / exposure)} s" if exposure < 1 else f"{exposure:g} s"
    info = {
        "Camera": camera or None,
        "Lens": raw.get("lens"),
        "Taken": raw.get("taken_at"),
        "Exposure": shutter,
        "Aperture": f"f/{raw['f_number']:g}" if isinstance(raw.get("f_number"), int | float) else None,
        "ISO": raw.get("iso"),
        "Focal length": f"{raw['focal_length']:g} mm" if isinstance(raw.get("focal_length"), int | float) else None,
    }
    if is_owner and isinstance(raw.get("latitude"), int | float) and isinstance(raw.get("longitude"), int | float):
        info["GPS"] = f"{raw['latitude']:.5f}, {raw['longitude']:.5f}"
    return {k: v for k, v in info.items() if v not in (None, "")}


def detail(doc: Document, viewer: Viewer, media: MediaUrls, share_token: str | None = None) -> dict[str, Any]:
    analysis = doc.get("analysis") or {}
    is_owner = owns(doc, viewer.user_id)
    view = tile(doc, media)
    view.update(
        description=doc.get("description") or "",
        caption=analysis.get("caption"),
        labels=_labels(analysis),
        palette=_palette(analysis),
        colour_families=list(doc.get("colour_families") or []),
        exif=_exif(analysis, is_owner),
        ocr_text=analysis.get("ocr_text") or "",
        faces=analysis.get("faces"),
        analysis_error=doc.get("analysis_error") if is_owner else None,
        is_owner=is_owner,
        large_url=media.display_url(doc, LARGE_SIZE, share_token, owner=is_owner),
        original_url=media.url(doc, "original", share_token, owner=is_owner),
        download_url=media.url(doc, "original", share_token, download=True, owner=is_owner),
        bytes=int(doc.get("bytes") or 0),
        format=doc.get("format"),
        filename=doc.get("filename") if is_owner else None,
        share_token=doc.get("share_token") if is_owner else None,
        trashed_at=doc.get("trashed_at") if is_owner else None,
        created_at=doc.get("created_at"),
    )
    return view
