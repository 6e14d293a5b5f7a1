"""Listing stamps: one shared value per listing scope that changes whenever that listing may.

Why: web replicas keep listing pages (the grid, search results) in memory, because a
MongoDB-wire server may read every candidate document for each page. A cached page is
only served while the stamp it was built under is still current, so a user sees their
own upload, edit or delete on their very next request, on any replica.

Scopes: ``owner:<id>`` covers everything one user lists as "mine"; ``public`` covers the
public gallery and public search. Writers call ``touch`` *after* their write; readers
read the stamp *before* they query. A page cached under an old stamp is then never
served after the write that made it old. A stamp is a fresh ObjectId, never a counter,
so a lost or recreated stamp document can't bring an old value (and a stale page) back.

Writes that must touch: image insert and delete, metadata and visibility edits, share
link rotation, every status change and analysis result (labels, caption, colours, the
safety flag). Near-duplicate links do not: listings neither show nor filter on them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.database import Database
from pymongo.errors import PyMongoError

from picsource_core.mongo import STAMPS, Document

log = logging.getLogger(__name__)

PUBLIC_SCOPE = "public"
#: What ``read`` reports for a scope nobody has written to yet.
UNSET = "-"


def owner_scope(owner_id: object) -> str:
    return f"owner:{owner_id}"


def scopes_for(owner_id: object, visibilities: Iterable[str | None]) -> list[str]:
    """The scopes a write to one image affects: always its owner's; the public one when
    the image is public before or after the write, or when that is not known (None)."""
    scopes = [owner_scope(owner_id)]
    if any(v is None or v == "public" for v in visibilities):
        scopes.append(PUBLIC_SCOPE)
    return scopes


def touch(db: Database[Document], scopes: Sequence[str]) -> None:
    """Give each scope a new stamp (one round trip).

    Best effort by design: the data write has already succeeded, and failing the
    request now would report an error for a change that happened. If the server is
    gone at this instant, caches fall back on their time limit (LISTING_CACHE_SECONDS).
    """
    if not scopes:
        return
    try:
        db[STAMPS].bulk_write(
            [UpdateOne({"_id": s}, {"$set": {"v": ObjectId()}}, upsert=True) for s in dict.fromkeys(scopes)],
            ordered=False,
        )
    except PyMongoError:
        log.warning("could not renew listing stamps %s; cached pages expire on their own",
                    list(scopes), exc_info=True)


def touch_image(db: Database[Document], doc: Document | None, *also: str | None) -> None:
    """Touch the scopes of one image document (a no-op for None: nothing was written).

    ``also`` names visibilities the image had before the write, when the write changed it.
    """
    if doc is None or doc.get("owner_id") is None:
        return
    touch(db, scopes_for(doc["owner_id"], [doc.get("visibility"), *also]))


def read(db: Database[Document], scopes: Sequence[str]) -> tuple[str, ...]:
    """The current stamp of each scope, in order (``UNSET`` where none exists yet)."""
    found = {d["_id"]: str(d.get("v")) for d in db[STAMPS].find({"_id": {"$in": list(scopes)}})}
    return tuple(found.get(s, UNSET) for s in scopes)
