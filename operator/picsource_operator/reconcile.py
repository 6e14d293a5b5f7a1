"""Reconciling one Gallery: verify bindings, apply children, autoscale, publish status.

Synchronous on purpose: kopf runs these in its thread pool, and the clients
underneath (kubernetes transport, pymongo, minio) are blocking. Each gallery's
work is serialised by its own lock, because the create/update handler, the
timer and the drift handlers may all fire for the same gallery at once.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from picsource_operator import bindings, constants, egress, metrics, restore, upgrade, upgrade_step
from picsource_operator.autoscale import decide_replicas, resumed
from picsource_operator.builders import build_all, config_hash
from picsource_operator.builders.common import app_secret_name, web_name
from picsource_operator.builders.config import generate_secret_key
from picsource_operator.builders.pods import secret_refs
from picsource_operator.builders.worker import build_worker_deployment
from picsource_operator.conditions import FALSE, READY, Condition, merge
from picsource_operator.errors import BindingError
from picsource_operator.kube import KubeError
from picsource_operator.spec import Gallery, parse_gallery
from picsource_operator.state import DeploymentState, GalleryState, Runtime
from picsource_operator.status import desired_web, desired_workers, now_iso, post_event, publish
from picsource_operator.web_scaling import announce_web, decide_web, resume_web

log = logging.getLogger(__name__)

FAILING_RECHECK_SECONDS = 5.0
RESYNC_SECONDS = 60.0
FIXED_BACKLOG_SECONDS = 15.0  # the Backlog column of galleries that do not autoscale
UNAVAILABLE = "unavailable"  # the secrets-hash annotation while a required Secret is missing


def parse(rt: Runtime, body: dict[str, Any]) -> Gallery:
    return parse_gallery(body, web_image=rt.settings.web_image, worker_image=rt.settings.worker_image)


def bindings_ok(st: GalleryState) -> bool:
    return bool(st.storage and st.storage.ok and st.database and st.database.ok)


def ensure_bindings(rt: Runtime, g: Gallery, st: GalleryState) -> None:
    """Re-verify storage and database when the spec changed, when failing, or periodically."""
    age = time.monotonic() - st.checked_at
    due = (st.checked_generation != g.generation
           or (not bindings_ok(st) and age >= FAILING_RECHECK_SECONDS)
           or age >= rt.settings.binding_recheck_seconds)
    if not due:
        return
    st.secrets_hash = rt.secrets.digest(g) or st.secrets_hash
    st.storage = bindings.check_storage(rt.secrets, g)
    database = bindings.check_database(rt.secrets, g, rt.mongo)
    st.database, st.db = database.condition, database.db
    st.egress = _egress(rt, g, database.uri, st.egress)
    st.checked_at, st.checked_generation = time.monotonic(), g.generation


def _egress(rt: Runtime, g: Gallery, uri: str, previous: egress.Egress | None) -> egress.Egress:
    """The pinned egress plan; the previous one stays when the Services cannot be read."""
    try:
        plan = bindings.resolve_egress(rt.kube, g, uri)
    except Exception as err:  # the API server flaking must not stop the reconcile
        log.warning("gallery %s/%s: egress not resolved: %s", g.namespace, g.name, err)
        return previous or egress.plan(g, None, {})
    if previous is not None and plan != previous and plan.unpinned:
        log.info("gallery %s/%s: egress not pinned: %s", g.namespace, g.name, "; ".join(plan.unpinned))
    return plan


def record_deployment(rt: Runtime, obj: dict[str, Any]) -> bool:
    """Cache a Deployment's ready/desired replicas; True when they changed.

    Watch events can arrive after an apply response that already showed a newer
    state, so an older resourceVersion never overwrites a newer one.
    """
    meta = obj.get("metadata") or {}
    key = (meta.get("namespace", ""), meta.get("name", ""))
    version = str(meta.get("resourceVersion") or "0")
    status = obj.get("status") or {}
    new = DeploymentState(ready=int(status.get("readyReplicas") or 0),
                          desired=int((obj.get("spec") or {}).get("replicas") or 0),
                          resource_version=int(version) if version.isdigit() else 0,
                          updated=int(status.get("updatedReplicas") or 0), total=int(status.get("replicas") or 0),
                          current=int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0))
    old = rt.deployments.get(key)
    if old is not None and new.resource_version and new.resource_version < old.resource_version:
        return False
    rt.deployments[key] = new
    return old is None or (old.ready, old.desired, old.updated, old.total, old.current) != (
        new.ready, new.desired, new.updated, new.total, new.current)


def secret_key(rt: Runtime, g: Gallery, st: GalleryState) -> str:
    """The app's secret key: kept from the live Secret, generated only when there is none."""
    if st.secret_key:
        return st.secret_key
    live = rt.kube.get("Secret", g.namespace, app_secret_name(g))
    raw = ((live or {}).get("data") or {}).get(constants.SECRET_KEY_KEY)
    key = base64.b64decode(raw).decode() if raw else ""
    if len(key) < 32:
        key = generate_secret_key()
    st.secret_key = key
    return key


def secrets_hash(rt: Runtime, g: Gallery, st: GalleryState) -> str:
    """The digest of the referenced Secrets for the pod templates (read once if not known yet,
    e.g. a drift event right after a restart, so an apply never drops the annotation).
    "unavailable" while a required Secret is missing: such pods cannot start anyway."""
    if st.secrets_hash is None:
        st.secrets_hash = rt.secrets.digest(g)
    return st.secrets_hash or UNAVAILABLE


def apply_children(rt: Runtime, g: Gallery, st: GalleryState, only: tuple[str, str] | None = None,
                   body_status: dict[str, Any] | None = None) -> int:
    """Server-side apply every child (or only one); returns how many were applied (none while
    an upgrade is blocked or its migrations have not run: upgrade.may_apply)."""
    if not upgrade.may_apply(g, st, _running(st, body_status)):
        return 0
    digest = secrets_hash(rt, g, st)
    if st.egress is None:  # e.g. a drift repair right after a restart: never apply an unpinned guess
        try:
            uri = bindings.database_uri(rt.secrets, g)
        except BindingError:
            uri = ""
        st.egress = _egress(rt, g, uri, None)
    objects = build_all(g, secret_key=secret_key(rt, g, st), worker_replicas=desired_workers(g, st),
                        web_replicas=desired_web(g, st), egress=st.egress, secrets_hash=digest)
    if only is not None:
        objects = [o for o in objects if (o["kind"], o["metadata"]["name"]) == only]
    for result in rt.apply_pool.map(rt.kube.apply, objects):
        if result.get("kind") == "Deployment":
            record_deployment(rt, result)
    if only is None:
        if g.web.ingress is None and _ingress_may_exist(st, body_status):
            rt.kube.delete("Ingress", g.namespace, g.name)
        st.ingress_may_exist = g.web.ingress is not None
        st.applied_at, st.applied_generation = time.monotonic(), g.generation
        st.applied_secrets_hash = digest
        st.applied_egress = st.egress
    return len(objects)


def _running(st: GalleryState, body_status: dict[str, Any] | None) -> str | None:
    """The release every pod ran at the last completed rollout (status.version)."""
    return (st.last_status or body_status or {}).get("version")


def _ingress_may_exist(st: GalleryState, body_status: dict[str, Any] | None) -> bool:
    """Whether a removed host may have left an Ingress behind (saves a DELETE per create)."""
    if st.ingress_may_exist is not None:
        return st.ingress_may_exist
    url = str((body_status or {}).get("url") or "")
    return bool(url) and not url.endswith(".svc")


def _initial_workers(g: Gallery, st: GalleryState, body: dict[str, Any]) -> None:
    """After a restart, resume from the decisions recorded in status (within bounds)."""
    resume_web(g, st, body)
    auto = g.worker.autoscaling
    if auto is None:
        st.desired_workers = None
        return
    recorded = (body.get("status") or {}).get("desiredWorkers")
    st.desired_workers, st.history = resumed(auto, st.desired_workers, recorded, st.history, time.monotonic())


def _refresh_backlog(g: Gallery, st: GalleryState, *, force: bool = False) -> None:
    """Query the queue: every tick when autoscaling, otherwise every FIXED_BACKLOG_SECONDS."""
    if st.db is None or not bindings_ok(st):
        return
    now = time.monotonic()
    if not force and g.worker.autoscaling is None and now - st.backlog_at < FIXED_BACKLOG_SECONDS:
        return
    try:
        st.backlog = bindings.backlog(st.db)
        st.reanalysis = upgrade_step.reanalysis_progress(st.db)
        st.backlog_at = now
    except Exception as err:  # a flaky database must not stop the reconcile
        log.warning("backlog query failed: %s", err)


@contextmanager
def _unless_paused(rt: Runtime, body: dict[str, Any]) -> Iterator[tuple[Gallery, GalleryState] | None]:
    """Parse the Gallery and hold its state's lock; yields None (after publishing the
    paused status) when the Gallery is paused, so callers do nothing more."""
    g = parse(rt, body)
    st = rt.gallery(g.namespace, g.name, g.uid)
    with st.lock:
        st.gallery = g
        if g.paused:
            publish(rt, g, st, body.get("status"), paused=True)
            yield None
        else:
            yield g, st


def reconcile(rt: Runtime, body: dict[str, Any]) -> bool:
    """Full reconcile; True when both bindings are good (False → retry later)."""
    with _unless_paused(rt, body) as active:
        if active is None:
            return True
        g, st = active
        t0 = time.perf_counter()
        ensure_bindings(rt, g, st)
        t1 = time.perf_counter()
        if restore.needs_restore(g, st):  # spec.restoreFrom: the data first, then the pods
            if not bindings_ok(st):
                publish(rt, g, st, body.get("status"))
                return False
            try:
                restore.ensure_restored(rt, g, st)
            finally:
                publish(rt, g, st, body.get("status"))
        if bindings_ok(st):  # the new release's migrations before its pods
            try:
                upgrade_step.ensure_schema(g, st)
            except upgrade.UpgradeBlocked:
                publish(rt, g, st, body.get("status"))
                raise
        _initial_workers(g, st, body)
        apply_children(rt, g, st, body_status=body.get("status"))
        t2 = time.perf_counter()
        _refresh_backlog(g, st, force=True)
        publish(rt, g, st, body.get("status"))
        t3 = time.perf_counter()
        log.debug("reconciled %s/%s: bindings %.3fs, apply %.3fs, status %.3fs",
                  g.namespace, g.name, t1 - t0, t2 - t1, t3 - t2)
        return bindings_ok(st)


def tick(rt: Runtime, body: dict[str, Any]) -> None:
    """Periodic work: bindings recheck, backlog, autoscaling, resync safety net, status."""
    with _unless_paused(rt, body) as active:
        if active is None:
            return
        g, st = active
        if st.applied_generation < 0:
            return  # not reconciled by this process yet: the resume handler goes first
        ensure_bindings(rt, g, st)
        _initial_workers(g, st, body)
        _refresh_backlog(g, st)
        extra = _autoscale(rt, g, st)
        scaled = decide_web(g, st)  # applied like any child (only this one)
        if scaled is not None and apply_children(rt, g, st, only=("Deployment", web_name(g)),
                                                 body_status=body.get("status")):
            extra = {**(extra or {}), **announce_web(g, scaled)}
        if (time.monotonic() - st.applied_at >= RESYNC_SECONDS
                or (st.secrets_hash or UNAVAILABLE) != st.applied_secrets_hash  # a credential changed
                or st.egress != st.applied_egress):  # a bound Service or the database hosts changed
            apply_children(rt, g, st, body_status=body.get("status"))
        publish(rt, g, st, body.get("status"), extra=extra)


def _autoscale(rt: Runtime, g: Gallery, st: GalleryState) -> dict[str, Any] | None:
    auto = g.worker.autoscaling
    if auto is None or st.backlog is None or not upgrade.may_apply(g, st, _running(st, None)):
        return None
    current = desired_workers(g, st)
    decision = decide_replicas(st.backlog, current, auto, st.history, time.monotonic())
    st.history = decision.history
    if decision.direction == "none":
        return None
    st.desired_workers = decision.replicas
    result = rt.kube.apply(build_worker_deployment(g, config_hash(g), decision.replicas,
                                                   secrets_hash(rt, g, st)))
    record_deployment(rt, result)
    metrics.AUTOSCALER_DECISIONS.labels(decision.direction).inc()
    post_event(g, "Normal", "ScaledUp" if decision.direction == "up" else "ScaledDown", decision.reason)
    log.info("gallery %s/%s: %s", g.namespace, g.name, decision.reason)
    return {"lastScaleTime": now_iso()}


def reapply(rt: Runtime, namespace: str, gallery: str, kind: str, name: str) -> bool:
    """Restore one owned object (deleted or hand-edited); True when it was re-applied."""
    body = rt.kube.get("Gallery", namespace, gallery)
    if body is None or (body.get("metadata") or {}).get("deletionTimestamp"):
        return False
    g = parse(rt, body)
    if g.paused:
        return False
    st = rt.gallery(g.namespace, g.name, g.uid)
    with st.lock:
        _initial_workers(g, st, body)
        applied = apply_children(rt, g, st, only=(kind, name)) > 0
    if applied:
        metrics.DRIFT_CORRECTIONS.labels(kind).inc()
        post_event(g, "Normal", "DriftCorrected", f"restored {kind} {name}")
    return applied


def report_invalid(rt: Runtime, body: dict[str, Any], message: str) -> None:
    """Ready=False/InvalidSpec on a Gallery whose spec can never work (it may not even parse)."""
    meta = body.get("metadata") or {}
    generation = int(meta.get("generation") or 0)
    existing = [cond for cond in (body.get("status") or {}).get("conditions") or []
                if cond.get("type") != READY]
    ready = merge((body.get("status") or {}).get("conditions"),
                  [Condition(READY, FALSE, "InvalidSpec", message[:1000])], generation, now_iso())
    rt.kube.patch_gallery_status(meta.get("namespace", ""), meta.get("name", ""), {
        "phase": "Degraded", "observedGeneration": generation, "conditions": [*ready, *existing]})
    metrics.record_not_ready(meta.get("namespace", ""), meta.get("name", ""))


def refresh(rt: Runtime, namespace: str, gallery: str) -> None:
    """Re-publish status after a child changed (e.g. a Deployment became ready)."""
    st = rt.galleries.get((namespace, gallery))
    if st is None or st.gallery is None or st.applied_generation < 0:
        return
    with st.lock:
        if st.gallery.paused or st.last_status is None:
            return
        publish(rt, st.gallery, st, None)


class ReclaimAbandoned(Exception):
    """reclaimPolicy Delete cannot be honoured: the namespace is being deleted and the
    credentials went with it before this process ever read them. The finalizer lets the
    Gallery go (blocking the namespace's deletion forever helps nobody) and says what was
    left behind."""


def namespace_terminating(rt: Runtime, namespace: str) -> bool:
    try:
        ns = rt.kube.get("Namespace", "", namespace)
    except KubeError as err:
        log.warning("cannot read namespace %s: %s", namespace, err)
        return False
    return ns is None or bool((ns.get("metadata") or {}).get("deletionTimestamp"))


def finalize(rt: Runtime, body: dict[str, Any]) -> str:
    """Deletion: reclaim bucket and database under reclaimPolicy Delete (BindingError → retry).

    In a namespace being deleted the Secrets may already be gone: the credentials last
    read are used then, and without any, ReclaimAbandoned ends the wait.
    """
    g = parse(rt, body)
    st = rt.gallery(g.namespace, g.name, g.uid)
    with st.lock:
        if g.reclaim_policy == "Delete":
            try:
                bindings.reclaim(rt.secrets, g, rt.mongo)
            except BindingError as err:
                if err.reason not in ("SecretMissing", "SecretKeyMissing") \
                        or not namespace_terminating(rt, g.namespace):
                    raise
                try:
                    bindings.reclaim(rt.secrets, g, rt.mongo, last_known=True)
                except BindingError as again:
                    if again.reason not in ("SecretMissing", "SecretKeyMissing"):
                        raise
                    _forget(rt, g)
                    raise ReclaimAbandoned(
                        f"namespace {g.namespace!r} is being deleted and took the credentials with it "
                        f"({again.message}): reclaiming bucket {g.storage.bucket!r} at {g.storage.endpoint} "
                        f"and database {g.database.name!r} could not finish; remove what is left by hand"
                    ) from again
            message = f"deleted bucket {g.storage.bucket!r} and database {g.database.name!r}"
        else:
            message = f"kept bucket {g.storage.bucket!r} and database {g.database.name!r} (Retain)"
    _forget(rt, g)
    return message


def _forget(rt: Runtime, g: Gallery) -> None:
    rt.forget(g.namespace, g.name)
    rt.secrets.forget(g.namespace, {name for name, _, _ in secret_refs(g)})
    metrics.forget_gallery(g.namespace, g.name)
    metrics.set_phases(rt.phases())


def referencing(rt: Runtime, namespace: str, secret: str) -> list[GalleryState]:
    """States of the Galleries in `namespace` whose pods take values from Secret `secret`."""
    with rt.lock:
        states = [st for (ns, _), st in rt.galleries.items() if ns == namespace]
    return [st for st in states
            if st.gallery is not None and any(name == secret for name, _, _ in secret_refs(st.gallery))]


def credentials_changed(rt: Runtime, namespace: str, secret: str) -> int:
    """Secret `secret` changed: roll the pods of each Gallery whose values it supplies.

    Returns how many Galleries rolled. Bindings are rechecked on the next tick, so a
    replaced key shows in StorageBound/DatabaseBound too.
    """
    rolled = 0
    for st in referencing(rt, namespace, secret):
        with st.lock:
            g = st.gallery
            if g is None or g.paused or st.applied_generation < 0:
                continue  # not reconciled by this process yet: the resume handler reads it
            digest = rt.secrets.digest(g)
            if digest is None or digest == st.secrets_hash:
                continue
            st.secrets_hash, st.checked_at = digest, 0.0
            apply_children(rt, g, st)
        post_event(g, "Normal", "CredentialsChanged", f"Secret {secret!r} changed: rolling the pods")
        log.info("gallery %s/%s: Secret %s changed, rolling the pods", g.namespace, g.name, secret)
        rolled += 1
    return rolled
