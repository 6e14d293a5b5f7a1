"""Listing stamps: which scopes a write renews (pure), and renewing them on a real
MongoDB-wire server (that every image write renews them: test_core_image_documents.py)."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient

from picsource_core import stamps
from picsource_core.mongo import USERS
from tests.harness.services import MongoServer
from tests.support.waiting import wait_until

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


@pytest.mark.slow
def test_a_renewal_the_server_missed_lands_once_it_is_back(own_mongo: MongoServer,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The write landed, the server went away before its stamps were renewed: the process
    renews them in the background as soon as the server answers again, so cached pages
    do not wait for their time limit to show the write."""
    monkeypatch.setattr(stamps, "RENEWAL_RETRY_MAX_PAUSE", 1.0)
    client: MongoClient[dict[str, Any]] = MongoClient(own_mongo.uri, serverSelectionTimeoutMS=300,
                                                      connectTimeoutMS=300, timeoutMS=1000)
    db = client["renewals"]
    db[USERS].insert_one({"_id": OWNER, "username": "owner"})
    stamps.touch(db, OWNER, public=True)
    before = _stamps(db)
    assert own_mongo.process is not None
    own_mongo.process.stop()
    stamps.touch(db, OWNER, public=True)  # nothing raised: the write it follows did land
    stamps.touch(db, OWNER, public=False)  # merged with the first
    assert stamps.pending_renewals() == 2
    own_mongo.start()
    wait_until(lambda: stamps.pending_renewals() == 0, 60, "the renewals to land")
    after = _stamps(db)
    assert after[0] != before[0] and after[1] != before[1]
    client.close()
