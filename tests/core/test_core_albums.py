"""Albums and memberships on a real MongoDB-wire server: adds and removes are idempotent
and answer per image, pages sort by date taken or added with a cursor, and the image write
path keeps memberships right (trash hides, restore shows, analysis re-dates, purge forgets)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from picsource_core.albums import ADDED, ALREADY, NOT_IN_ALBUM, REMOVED, SORT_FIELDS, AlbumDocuments
from picsource_core.image_documents import ImageDocuments
from picsource_core.images import new_image_doc
from picsource_core.mongo import ALBUM_IMAGES, ensure_indexes
from picsource_core.queue import utcnow
from tests.support.waiting import wait_until

OWNER = ObjectId("65f000000000000000000002")
DAY = datetime(2024, 5, 1, tzinfo=UTC)


def _image(docs: ImageDocuments, created: datetime) -> dict[str, Any]:
    image_id = ObjectId()
    doc = new_image_doc(
        image_id=image_id, owner_id=OWNER, title="t", description="", tags=[], visibility="private",
        share_token=str(image_id), sha256=str(image_id), size=1, width=1, height=1,
        image_format="PNG", content_type="image/png", original_key=f"o/{image_id}", now=created)
    docs.insert(doc)
    return doc


@pytest.fixture
def stores(mongo_db: Any) -> tuple[ImageDocuments, AlbumDocuments]:
    ensure_indexes(mongo_db)
    return ImageDocuments(mongo_db), AlbumDocuments(mongo_db)


def _album(albums: AlbumDocuments, title: str = "Trip") -> dict[str, Any]:
    album = {"_id": ObjectId(), "owner_id": OWNER, "title": title, "share_token": str(ObjectId()),
             "cover_image_id": None}
    albums.insert(album)
    return album


def _ids(albums: AlbumDocuments, album: dict[str, Any], sort: str, newest_first: bool = True,
         limit: int = 2) -> list[ObjectId]:
    """Every page of the album, followed by cursor, limit images at a time."""
    seen: list[ObjectId] = []
    after = None
    field = SORT_FIELDS[sort]
    while True:
        page = albums.page(albums.find_one({"_id": album["_id"]}) or album, sort, newest_first=newest_first, after=after, limit=limit)
        seen += [m["image_id"] for m in page]
        if len(page) < limit:
            return seen
        after = (page[-1][field], page[-1]["image_id"])


def test_add_and_remove_answer_per_image_and_are_idempotent(stores: Any) -> None:
    docs, albums = stores
    album = _album(albums)
    a, b = _image(docs, DAY), _image(docs, DAY + timedelta(days=1))
    assert albums.add(album, [a]) == {a["_id"]: ADDED}
    assert albums.add(album, [a, b]) == {a["_id"]: ALREADY, b["_id"]: ADDED}
    assert albums.add(_album(albums, "Other"), [a]) == {a["_id"]: ADDED}  # many albums
    stray = ObjectId()
    assert albums.remove(album, [a["_id"], stray]) == {a["_id"]: REMOVED, stray: NOT_IN_ALBUM}
    assert _ids(albums, album, "added") == [b["_id"]]


def test_pages_sort_by_date_taken_or_added_with_a_cursor(stores: Any) -> None:
    docs, albums = stores
    album = _album(albums)
    made = [_image(docs, DAY + timedelta(days=n)) for n in range(5)]
    for doc in reversed(made):  # added newest upload first
        albums.add(album, [doc])
    by_upload = [d["_id"] for d in made]
    assert _ids(albums, album, "taken") == by_upload[::-1]
    assert _ids(albums, album, "taken", newest_first=False) == by_upload
    assert _ids(albums, album, "added", limit=3) == by_upload
    # The worker finds an EXIF capture time on the newest upload: years before the others.
    docs.apply_analysis(made[4]["_id"], {"taken_at": datetime(2001, 1, 1, tzinfo=UTC)})
    assert _ids(albums, album, "taken") == [by_upload[3], by_upload[2], by_upload[1], by_upload[0],
                                            by_upload[4]]


def test_trash_hides_restore_shows_purge_forgets(stores: Any, mongo_db: Any) -> None:
    docs, albums = stores
    album = _album(albums)
    keep, cover = _image(docs, DAY), _image(docs, DAY + timedelta(days=1))
    albums.add(album, [keep, cover])
    album = albums.update(album, {"cover_image_id": cover["_id"]})
    assert docs.trash(cover, DAY, "new-token")
    assert _ids(albums, album, "taken") == [keep["_id"]]
    assert albums.counts(OWNER) == {album["_id"]: 1} and albums.count(albums.find_one({"_id": album["_id"]}) or {}) == 1
    assert not albums.is_member(album["_id"], cover["_id"])
    assert albums.first_image(album) == keep["_id"]
    assert docs.restore(cover)
    assert _ids(albums, album, "taken") == [cover["_id"], keep["_id"]]
    assert docs.delete(cover)
    assert mongo_db[ALBUM_IMAGES].count_documents({"image_id": cover["_id"]}) == 0
    assert albums.find_one({"_id": album["_id"]})["cover_image_id"] is None  # type: ignore[index]


def test_a_trashed_image_added_stays_hidden_until_restored(stores: Any) -> None:
    docs, albums = stores
    album, image = _album(albums), _image(docs, DAY)
    docs.trash(image, DAY, "t2")
    trashed = docs.find_one({"_id": image["_id"]})
    assert albums.add(album, [trashed]) == {image["_id"]: ADDED}
    assert _ids(albums, album, "added") == []
    docs.restore(image)
    assert _ids(albums, album, "added") == [image["_id"]]


def test_deleting_an_album_keeps_its_images(stores: Any, mongo_db: Any) -> None:
    docs, albums = stores
    album, image = _album(albums), _image(docs, DAY)
    albums.add(album, [image])
    assert albums.delete(album) and not albums.delete(album)
    assert docs.find_one({"_id": image["_id"]}) is not None
    assert mongo_db[ALBUM_IMAGES].count_documents({}) == 0


def test_a_count_is_kept_on_the_album_until_it_changes(stores: Any, mongo_db: Any) -> None:
    docs, albums = stores
    album = _album(albums)
    images = [_image(docs, DAY + timedelta(days=n)) for n in range(4)]
    albums.add(album, images)
    stale = albums.find_one({"_id": album["_id"]})
    assert stale is not None
    # updated_at is in milliseconds: the change below must land in a later one
    changed = stale["updated_at"].replace(tzinfo=UTC)
    wait_until(lambda: utcnow() - changed >= timedelta(milliseconds=2), 5, "a later millisecond", 0.002)
    albums.remove(stale, [images[3]["_id"]])  # a change moves updated_at
    assert albums.count(stale) == 3  # counted for a stale album document: answered, never kept
    assert "counted" not in (albums.find_one({"_id": album["_id"]}) or {})
    assert albums.count(albums.find_one({"_id": album["_id"]})) == 3
    mongo_db[ALBUM_IMAGES].delete_one({"image_id": images[0]["_id"]})  # behind the write path's back
    kept = albums.find_one({"_id": album["_id"]})
    assert AlbumDocuments(mongo_db).count(kept) == 3  # another replica: the kept count, no recount
    albums.remove(kept, [images[1]["_id"]])  # the next change: counted again
    assert albums.count(albums.find_one({"_id": album["_id"]})) == 1
