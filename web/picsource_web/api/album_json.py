"""Albums -> JSON for API clients (pure; URLs come from injected builders, as for images).

The share link, its expiry and the download switch are the owner's business: anyone else
(who can only read a public album) sees the album's title, description and images.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from picsource_core.mongo import Document
from picsource_web.api.serializers import Links, image_json
from picsource_web.services.album_input import day_from_expiry
from picsource_web.services.present import GRID_SIZE, LARGE_SIZE


@dataclass(frozen=True)
class AlbumLinks:
    images: Links
    page_url: Callable[[Document], str]
    api_url: Callable[[Document], str]
    share_url: Callable[[Document], str]


def album_json(album: Document, viewer_id: ObjectId | None, links: AlbumLinks, *, count: int,
               cover: Document | None) -> dict[str, Any]:
    is_owner = viewer_id is not None and album.get("owner_id") == viewer_id
    expires = day_from_expiry(album.get("share_expires_at"))
    shared = is_owner and album.get("visibility") != "private"
    return {
        "id": str(album["_id"]),
        "is_owner": is_owner,
        "title": album.get("title") or "",
        "description": album.get("description") or "",
        "visibility": album.get("visibility"),
        "image_count": count,
        "cover_image_id": str(cover["_id"]) if cover else None,
        "cover_url": links.images.media.display_url(cover, GRID_SIZE) if cover and is_owner else None,
        "allow_download": bool(album.get("allow_download")) if is_owner else None,
        "share_url": links.share_url(album) if shared else None,
        "share_expires_on": expires.isoformat() if expires and is_owner else None,
        "created_at": _iso(album.get("created_at")),
        "updated_at": _iso(album.get("updated_at")),
        "urls": {"page": links.page_url(album), "self": links.api_url(album)},
    }


def album_image_json(doc: Document, viewer_id: ObjectId | None, links: Links,
                     grant: str | None) -> dict[str, Any]:
    """An image as listed in an album: for anyone but the owner, its URLs go through the
    album's grant (they open this album's images only) and the share link stays hidden."""
    body = image_json(doc, viewer_id, links)
    if grant is not None:
        media = links.media
        body["urls"] = {**body["urls"], "original": media.url(doc, "original", grant),
                        "thumbnail": media.display_url(doc, GRID_SIZE, grant),
                        "large": media.display_url(doc, LARGE_SIZE, grant)}
    return body


def results_json(results: Mapping[ObjectId, str]) -> list[dict[str, str]]:
    """Per-image outcomes of an add or remove, in the order the ids were sent."""
    return [{"id": str(oid), "result": result} for oid, result in results.items()]


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None
