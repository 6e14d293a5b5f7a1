"""The image document: field names, status values and the writes both web and worker make.

The web tier creates the document (status ``pending``) after the original is
stored; the worker moves it through ``processing`` to ``ready`` or ``failed``.
Both recompute ``search_tokens`` from the same function so search stays correct
whichever side wrote last.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.database import Database

from picsource_core import stamps
from picsource_core.mongo import IMAGES, Document
from picsource_core.queue import utcnow
from picsource_core.search import image_search_tokens

PENDING = "pending"
PROCESSING = "processing"
READY = "ready"
FAILED = "failed"
STATUSES = (PENDING, PROCESSING, READY, FAILED)

PRIVATE = "private"
UNLISTED = "unlisted"
PUBLIC = "public"
VISIBILITIES = (PRIVATE, UNLISTED, PUBLIC)

#: Top-level flag the worker sets when the safety score reaches the gallery's threshold;
#: public listings leave such images out (their owner still sees them).
HIDDEN_FROM_PUBLIC = "hidden_from_public"
#: The NSFW score (0..1) at or above which that flag is set, unless the Gallery says
#: otherwise (spec.worker.analysis.safetyThreshold, whose CRD default is this value).
DEFAULT_SAFETY_THRESHOLD = 0.8


def new_image_doc(
    *, image_id: ObjectId, owner_id: ObjectId, title: str, description: str, tags: list[str],
    visibility: str, share_token: str, sha256: str, size: int, width: int, height: int,
    image_format: str, content_type: str, original_key: str, filename: str = "",
    now: datetime | None = None,
) -> Document:
    """A fresh document for an uploaded original; analysis fields start empty."""
    created = now or utcnow()
    doc: Document = {
        "_id": image_id, "owner_id": owner_id, "title": title, "description": description,
        "tags": tags, "visibility": visibility, "share_token": share_token, "sha256": sha256,
        "bytes": size, "width": width, "height": height, "format": image_format,
        "content_type": content_type, "original_key": original_key, "filename": filename,
        "created_at": created, "updated_at": created, "status": PENDING, "analysis_error": None,
        "analysis": {}, "thumbnails": {}, "colour_families": [], "has_text": False,
        "taken_at": None, "near_duplicates": [], HIDDEN_FROM_PUBLIC: False,
    }
    doc["search_tokens"] = image_search_tokens(doc)
    return doc


#: What a status write needs back to know which listings it changed.
_SCOPE_FIELDS = {"owner_id": 1, "visibility": 1}


def _set_status(db: Database[Document], image_id: ObjectId, fields: dict[str, Any]) -> bool:
    doc = db[IMAGES].find_one_and_update(
        {"_id": image_id}, {"$set": {**fields, "updated_at": utcnow()}}, projection=_SCOPE_FIELDS
    )
    stamps.touch_image(db, doc)
    return doc is not None


def mark_processing(db: Database[Document], image_id: ObjectId) -> bool:
    """False when the image is gone (deleted while its job waited)."""
    return _set_status(db, image_id, {"status": PROCESSING})


def mark_failed(db: Database[Document], image_id: ObjectId, error: str) -> None:
    _set_status(db, image_id, {"status": FAILED, "analysis_error": error[:2000]})


def mark_pending(db: Database[Document], image_id: ObjectId) -> None:
    _set_status(db, image_id, {"status": PENDING, "analysis_error": None})


def apply_analysis(db: Database[Document], image_id: ObjectId, fields: dict[str, Any],
                   *, status: str = READY, error: str | None = None) -> Document | None:
    """Store analysis results and refresh the search tokens; None if the image is gone.

    ``fields`` holds top-level fields such as ``analysis``, ``thumbnails``,
    ``colour_families``, ``has_text``, ``taken_at``. Setting them whole makes a
    second run of the same job produce the same document.
    """
    update = dict(fields)
    update.update(status=status, analysis_error=error, updated_at=utcnow(), analysed_at=utcnow())
    doc = db[IMAGES].find_one_and_update(
        {"_id": image_id}, {"$set": update}, return_document=ReturnDocument.AFTER
    )
    if doc is None:
        return None
    tokens = image_search_tokens(doc)
    db[IMAGES].update_one({"_id": image_id}, {"$set": {"search_tokens": tokens}})
    doc["search_tokens"] = tokens
    stamps.touch_image(db, doc)
    return doc


def refresh_search_tokens(db: Database[Document], image_id: ObjectId) -> None:
    """Recompute tokens after a user edit of title, description or tags (the caller, which
    knows the visibility before the edit, touches the listing stamps afterwards)."""
    doc = db[IMAGES].find_one({"_id": image_id})
    if doc is not None:
        db[IMAGES].update_one({"_id": image_id}, {"$set": {"search_tokens": image_search_tokens(doc)}})
