"""Schema migrations against the real MongoDB-wire server: once, in order, recorded, safe to
run twice and against a database already current, and a failure records nothing after it.
Also the reconcile's schema step (upgrade_step.ensure_schema) on a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from operator_samples import gallery_body

from picsource_core.albums import ADDED_SEQ
from picsource_core.mongo import ALBUM_IMAGES, ALBUMS, IMAGES, INDEXES
from picsource_core.queue import REANALYSE, JobQueue
from picsource_core.reanalysis import ReanalysisLedger
from picsource_operator import conditions as c
from picsource_operator import constants, upgrade, upgrade_step
from picsource_operator.migrations import (
    MIGRATIONS,
    SCHEMA_MIGRATIONS,
    Migration,
    MigrationFailed,
    migrate,
    recorded_version,
    schema_version,
)
from picsource_operator.spec import parse_gallery
from picsource_operator.state import GalleryState

AT = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)


def _add_field(db: Any) -> None:
    db["things"].update_many({"size": {"$exists": False}}, {"$set": {"size": 0}})


def _count_runs(db: Any) -> None:
    db["runs"].update_one({"_id": "n"}, {"$inc": {"n": 1}}, upsert=True)


def _fail(db: Any) -> None:
    raise RuntimeError("disk full")


STEPS = (Migration(1, "sizes", _add_field), Migration(2, "count", _count_runs))


def test_migrations_run_in_order_once_and_are_recorded(mongo_db):
    mongo_db["things"].insert_many([{"_id": 1}, {"_id": 2, "size": 5}])
    done = migrate(mongo_db, 2, STEPS, clock=lambda: AT)
    assert [m.name for m in done] == ["sizes", "count"]
    assert sorted(d["size"] for d in mongo_db["things"].find()) == [0, 5]
    records = list(mongo_db[SCHEMA_MIGRATIONS].find().sort("_id", 1))
    assert [(r["_id"], r["name"]) for r in records] == [(1, "sizes"), (2, "count")]
    assert records[0]["applied_at"].replace(tzinfo=UTC) == AT
    assert recorded_version(mongo_db) == 2
    assert migrate(mongo_db, 2, STEPS) == []  # the second run changes nothing
    assert mongo_db["runs"].find_one({"_id": "n"})["n"] == 1


def test_a_migration_run_again_after_its_record_was_lost_changes_nothing_twice(mongo_db):
    mongo_db["things"].insert_one({"_id": 1, "size": 7})
    migrate(mongo_db, 1, STEPS)
    mongo_db[SCHEMA_MIGRATIONS].delete_many({})  # e.g. a crash between the step and its record
    migrate(mongo_db, 1, STEPS)
    assert mongo_db["things"].find_one({"_id": 1})["size"] == 7
    assert mongo_db[SCHEMA_MIGRATIONS].count_documents({}) == 1


def test_only_migrations_up_to_the_target_run(mongo_db):
    assert [m.version for m in migrate(mongo_db, 1, STEPS)] == [1]
    assert recorded_version(mongo_db) == 1
    assert [m.version for m in migrate(mongo_db, 2, STEPS)] == [2]


def test_a_failed_migration_is_not_recorded_and_stops_the_rest(mongo_db):
    steps = (STEPS[0], Migration(2, "broken", _fail), Migration(3, "count", _count_runs))
    with pytest.raises(MigrationFailed, match=r"migration 2 \(broken\) failed: disk full"):
        migrate(mongo_db, 3, steps)
    assert recorded_version(mongo_db) == 1
    assert mongo_db["runs"].count_documents({}) == 0


def test_the_real_migrations_bring_an_empty_database_to_the_newest_schema(mongo_db):
    migrate(mongo_db, schema_version())
    assert recorded_version(mongo_db) == schema_version() == MIGRATIONS[-1].version
    names = {ix["name"] for ix in mongo_db[IMAGES].list_indexes()}
    assert {m.document["name"] for m in INDEXES[IMAGES]} <= names
    assert migrate(mongo_db, schema_version()) == []


def test_migration_2_numbers_the_memberships_of_albums_made_before_numbers(mongo_db):
    """A database at schema 1 (albums whose memberships carry no number): migrating to 2
    numbers each album's memberships in the order they were added and stores the count, so
    no page request has to; a second run changes nothing."""
    migrate(mongo_db, 1)
    owner, start = ObjectId(), datetime(2026, 1, 1, tzinfo=UTC)
    albums = [{"_id": ObjectId(), "owner_id": owner, "title": f"a{n}", "share_token": str(ObjectId())}
              for n in range(2)]
    mongo_db[ALBUMS].insert_many(albums)
    members = [{"album_id": album["_id"], "image_id": ObjectId(), "owner_id": owner, "hidden": False,
                "added_at": start + timedelta(seconds=n // 2), "taken_at": start}
               for album in albums for n in range(7)]
    mongo_db[ALBUM_IMAGES].insert_many(members)
    assert [m.version for m in migrate(mongo_db, 2)] == [2]
    for album in albums:
        assert mongo_db[ALBUMS].find_one({"_id": album["_id"]})[ADDED_SEQ] == 7
        stored = list(mongo_db[ALBUM_IMAGES].find({"album_id": album["_id"]}))
        in_order = sorted(stored, key=lambda m: (m["added_at"], m["image_id"]))
        assert [m["seq"] for m in in_order] == list(range(7))
    assert migrate(mongo_db, 2) == []
    mongo_db[SCHEMA_MIGRATIONS].delete_one({"_id": 2})  # run again after a lost record
    migrate(mongo_db, 2)
    assert sorted(m["seq"] for m in mongo_db[ALBUM_IMAGES].find({"album_id": albums[0]["_id"]})) == list(range(7))


# --- the reconcile's schema step --------------------------------------------------------
def test_ensure_schema_migrates_once_per_release_and_process(mongo_db):
    g = parse_gallery(gallery_body())
    st = GalleryState(db=mongo_db)
    assert [m.version for m in upgrade_step.ensure_schema(g, st)] == [m.version for m in MIGRATIONS]
    assert (st.schema_release, st.schema_version, st.upgrade_blocked) == (
        constants.APP_VERSION, schema_version(), None)
    mongo_db[SCHEMA_MIGRATIONS].delete_many({})
    assert upgrade_step.ensure_schema(g, st) == []  # confirmed for this release: no second read
    assert recorded_version(mongo_db) == 0


def test_ensure_schema_refuses_a_downgrade_and_touches_nothing(mongo_db):
    newer = schema_version() + 1
    mongo_db[SCHEMA_MIGRATIONS].insert_one({"_id": newer, "name": "from-a-newer-release", "applied_at": AT})
    g = parse_gallery(gallery_body())
    st = GalleryState(db=mongo_db)
    with pytest.raises(upgrade.UpgradeBlocked) as refused:
        upgrade_step.ensure_schema(g, st)
    assert refused.value.permanent
    assert st.upgrade_blocked is not None and st.upgrade_blocked.reason == "DowngradeRefused"
    assert st.schema_version == newer and st.schema_release is None
    assert mongo_db[SCHEMA_MIGRATIONS].count_documents({}) == 1
    assert IMAGES not in mongo_db.list_collection_names()  # no migration ran
    assert not upgrade.may_apply(g, st, running=constants.APP_VERSION)


def test_ensure_schema_reports_a_failed_migration_and_retries_it(mongo_db):
    g = parse_gallery(gallery_body())
    st = GalleryState(db=mongo_db)
    broken = (Migration(1, "broken", _fail),)
    with pytest.raises(upgrade.UpgradeBlocked) as failed:
        upgrade_step.ensure_schema(g, st, broken)
    assert not failed.value.permanent
    assert st.upgrade_blocked == c.Condition(
        c.PROGRESSING, c.FALSE, "MigrationFailed",
        "migration 1 (broken) failed: disk full; the pods keep their current release; retrying with backoff")
    upgrade_step.ensure_schema(g, st)  # fixed (the real list): the retry unblocks
    assert st.upgrade_blocked is None and recorded_version(mongo_db) == schema_version()


def test_reanalysis_progress_reads_the_walks_ledger_and_the_queue(mongo_db):
    assert upgrade_step.reanalysis_progress(mongo_db) is None  # no walk ever ran
    ledger = ReanalysisLedger(mongo_db)
    ledger.advance(2, datetime(2025, 5, 1, tzinfo=UTC), 3, done=False, now=AT)
    ledger.advance(2, datetime(2026, 1, 1, tzinfo=UTC), 2, done=True, now=AT)
    queue = JobQueue(mongo_db)
    queue.request([ObjectId(), ObjectId()], REANALYSE)
    assert upgrade_step.reanalysis_progress(mongo_db) == {
        "pipeline": 2, "requested": 5, "remaining": 2, "done": False, "walkedTo": "2026-01-01T00:00:00Z"}
    mongo_db["jobs"].update_many({}, {"$set": {"state": "done"}})
    assert upgrade_step.reanalysis_progress(mongo_db)["done"] is True
