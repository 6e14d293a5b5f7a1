"""Newest-first pages read through growing ``_id`` windows, so a page costs about a page.

Why: gallery and search pages are "equality on a field or two, newest first, 49
documents". MongoDB answers them from a compound index such as (owner_id, _id) and
touches 49 entries. MongoDB-wire servers with simpler planners do not: SecantusDB 0.7
serves a sort from an index only when the sort field *leads* the index, and it
materialises every candidate before applying the limit, so a user with 40,000 images
costs 40,000 document reads per page (measured by bench/bench_web.py). Bounding
``_id`` (it starts with its creation second) to a recent time window turns the same
query into an index range of about one page on any server. A window that yields
too few documents is followed by an older one, ``growth`` times wider, until the page
is full or the filter's own lower bound (or 1970) is reached, so the result is
exactly the unbounded query's; sparse results cost a handful of small range queries.

Only newest-first is windowed: oldest-first would have to start from the oldest
document, which these servers can only find by reading everything.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.collection import Collection

from picsource_core.mongo import Document

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIRST_WINDOW = timedelta(days=7)
GROWTH = 8


def windows(top: datetime, floor: datetime, first: timedelta = FIRST_WINDOW,
            growth: int = GROWTH) -> Iterator[datetime]:
    """Successive lower edges, newest first: top-first, then ever wider steps, ending at floor."""
    size, edge = first, top
    while True:
        edge = edge - size
        if edge <= floor:
            yield floor
            return
        yield edge
        size = size * growth


def find_newest(collection: Collection[Document], flt: Mapping[str, Any], limit: int,
                projection: Mapping[str, Any] | None = None, *, now: datetime | None = None,
                first: timedelta = FIRST_WINDOW, growth: int = GROWTH) -> list[Document]:
    """The first ``limit`` documents of ``flt`` sorted by ``_id`` descending.

    ``flt`` may already bound ``_id`` with ``$lt`` (a page cursor or an end date) and
    ``$gte`` (a start date), as services.query.build_filter does; other ``_id``
    conditions fall back to one plain query.
    """
    id_range = flt.get("_id") or {}
    if not isinstance(id_range, Mapping) or set(id_range) - {"$lt", "$gte"}:
        return list(collection.find(dict(flt), projection).sort("_id", -1).limit(limit))
    upper: ObjectId | None = id_range.get("$lt")
    lower: ObjectId | None = id_range.get("$gte")
    top = upper.generation_time if upper is not None else (now or datetime.now(UTC))
    floor = lower.generation_time if lower is not None else EPOCH
    found: list[Document] = []
    for edge in windows(top, floor, first, growth):
        bounds: dict[str, ObjectId] = {}
        if upper is not None:
            bounds["$lt"] = upper
        at_floor = edge <= floor
        if not at_floor:
            bounds["$gte"] = ObjectId.from_datetime(edge)
        elif lower is not None:
            bounds["$gte"] = lower
        query = {**flt, "_id": bounds} if bounds else {k: v for k, v in flt.items() if k != "_id"}
        found += collection.find(query, projection).sort("_id", -1).limit(limit - len(found))
        if len(found) >= limit or at_floor:
            return found
        upper = ObjectId.from_datetime(edge)
    return found  # pragma: no cover - windows() always ends at the floor
