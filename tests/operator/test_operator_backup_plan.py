"""The pure side of backup and restore: cron times, due runs, retention, the manifest, what a
snapshot selects, and the backup fields of the Gallery spec. No servers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from operator_samples import gallery_body

from picsource_core.config import ConfigurationError
from picsource_operator import backup_io, cron
from picsource_operator import backup_plan as plan
from picsource_operator.backup_spec import (
    Credentials,
    Destination,
    location_from_status,
    parse_backup,
)
from picsource_operator.metrics import backup_reading
from picsource_operator.restore import poll_delay
from picsource_operator.settings import OperatorSettings
from picsource_operator.spec import SpecError, parse_gallery


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


# --- cron ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("expression", "after", "expected"), [
    ("0 3 * * *", "2026-12-03 02:59", "2026-12-03 03:00"),
    ("0 3 * * *", "2026-12-03 03:00", "2026-12-04 03:00"),  # strictly after
    ("*/15 * * * *", "2026-12-03 10:07", "2026-12-03 10:15"),
    ("30 1 1 * *", "2026-12-03 00:00", "2027-01-01 01:30"),  # over a year's end
    ("0 0 * * 0", "2026-12-03 12:00", "2026-12-06 00:00"),  # Sunday (3 Dec 2026 is a Thursday)
    ("0 0 * * 7", "2026-12-03 12:00", "2026-12-06 00:00"),  # 7 is Sunday too
    ("0 0 29 2 *", "2026-12-03 00:00", "2028-02-29 00:00"),  # the next leap day
    ("0 12 1 * 1", "2026-12-03 00:00", "2026-12-07 12:00"),  # day of month OR day of week
    ("5-10/5 8,20 * * 1-5", "2026-12-04 20:06", "2026-12-04 20:10"),
])
def test_next_cron_time(expression: str, after: str, expected: str) -> None:
    assert cron.next_after(expression, at(after)) == at(expected)


@pytest.mark.parametrize(("expression", "named"), [
    ("0 3 * *", "five fields"), ("61 * * * *", "minute"), ("0 24 * * *", "hour"),
    ("0 0 0 * *", "day of month"), ("0 0 * 13 *", "month"), ("0 0 * * MON", "day of week"),
    ("*/0 * * * *", "minute"),
])
def test_bad_cron_expressions_name_the_field(expression: str, named: str) -> None:
    with pytest.raises(cron.CronError, match=named):
        cron.parse(expression)


def test_a_schedule_that_never_fires_is_an_error() -> None:
    with pytest.raises(cron.CronError, match="never fires"):
        cron.next_after("0 0 31 2 *", at("2026-01-01 00:00"))


def test_due_run_is_the_latest_missed_time_or_none() -> None:
    assert plan.due_run("0 3 * * *", at("2026-12-03 03:00"), at("2026-12-04 02:59")) is None
    assert plan.due_run("0 3 * * *", at("2026-12-03 03:00"), at("2026-12-04 03:00")) == at("2026-12-04 03:00")
    # An operator down for three days runs once, for the latest time, not three times.
    assert plan.due_run("0 3 * * *", at("2026-12-01 03:00"), at("2026-12-04 09:00")) == at("2026-12-04 03:00")


def test_scheduled_names_are_one_per_run() -> None:
    assert plan.scheduled_name("family", at("2026-12-04 03:00")) == "family-202612040300"


# --- retention ----------------------------------------------------------------------------
def backup(name: str, day: int, phase: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": f"2026-12-{day:02d}T03:00:00Z"},
            "status": {"phase": phase}}


def test_retention_keeps_the_newest_completed_and_drops_older_failures() -> None:
    backups = [backup("d1", 1, "Completed"), backup("d2", 2, "Failed"), backup("d3", 3, "Completed"),
               backup("d4", 4, "Completed"), backup("d5", 5, "Failed"), backup("d6", 6, "Running")]
    assert sorted(plan.expired(backups, keep=2)) == ["d1", "d2"]
    assert plan.expired(backups, keep=3) == []  # d1, d3, d4 kept; d2 is newer than d1
    assert plan.expired(backups, keep=4) == []  # fewer good backups than asked: prune nothing


def test_retention_never_chooses_a_running_backup() -> None:
    backups = [backup("d1", 1, "Running"), backup("d2", 2, "Completed")]
    assert plan.expired(backups, keep=1) == []


# --- snapshot and manifest ----------------------------------------------------------------
def test_snapshot_excludes_images_albums_and_memberships_after_the_bound() -> None:
    started = at("2026-12-03 03:00").replace(second=5, microsecond=250_000)
    bound = plan.snapshot_bound(started)
    made_then = ObjectId.from_datetime(started.replace(microsecond=0))
    assert int(str(made_then), 16) | 0xFFFFFFFFFFFFFFFF < int(str(bound), 16)  # any id of that second
    assert bound.generation_time == started.replace(second=6, microsecond=0)
    filters = plan.snapshot_filters(bound)
    assert set(filters) == {"users", "api_tokens", "albums", "album_images", "images"}
    assert "jobs" not in filters
    assert filters["images"] == {"_id": {"$lt": bound}}
    assert filters["album_images"] == {"album_id": {"$lt": bound}, "image_id": {"$lt": bound}}
    assert filters["users"] == {}


def test_objects_of_images_in_the_snapshot_are_wanted() -> None:
    ids = {"65a1b2c3d4e5f60718293a4b"}
    assert plan.object_wanted("originals/u1/65a1b2c3d4e5f60718293a4b", ids)
    assert plan.object_wanted("thumbnails/65a1b2c3d4e5f60718293a4b/256.webp", ids)
    assert plan.object_wanted("without-location/65a1b2c3d4e5f60718293a4b", ids)
    assert not plan.object_wanted("thumbnails/ffffffffffffffffffffffff/256.webp", ids)
    assert not plan.object_wanted("backups/x/manifest.json", ids)


def test_manifest_lists_collections_with_counts_and_checksums() -> None:
    dumps = [plan.CollectionDump(name, (plan.DumpFile(plan.collection_file(name, 0), 2, 60, "ab" * 32),
                                        plan.DumpFile(plan.collection_file(name, 1), 1, 40, "cd" * 32)))
             for name in plan.COLLECTIONS]
    manifest = plan.build_manifest(
        backup="b1", gallery="family", namespace="photos", database="family_db", source_bucket="family",
        bound=ObjectId.from_datetime(at("2026-12-03 03:00")), started=at("2026-12-03 03:00"),
        completed=at("2026-12-03 03:01"), collections=dumps, objects=plan.ObjectsDump(6, 4000, "cd" * 32))
    assert manifest["formatVersion"] == plan.FORMAT_VERSION
    assert manifest["collections"]["images"] == {"count": 3, "size": 100, "files": [
        {"file": "collections/images.0000.bson.gz", "count": 2, "size": 60, "sha256": "ab" * 32},
        {"file": "collections/images.0001.bson.gz", "count": 1, "size": 40, "sha256": "cd" * 32}]}
    assert manifest["objects"]["count"] == 6
    assert manifest["sizeBytes"] == 5 * 100 + 4000
    assert manifest["snapshot"]["startedAt"] == "2026-12-03T03:00:00Z"
    plan.check_manifest(manifest)
    with pytest.raises(plan.ManifestError, match="version 2"):
        plan.check_manifest({**manifest, "formatVersion": 2})
    with pytest.raises(plan.ManifestError, match="images"):
        plan.check_manifest({**manifest, "collections": {"users": {}}})


def test_location_defaults_to_the_gallerys_store_and_credentials() -> None:
    own = Credentials("family-s3")
    loc = plan.resolve_location(Destination(bucket="backups", prefix="galleries/family"),
                                "http://minio:9000/", own, "us-east-1", "b1")
    assert (loc.endpoint, loc.bucket, loc.path, loc.credentials) == ("http://minio:9000", "backups",
                                                                     "galleries/family/b1", own)
    assert loc.key("manifest.json") == "galleries/family/b1/manifest.json"
    assert location_from_status({"location": loc.as_status()}) == loc
    assert location_from_status({}) is None


# --- the API fields -----------------------------------------------------------------------
def test_gallery_backup_and_restore_fields_parse() -> None:
    g = parse_gallery(gallery_body(backup={"schedule": "0 3 * * *", "destination": {"bucket": "bk"}},
                                   restoreFrom={"backup": "family-1"}))
    assert g.backup is not None and g.backup.retention == 7 and g.backup.destination.bucket == "bk"
    assert g.restore_from is not None and g.restore_from.backup == "family-1"
    g = parse_gallery(gallery_body(restoreFrom={"bucket": "bk", "path": "/galleries/b1/"}))
    assert g.restore_from is not None and g.restore_from.location is not None
    assert g.restore_from.location.path == "galleries/b1"
    assert g.restore_from.location.credentials == Credentials("photos-s3")


@pytest.mark.parametrize(("spec", "message"), [
    ({"backup": {"schedule": "0 3 * *", "destination": {"bucket": "bk"}}}, "spec.backup.schedule"),
    ({"backup": {"schedule": "0 3 * * *", "retention": 0, "destination": {"bucket": "bk"}}}, "retention"),
    ({"backup": {"schedule": "0 3 * * *", "destination": {}}}, "spec.backup.destination.bucket"),
    ({"restoreFrom": {"backup": "b", "bucket": "bk", "path": "p"}}, "not both"),
    ({"restoreFrom": {"bucket": "bk"}}, "bucket and path"),
])
def test_impossible_backup_specs_are_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_gallery(gallery_body(**spec))


def test_a_gallery_backup_parses_and_knows_whether_it_was_scheduled() -> None:
    body = {"metadata": {"name": "b1", "namespace": "photos", "labels": {"picsource.io/scheduled": "true"}},
            "spec": {"gallery": "family", "destination": {"bucket": "bk", "prefix": "x/"}}}
    request = parse_backup(body)
    assert (request.gallery, request.destination.prefix, request.scheduled) == ("family", "x", True)
    with pytest.raises(SpecError, match="prefix"):
        parse_backup({**body, "spec": {"gallery": "family", "destination": {"bucket": "bk", "prefix": "a/../b"}}})


def test_a_running_restore_is_polled_soon_then_every_five_seconds() -> None:
    assert [poll_delay(retry) for retry in range(6)] == [0.5, 1, 2, 4, 5, 5]


def test_backup_age_counts_from_the_last_success_else_from_when_the_schedule_was_set() -> None:
    done = {"completedAt": "2026-12-03T03:00:10Z"}
    scheduled = {"name": "", "scheduledAt": "2026-12-03T04:00:00Z", "since": "2026-12-01T00:00:00Z"}
    assert backup_reading({"lastSuccessfulBackup": done, "lastScheduledBackup": scheduled}) == at(
        "2026-12-03 03:00").timestamp() + 10
    # Every scheduled run failed: the age runs from the schedule's start, so the alert fires.
    assert backup_reading({"lastScheduledBackup": scheduled}) == at("2026-12-01 00:00").timestamp()
    assert backup_reading({}) is None


def test_collections_are_cut_into_files_of_bounded_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan, "CHUNK_DOCUMENTS", 2)
    far = float("inf")
    docs = [{"_id": i} for i in range(5)]
    assert [len(c) for c in backup_io.chunks(iter(docs), far)] == [2, 2, 1]
    assert [len(c) for c in backup_io.chunks(iter(docs[:4]), far)] == [2, 2, 0]  # no file for the empty rest
    assert [len(c) for c in backup_io.chunks(iter([]), far)] == [0]  # an empty collection: one empty file


def test_the_backup_time_limit_comes_from_the_environment() -> None:
    assert OperatorSettings.from_env({}).backup_timeout_seconds == 3600
    assert OperatorSettings.from_env({"PICSOURCE_OPERATOR_BACKUP_TIMEOUT_SECONDS": "600"}).backup_timeout_seconds == 600
    with pytest.raises(ConfigurationError, match="PICSOURCE_OPERATOR_BACKUP_TIMEOUT_SECONDS"):
        OperatorSettings.from_env({"PICSOURCE_OPERATOR_BACKUP_TIMEOUT_SECONDS": "1"})
