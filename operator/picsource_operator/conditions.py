"""Status conditions and phase, computed purely from what the reconciler observed.

Conditions follow the Kubernetes API conventions: one entry per type, a
CamelCase reason, a human message, and a lastTransitionTime that changes only
when the status does (so `kubectl describe` shows when things really changed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

READY = "Ready"
STORAGE_BOUND = "StorageBound"
DATABASE_BOUND = "DatabaseBound"
WEB_AVAILABLE = "WebAvailable"
WORKERS_AVAILABLE = "WorkersAvailable"
EGRESS_PINNED = "EgressPinned"
#: Only on a Gallery with spec.restoreFrom: its database and bucket were filled from the backup.
RESTORED = "Restored"
#: Like a Deployment's: True while the pods roll to the current spec and release (RollingOut)
#: and after (RolledOut); False while an upgrade is refused or a migration failed (upgrade.py).
PROGRESSING = "Progressing"
#: On a GalleryBackup: the backup finished (True) or failed for good (False).
COMPLETED = "Completed"
TYPES = (READY, STORAGE_BOUND, DATABASE_BOUND, WEB_AVAILABLE, WORKERS_AVAILABLE, EGRESS_PINNED, RESTORED,
         PROGRESSING)
# Reported, with Events, but a gallery works without them: they never hold back Ready or the phase.
ADVISORY = (EGRESS_PINNED, PROGRESSING)

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == TRUE


def unknown(kind: str, reason: str = "Pending", message: str = "not checked yet") -> Condition:
    return Condition(kind, UNKNOWN, reason, message)


def deployment_condition(kind: str, what: str, ready: int | None, desired: int) -> Condition:
    """WebAvailable / WorkersAvailable from a Deployment's replica counts (None = missing)."""
    if ready is None:
        return Condition(kind, FALSE, "DeploymentMissing", f"the {what} Deployment does not exist yet")
    if desired == 0:
        return Condition(kind, TRUE, "ScaledToZero", f"{what} is scaled to zero replicas")
    if ready >= desired:
        return Condition(kind, TRUE, "ReplicasReady", f"{ready}/{desired} {what} replicas ready")
    return Condition(kind, FALSE, "ReplicasNotReady", f"{ready}/{desired} {what} replicas ready")


def ready_condition(parts: Sequence[Condition]) -> Condition:
    """Ready is True when every other condition is; otherwise it names the first that is not."""
    for part in parts:
        if not part.ok:
            return Condition(READY, part.status, part.reason, f"{part.type}: {part.message}")
    return Condition(READY, TRUE, "AllComponentsReady", "storage and database bound, web and workers available")


def phase(parts: Sequence[Condition], *, paused: bool = False, deleting: bool = False) -> str:
    if deleting:
        return "Deleting"
    if paused:
        return "Paused"
    parts = [c for c in parts if c.type not in ADVISORY]
    by_type = {c.type: c for c in parts}
    for binding in (STORAGE_BOUND, DATABASE_BOUND):
        if binding in by_type and by_type[binding].status == FALSE:
            return "Degraded"
    if all(c.ok for c in parts):
        return "Ready"
    if any(c.status == UNKNOWN for c in parts if c.type in (STORAGE_BOUND, DATABASE_BOUND)):
        return "Pending"
    return "Progressing"


def merge(existing: Iterable[Mapping[str, Any]] | None, new: Iterable[Condition],
          generation: int, now: str) -> list[dict[str, Any]]:
    """New condition dicts, keeping lastTransitionTime of conditions whose status did not change."""
    old = {c.get("type"): c for c in (existing or [])}
    out: list[dict[str, Any]] = []
    for cond in new:
        previous = old.get(cond.type)
        since = now
        if previous is not None and previous.get("status") == cond.status and previous.get("lastTransitionTime"):
            since = previous["lastTransitionTime"]
        out.append({
            "type": cond.type,
            "status": cond.status,
            "reason": cond.reason,
            "message": cond.message,
            "lastTransitionTime": since,
            "observedGeneration": generation,
        })
    return out


def transitions(existing: Iterable[Mapping[str, Any]] | None,
                new: Iterable[Condition]) -> list[tuple[Condition, str | None]]:
    """Conditions whose status or reason changed, with the previous status (None if new)."""
    old = {c.get("type"): c for c in (existing or [])}
    changed = []
    for cond in new:
        previous = old.get(cond.type)
        if previous is None or previous.get("status") != cond.status or previous.get("reason") != cond.reason:
            changed.append((cond, None if previous is None else str(previous.get("status"))))
    return changed
