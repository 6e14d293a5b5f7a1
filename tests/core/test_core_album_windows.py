"""Album pages read in ranges (picsource_core.album_windows, AlbumDocuments.page): the
spans are pure and cover every date and every number; on a real MongoDB-wire server,
pages of an album whose dates are far apart (a week, years, a 1901 scan, a camera clock
in 2099) and that share dates (ties with the cursor) come out complete and in order in
both directions, and pages by date added stay bounded reads when thousands of images
were added in the same millisecond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import monitoring

from picsource_core.album_windows import (
    FIRST_SPAN,
    FIRST_WINDOW,
    MS,
    OLDEST,
    PAGE_WINDOWS,
    seq_spans,
    window_spans,
)
from picsource_core.albums import ADDED_SEQ, AlbumDocuments
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
    assert len(newest) == PAGE_WINDOWS and newest[0] == {"$gt": NOW - FIRST_WINDOW - MS}
    assert newest[1] == {"$gt": NOW - 5 * FIRST_WINDOW - MS, "$lt": NOW - FIRST_WINDOW}
    assert newest[-1] == {"$lt": newest[-2]["$gt"] + MS}
    for when in (datetime(2099, 1, 1, tzinfo=UTC), NOW, NOW - FIRST_WINDOW, NOW - 5 * FIRST_WINDOW,
                 datetime(1901, 1, 1, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC)):
        assert _covered(newest, when) == 1, when
    edge = datetime(2020, 1, 1, tzinfo=UTC)
    after = window_spans(True, edge, edge)
    assert after[0] == {"$gt": edge - FIRST_WINDOW - MS, "$lt": edge} and _covered(after, edge) == 0
    oldest = window_spans(False, None, OLDEST)
    assert oldest[0] == {"$lt": OLDEST + FIRST_WINDOW} and oldest[-1] == {"$gt": oldest[-2]["$lt"] - MS}
    for when in (datetime(1, 1, 1, tzinfo=UTC), OLDEST + FIRST_WINDOW, datetime(1901, 1, 1, tzinfo=UTC), NOW):
        assert _covered(oldest, when) == 1, when
    for wide in (window_spans(True, None, NOW, timedelta(days=365 * 500)),  # past year 1
                 window_spans(False, None, OLDEST, timedelta(days=365 * 500))):  # past 9999
        assert all(_covered(wide, when) == 1 for when in (datetime(1, 1, 1, tzinfo=UTC), NOW,
                                                          datetime(9999, 1, 1, tzinfo=UTC)))
    assert window_spans(False, edge, edge, timedelta(days=365 * 9000)) == [{"$gt": edge}]
    forward = window_spans(False, edge, edge)
    assert forward[0] == {"$gt": edge, "$lt": edge + FIRST_WINDOW} and _covered(forward, edge) == 0


def test_pages_walk_windows_completely_in_both_orders(mongo_db: Any) -> None:
    ensure_indexes(mongo_db)
    albums = AlbumDocuments(mongo_db)
    album_id = ObjectId()
    dates = [datetime(2099, 1, 1, tzinfo=UTC), datetime.now(UTC) - timedelta(days=2),
             *[datetime(2024, 5, 1, tzinfo=UTC)] * 4,  # four taken in the same second: ties
             datetime(2023, 5, 1, tzinfo=UTC), datetime(2010, 1, 1, tzinfo=UTC), datetime(1901, 6, 1, tzinfo=UTC),
             OLDEST + FIRST_WINDOW]  # exactly where a cold oldest-first walk's second window starts
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
                page = albums.page({"_id": album_id}, "taken", newest_first=newest_first, after=after, limit=3)
                seen += [m["image_id"] for m in page]
                if len(page) < 3:
                    break
                after = (page[-1]["taken_at"], page[-1]["image_id"])
            assert seen == want, newest_first


def _holds(span: dict[str, Any], n: int) -> bool:
    return ("$gt" not in span or n > span["$gt"]) and ("$lt" not in span or n < span["$lt"])


def test_seq_spans_cover_every_number_once_from_the_cursor_on() -> None:
    for top in (0, 5, 49, 50, 10_000):
        for limit in (1, 49):
            spans = seq_spans(True, None, top, limit)
            assert all(sum(_holds(s, n) for s in spans) == 1 for n in (*range(min(top, 300)), top - 1, top + 7))
            assert spans[0] in ({"$gt": top - max(limit, FIRST_SPAN) - 1}, {})  # open above: racing adds
            for edge in {0, top // 2, max(top - 1, 0)}:
                down = seq_spans(True, edge, top, limit)
                assert all(sum(_holds(s, n) for s in down) == (n <= edge) for n in range(top + 3))
                up = seq_spans(False, edge, top, limit)
                assert all(sum(_holds(s, n) for s in up) == (n >= edge) for n in range(top + 3))
    widths = [s["$lt"] - s["$gt"] - 1 for s in seq_spans(True, 9_999, 10_000, 49)[:-1]]
    assert widths == [49 * 4 ** k for k in range(len(widths))]


class FindRecorder(monitoring.CommandListener):
    """The filters of every membership find a client sends."""

    def __init__(self) -> None:
        self.filters: list[dict[str, Any]] = []

    def started(self, event: Any) -> None:
        if event.command_name == "find" and event.command.get("find") == ALBUM_IMAGES:
            self.filters.append(event.command["filter"])

    def succeeded(self, event: Any) -> None: ...

    def failed(self, event: Any) -> None: ...


def test_pages_by_date_added_are_bounded_reads_whatever_was_added_at_once(mongo_db: Any) -> None:
    """600 memberships from before numbers existed, all added in the same millisecond,
    then 300 more in one call (one added_at again): every page by date added, both ways,
    reads about one page of memberships, and the walk is complete, without repeats."""
    import pymongo

    ensure_indexes(mongo_db)
    recorder = FindRecorder()
    client: Any = pymongo.MongoClient(mongo_db.client.address[0], mongo_db.client.address[1],
                                      event_listeners=[recorder], tz_aware=True)
    db = client[mongo_db.name]
    albums = AlbumDocuments(db)
    owner, burst = ObjectId(), datetime(2026, 12, 1, tzinfo=UTC)
    album = {"_id": ObjectId(), "owner_id": owner, "title": "Burst", "share_token": str(ObjectId())}
    albums.insert(dict(album))
    old = [{"album_id": album["_id"], "image_id": ObjectId(), "owner_id": owner, "hidden": False,
            "added_at": burst, "taken_at": burst} for _ in range(600)]
    db[ALBUM_IMAGES].insert_many(old)
    old.sort(key=lambda m: m["image_id"])
    trashed = {old[10]["image_id"], old[599]["image_id"]}
    db[ALBUM_IMAGES].update_many({"image_id": {"$in": list(trashed)}}, {"$set": {"hidden": True}})
    new = [{"_id": ObjectId(), "taken_at": burst, "created_at": burst} for _ in range(300)]
    assert set(albums.add(album, new).values()) == {"added"}  # numbers the old ones first
    assert albums.find_one({"_id": album["_id"]})[ADDED_SEQ] == 900  # type: ignore[index]
    albums.remove(album, [new[5]["_id"], old[300]["image_id"]])  # gaps in the numbers
    gone = trashed | {new[5]["_id"], old[300]["image_id"]}
    expected = [m["image_id"] for m in old] + sorted(i["_id"] for i in new)
    expected = [i for i in expected if i not in gone][::-1]
    album = albums.find_one({"_id": album["_id"]})
    for newest_first, want in ((True, expected), (False, expected[::-1])):
        seen: list[ObjectId] = []
        after = None
        recorder.filters.clear()
        while True:
            page = albums.page(album, "added", newest_first=newest_first, after=after, limit=49)
            seen += [m["image_id"] for m in page]
            if len(page) < 49:
                break
            after = (page[-1]["seq"], page[-1]["image_id"])
        assert seen == want, newest_first
        assert len(recorder.filters) <= 2 * (len(want) // 49 + 1)
        for flt in recorder.filters:  # what the server reads for each: about a page
            assert mongo_db[ALBUM_IMAGES].count_documents(flt) <= 4 * 49, flt
    client.close()


def test_numbering_cut_short_is_resumed_without_repeating_a_number(mongo_db: Any) -> None:
    ensure_indexes(mongo_db)
    albums = AlbumDocuments(mongo_db)
    album = {"_id": ObjectId(), "owner_id": ObjectId(), "title": "Old", "share_token": str(ObjectId())}
    albums.insert(dict(album))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    old = [{"album_id": album["_id"], "image_id": ObjectId(), "owner_id": album["owner_id"], "hidden": False,
            "added_at": start + timedelta(seconds=n // 3), "taken_at": start} for n in range(30)]
    mongo_db[ALBUM_IMAGES].insert_many(old)
    # a first numbering wrote the first ten, then its worker was stopped
    for n, member in enumerate(sorted(old, key=lambda m: (m["added_at"], m["image_id"]))[:10]):
        mongo_db[ALBUM_IMAGES].update_one({"_id": member["_id"]}, {"$set": {"seq": n}})
    assert albums.numbered(album) == 30
    numbers = {m["image_id"]: m["seq"] for m in mongo_db[ALBUM_IMAGES].find({"album_id": album["_id"]})}
    in_order = sorted(old, key=lambda m: (m["added_at"], m["image_id"]))
    assert [numbers[m["image_id"]] for m in in_order] == list(range(30))
    page = albums.page(albums.find_one({"_id": album["_id"]}) or {}, "added", newest_first=True, after=None, limit=5)
    assert [m["image_id"] for m in page] == [m["image_id"] for m in in_order[::-1][:5]]


def test_pages_by_date_taken_reread_about_one_page(mongo_db: Any) -> None:
    """An album of old photos, one a day for 400 days, the newest a year ago: a page read
    again (after an edit retired the cached one) is one window of about a page, not the
    weeks-to-years window that first reached it; a later page starts from a window sized
    like the first page's. The walk stays complete."""
    import pymongo

    ensure_indexes(mongo_db)
    recorder = FindRecorder()
    client: Any = pymongo.MongoClient(mongo_db.client.address[0], mongo_db.client.address[1],
                                      event_listeners=[recorder], tz_aware=True)
    albums = AlbumDocuments(client[mongo_db.name])
    album = {"_id": ObjectId()}
    newest = datetime.now(UTC).replace(microsecond=0) - timedelta(days=365)
    members = [{"album_id": album["_id"], "image_id": ObjectId(), "owner_id": ObjectId(), "hidden": False,
                "added_at": newest, "taken_at": newest - timedelta(days=n)} for n in range(400)]
    mongo_db[ALBUM_IMAGES].insert_many(members)
    want = [m["image_id"] for m in members]
    first = albums.page(album, "taken", newest_first=True, after=None, limit=49)
    assert [m["image_id"] for m in first] == want[:49]
    for _ in range(2):
        recorder.filters.clear()
        assert albums.page(album, "taken", newest_first=True, after=None, limit=49) == first
        assert len(recorder.filters) == 1
        assert 49 <= mongo_db[ALBUM_IMAGES].count_documents(recorder.filters[0]) <= 60
    seen, after = [m["image_id"] for m in first], (first[-1]["taken_at"], first[-1]["image_id"])
    while True:
        recorder.filters.clear()
        page = albums.page(album, "taken", newest_first=True, after=after, limit=49)
        assert sum(mongo_db[ALBUM_IMAGES].count_documents(f) for f in recorder.filters) <= 2 * 60
        seen += [m["image_id"] for m in page]
        if len(page) < 49:
            break
        after = (page[-1]["taken_at"], page[-1]["image_id"])
    assert seen == want
    client.close()
