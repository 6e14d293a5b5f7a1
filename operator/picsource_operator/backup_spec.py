"""Typed views of the backup API: a GalleryBackup, a Gallery's spec.backup and spec.restoreFrom.

Like spec.py, the API server validates first (schema + CEL) and this parses again, so the
planners never see a dict. A destination names a bucket and a prefix; its endpoint and
credentials default to the Gallery's own store (the common case: one MinIO or S3
account, a separate backup bucket). Where a finished backup lives is recorded whole in
the GalleryBackup's status (`Location`), so a restore needs nothing of the Gallery that
was backed up, which may be long gone.

Why the schedule is a field of the Gallery (spec.backup) and not a GalleryBackupSchedule
resource like CloudNativePG's ScheduledBackup: a gallery has one backup policy, and
`kubectl get gallery -o yaml` then shows it next to what it protects, with the last
successful backup in the same status; there is no second object to create, forget or
leave pointing at a deleted Gallery. CloudNativePG needs a separate resource because a
cluster can have several schedules with different methods (volume snapshots, object
store); PicSource has one method. The runs themselves are GalleryBackups (as
ScheduledBackup creates Backups), so one-off and scheduled backups look the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from picsource_operator import cron
from picsource_operator.errors import SpecError


@dataclass(frozen=True)
class Credentials:
    secret: str
    access_key_key: str = "accessKey"
    secret_key_key: str = "secretKey"

    def as_ref(self) -> dict[str, str]:
        return {"name": self.secret, "accessKeyKey": self.access_key_key, "secretKeyKey": self.secret_key_key}


@dataclass(frozen=True)
class Destination:
    """Where backups go; None endpoint/credentials: the Gallery's own."""

    bucket: str
    prefix: str = ""
    endpoint: str | None = None
    credentials: Credentials | None = None


@dataclass(frozen=True)
class Location:
    """Where one backup is, fully resolved: ``bucket/path/manifest.json`` on ``endpoint``."""

    endpoint: str
    bucket: str
    path: str  # no trailing slash
    credentials: Credentials
    region: str = "us-east-1"

    def key(self, *parts: str) -> str:
        return "/".join((self.path, *parts)) if self.path else "/".join(parts)

    def as_status(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "bucket": self.bucket, "path": self.path,
                "region": self.region, "credentialsSecretRef": self.credentials.as_ref()}


@dataclass(frozen=True)
class BackupRequest:
    """A GalleryBackup object: which gallery, to where."""

    name: str
    namespace: str
    uid: str
    gallery: str
    destination: Destination
    scheduled: bool = False


@dataclass(frozen=True)
class BackupPolicy:
    """Gallery spec.backup: a cron schedule, how many scheduled backups to keep, where."""

    schedule: str
    retention: int
    destination: Destination


@dataclass(frozen=True)
class RestoreSource:
    """Gallery spec.restoreFrom: a GalleryBackup of this namespace, or a location."""

    backup: str | None = None
    location: Location | None = None


#: Label on every GalleryBackup: the Gallery it backs up (retention lists by it).
GALLERY_LABEL = "picsource.io/gallery"
#: Label on the GalleryBackups the schedule created (only those are pruned by retention).
SCHEDULED_LABEL = "picsource.io/scheduled"


def credentials(raw: Mapping[str, Any] | None) -> Credentials | None:
    if not raw:
        return None
    return Credentials(raw["name"], raw.get("accessKeyKey", "accessKey"), raw.get("secretKeyKey", "secretKey"))


def destination(raw: Mapping[str, Any] | None, path: str) -> Destination:
    raw = raw or {}
    if not raw.get("bucket"):
        raise SpecError(f"{path}.bucket is required")
    prefix = str(raw.get("prefix") or "").strip("/")
    if ".." in prefix.split("/"):
        raise SpecError(f"{path}.prefix must not contain '..'")
    return Destination(bucket=str(raw["bucket"]), prefix=prefix, endpoint=raw.get("endpoint") or None,
                       credentials=credentials(raw.get("credentialsSecretRef")))


def parse_backup(body: Mapping[str, Any]) -> BackupRequest:
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    if not spec.get("gallery"):
        raise SpecError("spec.gallery is required")
    labels = meta.get("labels") or {}
    return BackupRequest(name=meta.get("name", ""), namespace=meta.get("namespace", ""), uid=meta.get("uid", ""),
                         gallery=str(spec["gallery"]),
                         destination=destination(spec.get("destination"), "spec.destination"),
                         scheduled=labels.get(SCHEDULED_LABEL) == "true")


def parse_policy(raw: Mapping[str, Any] | None) -> BackupPolicy | None:
    if not raw:
        return None
    schedule = str(raw.get("schedule") or "")
    try:
        cron.parse(schedule)
    except cron.CronError as err:
        raise SpecError(f"spec.backup.schedule: {err}") from None
    retention = raw.get("retention", 7)
    if isinstance(retention, bool) or not isinstance(retention, int) or retention < 1:
        raise SpecError(f"spec.backup.retention must be a whole number >= 1, not {retention!r}")
    return BackupPolicy(schedule, retention, destination(raw.get("destination"), "spec.backup.destination"))


def parse_restore(raw: Mapping[str, Any] | None, own_endpoint: str, own_credentials: Credentials,
                  region: str) -> RestoreSource | None:
    """spec.restoreFrom: ``backup`` (a GalleryBackup name) or ``bucket`` + ``path``."""
    if not raw:
        return None
    if raw.get("backup"):
        if raw.get("bucket") or raw.get("path"):
            raise SpecError("spec.restoreFrom takes either backup or bucket and path, not both")
        return RestoreSource(backup=str(raw["backup"]))
    if not raw.get("bucket") or not raw.get("path"):
        raise SpecError("spec.restoreFrom needs backup (a GalleryBackup name) or bucket and path")
    return RestoreSource(location=Location(
        endpoint=raw.get("endpoint") or own_endpoint, bucket=str(raw["bucket"]),
        path=str(raw["path"]).strip("/"),
        credentials=credentials(raw.get("credentialsSecretRef")) or own_credentials, region=region))


def location_from_status(status: Mapping[str, Any] | None) -> Location | None:
    """The Location a GalleryBackup recorded (None before it started)."""
    raw = (status or {}).get("location") or {}
    creds = credentials(raw.get("credentialsSecretRef"))
    if not raw.get("bucket") or creds is None:
        return None
    return Location(endpoint=raw["endpoint"], bucket=raw["bucket"], path=raw.get("path", ""),
                    credentials=creds, region=raw.get("region", "us-east-1"))
