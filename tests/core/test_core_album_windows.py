"""Album pages read in date windows (picsource_core.albums.AlbumDocuments.page): the spans
are pure and cover every date; on a real MongoDB-wire server, pages of an album whose
dates are far apart (a week, years, a 1901 scan, a camera clock in 2099) and that share
dates (ties with the cursor) come out complete and in order in both directions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from picsource_core.albums import FIRST_WINDOW, OLDEST, PAGE_WINDOWS, AlbumDocuments, window_spans
from picsource_core.mongo import ALBUM_IMAGES, ensure_indexes

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def _covered(spans: list[dict[str, Any]], when: datetime) -> int:
    """How many spans hold ``when``."""
    def holds(span: dict[str, Any]) -> bool:
        return (("$gte" not in span or when >= span["$gte"]) and ("$gt" not in span or when > span["$gt"])
                and ("$lt" not in span or when < span["$lt"]))
    return sum(holds(s) for s in spans)


def test_window_spans_cover_every_date_once_and_grow() -> None:
    newest = window_spans(True, None, NOW)
    assert len(newest) == PAGE_WINDOWS and newest[0] == {"$gte": NOW - FIRST_WINDOW}
    assert newest[1] == {"$gte": NOW - 5 * FIRST_WINDOW, "$lt": NOW - FIRST_WINDOW}
    assert newest[-1] == {"$lt": newest[-2]["$gte"]}
    for when in (datetime(2099, 1, 1, tzinfo=UTC), NOW, datetime(1901, 1, 1, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC)):
        assert _covered(newest, when) == 1, when
    edge = datetime(2020, 1, 1, tzinfo=UTC)
    after = window_spans(True, edge, edge)
    assert after[0] == {"$gte": edge - FIRST_WINDOW, "$lt": edge} and _covered(after, edge) == 0
    oldest = window_spans(False, None, OLDEST)
    assert oldest[0] == {"$lt": OLDEST + FIRST_WINDOW} and oldest[-1] == {"$gte": oldest[-2]["$lt"]}
    for when in (datetime(1, 1, 1, tzinfo=UTC), datetime(1901, 1, 1, tzinfo=UTC), NOW):
        assert _covered(oldest, when) == 1, when
    forward = window_spans(False, edge, edge)
    assert forward[0] == {"$gt": edge, "$lt": edge + FIRST_WINDOW} and _covered(forward, edge) == 0


def test_pages_walk_windows_completely_in_both_orders(mongo_db: Any) -> None:
    ensure_indexes(mongo_db)
    albums = AlbumDocuments(mongo_db)
    album_id = ObjectId()
    dates = [datetime(2099, 1, 1, tzinfo=UTC), datetime.now(UTC) - timedelta(days=2),
             *[datetime(2024, 5, 1, tzinfo=UTC)] * 4,  # four taken in the same second: ties
             datetime(2023, 5, 1, tzinfo=UTC), datetime(2010, 1, 1, tzinfo=UTC), datetime(1901, 6, 1, tzinfo=UTC)]
    members = [{"album_id": album_id, "image_id": ObjectId(), "owner_id": ObjectId(), "hidden": False,
                "added_at": when, "taken_at": when} for when in dates]
    members.append({**members[-1], "image_id": ObjectId(), "hidden": True})  # trashed: never listed
    mongo_db[ALBUM_IMAGES].insert_many(members)
    visible = members[:-1]
    expected = [m["image_id"] for m in sorted(visible, key=lambda m: (m["taken_at"], m["image_id"]), reverse=True)]
    for newest_first, want in ((True, expected), (False, expected[::-1])):
        for _ in range(2):  # the second oldest-first walk starts at the date it remembered
            seen: list[ObjectId] = []
            after = None
            while True:
                page = albums.page(album_id, "taken", newest_first=newest_first, after=after, limit=3)
                seen += [m["image_id"] for m in page]
                if len(page) < 3:
                    break
                after = (page[-1]["taken_at"], page[-1]["image_id"])
            assert seen == want, newest_first
