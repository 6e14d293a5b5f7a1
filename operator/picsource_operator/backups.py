"""Running GalleryBackups, and a Gallery's backup schedule with its retention.

One GalleryBackup runs once: Pending -> Running -> Completed or Failed, like a Job. A
failed backup is not retried (its reason stays in status; create another), and its
partial objects are removed: nothing without a manifest.json is ever a backup. The
handler runs `run` in the runtime's backup pool (two at a time), so a long backup never
holds a reconcile thread, and the settings' deadline bounds it.

A schedule (Gallery spec.backup) creates GalleryBackups named after the run time
(`backup_plan.scheduled_name`), so a run retried after a crash finds the one it made.
Retention deletes the scheduled backups past ``retention`` (objects first, then the
GalleryBackup) when a scheduled backup completes and at every schedule check. One-off
backups a person created are never pruned.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from picsource_core.storage import StorageError
from picsource_operator import backup_io, backup_plan, bindings, constants, metrics
from picsource_operator.backup_spec import (
    GALLERY_LABEL,
    SCHEDULED_LABEL,
    Location,
    location_from_status,
    parse_backup,
)
from picsource_operator.conditions import COMPLETED, FALSE, TRUE, Condition, merge
from picsource_operator.errors import BindingError, SpecError
from picsource_operator.kube import KubeError
from picsource_operator.spec import Gallery, parse_gallery
from picsource_operator.state import Runtime
from picsource_operator.status import now_iso, record_backup

log = logging.getLogger(__name__)

FINISHED = ("Completed", "Failed")


def _status(body: dict[str, Any], phase: str, condition: Condition | None = None,
            **fields: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, **fields}
    if condition is not None:
        generation = int((body.get("metadata") or {}).get("generation") or 0)
        status["conditions"] = merge((body.get("status") or {}).get("conditions"), [condition], generation,
                                     now_iso())
    return status


def mark_pending(rt: Runtime, namespace: str, name: str) -> None:
    """phase Pending: accepted, waiting for a place in the backup pool."""
    _write(rt, namespace, name, {"phase": "Pending"})


def location_store(rt: Runtime, namespace: str, location: Location) -> backup_io.ObjectStore:
    c = location.credentials
    return backup_io.store(location, rt.secrets.value(namespace, c.secret, c.access_key_key),
                           rt.secrets.value(namespace, c.secret, c.secret_key_key))


def run(rt: Runtime, body: dict[str, Any]) -> dict[str, Any]:
    """Run one GalleryBackup to its end; returns the status written (never raises)."""
    meta = body.get("metadata") or {}
    namespace, name = meta.get("namespace", ""), meta.get("name", "")
    started, t0 = now_iso(), time.monotonic()
    location: Location | None = None
    try:
        request = parse_backup(body)
        g = _gallery(rt, namespace, request.gallery)
        location = backup_plan.resolve_location(request.destination, g.storage.endpoint, g.storage_credentials,
                                                g.storage.region, name)
        rt.kube.patch_status(constants.BACKUP_KIND, namespace, name, _status(
            body, "Running", Condition(COMPLETED, FALSE, "Running", "copying documents and objects"),
            startedAt=started, location=location.as_status(), gallery=g.name))
        target = location_store(rt, namespace, location)
        target.ensure_bucket()
        manifest = backup_io.run_backup(
            bindings.gallery_database(rt.secrets, g, rt.mongo), bindings.object_store(rt.secrets, g), target,
            location, backup=name, gallery=g.name, namespace=namespace,
            deadline=t0 + rt.settings.backup_timeout_seconds)
    except Exception as err:  # every failure is a Failed backup with its reason, never a crash
        reason, message = _reason(err)
        log.warning("backup %s/%s failed: %s: %s", namespace, name, reason, message)
        if location is not None:
            _discard(rt, namespace, location)
        metrics.BACKUPS.labels("failed").inc()
        status = _status(body, "Failed", Condition(COMPLETED, FALSE, reason, message[:1000]),
                         startedAt=started, completedAt=now_iso(),
                         durationSeconds=round(time.monotonic() - t0, 3))
        _write(rt, namespace, name, status)
        return status
    duration = time.monotonic() - t0
    documents = sum(c["count"] for c in manifest["collections"].values())
    completed = now_iso()
    status = _status(body, "Completed",
                     Condition(COMPLETED, TRUE, "BackupCompleted",
                               f"{documents} documents and {manifest['objects']['count']} objects in "
                               f"{location.bucket}/{location.path}"),
                     startedAt=started, completedAt=completed, durationSeconds=round(duration, 3),
                     sizeBytes=manifest["sizeBytes"], objectCount=manifest["objects"]["count"],
                     documentCount=documents, location=location.as_status())
    _write(rt, namespace, name, status)
    metrics.BACKUPS.labels("completed").inc()
    metrics.BACKUP_DURATION.observe(duration)
    try:
        record_backup(rt, namespace, g.name, "lastSuccessfulBackup",
                      {"name": name, "completedAt": completed, "sizeBytes": manifest["sizeBytes"]})
    except KubeError as err:  # the Gallery went away meanwhile: the backup itself is fine
        log.warning("could not record backup %s on gallery %s: %s", name, g.name, err)
    if request.scheduled and g.backup is not None:  # a new good backup: the oldest may go now
        _prune_quietly(rt, namespace, g.name, g.backup.retention)
    return status


def _gallery(rt: Runtime, namespace: str, name: str) -> Gallery:
    body = rt.kube.get("Gallery", namespace, name)
    if body is None:
        raise backup_io.BackupFailed("GalleryNotFound", f"Gallery {name!r} does not exist in {namespace!r}",
                                     permanent=True)
    return parse_gallery(body, web_image=rt.settings.web_image, worker_image=rt.settings.worker_image)


def _reason(err: Exception) -> tuple[str, str]:
    if isinstance(err, backup_io.BackupFailed | BindingError):
        return err.reason, err.message
    if isinstance(err, SpecError):
        return "InvalidSpec", str(err)
    if isinstance(err, StorageError):
        return f"Storage{err.reason}", str(err)
    return type(err).__name__, str(err)


def _discard(rt: Runtime, namespace: str, location: Location) -> None:
    try:
        backup_io.delete_backup(location_store(rt, namespace, location), location)
    except Exception as err:  # best effort: without a manifest the leftovers are not a backup
        log.warning("could not remove a failed backup's objects at %s/%s: %s", location.bucket, location.path, err)


def _write(rt: Runtime, namespace: str, name: str, status: dict[str, Any]) -> None:
    try:
        rt.kube.patch_status(constants.BACKUP_KIND, namespace, name, status)
    except KubeError as err:
        if err.status != 404:  # deleted while running: nothing to report to
            raise


# --- the schedule -------------------------------------------------------------------------
def _parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def schedule_tick(rt: Runtime, body: dict[str, Any], now: datetime | None = None) -> str | None:
    """Create the GalleryBackup of a due run, then apply retention; the name created, if any."""
    g = parse_gallery(body, web_image=rt.settings.web_image, worker_image=rt.settings.worker_image)
    policy = g.backup
    if policy is None or g.paused:
        return None
    now = now or datetime.now(UTC)
    previous = (body.get("status") or {}).get("lastScheduledBackup") or {}
    last = previous.get("scheduledAt")
    if not last:  # a schedule just set: its first run is the next one from now
        record_backup(rt, g.namespace, g.name, "lastScheduledBackup",
                      {"name": "", "scheduledAt": _iso(now), "since": _iso(now)})
        return None
    created = None
    run_at = backup_plan.due_run(policy.schedule, _parse_time(last), now)
    if run_at is not None:
        created = backup_plan.scheduled_name(g.name, run_at)
        raw = ((body.get("spec") or {}).get("backup") or {}).get("destination") or {}
        try:
            rt.kube.create({
                "apiVersion": constants.API_VERSION, "kind": constants.BACKUP_KIND,
                "metadata": {"name": created, "namespace": g.namespace,
                             "labels": {GALLERY_LABEL: g.name, SCHEDULED_LABEL: "true"}},
                "spec": {"gallery": g.name, "destination": raw}})
        except KubeError as err:
            if err.status != 409:  # 409: made before a crash; the run is recorded below
                raise
        record_backup(rt, g.namespace, g.name, "lastScheduledBackup",
                      {"name": created, "scheduledAt": _iso(run_at), "since": previous.get("since") or last})
    _prune_quietly(rt, g.namespace, g.name, policy.retention)
    return created


def _prune_quietly(rt: Runtime, namespace: str, gallery: str, keep: int) -> None:
    try:
        prune(rt, namespace, gallery, keep)
    except KubeError as err:  # the listing failed: the next tick tries again
        log.warning("retention of %s/%s skipped: %s", namespace, gallery, err)


def prune(rt: Runtime, namespace: str, gallery: str, keep: int) -> list[str]:
    """Delete the scheduled backups retention no longer keeps: their objects, then the object."""
    backups = rt.kube.list_objects(constants.BACKUP_KIND, namespace,
                                   f"{GALLERY_LABEL}={gallery},{SCHEDULED_LABEL}=true")
    by_name = {b["metadata"]["name"]: b for b in backups}
    removed = []
    for name in backup_plan.expired(backups, keep):
        location = location_from_status(by_name[name].get("status"))
        try:
            if location is not None:
                backup_io.delete_backup(location_store(rt, namespace, location), location)
            rt.kube.delete("GalleryBackup", namespace, name)
            removed.append(name)
        except Exception as err:  # retried at the next tick
            log.warning("retention could not delete backup %s/%s: %s", namespace, name, err)
    return removed


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
