"""What `kubectl picsource` prints and creates, as pure functions of API objects.

Why pure: the plugin's value is in what it shows an admin at a glance (is the gallery
Ready, what is behind, when did the last backup finish) and in the objects it creates
for them; both are checked here without a cluster, and cli.py stays a thin edge.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from picsource_operator import constants

Obj = dict[str, Any]

#: Spec fields of a source Gallery a restored one must not copy: its own restore and schedule.
RESTORE_DROPPED_SPEC = ("restoreFrom", "backup")


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 timestamp as the API writes it, or None."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(text: str | None, now: datetime) -> str:
    """"3m", "5h", "2d" like kubectl's AGE column; "-" when unknown."""
    when = parse_time(text)
    if when is None:
        return "-"
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def size_text(size: Any) -> str:
    if not isinstance(size, int):
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns separated by three spaces, like kubectl get."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def web_wanted(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    """The web replicas asked for: the web autoscaler's decision, else spec.web.replicas."""
    web = spec.get("web") or {}
    if web.get("autoscaling") is not None and status.get("desiredWebReplicas") is not None:
        return str(status["desiredWebReplicas"])
    return str(web.get("replicas", 2))


def web_load(status: Mapping[str, Any]) -> str:
    """", autoscaled on 4.5 requests in flight" with spec.web.autoscaling (status.webLoad)."""
    if status.get("webLoad") is None:
        return ""
    return f", autoscaled on {status['webLoad']:g} requests in flight"


def status_text(gallery: Mapping[str, Any], backups: Sequence[Mapping[str, Any]], now: datetime) -> str:
    """The `status` command: phase, replicas, backlog, conditions and backups of one Gallery."""
    meta = gallery.get("metadata") or {}
    status = gallery.get("status") or {}
    spec = gallery.get("spec") or {}
    lines = [
        f"Gallery {meta.get('namespace')}/{meta.get('name')}",
        f"  Phase:     {status.get('phase', 'Unknown')}"
        + ("" if status.get("observedGeneration") == meta.get("generation") else "  (status not yet updated)"),
        f"  URL:       {status.get('url') or '-'}",
        f"  Web:       {status.get('webReadyReplicas', 0)}/{web_wanted(spec, status)} ready{web_load(status)}",
        f"  Workers:   {status.get('workerReadyReplicas', 0)}/{status.get('desiredWorkers', '-')} ready",
        f"  Backlog:   {status.get('backlog', '-')} images waiting for analysis",
    ]
    last = status.get("lastSuccessfulBackup") or {}
    if last:
        lines.append(f"  Last backup: {last.get('name', '-')} completed {age(last.get('completedAt'), now)} ago"
                     f" ({size_text(last.get('sizeBytes'))})")
    else:
        lines.append("  Last backup: none")
    conditions = status.get("conditions") or []
    lines += ["", "Conditions:"]
    if conditions:
        rows: list[tuple[str, ...]] = [("TYPE", "STATUS", "REASON", "AGE", "MESSAGE")]
        rows += [(str(c.get("type", "")), str(c.get("status", "")), str(c.get("reason", "")),
                  age(c.get("lastTransitionTime"), now), str(c.get("message", ""))[:100]) for c in conditions]
        lines += ["  " + line for line in table(rows)]
    else:
        lines.append("  none reported yet (is the operator running?)")
    lines += ["", "Backups:"]
    if backups:
        ordered = sorted(backups, key=lambda b: (b.get("metadata") or {}).get("creationTimestamp", ""), reverse=True)
        rows = [("NAME", "PHASE", "AGE", "SIZE", "OBJECTS", "DURATION")]
        for backup in ordered[:10]:
            st = backup.get("status") or {}
            duration = st.get("durationSeconds")
            rows.append(((backup.get("metadata") or {}).get("name", ""), str(st.get("phase", "Pending")),
                         age((backup.get("metadata") or {}).get("creationTimestamp"), now),
                         size_text(st.get("sizeBytes")), str(st.get("objectCount", "-")),
                         f"{duration:.1f}s" if isinstance(duration, (int, float)) else "-"))
        lines += ["  " + line for line in table(rows)]
        if len(ordered) > 10:
            lines.append(f"  … and {len(ordered) - 10} older")
    else:
        lines.append("  none")
    return "\n".join(lines) + "\n"


def backup_name(gallery: str, now: datetime) -> str:
    """A one-off backup's default name: <gallery>-<UTC time to the second>, within 253 chars."""
    return f"{gallery[:230]}-{now.astimezone(UTC):%Y%m%d%H%M%S}"


def backup_object(gallery: Mapping[str, Any], name: str, bucket: str | None, prefix: str | None) -> Obj:
    """The GalleryBackup `backup` creates: to --bucket/--prefix, else to the Gallery's
    scheduled-backup destination (spec.backup.destination)."""
    meta = gallery.get("metadata") or {}
    scheduled = ((gallery.get("spec") or {}).get("backup") or {}).get("destination") or {}
    if bucket:
        destination: Obj = {"bucket": bucket}
        if prefix:
            destination["prefix"] = prefix
    elif scheduled:
        destination = copy.deepcopy(dict(scheduled))
        if prefix is not None:
            destination["prefix"] = prefix
    else:
        raise ValueError(f"Gallery {meta.get('name')} has no spec.backup.destination: give --bucket")
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.BACKUP_KIND,
        "metadata": {"name": name, "namespace": meta.get("namespace")},
        "spec": {"gallery": meta.get("name"), "destination": destination},
    }


def restored_gallery(source_spec: Mapping[str, Any], backup: str, name: str, namespace: str, *,
                     database: str | None, bucket: str | None, host: str | None) -> Obj:
    """The Gallery `restore` creates: the backed-up Gallery's spec, restoring from `backup`.

    The database and bucket default to the source's: right after the source was lost
    (its database dropped), or in another namespace or cluster. The operator refuses a
    database that still holds data, so nothing is ever overwritten."""
    spec = copy.deepcopy(dict(source_spec))
    for key in RESTORE_DROPPED_SPEC:
        spec.pop(key, None)
    spec["restoreFrom"] = {"backup": backup}
    if database:
        spec.setdefault("database", {})["name"] = database
    if bucket:
        spec.setdefault("storage", {})["bucket"] = bucket
    if host:
        spec.setdefault("web", {}).setdefault("ingress", {})["host"] = host
    return {"apiVersion": constants.API_VERSION, "kind": constants.KIND,
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}
