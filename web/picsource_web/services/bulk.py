"""Bulk actions on the owner's own images: one call, many images, a result per image.

Why all-or-nothing up front: a selection that names an image the caller does not own
(or that does not exist), or an edit that would break an image's limits, is refused
before anything is written, so a bad selection never leaves half of it changed. The
writes then go one image at a time through the image repository's usual write path
(each renews its listing stamps). An outage part-way answers 503 with some images
changed; every action is idempotent (trash what is in the trash, favourite a favourite:
"unchanged"), so the client simply sends the same call again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from picsource_core.images import ARCHIVED, FAVOURITE
from picsource_core.trash import TRASHED_AT
from picsource_web.services.errors import BadRequest, Conflict, NotFound
from picsource_web.services.images import ImageRepository
from picsource_web.services.metadata import parse_metadata, parse_tags, parse_visibility

#: Most images one bulk call (or one zip download) may name: a page of the grid is 60,
#: "select all" over several pages stays well inside, and one call stays a few seconds.
BULK_MAX_IDS = 500

MARKS = {"favourite": (FAVOURITE, True), "unfavourite": (FAVOURITE, False),
         "archive": (ARCHIVED, True), "unarchive": (ARCHIVED, False)}
ACTIONS = ("trash", "restore", *MARKS, "set_visibility", "add_tags", "remove_tags")
CHANGED, UNCHANGED = "changed", "unchanged"
#: What a bulk write reads of each image: the whole document as an edit needs it (search
#: tokens are rebuilt from it), less the image embedding (~10 KB each, never edited).
BULK_PROJECTION = {"embedding": 0}


@dataclass(frozen=True)
class BulkRequest:
    action: str
    ids: tuple[ObjectId, ...]
    visibility: str | None = None
    tags: tuple[str, ...] = ()


def parse_ids(raw: Any) -> tuple[ObjectId, ...]:
    """A list of 1..BULK_MAX_IDS image ids (24 hex digits), de-duplicated in order; 400 otherwise."""
    if not isinstance(raw, list) or not raw:
        raise BadRequest("validation_error", 'Name the images as "ids": a non-empty list of image ids.')
    if len(raw) > BULK_MAX_IDS:
        raise BadRequest("too_many_images", f"At most {BULK_MAX_IDS} images per call; got {len(raw)}. "
                         "Send the selection in several calls.")
    ids: dict[ObjectId, None] = {}
    for index, item in enumerate(raw):
        if not (isinstance(item, str) and ObjectId.is_valid(item) and len(item) == 24):
            raise BadRequest("validation_error", f"ids[{index}] = {str(item)[:40]!r} is not an image id.")
        ids.setdefault(ObjectId(item), None)
    return tuple(ids)


def parse_bulk(body: Any) -> BulkRequest:
    """The JSON body of a bulk call, checked whole; 400 naming the first problem."""
    if not isinstance(body, dict):
        raise BadRequest("validation_error", 'The body must be a JSON object such as '
                         '{"action": "favourite", "ids": ["<image id>", ...]}.')
    allowed = {"action", "ids", "visibility", "tags"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest("validation_error", f"Unknown field {unknown[0]!r}; accepted: action, ids, "
                         "visibility, tags.")
    action = body.get("action")
    if action not in ACTIONS:
        raise BadRequest("validation_error", f"action must be one of {', '.join(ACTIONS)}.")
    ids = parse_ids(body.get("ids"))
    if action == "set_visibility":
        if not isinstance(body.get("visibility"), str) or not body["visibility"]:
            raise BadRequest("validation_error", "set_visibility needs a visibility.")
        return BulkRequest(action, ids, visibility=parse_visibility(body["visibility"]))
    if action in ("add_tags", "remove_tags"):
        tags = body.get("tags")
        if not (isinstance(tags, list) and tags and all(isinstance(t, str) for t in tags)):
            raise BadRequest("validation_error", f"{action} needs tags: a non-empty list of strings.")
        parsed = parse_tags(tags)
        if not parsed:
            raise BadRequest("validation_error", f"{action} needs at least one non-blank tag.")
        return BulkRequest(action, ids, tags=tuple(parsed))
    for field in ("visibility", "tags"):
        if field in body:
            raise BadRequest("validation_error", f"{field} goes only with "
                             f"{'set_visibility' if field == 'visibility' else 'add_tags or remove_tags'}.")
    return BulkRequest(action, ids)


def _listed(ids: list[ObjectId]) -> str:
    shown = ", ".join(str(i) for i in ids[:5])
    return shown + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def owned_selection(images: ImageRepository, owner_id: ObjectId,
                    ids: tuple[ObjectId, ...]) -> list[dict[str, Any]]:
    """The owner's documents for ``ids``, in the order asked; 404 naming the ids that are
    missing or someone else's (the same answer for both, so nothing about others leaks)."""
    found = {doc["_id"]: doc for doc in images.owned_many(owner_id, list(ids), BULK_PROJECTION)}
    missing = [oid for oid in ids if oid not in found]
    if missing:
        raise NotFound(f"No such image of yours: {_listed(missing)}. Nothing was changed.")
    return [found[oid] for oid in ids]


def _new_tags(doc: Mapping[str, Any], req: BulkRequest) -> list[str]:
    current = list(doc.get("tags") or [])
    if req.action == "add_tags":
        return current + [t for t in req.tags if t not in current]
    return [t for t in current if t not in req.tags]


def _check(docs: Sequence[Mapping[str, Any]], req: BulkRequest) -> None:
    """Refuse the whole call when any image cannot take the action (nothing written yet)."""
    if req.action not in ("trash", "restore"):
        trashed = [doc["_id"] for doc in docs if doc.get(TRASHED_AT) is not None]
        if trashed:
            raise Conflict("in_trash", f"Restore these from the trash first: {_listed(trashed)}. "
                           "Nothing was changed.")
    if req.action == "add_tags":
        for doc in docs:
            parse_tags(_new_tags(doc, req))  # 400 too_many_tags before any write


def _apply_one(images: ImageRepository, doc: Mapping[str, Any], req: BulkRequest,
               embed_later: list[ObjectId]) -> bool:
    """Apply the action to one image; False when it already was that way (idempotent).
    An image whose tags changed joins ``embed_later`` (its text is embedded again)."""
    d = dict(doc)
    if req.action == "trash":
        return images.trash(d)
    if req.action == "restore":
        return images.restore(d)
    if req.action in MARKS:
        field, on = MARKS[req.action]
        if bool(doc.get(field)) == on:
            return False
        images.set_marks(d, **{field: on})
        return True
    visibility = req.visibility if req.action == "set_visibility" else doc.get("visibility")
    tags = _new_tags(doc, req) if req.action in ("add_tags", "remove_tags") else list(doc.get("tags") or [])
    if visibility == doc.get("visibility") and tags == list(doc.get("tags") or []):
        return False
    images.update_metadata(d, parse_metadata(doc.get("title"), doc.get("description"), tags, visibility),
                           embed_later=embed_later)
    return True


def apply_bulk(images: ImageRepository, owner_id: ObjectId, req: BulkRequest) -> list[tuple[ObjectId, str]]:
    """Check the whole selection, then apply; (id, "changed" | "unchanged") per image, in order."""
    docs = owned_selection(images, owner_id, req.ids)
    _check(docs, req)
    results: list[tuple[ObjectId, str]] = []
    embed_later: list[ObjectId] = []
    try:
        for doc in docs:
            changed = _apply_one(images, doc, req, embed_later)
            results.append((doc["_id"], CHANGED if changed else UNCHANGED))
    finally:  # the images changed before an outage need their new text embedded too
        if embed_later:
            images.request_embeds(embed_later)
    return results
