"""spec.restoreFrom: filling a new Gallery's database and bucket from a backup, before its pods.

Called by the reconcile once both bindings are good and before any child is applied, so
no web pod serves (or takes a sign-up into) a half-restored database. The outcome is
the gallery's ``Restored`` condition, which holds Ready back until it is True:

* True/Restored: done now or earlier (the restore marker in the database says so; after
  an operator restart that is one read).
* False with a permanent reason (TargetNotEmpty, BackupNotFound, BackupFailed,
  ChecksumMismatch, BackupUnsupported, RestoredFromAnotherBackup): the handler turns it
  into kopf.PermanentError; fix the spec (or empty the database) to try again.
* False/Restoring while it runs in the backup pool (off kopf's threads); the reconcile
  comes back to collect the outcome.
* False/BackupNotReady or a store error: retried with backoff.
"""

from __future__ import annotations

import time
from typing import Any

from pymongo.errors import PyMongoError

from picsource_operator import backup_io, bindings
from picsource_operator.backup_io import BackupFailed
from picsource_operator.backup_spec import Location, location_from_status
from picsource_operator.backups import location_store
from picsource_operator.conditions import FALSE, RESTORED, TRUE, Condition
from picsource_operator.errors import BindingError
from picsource_operator.spec import Gallery
from picsource_operator.state import GalleryState, Runtime

__all__ = ["BackupFailed", "ensure_restored", "needs_restore"]

#: The reason of Restored=False while the restore runs.
RESTORING = "Restoring"
RESTORE_POLL_SECONDS = 5.0


def poll_delay(retry: int) -> float:
    """Seconds until a reconcile checks a running restore again: 0.5, 1, 2, 4, then 5
    (a small restore is seen done at once; a long one costs a log line per 5 s)."""
    return min(RESTORE_POLL_SECONDS, 0.5 * 2 ** retry)


def needs_restore(g: Gallery, st: GalleryState) -> bool:
    return g.restore_from is not None and not (st.restored is not None and st.restored.ok)


def source_location(rt: Runtime, g: Gallery) -> Location:
    """Where the backup to restore is: given in the spec, or recorded by a GalleryBackup."""
    source = g.restore_from
    assert source is not None
    if source.location is not None:
        return source.location
    name = source.backup or ""
    body = rt.kube.get("GalleryBackup", g.namespace, name)
    if body is None:
        raise BackupFailed("BackupNotFound", f"GalleryBackup {name!r} does not exist in {g.namespace!r}")
    phase = (body.get("status") or {}).get("phase")
    location = location_from_status(body.get("status"))
    if phase == "Failed":
        raise BackupFailed("BackupFailed", f"GalleryBackup {name!r} failed: nothing to restore", permanent=True)
    if phase != "Completed" or location is None:
        raise BackupFailed("BackupNotReady", f"GalleryBackup {name!r} is {phase or 'Pending'}, not Completed yet")
    return location


def _run(rt: Runtime, g: Gallery) -> dict[str, Any]:
    location = source_location(rt, g)
    db = bindings.gallery_database(rt.secrets, g, rt.mongo)
    return backup_io.restore(db, location_store(rt, g.namespace, location), bindings.object_store(rt.secrets, g),
                             location, deadline=time.monotonic() + rt.settings.backup_timeout_seconds)


def _restored(marker: dict[str, Any]) -> Condition:
    documents = sum((marker.get("documents") or {}).values())
    return Condition(RESTORED, TRUE, "Restored",
                     f"{documents} documents and {marker.get('objects', 0)} objects from {marker.get('source')}")


def ensure_restored(rt: Runtime, g: Gallery, st: GalleryState) -> None:
    """Start the restore in the backup pool, or collect its outcome; sets ``st.restored``.

    Raises BackupFailed until the restore has succeeded: reason Restoring while it runs
    (the reconcile comes back after `poll_delay`, holding no thread and not the gallery's
    lock meanwhile), otherwise the failure's reason.
    """
    job = st.restore_job
    if job is None:
        # Restored earlier (this process restarted since): the marker says so, and the
        # backup need not exist any more (retention may have pruned it).
        try:
            marker = backup_io.restore_marker(bindings.gallery_database(rt.secrets, g, rt.mongo))
        except (BindingError, PyMongoError) as err:
            st.restored = Condition(RESTORED, FALSE, "RestoreFailed", f"cannot read the restore marker: {err}"[:1000])
            raise BackupFailed("RestoreFailed", str(err)) from err
        if marker is not None and marker.get("state") == "done":
            st.restored = _restored(marker)
            return
        st.restore_job = rt.backup_pool.submit(_run, rt, g)
        st.restored = Condition(RESTORED, FALSE, RESTORING, "restoring the backup's documents and objects")
        raise BackupFailed(RESTORING, "the restore has started")
    if not job.done():
        raise BackupFailed(RESTORING, "the restore is still running")
    st.restore_job = None
    try:
        marker = job.result()
    except BackupFailed as err:
        st.restored = Condition(RESTORED, FALSE, err.reason, err.message)
        raise
    except Exception as err:  # a store or database error: try again later
        st.restored = Condition(RESTORED, FALSE, "RestoreFailed", f"{type(err).__name__}: {err}"[:1000])
        raise BackupFailed("RestoreFailed", str(err)) from err
    st.restored = _restored(marker)

