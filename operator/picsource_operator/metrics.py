"""The operator's Prometheus metrics, declared once at import (client_python style).

Served on PICSOURCE_OPERATOR_METRICS_PORT (default 9102) by picsource_core.metrics.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

RECONCILES = Counter(
    "picsource_operator_reconciles", "Gallery reconciles by result.", ["result"],
)
RECONCILE_DURATION = Histogram(
    "picsource_operator_reconcile_duration_seconds", "Time spent in one Gallery reconcile.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
GALLERIES = Gauge("picsource_operator_galleries", "Galleries known to the operator by phase.", ["phase"])
DRIFT_CORRECTIONS = Counter(
    "picsource_operator_drift_corrections", "Owned objects restored after a hand edit or deletion.",
    ["kind"],
)
AUTOSCALER_DECISIONS = Counter(
    "picsource_operator_autoscaler_decisions", "Worker autoscaler changes by direction.", ["direction"],
)
WEB_AUTOSCALER_DECISIONS = Counter(
    "picsource_operator_web_autoscaler_decisions",
    "Web autoscaler changes of the web replicas (from the requests in flight), by direction.", ["direction"],
)
# Every replica serves /metrics, the standbys too (so a standby is not "down" to Prometheus);
# sum(picsource_operator_leader) is 1 when exactly one replica reconciles.
LEADER = Gauge(
    "picsource_operator_leader",
    "1 when this replica runs the reconcilers (holds the leader Lease, or runs without election), "
    "0 while it stands by.",
)
# Per-gallery series, labelled like the Gallery itself: the dashboard's worker panel and
# the "Gallery not Ready for 10 minutes" alert read these. Removed when the Gallery goes,
# so a deleted Gallery never keeps an alert firing.
GALLERY_LABELS = ["namespace", "name"]
GALLERY_READY = Gauge(
    "picsource_operator_gallery_ready",
    "1 when the Gallery's Ready condition is True, else 0.", GALLERY_LABELS,
)
WORKERS_DESIRED = Gauge(
    "picsource_operator_workers_desired",
    "Worker replicas the operator wants for the Gallery (fixed or autoscaled).", GALLERY_LABELS,
)
WORKERS_READY = Gauge(
    "picsource_operator_workers_ready", "Ready replicas of the Gallery's worker Deployment.",
    GALLERY_LABELS,
)
# Set from the Gallery's status (so it survives an operator restart; see backup_reading);
# the "no backup for 26 hours" alert reads it. Absent for a Gallery never backed up nor scheduled.
GALLERY_LAST_BACKUP = Gauge(
    "picsource_operator_gallery_last_backup_timestamp_seconds",
    "Unix time at which the Gallery's last successful backup completed (before the first one: "
    "when its backup schedule was set up).", GALLERY_LABELS,
)
BACKUPS = Counter("picsource_operator_backups", "GalleryBackups finished, by result.", ["result"])
BACKUP_DURATION = Histogram(
    "picsource_operator_backup_duration_seconds", "Time one GalleryBackup took, from start to manifest.",
    buckets=(1, 5, 15, 60, 300, 900, 1800, 3600),
)
PER_GALLERY = (GALLERY_READY, WORKERS_DESIRED, WORKERS_READY, GALLERY_LAST_BACKUP)

PHASES = ("Pending", "Progressing", "Ready", "Degraded", "Paused", "Deleting")
for _phase in PHASES:
    GALLERIES.labels(_phase)
for _result in ("success", "temporary_error", "permanent_error", "error", "paused"):
    RECONCILES.labels(_result)
for _direction in ("up", "down"):
    AUTOSCALER_DECISIONS.labels(_direction)
    WEB_AUTOSCALER_DECISIONS.labels(_direction)
for _result in ("completed", "failed"):
    BACKUPS.labels(_result)


def set_phases(phases: Iterable[str]) -> None:
    """Set the galleries-by-phase gauge from the phases of every known gallery."""
    counts = Tally(phases)
    for phase in {*PHASES, *counts}:
        GALLERIES.labels(phase).set(counts.get(phase, 0))


def gallery_readings(status: Mapping[str, Any]) -> tuple[float, float, float]:
    """(ready, workers desired, workers ready) from a Gallery status as the operator writes it.

    Ready is 1 only when the Ready condition says True; a status without one (never
    reconciled, or an invalid spec) counts as not ready.
    """
    ready = any(cond.get("type") == "Ready" and cond.get("status") == "True"
                for cond in status.get("conditions") or [])
    return (1.0 if ready else 0.0, float(status.get("desiredWorkers") or 0),
            float(status.get("workerReadyReplicas") or 0))


def record_gallery(namespace: str, name: str, status: Mapping[str, Any]) -> None:
    """Set the per-gallery gauges from the status just computed for it."""
    ready, desired, workers = gallery_readings(status)
    GALLERY_READY.labels(namespace, name).set(ready)
    WORKERS_DESIRED.labels(namespace, name).set(desired)
    WORKERS_READY.labels(namespace, name).set(workers)


def backup_reading(status: Mapping[str, Any]) -> float | None:
    """The last-backup gauge's value from a Gallery status: when the last successful backup
    completed; without one, when the backup schedule was set up (so a schedule whose every
    run fails still ages into the alert); None for a Gallery never backed up nor scheduled."""
    when = ((status.get("lastSuccessfulBackup") or {}).get("completedAt")
            or (status.get("lastScheduledBackup") or {}).get("since"))
    if not when:
        return None
    return datetime.strptime(str(when), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def record_backup_time(namespace: str, name: str, status: Mapping[str, Any]) -> None:
    """Set the last-backup gauge from a Gallery status (nothing when it has no reading)."""
    reading = backup_reading(status)
    if reading is not None:
        GALLERY_LAST_BACKUP.labels(namespace, name).set(reading)


def record_not_ready(namespace: str, name: str) -> None:
    """Ready=0 for a Gallery whose status was written outside `record_gallery` (invalid spec)."""
    GALLERY_READY.labels(namespace, name).set(0)


def forget_gallery(namespace: str, name: str) -> None:
    """Drop a deleted Gallery's series (a no-op for series that were never set)."""
    for gauge in PER_GALLERY:
        try:
            gauge.remove(namespace, name)
        except KeyError:
            pass
