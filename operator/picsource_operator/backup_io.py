"""The I/O of backup and restore: MongoDB reads and writes, S3 copies. Decisions are in backup_plan.

Both directions are bounded by a deadline (checked between documents batches and
objects) so a stuck store cannot hold an operator thread forever, and both are safe to
run again from the start: a backup clears its prefix first and writes the manifest
last; a restore records a marker in the target database, inserts with duplicates
ignored and overwrites objects, so a restore interrupted by a crash resumes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import bson
from minio.commonconfig import CopySource
from minio.error import S3Error
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from picsource_core.config import StorageSettings
from picsource_core.mongo import IMAGES, Document
from picsource_core.storage import ObjectStore
from picsource_operator import backup_plan as plan
from picsource_operator.backup_spec import Location

log = logging.getLogger(__name__)

#: Parallel object copies (each is one request; latency, not bandwidth, is the limit).
COPY_THREADS = 16
#: Parallel copies through the operator between two endpoints (each holds one object).
STREAM_THREADS = 4
#: Copies handed to the pool at a time.
COPY_BATCH = 1000
INSERT_BATCH = 1000
#: The restore marker: one document in the target database (see `restore`).
MARKER_COLLECTION = "picsource_restore"
MARKER_ID = "restore"
S3_TIMEOUT_SECONDS = 30.0


class BackupFailed(Exception):
    """A backup or restore that cannot finish; ``reason`` is the condition reason and
    ``permanent`` says whether trying again could help."""

    def __init__(self, reason: str, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.reason, self.message, self.permanent = reason, message, permanent


def store(location: Location, access_key: str, secret_key: str) -> ObjectStore:
    return ObjectStore(StorageSettings(endpoint=location.endpoint, access_key=access_key, secret_key=secret_key,
                                       bucket=location.bucket, region=location.region,
                                       timeout_seconds=S3_TIMEOUT_SECONDS))


def _check(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise BackupFailed("DeadlineExceeded", "did not finish within the operator's backup time limit")


def _gzip_bson(docs: list[Document]) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as out:
        for doc in docs:
            out.write(bson.encode(doc))
    return buffer.getvalue()


def chunks(docs: Iterator[Document], deadline: float) -> Iterator[list[Document]]:
    """The documents in lists of CHUNK_DOCUMENTS, then the (maybe empty) rest: an empty
    collection still gets one (empty) file."""
    chunk: list[Document] = []
    for doc in docs:
        chunk.append(doc)
        if len(chunk) == plan.CHUNK_DOCUMENTS:
            _check(deadline)
            yield chunk
            chunk = []
    yield chunk


def _dump(target: ObjectStore, location: Location, name: str, docs: Iterator[Document],
          deadline: float) -> plan.CollectionDump:
    files: list[plan.DumpFile] = []
    for part, chunk in enumerate(chunks(docs, deadline)):
        if not chunk and files:
            break
        data, file = _gzip_bson(chunk), plan.collection_file(name, part)
        target.put_bytes(location.key(file), data, "application/gzip")
        files.append(plan.DumpFile(file, len(chunk), len(data), hashlib.sha256(data).hexdigest()))
    return plan.CollectionDump(name, tuple(files))


def copy_objects(pairs: list[tuple[str, str]], source: ObjectStore, target: ObjectStore, deadline: float) -> None:
    """Copy ``source_key -> target_key`` pairs: server-side (S3 CopyObject, which keeps the
    content type) when both buckets are on one endpoint, otherwise through the operator
    (fewer at a time: each holds an object in memory)."""
    same_endpoint = source.settings.endpoint.rstrip("/") == target.settings.endpoint.rstrip("/")

    def one(pair: tuple[str, str]) -> None:
        if time.monotonic() > deadline:
            return  # reported once below
        src, dst = pair
        if same_endpoint:
            target.client.copy_object(target.bucket, dst, CopySource(source.bucket, src))
        else:
            content_type = source.stat(src)[2] or "application/octet-stream"
            target.put_bytes(dst, source.get_bytes(src), content_type)

    threads = COPY_THREADS if same_endpoint else STREAM_THREADS
    with ThreadPoolExecutor(threads, thread_name_prefix="backup-copy") as pool:
        for start in range(0, len(pairs), COPY_BATCH):  # bounded: not one future per object at once
            list(pool.map(one, pairs[start:start + COPY_BATCH]))
            _check(deadline)


def run_backup(db: Database[Document], source: ObjectStore, target: ObjectStore, location: Location, *,
               backup: str, gallery: str, namespace: str, deadline: float) -> dict[str, Any]:
    """Write one backup to ``target`` at ``location``; returns the manifest written."""
    started, t0 = datetime.now(UTC), time.monotonic()
    bound = plan.snapshot_bound(started)
    target.delete_prefix(location.key(""))  # a retried backup starts clean
    dumps: list[plan.CollectionDump] = []
    image_ids: set[str] = set()
    for name, query in plan.snapshot_filters(bound).items():
        docs: Iterator[Document] = db[name].find(query).sort("_id", 1)
        if name == IMAGES:
            docs = _remembering(docs, image_ids)
        dumps.append(_dump(target, location, name, docs, deadline))
    documents_done = time.monotonic()
    objects: list[dict[str, Any]] = []
    for root in plan.OBJECT_ROOTS:
        for obj in source.client.list_objects(source.bucket, prefix=root, recursive=True):
            key = obj.object_name or ""
            if plan.object_wanted(key, image_ids):
                objects.append({"key": key, "size": int(obj.size or 0), "etag": str(obj.etag or "")})
    copy_objects([(o["key"], location.key(plan.OBJECTS, o["key"])) for o in objects], source, target, deadline)
    listing = gzip.compress("".join(json.dumps(o) + "\n" for o in objects).encode(), mtime=0)
    target.put_bytes(location.key(plan.OBJECT_LIST), listing, "application/gzip")
    manifest = plan.build_manifest(
        backup=backup, gallery=gallery, namespace=namespace, database=db.name, source_bucket=source.bucket,
        bound=bound, started=started, completed=datetime.now(UTC), collections=dumps,
        objects=plan.ObjectsDump(len(objects), sum(o["size"] for o in objects),
                                 hashlib.sha256(listing).hexdigest()))
    target.put_bytes(location.key(plan.MANIFEST), json.dumps(manifest, indent=1).encode(), "application/json")
    log.info("backup %s of %s/%s: %d documents in %.1fs, %d objects in %.1fs", backup, namespace, gallery,
             sum(d.count for d in dumps), documents_done - t0,
             len(objects), time.monotonic() - documents_done)
    return manifest


def _remembering(cursor: Any, ids: set[str]) -> Iterator[Document]:
    for doc in cursor:
        ids.add(str(doc["_id"]))
        yield doc


def delete_backup(target: ObjectStore, location: Location) -> int:
    """Remove a backup's objects (manifest first, so a half-deleted backup never looks whole)."""
    target.delete(location.key(plan.MANIFEST))
    return target.delete_prefix(location.key(""))


# --- restore -------------------------------------------------------------------------------
def read_manifest(source: ObjectStore, location: Location) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads(source.get_bytes(location.key(plan.MANIFEST)))
    except S3Error as err:
        if err.code in ("NoSuchKey", "NoSuchBucket"):
            raise BackupFailed("BackupNotFound", f"no complete backup at {location.bucket}/{location.path} "
                                                 f"({err.code})", permanent=True) from err
        raise
    try:
        plan.check_manifest(manifest)
    except plan.ManifestError as err:
        raise BackupFailed("BackupUnsupported", str(err), permanent=True) from err
    return manifest


def restore_marker(db: Database[Document]) -> dict[str, Any] | None:
    """The restore marker of a database (None: never restored into)."""
    return db[MARKER_COLLECTION].find_one({"_id": MARKER_ID})


def restore(db: Database[Document], source: ObjectStore, target: ObjectStore, location: Location,
            deadline: float) -> dict[str, Any]:
    """Restore the backup at ``location`` into ``db`` and ``target``; returns the marker.

    The marker (one document in MARKER_COLLECTION) says which backup this database was
    restored from and whether it finished. No marker and data in any restored collection:
    refused (TargetNotEmpty), nothing is written. A marker of the same backup: resumed (or
    nothing to do when done). A marker of another backup: refused.
    """
    origin = f"{location.endpoint}/{location.bucket}/{location.path}"
    markers = db[MARKER_COLLECTION]
    marker = restore_marker(db)
    if marker is not None and marker.get("source") != origin:
        raise BackupFailed("RestoredFromAnotherBackup", f"database {db.name!r} was restored from "
                                                        f"{marker.get('source')}, not {origin}", permanent=True)
    if marker is not None and marker.get("state") == "done":
        return marker
    if marker is None:
        busy = [name for name in plan.RESTORED if db[name].find_one({}, {"_id": 1}) is not None]
        if busy:
            raise BackupFailed("TargetNotEmpty", f"database {db.name!r} already holds {', '.join(busy)}: "
                                                 "a restore only fills an empty database", permanent=True)
    manifest = read_manifest(source, location)
    t0 = time.monotonic()
    markers.update_one({"_id": MARKER_ID}, {"$setOnInsert": {"source": origin, "state": "running",
                                                             "started_at": datetime.now(UTC)}}, upsert=True)
    for name, entry in manifest["collections"].items():
        for part in entry["files"]:
            data = source.get_bytes(location.key(part["file"]))
            if hashlib.sha256(data).hexdigest() != part["sha256"]:
                raise BackupFailed("ChecksumMismatch", f"{part['file']} does not match its manifest checksum",
                                   permanent=True)
            _insert_all(db, name, bson.decode_all(gzip.decompress(data)), deadline)
    documents_done = time.monotonic()
    listing = source.get_bytes(location.key(manifest["objects"]["list"]))
    if hashlib.sha256(listing).hexdigest() != manifest["objects"]["listSha256"]:
        raise BackupFailed("ChecksumMismatch", "the object list does not match its manifest checksum",
                           permanent=True)
    keys = [json.loads(line)["key"] for line in gzip.decompress(listing).decode().splitlines() if line]
    copy_objects([(location.key(plan.OBJECTS, key), key) for key in keys], source, target, deadline)
    done = {"state": "done", "completed_at": datetime.now(UTC), "backup": manifest["backup"],
            "documents": {name: entry["count"] for name, entry in manifest["collections"].items()},
            "objects": len(keys)}
    markers.update_one({"_id": MARKER_ID}, {"$set": done})
    log.info("restore of %s into %s: %d documents in %.1fs, %d objects in %.1fs", origin, db.name,
             sum(done["documents"].values()), documents_done - t0, len(keys), time.monotonic() - documents_done)
    return {**(marker or {}), "source": origin, **done}


def _insert_all(db: Database[Document], name: str, docs: list[Document], deadline: float) -> None:
    """Insert in batches; documents already there (a resumed restore) are skipped."""
    for start in range(0, len(docs), INSERT_BATCH):
        _check(deadline)
        try:
            db[name].insert_many(docs[start:start + INSERT_BATCH], ordered=False)
        except BulkWriteError as err:
            if any(e.get("code") != 11000 for e in err.details.get("writeErrors", [])) \
                    or err.details.get("writeConcernErrors"):
                raise
