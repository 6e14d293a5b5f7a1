"""Backup test helpers: a gallery seeded with users, tokens, images (real objects), albums;
its documents and objects read back; GalleryBackup bodies and waits. Used by the backup
cluster tests (no conftest: module names must stay unique)."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pymongo
from bson import ObjectId
from operator_runner import Env

from picsource_core.storage import original_key, thumbnail_key
from tests.harness.kubeapi import wait_until
from tests.support.images import encode, noisy_image

BACKUPS = "/apis/picsource.io/v1alpha1/namespaces/{ns}/gallerybackups"
RESTORED = ("users", "api_tokens", "albums", "album_images", "images")


def seeded_gallery(env: Env, name: str, images: int = 4) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Gallery whose bindings are good, seeded (see `seed`): (its body, what was seeded)."""
    doc = env.gallery(name, web={"replicas": 1})
    env.apply(doc)
    env.wait_condition(name, "DatabaseBound", "True")
    env.wait_condition(name, "StorageBound", "True")
    return doc, seed(env, doc["spec"]["database"]["name"], doc["spec"]["storage"]["bucket"], images)


def seed(env: Env, database: str, bucket: str, images: int = 4) -> dict[str, Any]:
    """Two users, a token, ``images`` images with real objects, an album holding half of them."""
    db = pymongo.MongoClient(env.mongo.uri, tz_aware=True)[database]
    store = env.minio.client()
    now = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
    users = [{"_id": ObjectId(), "username": name, "username_key": name, "password_hash": "x", "created_at": now}
             for name in ("ada", "grace")]
    db.users.insert_many(users)
    db.api_tokens.insert_one({"_id": ObjectId(), "user_id": users[0]["_id"], "token_hash": uuid.uuid4().hex})
    objects: dict[str, str] = {}
    size, docs = 0, []
    for i in range(images):
        image_id, owner = ObjectId(), users[i % 2]["_id"]
        picture = noisy_image(i)
        keys = {original_key(owner, image_id): encode(picture, "JPEG"),
                thumbnail_key(image_id, 256): encode(picture.resize((32, 24)), "WEBP"),
                thumbnail_key(image_id, 1280): encode(picture, "WEBP")}
        for key, data in keys.items():
            size += len(data)
            store.put_object(bucket, key, io.BytesIO(data), len(data),
                             content_type="image/webp" if key.endswith(".webp") else "image/jpeg")
            objects[key] = hashlib.sha256(data).hexdigest()
        docs.append({"_id": image_id, "owner_id": owner, "sha256": uuid.uuid4().hex,
                     "share_token": uuid.uuid4().hex, "original_key": original_key(owner, image_id),
                     "visibility": "private", "caption": f"picture {i}", "created_at": now})
    db.images.insert_many(docs)
    members = [d for d in docs if d["owner_id"] == users[0]["_id"]]
    # In the current schema (memberships numbered: migration 2), as the gallery's own pods
    # write them; a restore migrates an older snapshot, which would differ from this one.
    album = {"_id": ObjectId(), "owner_id": users[0]["_id"], "title": "Holidays",
             "share_token": uuid.uuid4().hex, "cover_image_id": docs[0]["_id"], "added_seq": len(members)}
    db.albums.insert_one(album)
    db.album_images.insert_many([{"album_id": album["_id"], "image_id": d["_id"], "owner_id": album["owner_id"],
                                  "hidden": False, "added_at": now, "seq": n, "taken_at": None}
                                 for n, d in enumerate(members)])
    db.jobs.insert_one({"image_id": docs[0]["_id"], "kind": "analyse", "state": "pending"})  # not backed up
    return {"documents": dump(env, database), "objects": objects, "size": size}


def dump(env: Env, database: str) -> dict[str, list[dict[str, Any]]]:
    db = pymongo.MongoClient(env.mongo.uri, tz_aware=True)[database]
    return {name: sorted(db[name].find(), key=lambda d: str(d["_id"])) for name in RESTORED}


def objects_of(env: Env, bucket: str) -> dict[str, str]:
    """key -> sha256 of every object in a bucket."""
    client = env.minio.client()
    found = {}
    for obj in client.list_objects(bucket, recursive=True):
        response = client.get_object(bucket, obj.object_name)
        found[obj.object_name] = hashlib.sha256(response.read()).hexdigest()
        response.close()
    return found


def content_types(env: Env, bucket: str) -> dict[str, str]:
    """key -> Content-Type of every object in a bucket (thumbnails must stay image/webp)."""
    client = env.minio.client()
    return {obj.object_name: str(client.stat_object(bucket, obj.object_name).content_type)
            for obj in client.list_objects(bucket, recursive=True)}


def backup_body(env: Env, name: str, gallery: str, bucket: str) -> dict[str, Any]:
    return {"apiVersion": "picsource.io/v1alpha1", "kind": "GalleryBackup",
            "metadata": {"name": name, "namespace": env.namespace},
            "spec": {"gallery": gallery, "destination": {"bucket": bucket, "prefix": "galleries"}}}


def backup_status(env: Env, name: str) -> dict[str, Any]:
    return dict((env.obj(f"{BACKUPS}/{name}") or {}).get("status") or {})


def wait_phase(env: Env, name: str, phase: str, timeout: float = 60) -> dict[str, Any]:
    wait_until(lambda: backup_status(env, name).get("phase") in ("Completed", "Failed"), timeout,
               f"GalleryBackup {name} to finish")
    status = backup_status(env, name)
    assert status["phase"] == phase, json.dumps(status)
    return status


def backup_bucket(env: Env) -> str:
    bucket = f"op-backups-{uuid.uuid4().hex[:8]}"
    env.buckets.append(bucket)  # removed with the test's other buckets
    return bucket
