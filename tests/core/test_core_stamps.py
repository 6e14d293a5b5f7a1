"""Listing stamps: which scopes a write renews (pure), and that core's image writes, the
ones the worker makes, renew them on a real MongoDB-wire server."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from picsource_core import stamps
from picsource_core.images import (
    apply_analysis,
    mark_failed,
    mark_pending,
    mark_processing,
    new_image_doc,
)
from picsource_core.mongo import IMAGES, STAMPS, USERS

OWNER = ObjectId("65f000000000000000000001")


def test_public_listings_are_affected_by_public_or_unknown_visibility() -> None:
    assert not stamps.affects_public(["private"])
    assert not stamps.affects_public(["unlisted", "private"])
    assert stamps.affects_public(["private", "public"])  # made private: it leaves the public page
    assert stamps.affects_public([None])  # unknown: renew to be safe


def _stamps(db: Any) -> tuple[str, str]:
    user = db[USERS].find_one({"_id": OWNER}) or {}
    return stamps.owner_stamp(user), stamps.read_public(db)


def test_touch_gives_new_values_every_time(mongo_db: Any) -> None:
    mongo_db[USERS].insert_one({"_id": OWNER, "username": "owner"})
    assert _stamps(mongo_db) == (stamps.UNSET, stamps.UNSET)
    stamps.touch(mongo_db, OWNER, public=False)
    owner_first, public_first = _stamps(mongo_db)
    assert owner_first != stamps.UNSET and public_first == stamps.UNSET
    stamps.touch(mongo_db, OWNER, public=True)
    owner_second, public_second = _stamps(mongo_db)
    assert owner_second not in (owner_first, stamps.UNSET) and public_second != stamps.UNSET
    stamps.touch_image(mongo_db, None)  # nothing written: nothing renewed
    assert _stamps(mongo_db) == (owner_second, public_second)
    stamps.touch(mongo_db, ObjectId(), public=False)  # a user that does not exist is not created
    assert mongo_db[USERS].count_documents({}) == 1


def _image(db: Any, visibility: str) -> ObjectId:
    image_id = ObjectId()
    db[IMAGES].insert_one(new_image_doc(
        image_id=image_id, owner_id=OWNER, title="t", description="", tags=[],
        visibility=visibility, share_token=str(image_id), sha256=str(image_id), size=1, width=1,
        height=1, image_format="PNG", content_type="image/png", original_key=f"o/{image_id}",
    ))
    return image_id


def test_worker_writes_renew_owner_and_public_stamps(mongo_db: Any) -> None:
    mongo_db[USERS].insert_one({"_id": OWNER, "username": "owner"})
    public, private = _image(mongo_db, "public"), _image(mongo_db, "private")
    writes = [
        lambda i: mark_processing(mongo_db, i),
        lambda i: apply_analysis(mongo_db, i, {"has_text": True}),
        lambda i: mark_failed(mongo_db, i, "boom"),
        lambda i: mark_pending(mongo_db, i),
    ]
    for write in writes:
        before = _stamps(mongo_db)
        write(public)
        owner_after, public_after = _stamps(mongo_db)
        assert owner_after != before[0] and public_after != before[1]
        before = _stamps(mongo_db)
        write(private)
        owner_after, public_after = _stamps(mongo_db)
        assert owner_after != before[0] and public_after == before[1]  # public list unaffected


def test_writes_to_a_missing_image_renew_nothing(mongo_db: Any) -> None:
    gone = ObjectId()
    assert mark_processing(mongo_db, gone) is False
    assert apply_analysis(mongo_db, gone, {"has_text": True}) is None
    assert mongo_db[STAMPS].count_documents({}) == 0
