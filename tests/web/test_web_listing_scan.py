"""Which listing reader a gallery uses (services/scan.py): one sorted, limited index query
on servers that run it well, ``_id`` windows on SecantusDB; both give the same pages."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from picsource_core.images import new_image_doc
from picsource_core.mongo import IMAGES, ensure_indexes
from picsource_web.services.images import ImageRepository
from picsource_web.services.query import ImageQuery, decode_cursor
from picsource_web.services.scan import IndexScan, WindowedScanner, choose_scan, needs_windows
from picsource_web.services.users import User, Viewer


def _never_asked() -> dict[str, Any]:
    raise AssertionError("buildInfo was asked although the mode was forced")


def test_windows_only_for_servers_that_read_every_match_before_limit() -> None:
    assert needs_windows({"version": "8.2.11", "secantusVersion": "0.7.0b3"})
    assert not needs_windows({"version": "8.0.4", "gitVersion": "bf5d6bd"})
    assert isinstance(choose_scan("auto", lambda: {"version": "8.0.4"}), IndexScan)
    assert isinstance(choose_scan("auto", lambda: {"secantusVersion": "0.7"}), WindowedScanner)
    assert isinstance(choose_scan("index", _never_asked), IndexScan)
    assert isinstance(choose_scan("windowed", _never_asked), WindowedScanner)


def _seed(db: Any, owner: ObjectId, count: int) -> None:
    rng = random.Random(3)
    ensure_indexes(db)
    docs = []
    for _ in range(count):
        taken = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(24 * 365))
        image_id = ObjectId(ObjectId.from_datetime(taken).binary[:4] + ObjectId().binary[4:])
        docs.append(new_image_doc(
            image_id=image_id, owner_id=owner, title=rng.choice(["sea", "hill", "sea hill"]),
            description="", tags=[rng.choice(["a", "b"])], visibility=rng.choice(["public", "private"]),
            share_token=str(image_id), sha256=str(image_id), size=1, width=1, height=1,
            image_format="PNG", content_type="image/png", original_key=f"o/{image_id}",
        ))
    db[IMAGES].insert_many(docs)


@pytest.mark.parametrize("sort", ["newest", "oldest"])
def test_index_and_windowed_readers_return_the_same_pages(mongo_db: Any, object_store: Any, sort: str) -> None:
    owner = ObjectId()
    _seed(mongo_db, owner, 150)
    viewer = Viewer(User(id=owner, username="o", is_admin=False, created_at=datetime.now(UTC)))
    auto, index = (ImageRepository(mongo_db, object_store, None, scan_mode=m)  # type: ignore[arg-type]
                   for m in ("auto", "index"))
    assert isinstance(auto.scanner, WindowedScanner)  # the test server is SecantusDB
    for repo in (auto, index):  # word searches read through the scanner, as without the text model
        repo.listings.semantic = None
    for query in (ImageQuery(scope="mine", sort=sort, limit=20), ImageQuery(scope="public", sort=sort, limit=20),
                  ImageQuery(scope="mine", tokens=["sea"], tag="a", sort=sort, limit=7)):
        pages: list[list[list[ObjectId]]] = []
        for repo in (auto, index):
            ids, cursor, q = [], "start", query
            while cursor:
                page = repo.listings.list_page(q, viewer)
                ids.append([d["_id"] for d in page.items])
                cursor = page.next_cursor or ""
                if cursor:
                    q = replace(q, cursor=decode_cursor(cursor))
            pages.append(ids)
        assert pages[0] == pages[1] and sum(map(len, pages[0])) > 7, query
