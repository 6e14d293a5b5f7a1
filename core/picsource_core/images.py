"""The image document: field names, status values and the shape of a new document.

The web tier creates the document (status ``pending``) after the original is
stored; the worker moves it through ``processing`` to ``ready`` or ``failed``.
Every write to a stored document goes through picsource_core.image_documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bson import ObjectId

from picsource_core.mongo import Document
from picsource_core.queue import utcnow
from picsource_core.search import image_search_tokens
from picsource_core.timeline import TIMELINE, timeline_key

PENDING = "pending"
PROCESSING = "processing"
READY = "ready"
FAILED = "failed"
STATUSES = (PENDING, PROCESSING, READY, FAILED)

PRIVATE = "private"
UNLISTED = "unlisted"
PUBLIC = "public"
VISIBILITIES = (PRIVATE, UNLISTED, PUBLIC)

#: The owner's own marks, never shown to anyone else: a favourite, and an image archived
#: (hidden from the owner's main grid, still found by search and listed in the Archive).
FAVOURITE = "favourite"
ARCHIVED = "archived"

#: Top-level flag the worker sets when the safety score reaches the gallery's threshold;
#: public listings leave such images out (their owner still sees them).
HIDDEN_FROM_PUBLIC = "hidden_from_public"
#: The NSFW score (0..1) at or above which that flag is set, unless the Gallery says
#: otherwise (spec.worker.analysis.safetyThreshold, whose CRD default is this value).
DEFAULT_SAFETY_THRESHOLD = 0.8

#: The worker's near-duplicate links (pHash matches). A link is stored once, on the image
#: whose analysis found the other one: writing it on both documents rewrote every older
#: match on each analysis, and in a library with large bursts of similar shots that was
#: most of the database's work during an import. So the images linked to X are X's own
#: list and the images whose list names X (``linking_to``, through the multikey index).
NEAR_DUPLICATES = "near_duplicates"


def near_duplicate_ids(doc: Mapping[str, Any]) -> list[ObjectId]:
    """The ids in the document's own link list (early documents stored dicts or strings)."""
    raw = doc.get(NEAR_DUPLICATES) or []
    ids = [item.get("image_id") if isinstance(item, dict) else item for item in raw]
    return [oid if isinstance(oid, ObjectId) else ObjectId(oid) for oid in ids if ObjectId.is_valid(oid)]


def linking_to(image_id: ObjectId) -> Document:
    """The filter for the images whose own list links to ``image_id``."""
    return {NEAR_DUPLICATES: image_id}


def having_links() -> Document:
    """The filter for the images whose own list holds a link: a range of the multikey index
    (every ObjectId sorts at or above the all-zero one), where "near_duplicates.0 exists"
    made SecantusDB read every image (143 against 32 ms with 5,000 per owner)."""
    return {NEAR_DUPLICATES: {"$gte": ObjectId("0" * 24)}}


def new_image_doc(
    *, image_id: ObjectId, owner_id: ObjectId, title: str, description: str, tags: list[str],
    visibility: str, share_token: str, sha256: str, size: int, width: int, height: int,
    image_format: str, content_type: str, original_key: str, filename: str = "",
    now: datetime | None = None, location: str | None = None,
) -> Document:
    """A fresh document for an uploaded original; analysis fields start empty.
    ``location``: what the upload found (picsource_core.location); None leaves the field
    out, meaning "not checked yet"."""
    created = now or utcnow()
    doc: Document = {
        "_id": image_id, "owner_id": owner_id, "title": title, "description": description,
        "tags": tags, "visibility": visibility, "share_token": share_token, "sha256": sha256,
        "bytes": size, "width": width, "height": height, "format": image_format,
        "content_type": content_type, "original_key": original_key, "filename": filename,
        "created_at": created, "updated_at": created, "status": PENDING, "analysis_error": None,
        "analysis": {}, "thumbnails": {}, "colour_families": [], "has_text": False,
        "taken_at": None, NEAR_DUPLICATES: [], HIDDEN_FROM_PUBLIC: False,
    }
    if location is not None:
        doc["location"] = location
    doc["search_tokens"] = image_search_tokens(doc)
    doc[TIMELINE] = timeline_key(image_id)  # the upload time until the worker reads EXIF
    return doc
