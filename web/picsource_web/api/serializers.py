"""Image documents -> JSON for API clients (pure; URLs come from an injected function).

Why injected URL builders: whether bytes are reached through presigned object-store
URLs or proxied by the web tier is a deployment switch owned by the HTML side; the
serializer only decides *what* a viewer may see (GPS and the share link only for the
owner, never embeddings, hashes or storage keys).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from picsource_core.mongo import Document
from picsource_web.services.listings import TILE_FIELDS
from picsource_web.services.present import (
    GRID_SIZE,
    LARGE_SIZE,
    MediaUrls,
    alt_text,
    placeholder_colour,
)

# What a list page fetches: the grid's tile fields plus what image_json shows.
LIST_PROJECTION = {
    **TILE_FIELDS, "description": 1, "bytes": 1, "updated_at": 1, "colour_families": 1,
    "has_text": 1, "original_key": 1, "format": 1,
}
_GPS_FIELDS = ("latitude", "longitude", "altitude", "gps")
_INTERNAL_ANALYSIS = ("phash", "dhash")


@dataclass(frozen=True)
class Links:
    """Where an image lives: bytes through ``MediaUrls`` (presigned or proxied), pages and
    API resources through app routes (callables, so this module needs no request)."""

    media: MediaUrls
    page_url: Callable[[Document], str]
    api_url: Callable[[Document], str]
    share_url: Callable[[Document], str]


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def image_json(doc: Document, viewer_id: ObjectId | None, links: Links) -> dict[str, Any]:
    """The API view of an image for a viewer who may see it (checked by the caller)."""
    is_owner = viewer_id is not None and doc.get("owner_id") == viewer_id
    analysis: Mapping[str, Any] = doc.get("analysis") or {}
    body: dict[str, Any] = {
        "id": str(doc["_id"]),
        "is_owner": is_owner,
        "title": doc.get("title") or "",
        "description": doc.get("description") or "",
        "tags": list(doc.get("tags") or []),
        "visibility": doc.get("visibility"),
        "status": doc.get("status"),
        "width": doc.get("width"),
        "height": doc.get("height"),
        "bytes": doc.get("bytes"),
        "content_type": doc.get("content_type"),
        "created_at": _iso(doc.get("created_at")),
        "updated_at": _iso(doc.get("updated_at")),
        "colour_families": list(doc.get("colour_families") or []),
        "dominant_colour": placeholder_colour(doc),
        "has_text": bool(doc.get("has_text")),
        "caption": analysis.get("caption"),
        "alt": alt_text(doc),
        "share_url": links.share_url(doc) if is_owner else None,
        # The owner's own marks: nobody else learns them.
        "favourite": bool(doc.get("favourite")) if is_owner else None,
        "archived": bool(doc.get("archived")) if is_owner else None,
        "trashed_at": _iso(doc.get("trashed_at")) if is_owner else None,
        "urls": {
            # The owner's untouched file; anyone else's copy without location, or null.
            "original": links.media.url(doc, "original", owner=is_owner),
            "thumbnail": links.media.display_url(doc, GRID_SIZE, owner=is_owner),
            "large": links.media.display_url(doc, LARGE_SIZE, owner=is_owner),
            "page": links.page_url(doc),
            "self": links.api_url(doc),
        },
    }
    return body


def analysis_json(doc: Document, viewer_id: ObjectId | None) -> dict[str, Any]:
    """Status and results of the analysis; GPS only for the owner, no internal hashes."""
    is_owner = viewer_id is not None and doc.get("owner_id") == viewer_id
    result = {k: v for k, v in dict(doc.get("analysis") or {}).items() if k not in _INTERNAL_ANALYSIS}
    exif = dict(result.get("exif") or {})
    if not is_owner:
        for name in _GPS_FIELDS:
            exif.pop(name, None)
    if exif or "exif" in result:
        result["exif"] = {k: (_iso(v) or v) for k, v in exif.items()}
    if not is_owner:  # error texts can name internals: only the owner is told them
        result.pop("step_errors", None)
    return {
        "id": str(doc["_id"]),
        "status": doc.get("status"),
        "error": doc.get("analysis_error") if is_owner else None,
        "analysed_at": _iso(doc.get("analysed_at")),
        "colour_families": list(doc.get("colour_families") or []),
        "has_text": bool(doc.get("has_text")),
        "taken_at": _iso(doc.get("taken_at")),
        "result": result,
    }
