"""Listing stamps: which scopes a write renews (pure), and renewing them on a real
MongoDB-wire server (that every image write renews them: test_core_image_documents.py)."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from picsource_core import stamps
from picsource_core.mongo import USERS

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
