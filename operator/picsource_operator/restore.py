"""spec.restoreFrom: filling a new Gallery's database and bucket from a backup, before its pods.

Called by the reconcile once both bindings are good and before any child is applied, so
no web pod serves (or takes a sign-up into) a half-restored database. The outcome is
the gallery's ``Restored`` condition, which holds Ready back until it is True:

* True/Restored: done now or earlier (the restore marker in the database says so; after
  an operator restart that is one read).
* False with a permanent reason (TargetNotEmpty, BackupNotFound, BackupFailed,
  ChecksumMismatch, BackupUnsupported, RestoredFromAnotherBackup): the handler turns it
  into kopf.PermanentError; fix the spec (or empty the database) to try again.
* False/BackupNotReady or a store error: retried with backoff.
"""

from __future__ import annotations

import time

from picsource_operator import backup_io, bindings
from picsource_operator.backup_io import BackupFailed
from picsource_operator.backup_spec import Location, location_from_status
from picsource_operator.backups import location_store
from picsource_operator.conditions import FALSE, RESTORED, TRUE, Condition
from picsource_operator.spec import Gallery
from picsource_operator.state import GalleryState, Runtime

__all__ = ["BackupFailed", "ensure_restored", "needs_restore"]


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


def ensure_restored(rt: Runtime, g: Gallery, st: GalleryState) -> None:
    """Restore if needed; sets ``st.restored`` either way and raises BackupFailed on failure."""
    try:
        location = source_location(rt, g)
        db = bindings.gallery_database(rt.secrets, g, rt.mongo)
        marker = backup_io.restore(db, location_store(rt, g.namespace, location), bindings.object_store(rt.secrets, g),
                                   location, deadline=time.monotonic() + rt.settings.backup_timeout_seconds)
    except BackupFailed as err:
        st.restored = Condition(RESTORED, FALSE, err.reason, err.message)
        raise
    except Exception as err:  # a store or database error: try again later
        st.restored = Condition(RESTORED, FALSE, "RestoreFailed", f"{type(err).__name__}: {err}"[:1000])
        raise BackupFailed("RestoreFailed", str(err)) from err
    documents = sum((marker.get("documents") or {}).values())
    st.restored = Condition(RESTORED, TRUE, "Restored",
                            f"{documents} documents and {marker.get('objects', 0)} objects from "
                            f"{location.bucket}/{location.path}")

