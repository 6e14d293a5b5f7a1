"""Computing a Gallery's status from the runtime caches, and writing it when it changed.

Status writes are skipped when nothing changed, so the periodic timer costs no
API calls for a steady gallery. Every condition transition is also posted as a
Kubernetes Event (Normal when it became True, Warning otherwise).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, cast

import kopf

from picsource_operator import conditions as c
from picsource_operator import constants, metrics, upgrade
from picsource_operator.builders.common import selector_labels, web_name, worker_name
from picsource_operator.builders.web import gallery_url
from picsource_operator.kube import KubeError
from picsource_operator.spec import Gallery
from picsource_operator.state import GalleryState, Runtime

log = logging.getLogger(__name__)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_ref(g: Gallery) -> dict[str, Any]:
    """Enough of the Gallery for kopf to address an Event to it."""
    return {"apiVersion": constants.API_VERSION, "kind": constants.KIND,
            "metadata": {"name": g.name, "namespace": g.namespace, "uid": g.uid}}


def post_event(g: Gallery, type_: str, reason: str, message: str) -> None:
    """Post an Event; outside a kopf handler (unit tests) this is a no-op."""
    try:
        kopf.event(cast(kopf.Body, object_ref(g)), type=type_, reason=reason, message=message[:1000])
    except LookupError:
        log.debug("no kopf context for event %s: %s", reason, message)


def desired_workers(g: Gallery, st: GalleryState) -> int:
    if g.worker.autoscaling is None:
        return g.worker.replicas
    if st.desired_workers is not None:
        return st.desired_workers
    return g.worker.autoscaling.min_replicas


def desired_web(g: Gallery, st: GalleryState) -> int:
    """spec.web.replicas, or the web autoscaler's decision (minReplicas before the first)."""
    if g.web.autoscaling is None:
        return g.web.replicas
    return st.desired_web if st.desired_web is not None else g.web.autoscaling.min_replicas


def worker_selector(g: Gallery) -> str:
    """The worker pods' label selector as a string (what a scale subresource reports)."""
    return ",".join(f"{key}={value}" for key, value in sorted(selector_labels(g, "worker").items()))


def current_conditions(rt: Runtime, g: Gallery, st: GalleryState) -> list[c.Condition]:
    web = rt.deployments.get((g.namespace, web_name(g)))
    worker = rt.deployments.get((g.namespace, worker_name(g)))
    parts = [
        st.storage or c.unknown(c.STORAGE_BOUND),
        st.database or c.unknown(c.DATABASE_BOUND),
        c.deployment_condition(c.WEB_AVAILABLE, "web", web.ready if web else None, desired_web(g, st)),
        c.deployment_condition(c.WORKERS_AVAILABLE, "worker", worker.ready if worker else None,
                               desired_workers(g, st)),
    ]
    if g.restore_from is not None:  # the pods start only once the backup is in
        parts.append(st.restored or c.unknown(c.RESTORED, "RestorePending", "the restore has not started yet"))
    egress = st.egress.condition() if st.egress is not None else c.unknown(c.EGRESS_PINNED)
    progressing = upgrade.progressing_condition(g, st, web, worker, desired_web(g, st), desired_workers(g, st))
    return [c.ready_condition(parts), *parts, egress, progressing]


def build_status(rt: Runtime, g: Gallery, st: GalleryState, existing: dict[str, Any] | None, *,
                 paused: bool = False, deleting: bool = False,
                 override: c.Condition | None = None) -> tuple[dict[str, Any], list[c.Condition]]:
    conds = current_conditions(rt, g, st)
    if override is not None:
        conds = [override if cond.type == override.type else cond for cond in conds]
    web = rt.deployments.get((g.namespace, web_name(g)))
    worker = rt.deployments.get((g.namespace, worker_name(g)))
    status: dict[str, Any] = {
        "phase": c.phase(conds, paused=paused, deleting=deleting),
        "observedGeneration": g.generation,
        "url": gallery_url(g),
        "webReadyReplicas": web.ready if web else 0,
        "workerReadyReplicas": worker.ready if worker else 0,
        "desiredWorkers": desired_workers(g, st),
        # The scale subresource's status (kubectl scale, HPA, KEDA): what the worker Deployment
        # is set to run, and a selector for its pods.
        "workerReplicas": worker.desired if worker else 0,
        "workerSelector": worker_selector(g),
        "conditions": c.merge((existing or {}).get("conditions"), conds, g.generation, now_iso()),
    }
    if st.backlog is not None:
        status["backlog"] = st.backlog
    if g.web.autoscaling is not None:
        status["desiredWebReplicas"] = desired_web(g, st)
        if st.web_load is not None:
            status["webLoad"] = round(st.web_load.busy, 1)
    status.update(upgrade.status_fields(g, st, existing, next(x for x in conds if x.type == c.PROGRESSING)))
    for carried in ("lastScaleTime", "lastWebScaleTime", *BACKUP_FIELDS):
        if existing and existing.get(carried):
            status[carried] = existing[carried]
    return status, conds


#: Status fields the backup code writes (status.record_backup) and every status write keeps.
BACKUP_FIELDS = ("lastSuccessfulBackup", "lastScheduledBackup")


def record_backup(rt: Runtime, namespace: str, name: str, field: str, value: dict[str, Any]) -> None:
    """Write one backup field of a Gallery's status (lastSuccessfulBackup: also its metric).

    The cached last status learns it too, so the next periodic status write keeps it and is
    still skipped when nothing else changed."""
    if field not in BACKUP_FIELDS:
        raise ValueError(f"not a backup status field: {field}")
    rt.kube.patch_gallery_status(namespace, name, {field: value})
    st = rt.galleries.get((namespace, name))
    if st is not None:
        with st.lock:
            if st.last_status is not None:
                st.last_status = {**st.last_status, field: value}
    if field == "lastSuccessfulBackup":
        metrics.record_backup_time(namespace, name, {field: value})


def publish(rt: Runtime, g: Gallery, st: GalleryState, body_status: dict[str, Any] | None, *,
            paused: bool = False, deleting: bool = False, override: c.Condition | None = None,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the status if it changed; post Events for condition transitions."""
    existing = st.last_status if st.last_status is not None else (body_status or {})
    status, conds = build_status(rt, g, st, existing, paused=paused, deleting=deleting, override=override)
    if extra:
        status.update(extra)
    st.phase = status["phase"]
    metrics.record_gallery(g.namespace, g.name, status)
    metrics.record_backup_time(g.namespace, g.name, status)
    if status == st.last_status:
        return status
    if not (st.last_status is None and _same(status, body_status)):
        try:
            rt.kube.patch_gallery_status(g.namespace, g.name, status)
        except KubeError as err:
            if err.status == 404:
                metrics.forget_gallery(g.namespace, g.name)
                return status  # the Gallery is gone
            raise
        for cond, previous in c.transitions(existing.get("conditions"), conds):
            if worth_an_event(cond, previous):
                post_event(g, "Normal" if cond.ok else "Warning", f"{cond.type}{cond.status}",
                           f"{cond.type} is {cond.status} ({cond.reason}): {cond.message}")
        if changed := upgrade.release_change(existing, status):
            post_event(g, "Normal", "ReleaseRolledOut", changed)
    st.last_status = status
    metrics.set_phases(rt.phases())
    return status


def worth_an_event(cond: c.Condition, previous: str | None) -> bool:
    """Events for what a person should notice, not for every step of a normal rollout.

    Ready, the bindings and egress pinning report every transition; web and workers only when they
    stop being available after having been (a fresh gallery starts unavailable).
    """
    if cond.status == c.UNKNOWN or cond.type == c.PROGRESSING:  # upgrade_step posts its own
        return False
    if cond.type in (c.READY, c.STORAGE_BOUND, c.DATABASE_BOUND, c.EGRESS_PINNED):
        return True
    return previous == c.TRUE and not cond.ok


def _same(status: dict[str, Any], body_status: dict[str, Any] | None) -> bool:
    return bool(body_status) and all(body_status.get(k) == v for k, v in status.items())  # type: ignore[union-attr]
