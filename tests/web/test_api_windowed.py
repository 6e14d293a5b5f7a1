"""Windowed newest-first reads return exactly what the plain query returns, on the real
MongoDB-wire server, while each query touches only a time window of the index."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from picsource_core.mongo import IMAGES, ensure_indexes
from picsource_web.services.query import build_filter, parse_query
from picsource_web.services.users import User, Viewer
from picsource_web.services.windowed import EPOCH, find_newest, windows

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_windows_grow_and_end_at_the_floor() -> None:
    edges = list(windows(NOW, EPOCH, timedelta(days=1), 10))
    assert edges[0] == NOW - timedelta(days=1)
    assert edges[1] == NOW - timedelta(days=11)
    assert edges[2] == NOW - timedelta(days=111)
    assert edges[-1] == EPOCH and all(a > b for a, b in zip(edges, edges[1:], strict=False))
    assert len(edges) < 10


def test_windows_stop_at_a_recent_floor() -> None:
    floor = NOW - timedelta(days=3)
    assert list(windows(NOW, floor, timedelta(days=1), 2)) == [NOW - timedelta(days=1), floor]
    assert list(windows(NOW, NOW, timedelta(days=1), 2)) == [NOW]


@pytest.fixture
def seeded(mongo_db: Any) -> tuple[Any, ObjectId, list[ObjectId]]:
    """300 images over four years, denser recently, two owners, mixed visibility."""
    ensure_indexes(mongo_db)
    rng = random.Random(5)
    owner, other = ObjectId(), ObjectId()
    docs, mine = [], []
    for i in range(300):
        age = timedelta(days=rng.choice((0.2, 2, 20, 200, 1400)) * rng.random())
        when = NOW - age
        oid = ObjectId(ObjectId.from_datetime(when).binary[:4] + rng.randbytes(8))
        who = owner if i % 3 else other
        docs.append({"_id": oid, "owner_id": who, "visibility": rng.choice(("public", "private")),
                     "search_tokens": rng.sample(["cat", "dog", "sea", "sky"], 2), "tags": [],
                     "share_token": f"s{i}", "sha256": f"h{i}"})
        if who == owner:
            mine.append(oid)
    mongo_db[IMAGES].insert_many(docs)
    return mongo_db, owner, sorted(mine, reverse=True)


def _plain(db: Any, flt: dict[str, Any], limit: int) -> list[ObjectId]:
    return [d["_id"] for d in db[IMAGES].find(flt, {"_id": 1}).sort("_id", -1).limit(limit)]


@pytest.mark.parametrize("params", [{}, {"q": "cat"}, {"scope": "public"},
                                    {"scope": "public", "q": "sea"},
                                    {"from": "2025-01-01"}, {"to": "2026-05-01"},
                                    {"from": "2026-05-20", "to": "2026-05-31"}, {"q": "nothing"}])
@pytest.mark.parametrize("limit", [1, 7, 49])
def test_windowed_pages_equal_plain_pages(seeded: tuple[Any, ObjectId, list[ObjectId]],
                                          params: dict[str, str], limit: int) -> None:
    db, owner, _ = seeded
    viewer = Viewer(User(id=owner, username="o", is_admin=False, created_at=NOW))
    query = parse_query({**params, "limit": str(limit)}, viewer)
    flt = build_filter(query, viewer)
    got = [d["_id"] for d in find_newest(db[IMAGES], flt, limit, {"_id": 1}, now=NOW,
                                         first=timedelta(hours=6), growth=4)]
    assert got == _plain(db, flt, limit)


def test_paging_with_cursors_walks_everything_once(seeded: tuple[Any, ObjectId, list[ObjectId]]) -> None:
    db, owner, mine = seeded
    seen: list[ObjectId] = []
    flt: dict[str, Any] = {"owner_id": owner}
    while True:
        page = find_newest(db[IMAGES], flt, 13, {"_id": 1}, now=NOW, first=timedelta(hours=1))
        seen += [d["_id"] for d in page]
        if len(page) < 13:
            break
        flt = {"owner_id": owner, "_id": {"$lt": page[-1]["_id"]}}
    assert seen == mine


def test_other_id_conditions_fall_back_to_one_plain_query(seeded: tuple[Any, ObjectId, list[ObjectId]]) -> None:
    db, owner, mine = seeded
    flt = {"owner_id": owner, "_id": {"$in": mine[:5]}}
    assert [d["_id"] for d in find_newest(db[IMAGES], flt, 3)] == mine[:3]
