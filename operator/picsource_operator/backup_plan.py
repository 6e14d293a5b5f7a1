"""Pure decisions of backup and restore: what a snapshot holds, its manifest, which scheduled
backups retention removes, when the schedule is due. No I/O here (backup_io.py does it).

The layout of one backup, under ``<bucket>/<prefix>/<backup name>/``::

    collections/<collection>.NNNN.bson.gz   the documents, concatenated BSON (mongodump's format),
                                       gzip, CHUNK_DOCUMENTS per file (memory stays bounded)
    objects/<key>                      a server-side copy of each image object (same key below)
    objects.jsonl.gz                   the object list: {"key", "size", "etag"} per line
    manifest.json                      written LAST: a backup without it is not a backup

Consistency: MongoDB-wire servers such as SecantusDB have no snapshot reads, so a backup
reads each collection once, in ``_id`` order, with one bound taken when it starts:
images, albums and memberships created after the second the backup started in (an
ObjectId ``_id`` carries its creation second) are left out, so every image in a backup
has the documents and objects it had at the start. Users and API tokens are read whole. An edit made during the
backup (a caption, a trash mark) may or may not be in it; nothing refers to a missing
image.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from picsource_core.mongo import ALBUM_IMAGES, ALBUMS, IMAGES, TOKENS, USERS
from picsource_core.storage import IMAGE_ROOTS, image_id_of_key
from picsource_operator import cron
from picsource_operator.backup_spec import Credentials, Destination, Location

FORMAT_VERSION = 1
#: What a backup holds (the job queue, login counters and cache stamps are rebuilt or expire).
COLLECTIONS = (USERS, TOKENS, ALBUMS, ALBUM_IMAGES, IMAGES)
#: Collections that must be empty for a restore to start (all of the above).
RESTORED = COLLECTIONS
MANIFEST = "manifest.json"
OBJECT_LIST = "objects.jsonl.gz"
OBJECTS = "objects"
#: Object prefixes a backup copies (the image roots of picsource_core.storage).
OBJECT_ROOTS = IMAGE_ROOTS


#: Documents per collection file: the operator holds one file (compressed while backing up,
#: decoded while restoring) in memory at a time, whatever the gallery's size.
CHUNK_DOCUMENTS = 1000


def collection_file(collection: str, part: int) -> str:
    return f"collections/{collection}.{part:04d}.bson.gz"


def snapshot_bound(started: datetime) -> ObjectId:
    """The smallest ObjectId of the second after ``started``: ids below it were made by then."""
    return ObjectId.from_datetime(started.replace(microsecond=0) + timedelta(seconds=1))


def snapshot_filters(bound: ObjectId) -> dict[str, dict[str, Any]]:
    """The query of each collection for a snapshot bounded by ``bound`` (see the module doc)."""
    before = {"$lt": bound}
    return {
        USERS: {},
        TOKENS: {},
        ALBUMS: {"_id": before},
        ALBUM_IMAGES: {"album_id": before, "image_id": before},
        IMAGES: {"_id": before},
    }


def object_wanted(key: str, image_ids: set[str]) -> bool:
    """Whether an object of the gallery's bucket belongs to an image in the snapshot."""
    image_id = image_id_of_key(key)
    return image_id is not None and image_id in image_ids


def resolve_location(dest: Destination, own_endpoint: str, own_credentials: Credentials, region: str,
                     backup_name: str) -> Location:
    """Where a backup named ``backup_name`` goes, endpoint and credentials filled in."""
    path = "/".join(p for p in (dest.prefix, backup_name) if p)
    return Location(endpoint=(dest.endpoint or own_endpoint).rstrip("/"), bucket=dest.bucket, path=path,
                    credentials=dest.credentials or own_credentials, region=region)


@dataclass(frozen=True)
class DumpFile:
    file: str
    count: int
    size: int  # compressed bytes
    sha256: str  # of the compressed file


@dataclass(frozen=True)
class CollectionDump:
    name: str
    files: tuple[DumpFile, ...]

    @property
    def count(self) -> int:
        return sum(f.count for f in self.files)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class ObjectsDump:
    count: int
    size: int  # bytes of the objects themselves
    list_sha256: str


def build_manifest(*, backup: str, gallery: str, namespace: str, database: str, source_bucket: str,
                   bound: ObjectId, started: datetime, completed: datetime,
                   collections: Sequence[CollectionDump], objects: ObjectsDump) -> dict[str, Any]:
    """The manifest.json document (everything a restore checks before it writes a byte)."""
    return {
        "formatVersion": FORMAT_VERSION,
        "backup": backup,
        "gallery": {"namespace": namespace, "name": gallery, "database": database, "bucket": source_bucket},
        "snapshot": {"idBound": str(bound), "startedAt": _iso(started), "completedAt": _iso(completed),
                     "consistency": "documents and objects of images created before startedAt; "
                                    "edits made during the backup may be partly included"},
        "collections": {c.name: {"count": c.count, "size": c.size,
                                 "files": [{"file": f.file, "count": f.count, "size": f.size, "sha256": f.sha256}
                                           for f in c.files]} for c in collections},
        "objects": {"list": OBJECT_LIST, "prefix": OBJECTS, "count": objects.count, "size": objects.size,
                    "listSha256": objects.list_sha256},
        "sizeBytes": total_size(collections, objects),
    }


def total_size(collections: Iterable[CollectionDump], objects: ObjectsDump) -> int:
    return sum(c.size for c in collections) + objects.size


class ManifestError(ValueError):
    """A manifest this operator cannot restore (another format version, missing parts)."""


def check_manifest(manifest: Mapping[str, Any]) -> None:
    version = manifest.get("formatVersion")
    if version != FORMAT_VERSION:
        raise ManifestError(f"backup format version {version!r} is not supported (this operator reads "
                            f"{FORMAT_VERSION})")
    collections = manifest.get("collections") or {}
    missing = [name for name in COLLECTIONS if not isinstance((collections.get(name) or {}).get("files"), list)]
    if missing or "objects" not in manifest:
        raise ManifestError(f"the manifest lacks {', '.join(missing) or 'the object list'}")


# --- schedules and retention ---------------------------------------------------------------
def scheduled_name(gallery: str, when: datetime) -> str:
    """The GalleryBackup a schedule creates for the run due at ``when`` (one name per run, so
    a retry after a crash finds the one it made instead of making a second)."""
    return f"{gallery}-{when:%Y%m%d%H%M}"


def due_run(schedule: str, last: datetime, now: datetime) -> datetime | None:
    """The latest run time in (last, now], or None when the schedule has not fired since
    ``last``. Runs missed while the operator was down collapse into one."""
    parsed = cron.parse(schedule)
    run = cron.next_after(parsed, last)
    if run > now:
        return None
    while (following := cron.next_after(parsed, run)) <= now:
        run = following
    return run


def expired(backups: Iterable[Mapping[str, Any]], keep: int) -> list[str]:
    """Names of the scheduled backups retention deletes: all but the ``keep`` newest Completed
    ones, plus Failed ones older than the oldest kept (a failure newer than that stays,
    so the reason is there to read). Running and pending backups are never chosen."""
    ordered = sorted(backups, key=lambda b: (str(_meta(b).get("creationTimestamp", "")), str(_meta(b)["name"])),
                     reverse=True)
    completed = [b for b in ordered if _phase(b) == "Completed"]
    kept = completed[:keep]
    if len(kept) < keep:
        return []  # never prune failures while fewer than `keep` good backups exist
    oldest_kept = _meta(kept[-1]).get("creationTimestamp", "")
    doomed = list(completed[keep:])
    doomed += [b for b in ordered if _phase(b) == "Failed" and str(_meta(b).get("creationTimestamp", "")) < oldest_kept]
    return [str(_meta(b)["name"]) for b in doomed]


def _meta(body: Mapping[str, Any]) -> Mapping[str, Any]:
    return body.get("metadata") or {}


def _phase(body: Mapping[str, Any]) -> str:
    return str((body.get("status") or {}).get("phase") or "")


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
