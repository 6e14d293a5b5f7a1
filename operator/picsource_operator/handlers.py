"""Kopf wiring: thin handlers that hand every decision to `reconcile`.

* Gallery create/update/resume: full reconcile; TemporaryError with backoff while
  a binding is not ready, PermanentError for a spec that can never work.
* A timer per Gallery: backlog, autoscaling, binding rechecks, status.
* Events of owned children (filtered by the managed-by label): a deleted or
  hand-edited child is re-applied at once; Deployment readiness updates status.
* Referenced Secrets: a change of a Secret a Gallery's pods take values from rolls them.
* spec.restoreFrom: the reconcile starts the restore and polls it (restore.py); the
  GalleryBackup handlers and the backup schedule's timer are in backup_handlers.py.
* Deletion: a finalizer that reclaims bucket and database under Delete and
  keeps retrying (and reporting) when that fails, except in a namespace being deleted
  whose Secrets are gone: then it gives up with a Warning and lets the namespace go.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import kopf

from picsource_core.config import Env
from picsource_core.metrics import serve_metrics
from picsource_operator import conditions, constants, drift, metrics, reconcile, restore, upgrade
from picsource_operator.backup_io import BackupFailed
from picsource_operator.bindings import BindingError
from picsource_operator.kube import ForeignObject, Kube, KubeError
from picsource_operator.settings import OperatorSettings, watch_namespaces
from picsource_operator.spec import SpecError
from picsource_operator.state import Runtime
from picsource_operator.status import publish

log = logging.getLogger(__name__)

GALLERY = (constants.GROUP, constants.VERSION, constants.PLURAL)
MANAGED = {"app.kubernetes.io/managed-by": constants.MANAGED_BY}
CHILDREN = {
    "Deployment": ("apps", "v1", "deployments"),
    "Service": ("", "v1", "services"),
    "ConfigMap": ("", "v1", "configmaps"),
    "Secret": ("", "v1", "secrets"),
    "Ingress": ("networking.k8s.io", "v1", "ingresses"),
    "NetworkPolicy": ("networking.k8s.io", "v1", "networkpolicies"),
    "PodDisruptionBudget": ("policy", "v1", "poddisruptionbudgets"),
}


def backoff(retry: int) -> float:
    """Seconds before retrying a gallery whose dependency is not ready: 2, 4, 8 ... 60."""
    return float(min(60, 2 ** (retry + 1)))


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    ops = OperatorSettings.from_env(os.environ)
    # Progress and diff-base in annotations: status belongs to the Gallery's own schema.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=constants.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=constants.GROUP, key="last-handled-configuration")
    settings.persistence.finalizer = f"{constants.GROUP}/finalizer"
    settings.peering.standalone = True  # leader election is a Lease (leader.py), not Kopf's peering
    if watch_namespaces(Env(os.environ)):
        # Namespaced mode runs on Roles only: no cluster-wide namespace or CRD discovery.
        settings.scanning.disabled = True
    settings.execution.max_workers = ops.max_workers
    settings.posting.level = logging.INFO
    logging.getLogger("kopf.objects").addFilter(_quiet_routine_success)
    memo.runtime = Runtime(settings=ops, kube=Kube.from_environment())
    metrics.LEADER.set(1)  # Kopf runs only in the Lease holder (or without election)
    if ops.metrics_port:
        memo.metrics_server = serve_metrics(ops.metrics_port)


def _quiet_routine_success(record: logging.LogRecord) -> bool:
    """Drop kopf's per-event "succeeded" lines for child events and the 5 s timer (and log
    the polls of a running restore, which kopf reports as temporary failures, as INFO).

    With 100 galleries they are thousands of lines a minute that say nothing; failures,
    reconciles, drift corrections and scaling decisions are still logged.
    """
    message = record.getMessage()
    if f"restore not done: {restore.RESTORING}:" in message:  # polling a running restore is no error
        record.levelno, record.levelname = logging.INFO, "INFO"
    return not (message.endswith("succeeded.")
                and (message.startswith("Handler 'child-") or message.startswith("Timer 'periodic'")))


@kopf.on.cleanup()
def shutdown(memo: kopf.Memo, **_: Any) -> None:
    memo.runtime.mongo.close()
    memo.runtime.apply_pool.shutdown(wait=False)
    memo.runtime.backup_pool.shutdown(wait=False, cancel_futures=True)
    if memo.get("metrics_server") is not None:
        memo.metrics_server.shutdown()


@kopf.on.probe(id="galleries")
def galleries_probe(memo: kopf.Memo, **_: Any) -> int:
    return len(memo.runtime.galleries)


@kopf.on.resume(*GALLERY)
@kopf.on.create(*GALLERY)
@kopf.on.update(*GALLERY)
def reconcile_gallery(body: kopf.Body, retry: int, memo: kopf.Memo, **_: Any) -> None:
    rt: Runtime = memo.runtime
    started = time.perf_counter()
    result = "error"
    try:
        ok = reconcile.reconcile(rt, _plain(body))
        result = "success" if ok else "temporary_error"
    except SpecError as err:
        result = "permanent_error"
        _invalid(rt, body, str(err))
        raise kopf.PermanentError(f"invalid Gallery spec: {err}") from err
    except ForeignObject as err:  # never take over someone else's object: say so, retry later
        result = "temporary_error"
        _conflict(rt, body, err)
        raise kopf.TemporaryError(str(err), delay=max(30, backoff(retry))) from err
    except BackupFailed as err:  # spec.restoreFrom (the Restored condition is already published)
        if err.permanent:
            result = "permanent_error"
            kopf.warn(body, reason=f"Restore{err.reason}", message=err.message)
            raise kopf.PermanentError(f"restore refused: {err.message}") from err
        result = "temporary_error"
        delay = restore.poll_delay(retry) if err.reason == restore.RESTORING else backoff(retry)
        raise kopf.TemporaryError(f"restore not done: {err.reason}: {err.message}", delay=delay) from err
    except upgrade.UpgradeBlocked as err:  # Progressing=False is published; the old pods keep serving
        if err.permanent:  # a refused release: only a spec change helps
            result = "permanent_error"
            raise kopf.PermanentError(f"upgrade refused: {err}") from err
        result = "temporary_error"
        raise kopf.TemporaryError(f"upgrade blocked: {err}", delay=backoff(retry)) from err
    except KubeError as err:
        if err.status == 422:  # a child the spec produces is rejected: fix the spec
            result = "permanent_error"
            _invalid(rt, body, f"the API server rejected a child object: {err.message}")
            raise kopf.PermanentError(f"invalid Gallery spec: {err.message}") from err
        result = "temporary_error"
        raise kopf.TemporaryError(f"API server refused: {err}", delay=backoff(retry)) from err
    finally:
        metrics.RECONCILES.labels(result).inc()
        metrics.RECONCILE_DURATION.observe(time.perf_counter() - started)
    if not ok:
        st = rt.galleries.get((body.metadata.namespace or "", body.metadata.name or ""))
        failing = [cond for cond in (st.storage, st.database) if cond is not None and not cond.ok] if st else []
        why = "; ".join(f"{cond.type}={cond.status} ({cond.reason})" for cond in failing) or "bindings not ready"
        raise kopf.TemporaryError(f"waiting for bindings: {why}", delay=backoff(retry))


@kopf.timer(*GALLERY, interval=constants.TIMER_INTERVAL_SECONDS, initial_delay=1.0)
def periodic(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    try:
        reconcile.tick(memo.runtime, _plain(body))
    except SpecError:
        return  # reported by the create/update handler
    except Exception as err:  # a timer failure must never stop the operator
        log.warning("periodic check of %s/%s failed: %s", body.metadata.namespace, body.metadata.name, err)


@kopf.on.delete(*GALLERY)
def delete_gallery(body: kopf.Body, retry: int, memo: kopf.Memo, **_: Any) -> None:
    rt: Runtime = memo.runtime
    try:
        message = reconcile.finalize(rt, _plain(body))
    except SpecError:
        metrics.forget_gallery(body.metadata.namespace or "", body.metadata.name or "")
        return  # nothing was ever bound: let it go
    except reconcile.ReclaimAbandoned as err:
        log.warning("gallery %s/%s: %s", body.metadata.namespace, body.metadata.name, err)
        kopf.warn(body, reason="ReclaimAbandoned", message=str(err))  # best effort: the namespace is going
        return
    except BindingError as err:
        kopf.warn(body, reason=err.reason, message=err.message)
        _report_reclaim_failure(rt, body, err)
        raise kopf.TemporaryError(f"reclaim failed: {err.message}", delay=backoff(retry)) from err
    kopf.info(body, reason="Finalized", message=message)


@kopf.on.event("", "v1", "secrets", id="credentials")
async def on_secret_event(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A Secret a Gallery's pods read changed: roll them (credentials_changed).

    Kopf watches Secrets for the owned app Secrets anyway; this filter is in memory and
    costs nothing for the Secrets no Gallery references. The initial listing (type None)
    and deletions are skipped: the resume reconcile reads current values, and a deleted
    Secret leaves the pods as they are (new ones could not start without it).
    """
    if event.get("type") not in ("ADDED", "MODIFIED"):
        return
    rt: Runtime = memo.runtime
    namespace, name = body.metadata.namespace or "", body.metadata.name or ""
    if not reconcile.referencing(rt, namespace, name):
        return
    try:
        await asyncio.to_thread(reconcile.credentials_changed, rt, namespace, name)
    except (KubeError, BindingError) as err:
        log.warning("could not roll the pods after Secret %s/%s changed: %s", namespace, name, err)


def _invalid(rt: Runtime, body: kopf.Body, message: str) -> None:
    kopf.warn(body, reason="InvalidSpec", message=message)
    try:
        reconcile.report_invalid(rt, _plain(body), message)
    except KubeError as err:
        log.warning("could not report an invalid spec: %s", err)


def _conflict(rt: Runtime, body: kopf.Body, err: ForeignObject) -> None:
    """Ready=False (ObjectConflict) and a Warning Event naming the object in the way."""
    kopf.warn(body, reason="ObjectConflict", message=err.message)
    try:
        g = reconcile.parse(rt, _plain(body))
        st = rt.gallery(g.namespace, g.name, g.uid)
        with st.lock:
            publish(rt, g, st, _plain(body).get("status"),
                    override=conditions.Condition(conditions.READY, conditions.FALSE, "ObjectConflict", err.message))
    except Exception as report_err:  # noqa: BLE001 - the retry reports again
        log.warning("could not report an object conflict: %s", report_err)


def _report_reclaim_failure(rt: Runtime, body: kopf.Body, err: BindingError) -> None:
    try:
        g = reconcile.parse(rt, _plain(body))
        st = rt.gallery(g.namespace, g.name, g.uid)
        with st.lock:
            publish(rt, g, st, _plain(body).get("status"), deleting=True,
                    override=conditions.Condition(conditions.READY, conditions.FALSE, err.reason, err.message))
    except Exception as report_err:
        log.warning("could not report reclaim failure: %s", report_err)


def _child_handler(kind: str) -> Any:
    """An async handler: most child events are our own applies and need no thread at all."""

    async def on_child_event(event: dict[str, Any], body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        rt: Runtime = memo.runtime
        obj = _plain(body)
        gallery = drift.owning_gallery(obj)
        namespace, name = body.metadata.namespace or "", body.metadata.name or ""
        if gallery is None:
            return
        if event.get("type") == "DELETED":
            if kind == "Deployment":
                rt.deployments.pop((namespace, name), None)
            await asyncio.to_thread(_restore, rt, namespace, gallery, kind, name, "deleted")
            return
        if kind == "Deployment" and reconcile.record_deployment(rt, obj):
            await asyncio.to_thread(reconcile.refresh, rt, namespace, gallery)
        if drift.foreign_managers(obj):
            await asyncio.to_thread(_restore, rt, namespace, gallery, kind, name, "hand-edited")

    on_child_event.__name__ = f"on_{kind.lower()}_event"
    return on_child_event


def _restore(rt: Runtime, namespace: str, gallery: str, kind: str, name: str, what: str) -> None:
    try:
        if reconcile.reapply(rt, namespace, gallery, kind, name):
            log.info("restored %s %s %s/%s", what, kind, namespace, name)
    except (KubeError, SpecError, BindingError) as err:
        log.warning("could not restore %s %s/%s: %s", kind, namespace, name, err)


for _kind, (_group, _version, _plural) in CHILDREN.items():
    kopf.on.event(_group, _version, _plural, labels=MANAGED, id=f"child-{_kind.lower()}")(
        _child_handler(_kind))


def _plain(body: Any) -> dict[str, Any]:
    """A plain dict copy of a kopf Body (builders and parsers expect dicts)."""
    def thaw(value: Any) -> Any:
        if hasattr(value, "items"):
            return {k: thaw(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [thaw(v) for v in value]
        return value
    result: dict[str, Any] = thaw(body)
    return result
