"""Duplicate review: the owner's near-identical photos in groups, a keeper suggested for
each, and one action that keeps it and moves the rest to the trash.

Why near-duplicates only: the same bytes are never stored twice for one owner (uploads
answer "duplicate"), so what is left to review are the worker's perceptual-hash matches
(``near_duplicates``: re-saves, resizes, burst shots). A group is a connected set of
those links (each stored on one of its two photos). The keeper is the photo a person
would keep: most pixels, then the most camera metadata, then the largest file, then the
oldest. Resolving carries the others' tags, favourite mark and album memberships over to
the keeper before they go to the trash (where they stay restorable for TRASH_DAYS), so
nothing the owner organised is lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from picsource_core.albums import ADDED
from picsource_core.images import FAVOURITE, near_duplicate_ids
from picsource_web.services.albums import AlbumService
from picsource_web.services.bulk import BulkRequest, apply_bulk, owned_selection
from picsource_web.services.errors import BadRequest, Conflict
from picsource_web.services.images import ImageRepository
from picsource_web.services.metadata import MAX_TAGS, parse_metadata

#: Photos read to build the groups at most (those with near-duplicate links, newest first).
REVIEW_MAX_IMAGES = 5000
#: Photos one resolve may send to the trash.
RESOLVE_MAX = 50


def group_near_duplicates(docs: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Connected groups (two or more) of the given documents over their near-duplicate
    links; links to documents not given (trashed, someone else's) are ignored. Groups
    come newest first, and so do the photos in each."""
    by_id = {doc["_id"]: doc for doc in docs}
    parent = {oid: oid for oid in by_id}

    def root(oid: ObjectId) -> ObjectId:
        while parent[oid] != oid:
            parent[oid] = parent[parent[oid]]
            oid = parent[oid]
        return oid

    for doc in docs:
        for other in near_duplicate_ids(doc):
            if other in by_id:
                a, b = root(doc["_id"]), root(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[ObjectId, list[Mapping[str, Any]]] = {}
    for oid in sorted(by_id, reverse=True):
        groups.setdefault(root(oid), []).append(by_id[oid])
    found = [group for group in groups.values() if len(group) > 1]
    return sorted(found, key=lambda group: group[0]["_id"], reverse=True)


def keeper_rank(doc: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """Higher is better: pixels, camera metadata fields, file size, then age (older wins)."""
    exif = (doc.get("analysis") or {}).get("exif") or {}
    filled = sum(1 for value in exif.values() if value not in (None, "", [], {}))
    pixels = int(doc.get("width") or 0) * int(doc.get("height") or 0)
    return pixels, filled, int(doc.get("bytes") or 0), -int(str(doc["_id"]), 16)  # older ids are smaller


def suggest_keeper(group: Iterable[Mapping[str, Any]]) -> Mapping[str, Any]:
    return max(group, key=keeper_rank)


def merged_tags(keeper: Mapping[str, Any], others: Iterable[Mapping[str, Any]]) -> list[str]:
    """The keeper's tags, then the others' in order, without repeats, at most MAX_TAGS."""
    tags: dict[str, None] = dict.fromkeys(keeper.get("tags") or [])
    for doc in others:
        tags.update(dict.fromkeys(doc.get("tags") or []))
    return list(tags)[:MAX_TAGS]


@dataclass(frozen=True)
class Resolved:
    kept: ObjectId
    trashed: int
    tags_added: int
    albums_added: int
    favourite: bool


class DuplicateReview:
    """Reads through the image repository and writes through its usual write paths."""

    def __init__(self, images: ImageRepository, albums: AlbumService) -> None:
        self.images = images
        self.albums = albums

    def groups(self, owner_id: ObjectId) -> list[list[Mapping[str, Any]]]:
        return group_near_duplicates(self.images.with_near_duplicates(owner_id, REVIEW_MAX_IMAGES))

    def resolve(self, owner_id: ObjectId, keep: ObjectId, trash: tuple[ObjectId, ...]) -> Resolved:
        """Keep ``keep``, carry the others' tags, favourite and albums to it, trash the others.
        Checked whole first (404 for an id that is not the owner's, 409 for one already in
        the trash, 400 for a keeper among the ones to trash): a refused call changes nothing."""
        if not trash or len(trash) > RESOLVE_MAX:
            raise BadRequest("validation_error", f"Name 1 to {RESOLVE_MAX} photos to trash.")
        if keep in trash:
            raise BadRequest("validation_error", "The photo to keep cannot also be one to trash.")
        docs = owned_selection(self.images, owner_id, (keep, *trash))
        if any(doc.get("trashed_at") is not None for doc in docs):
            raise Conflict("in_trash", "One of these photos is already in the trash. Nothing was changed.")
        keeper, others = docs[0], docs[1:]
        tags = merged_tags(keeper, others)
        added_tags = len(tags) - len(keeper.get("tags") or [])
        if added_tags:
            keeper = self.images.update_metadata(keeper, parse_metadata(
                keeper.get("title"), keeper.get("description"), tags, keeper.get("visibility")))
        favourite = any(doc.get(FAVOURITE) for doc in docs)
        if favourite and not keeper.get(FAVOURITE):
            keeper = self.images.set_marks(keeper, favourite=True)
        albums_added = 0
        for album in {a["_id"]: a for doc in others for a in self.albums.albums_of(doc)}.values():
            albums_added += self.albums.add(album, [keeper["_id"]])[keeper["_id"]] == ADDED
        apply_bulk(self.images, owner_id, BulkRequest("trash", trash))
        return Resolved(keeper["_id"], len(trash), added_tags, albums_added, favourite)
