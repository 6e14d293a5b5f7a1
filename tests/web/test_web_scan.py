"""The windowed newest-first scan returns exactly what a plain sorted query returns."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from picsource_core.mongo import IMAGES, ensure_indexes
from picsource_web.services.scan import (
    DEFAULT_WINDOW,
    WindowedScanner,
    oid_int,
    residual_match,
    split_filter,
)


def test_split_filter_picks_the_most_selective_driver() -> None:
    owner, cursor = ObjectId(), ObjectId()
    field, value, residual, lower, upper = split_filter(
        {"owner_id": owner, "search_tokens": {"$all": ["cat", "sunset"]}, "has_text": True,
         "_id": {"$lt": cursor}})
    assert (field, value) == ("search_tokens", "sunset")
    assert residual == {"owner_id": owner, "search_tokens": {"$all": ["cat"]}, "has_text": True}
    assert lower == 0 and upper == int.from_bytes(cursor.binary, "big")
    assert split_filter({"visibility": "public", "_id": {"$gt": cursor}})[3] == upper + 1


def test_residual_match() -> None:
    doc = {"owner_id": 1, "tags": ["a", "b"], "search_tokens": ["x", "y"], "has_text": False}
    assert residual_match(doc, {"owner_id": 1, "tags": "a", "search_tokens": {"$all": ["x", "y"]}})
    assert not residual_match(doc, {"tags": "c"})
    assert not residual_match(doc, {"search_tokens": {"$all": ["x", "z"]}})
    assert not residual_match(doc, {"has_text": True})
    hidden = {"$ne": True}
    assert residual_match(doc, {"hidden_from_public": hidden})  # missing field: matches
    assert residual_match({**doc, "hidden_from_public": False}, {"hidden_from_public": hidden})
    assert not residual_match({**doc, "hidden_from_public": True}, {"hidden_from_public": hidden})
    assert not residual_match(doc, {"tags": {"$ne": "a"}}) and residual_match(doc, {"tags": {"$ne": "c"}})


@pytest.fixture(scope="module")
def scan_db(_mongo_client: Any) -> Iterator[Any]:
    """One database for the whole module: the seeded documents are only read."""
    name = f"scan_{ObjectId()}"
    yield _mongo_client[name]
    _mongo_client.drop_database(name)


@pytest.fixture(scope="module")
def seeded(scan_db: Any) -> list[dict[str, Any]]:
    """600 images of two owners over two years, plus a burst of 100 in one second."""
    mongo_db = scan_db
    ensure_indexes(mongo_db)
    rng = random.Random(7)
    now = datetime.now(UTC)
    owners = [ObjectId(), ObjectId()]
    docs = []
    for i in range(600):
        when = now - timedelta(seconds=rng.randrange(2 * 365 * 86400))
        oid = ObjectId(ObjectId.from_datetime(when).binary[:4] + rng.randbytes(8))
        docs.append({"_id": oid, "owner_id": owners[i % 2], "visibility": rng.choice(["public", "private"]),
                     "tags": [rng.choice(["sea", "sky", "city"])], "colour_families": [rng.choice(["red", "blue"])],
                     "has_text": rng.random() < 0.3,
                     "search_tokens": rng.sample(["cat", "dog", "sunset", "beach", "car"], 2),
                     "share_token": str(oid), "sha256": str(oid)})
        if i % 3:  # some flagged by the safety check, some cleared, a third never analysed
            docs[-1]["hidden_from_public"] = i % 3 == 1
    burst = ObjectId.from_datetime(now - timedelta(minutes=5)).binary[:4]
    for i in range(100):
        docs.append({"_id": ObjectId(burst + i.to_bytes(8, "big")), "owner_id": owners[0], "visibility": "public",
                     "tags": ["burst"], "colour_families": ["red"], "has_text": False, "search_tokens": ["cat"],
                     "share_token": f"b{i}", "sha256": f"b{i}"})
    mongo_db[IMAGES].insert_many(docs)
    return docs


FILTERS = [
    lambda o: {"owner_id": o},
    lambda o: {"visibility": "public"},
    lambda o: {"visibility": "public", "hidden_from_public": {"$ne": True}},
    lambda o: {"owner_id": o, "search_tokens": "cat"},
    lambda o: {"visibility": "public", "search_tokens": {"$all": ["cat", "sunset"]}, "has_text": False},
    lambda o: {"owner_id": o, "tags": "sea", "colour_families": "blue"},
    lambda o: {"owner_id": o, "tags": "nothing-has-this"},
    lambda o: {"visibility": "public",
               "_id": {"$gte": ObjectId.from_datetime(datetime(2025, 1, 1, tzinfo=UTC)),
                       "$lt": ObjectId.from_datetime(datetime.now(UTC) - timedelta(days=30))}},
]


@pytest.mark.parametrize("make_filter", FILTERS)
@pytest.mark.parametrize("need", [7, 49])
@pytest.mark.parametrize("newest", [True, False], ids=["newest", "oldest"])
def test_windowed_pages_equal_a_plain_sorted_query(scan_db: Any, seeded: list[dict[str, Any]],
                                                   make_filter: Any, need: int, newest: bool) -> None:
    mongo_db = scan_db
    owner = seeded[0]["owner_id"]
    scanner = WindowedScanner()
    scan = scanner.newest if newest else scanner.oldest
    flt = make_filter(owner)
    expected = [d["_id"] for d in mongo_db[IMAGES].find(flt, {"_id": 1}).sort("_id", -1 if newest else 1)]
    for _ in range(2):  # a cold and a warm (learnt window) walk through every page
        seen: list[ObjectId] = []
        bounds = dict(flt.get("_id", {}))
        while True:
            page_filter = {**flt, "_id": bounds} if bounds else dict(flt)
            page = scan(mongo_db[IMAGES], page_filter, need, {"_id": 1})
            seen += [d["_id"] for d in page]
            if len(page) < need:
                break
            bounds = {**bounds, ("$lt" if newest else "$gt"): page[-1]["_id"]}
        assert seen == expected


def test_the_window_is_learnt(scan_db: Any, seeded: list[dict[str, Any]]) -> None:
    mongo_db = scan_db
    scanner = WindowedScanner()
    owner = seeded[0]["owner_id"]
    scanner.newest(mongo_db[IMAGES], {"owner_id": owner}, 49, {"_id": 1})
    learnt = scanner._windows[("owner_id", str(owner), 49, False)]
    assert learnt < DEFAULT_WINDOW  # the burst of 100 in one second: a tiny window suffices


class RecordingCollection:
    """Passes ``find`` through to a real collection and keeps each query it was given."""

    def __init__(self, coll: Any) -> None:
        self.coll = coll
        self.queries: list[dict[str, Any]] = []

    def find(self, query: dict[str, Any], *args: Any) -> Any:
        self.queries.append(query)
        return self.coll.find(query, *args)


def month_old_burst(scan_db: Any) -> tuple[ObjectId, list[dict[str, Any]]]:
    """A new owner's 400 images, newest first, one a second from a month ago back."""
    owner = ObjectId()
    start = int(ObjectId.from_datetime(datetime.now(UTC) - timedelta(days=30)).binary[:4].hex(), 16)
    # The owner id's last 5 bytes hold its counter: two owners made in the same second by one
    # process (two tests) share the 5 "random" bytes before them, and their ids would collide.
    docs = [{"_id": ObjectId((start - i).to_bytes(4, "big") + owner.binary[7:12] + i.to_bytes(3, "big")),
             "owner_id": owner, "share_token": f"g{owner}{i}", "sha256": f"g{owner}{i}"} for i in range(400)]
    scan_db[IMAGES].insert_many(docs)
    return owner, docs


def test_a_first_page_above_a_gap_starts_at_the_learnt_floor(scan_db: Any) -> None:
    """Newest image a month old, above a dense burst: the second first-page scan's window
    starts just below the page, so it reads about one page, not the whole burst."""
    owner, docs = month_old_burst(scan_db)
    scanner = WindowedScanner()
    expected = [d["_id"] for d in docs[:49]]
    assert [d["_id"] for d in scanner.newest(scan_db[IMAGES], {"owner_id": owner}, 49, {"_id": 1})] == expected
    floor = scanner._floors[("owner_id", str(owner), 49, False, "{}")]
    assert oid_int(docs[60]["_id"]) < floor <= oid_int(docs[48]["_id"])  # about one page, not 400
    recorder = RecordingCollection(scan_db[IMAGES])
    assert [d["_id"] for d in scanner.newest(recorder, {"owner_id": owner}, 49, {"_id": 1})] == expected
    assert len(recorder.queries) == 1  # one window, holding about one page: what the server reads
    assert 49 <= scan_db[IMAGES].count_documents(recorder.queries[0]) <= 60
    newer = ObjectId()  # a new upload lands above the floor and is still found
    scan_db[IMAGES].insert_one({"_id": newer, "owner_id": owner, "share_token": f"n{owner}", "sha256": f"n{owner}"})
    page = scanner.newest(scan_db[IMAGES], {"owner_id": owner}, 49, {"_id": 1})
    assert [d["_id"] for d in page] == [newer, *expected[:48]]
    scan_db[IMAGES].delete_many({"owner_id": owner, "_id": {"$gte": docs[40]["_id"]}})  # fewer above it
    page = scanner.newest(scan_db[IMAGES], {"owner_id": owner}, 49, {"_id": 1})
    assert [d["_id"] for d in page] == [d["_id"] for d in docs[41:90]]  # later windows fill the page


def test_small_and_bounded_reads_leave_the_pages_hints_alone(scan_db: Any) -> None:
    """The home page reads the grid (49), the month menu's newest image (1) and "On this
    day" (a few, within one earlier day) through one scanner after every edit. Each keeps
    its own learnt window and floor, so the grid's next read is still one window of about
    a page, not a walk up from a window sized for one image or for another year."""
    owner, docs = month_old_burst(scan_db)
    scanner = WindowedScanner()
    expected = [d["_id"] for d in docs[:49]]
    day = {"$gte": docs[300]["_id"], "$lt": docs[290]["_id"]}
    for _ in range(3):
        assert [d["_id"] for d in scanner.newest(scan_db[IMAGES], {"owner_id": owner}, 49, {"_id": 1})] == expected
        assert [d["_id"] for d in scanner.newest(scan_db[IMAGES], {"owner_id": owner}, 1, {"_id": 1})] == expected[:1]
        assert len(scanner.newest(scan_db[IMAGES], {"owner_id": owner, "_id": day}, 6, {"_id": 1})) == 6
        recorder = RecordingCollection(scan_db[IMAGES])
        assert [d["_id"] for d in scanner.newest(recorder, {"owner_id": owner}, 49, {"_id": 1})] == expected
        assert len(recorder.queries) == 1
        assert 49 <= scan_db[IMAGES].count_documents(recorder.queries[0]) <= 60
        recorder = RecordingCollection(scan_db[IMAGES])
        assert [d["_id"] for d in scanner.newest(recorder, {"owner_id": owner}, 1, {"_id": 1})] == expected[:1]
        assert len(recorder.queries) == 1
        assert scan_db[IMAGES].count_documents(recorder.queries[0]) <= 10  # about one image, not a page
