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
from picsource_core.mongo import IMAGES

OWNER = ObjectId("65f000000000000000000001")


def test_scopes_for_private_and_public_images() -> None:
    assert stamps.scopes_for(OWNER, ["private"]) == [f"owner:{OWNER}"]
    assert stamps.scopes_for(OWNER, ["unlisted", "private"]) == [f"owner:{OWNER}"]
    assert stamps.scopes_for(OWNER, ["private", "public"]) == [f"owner:{OWNER}", "public"]
    assert stamps.scopes_for(OWNER, [None]) == [f"owner:{OWNER}", "public"]  # unknown: both


def test_touch_gives_a_new_value_every_time(mongo_db: Any) -> None:
    assert stamps.read(mongo_db, ["public", "owner:x"]) == (stamps.UNSET, stamps.UNSET)
    stamps.touch(mongo_db, ["public", "public"])
    first = stamps.read(mongo_db, ["public", "owner:x"])
    assert first[0] != stamps.UNSET and first[1] == stamps.UNSET
    stamps.touch(mongo_db, ["public"])
    assert stamps.read(mongo_db, ["public"])[0] not in (first[0], stamps.UNSET)
    stamps.touch_image(mongo_db, None)  # nothing written: nothing renewed
    assert stamps.read(mongo_db, ["owner:x"]) == (stamps.UNSET,)


def _image(db: Any, visibility: str) -> ObjectId:
    image_id = ObjectId()
    db[IMAGES].insert_one(new_image_doc(
        image_id=image_id, owner_id=OWNER, title="t", description="", tags=[],
        visibility=visibility, share_token=str(image_id), sha256=str(image_id), size=1, width=1,
        height=1, image_format="PNG", content_type="image/png", original_key=f"o/{image_id}",
    ))
    return image_id


def test_worker_writes_renew_owner_and_public_stamps(mongo_db: Any) -> None:
    scopes = [stamps.owner_scope(OWNER), stamps.PUBLIC_SCOPE]
    public, private = _image(mongo_db, "public"), _image(mongo_db, "private")
    writes = [
        lambda i: mark_processing(mongo_db, i),
        lambda i: apply_analysis(mongo_db, i, {"has_text": True}),
        lambda i: mark_failed(mongo_db, i, "boom"),
        lambda i: mark_pending(mongo_db, i),
    ]
    for write in writes:
        before = stamps.read(mongo_db, scopes)
        write(public)
        owner_after, public_after = stamps.read(mongo_db, scopes)
        assert owner_after != before[0] and public_after != before[1]
        before = stamps.read(mongo_db, scopes)
        write(private)
        owner_after, public_after = stamps.read(mongo_db, scopes)
        assert owner_after != before[0] and public_after == before[1]  # public list unaffected


def test_writes_to_a_missing_image_renew_nothing(mongo_db: Any) -> None:
    gone = ObjectId()
    assert mark_processing(mongo_db, gone) is False
    assert apply_analysis(mongo_db, gone, {"has_text": True}) is None
    assert mongo_db["listing_stamps"].count_documents({}) == 0
