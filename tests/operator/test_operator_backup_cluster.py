"""Backup and restore on the real control plane, real MinIO and the real MongoDB-wire server.

A gallery with users, API tokens, images (originals and both thumbnail sizes as real
objects), albums and memberships is backed up by a GalleryBackup; its database is then
dropped (the gallery is broken) and a new Gallery with spec.restoreFrom must come up
Ready with every document back and every object byte for byte. Also: a restore refuses
a database that holds data, resumes after a crash mid-restore, and a backup of a missing
gallery fails without leaving anything that looks complete.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo
import pytest
from bson import ObjectId
from operator_backups import (
    backup_body,
    backup_bucket,
    content_types,
    dump,
    objects_of,
    seeded_gallery,
    wait_phase,
)
from operator_runner import Env, OperatorProcess, metric_value

from tests.harness.kubeapi import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

def assert_restored(env: Env, gallery: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """The Gallery came up Restored and Ready with every document and object of ``before``."""
    name = gallery["metadata"]["name"]
    cond = env.wait_condition(name, "Restored", "True", timeout=60)
    env.wait_condition(name, "Ready", "True", timeout=60)
    assert dump(env, gallery["spec"]["database"]["name"]) == before["documents"]
    assert objects_of(env, gallery["spec"]["storage"]["bucket"]) == before["objects"]
    return cond


def test_backup_drop_the_database_and_restore_into_a_new_gallery(
        gallery_env: Env, running_operator: OperatorProcess, kubectl: Any) -> None:
    env = gallery_env
    family, before = seeded_gallery(env, "family")
    # An image whose id says it was made after the backup started is not in the snapshot.
    later = ObjectId.from_datetime(datetime.now(UTC) + timedelta(hours=1))
    pymongo.MongoClient(env.mongo.uri)[family["spec"]["database"]["name"]].images.insert_one(
        {"_id": later, "owner_id": before["documents"]["users"][0]["_id"], "sha256": "later", "share_token": "later"})
    bucket = backup_bucket(env)

    env.apply(backup_body(env, "family-b1", "family", bucket))
    status = wait_phase(env, "family-b1", "Completed")
    assert status["objectCount"] == len(before["objects"]) == 12
    assert status["documentCount"] == 2 + 1 + 1 + 2 + 4
    assert status["sizeBytes"] > before["size"] and status["durationSeconds"] >= 0
    assert status["location"]["path"] == "galleries/family-b1"
    assert {c["type"]: c["status"] for c in status["conditions"]} == {"Completed": "True"}
    manifest = json.loads(env.minio.client().get_object(bucket, "galleries/family-b1/manifest.json").read())
    assert manifest["collections"]["images"]["count"] == 4 and "jobs" not in manifest["collections"]
    assert manifest["sizeBytes"] == status["sizeBytes"] and manifest["objects"]["size"] == before["size"]
    last = (env.get("family") or {})["status"]["lastSuccessfulBackup"]
    assert last["name"] == "family-b1"
    header, row = kubectl("get", "gallery", "family", "-n", env.namespace, "-o", "wide").stdout.splitlines()[:2]
    assert row.split()[header.split().index("BACKUP")].endswith("s")  # an age such as 3s
    completed = datetime.strptime(last["completedAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    labels = {"namespace": env.namespace, "name": "family"}
    assert metric_value(running_operator.metrics(),
                        "picsource_operator_gallery_last_backup_timestamp_seconds", labels) == completed

    # Break the gallery: its database is gone.
    pymongo.MongoClient(env.mongo.uri).drop_database(family["spec"]["database"]["name"])

    restored = env.gallery("restored", web={"replicas": 1}, restoreFrom={"backup": "family-b1"})
    env.apply(restored)
    cond = assert_restored(env, restored, before)
    assert "10 documents and 12 objects" in cond["message"]


def test_restore_refuses_a_database_with_data_and_resumes_after_a_crash(
        gallery_env: Env, running_operator: OperatorProcess) -> None:
    env = gallery_env
    _, before = seeded_gallery(env, "family", images=2)
    bucket = backup_bucket(env)
    env.apply(backup_body(env, "family-b1", "family", bucket))
    location = wait_phase(env, "family-b1", "Completed")["location"]

    # A database someone already uses is never overwritten; no pods are started.
    taken = env.gallery("taken", restoreFrom={"backup": "family-b1"})
    pymongo.MongoClient(env.mongo.uri)[taken["spec"]["database"]["name"]].users.insert_one(
        {"username": "squatter", "username_key": "squatter"})
    env.apply(taken)
    cond = env.wait_condition("taken", "Restored", "False", reason="TargetNotEmpty", timeout=60)
    assert "users" in cond["message"]
    assert env.condition("taken", "Ready")["status"] == "False"
    assert env.obj("/apis/apps/v1/namespaces/{ns}/deployments/taken-web") is None

    # An operator that died mid-restore left its marker and part of the documents: resumed.
    crashed = env.gallery("crashed", web={"replicas": 1}, restoreFrom={"bucket": bucket, "path": location["path"]})
    db = pymongo.MongoClient(env.mongo.uri, tz_aware=True)[crashed["spec"]["database"]["name"]]
    db.picsource_restore.insert_one({"_id": "restore", "state": "running",
                                     "source": f"{location['endpoint']}/{bucket}/{location['path']}"})
    db.users.insert_one(before["documents"]["users"][0])
    env.apply(crashed)
    assert_restored(env, crashed, before)


def test_a_failed_backup_leaves_nothing_that_looks_complete(
        gallery_env: Env, running_operator: OperatorProcess, kubectl: Any) -> None:
    env = gallery_env
    bucket = backup_bucket(env)
    env.minio.client().make_bucket(bucket)
    env.apply(backup_body(env, "ghost-b1", "ghost", bucket))
    status = wait_phase(env, "ghost-b1", "Failed")
    cond = status["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("Completed", "False", "GalleryNotFound")
    header, row = kubectl("get", "gallerybackup", "ghost-b1", "-n", env.namespace).stdout.splitlines()[:2]
    assert header.split()[:3] == ["NAME", "GALLERY", "PHASE"] and row.split()[:3] == ["ghost-b1", "ghost", "Failed"]
    assert not list(env.minio.client().list_objects(bucket, recursive=True))
    def warned() -> bool:  # the Event follows the status write
        events = env.obj("/api/v1/namespaces/{ns}/events?fieldSelector=involvedObject.name%3Dghost-b1") or {}
        return any(e["reason"] == "BackupFailed" for e in events.get("items", []))

    wait_until(warned, 10, "a BackupFailed Warning event")


def test_kubectl_explain_describes_the_backup_api(gallery_env: Env, kubectl: Any) -> None:
    wait_until(lambda: kubectl("explain", "gallerybackup.spec", check=False).returncode == 0, 60,
               "the GalleryBackup schema in the API server's OpenAPI")
    raw = kubectl("explain", "gallerybackup.spec.destination").stdout
    fields = {m.group(1) for line in raw.splitlines() if (m := re.match(r"^  (\w+)\s+<", line))}
    assert fields == {"bucket", "prefix", "endpoint", "credentialsSecretRef"}
    text = " ".join(kubectl("explain", "gallery.spec.restoreFrom").stdout.split())
    assert "TargetNotEmpty" in text
    text = " ".join(kubectl("explain", "gallery.spec.backup.schedule").stdout.split())
    assert "0 3 * * *" in text
    # Every field of both resources has a description.
    for resource in ("gallerybackup", "gallery.spec.backup", "gallery.spec.restoreFrom"):
        out = kubectl("explain", resource, "--recursive").stdout
        assert "<no description>" not in out.lower(), out


def test_a_destination_on_another_endpoint_is_copied_through_the_operator(
        gallery_env: Env, running_operator: OperatorProcess) -> None:
    env = gallery_env
    family, before = seeded_gallery(env, "family", images=2)
    # Another name for the same MinIO: not the Gallery's endpoint, so no server-side copy.
    other = f"http://localhost:{env.minio.port}"
    body = backup_body(env, "family-b1", "family", backup_bucket(env))
    body["spec"]["destination"]["endpoint"] = other
    env.apply(body)
    assert wait_phase(env, "family-b1", "Completed")["location"]["endpoint"] == other
    copy = env.gallery("copy", web={"replicas": 1}, restoreFrom={"backup": "family-b1"})
    env.apply(copy)
    assert_restored(env, copy, before)
    assert content_types(env, copy["spec"]["storage"]["bucket"]) == content_types(
        env, family["spec"]["storage"]["bucket"])
