"""The reconcile's schema step: migrate the bound database before a release's pods roll.

The decisions are upgrade.py's (pure); this is the I/O around them: read the recorded
schema version, run the pending migrations, remember the outcome in the gallery's state,
and post an Event when migrations ran or the rollout is blocked.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

from pymongo.database import Database
from pymongo.errors import PyMongoError

from picsource_core.mongo import Document
from picsource_core.queue import REANALYSE, JobQueue
from picsource_core.reanalysis import ReanalysisLedger
from picsource_operator import conditions as c
from picsource_operator.migrations import (
    MIGRATIONS,
    RELEASE_SCHEMA,
    Migration,
    MigrationFailed,
    migrate,
    recorded_version,
)
from picsource_operator.release import release_of
from picsource_operator.spec import Gallery
from picsource_operator.state import GalleryState
from picsource_operator.status import post_event
from picsource_operator.upgrade import MIGRATION_FAILED, UpgradeBlocked, plan

log = logging.getLogger(__name__)


def ensure_schema(g: Gallery, st: GalleryState, migrations: Sequence[Migration] = MIGRATIONS,
                  releases: Mapping[str, int] = RELEASE_SCHEMA) -> list[Migration]:
    """Bring the bound database to the Gallery's release's schema (once per release and
    process); returns the migrations applied. Raises UpgradeBlocked. Needs ``st.db``."""
    release = release_of(g.version)
    if st.db is None or (st.schema_release == release and st.upgrade_blocked is None):
        return []
    try:
        recorded = recorded_version(st.db)
    except PyMongoError as err:
        _block(g, st, c.Condition(c.PROGRESSING, c.FALSE, MIGRATION_FAILED,
                                  f"cannot read the database's schema version: {err}; retrying with backoff"),
               permanent=False)
    st.schema_version = recorded
    p = plan(release, recorded, releases, migrations)
    if p.refused is not None:
        _block(g, st, p.refused, permanent=True)
    try:
        done = migrate(st.db, p.target, migrations)
    except MigrationFailed as err:
        st.schema_version = max(recorded, err.migration.version - 1)  # the ones before it are recorded
        _block(g, st, c.Condition(c.PROGRESSING, c.FALSE, MIGRATION_FAILED,
                                  f"{err}; the pods keep their current release; retrying with backoff"),
               permanent=False)
    st.upgrade_blocked, st.schema_release, st.schema_version = None, release, max(recorded, p.target)
    if done:
        names = ", ".join(f"{m.version} ({m.name})" for m in done)
        post_event(g, "Normal", "Migrated", f"database {g.database.name!r} migrated to schema "
                                            f"{st.schema_version} for release {release}: {names}")
        log.info("gallery %s/%s: applied migrations %s", g.namespace, g.name, names)
    return done


def _block(g: Gallery, st: GalleryState, condition: c.Condition, *, permanent: bool) -> NoReturn:
    if st.upgrade_blocked != condition:
        post_event(g, "Warning", condition.reason, condition.message)
        log.warning("gallery %s/%s: %s", g.namespace, g.name, condition.message)
    st.upgrade_blocked = condition
    raise UpgradeBlocked(condition, permanent=permanent)


def reanalysis_progress(db: Database[Document]) -> dict[str, Any] | None:
    """status.reanalysis: the newest pipeline the worker walked for, how many re-analyses it
    asked for, how many are still queued, how far (by upload time) the walk got, and whether
    it is over. Two small reads (the ledger document, a count of queued jobs); None before
    any walk ran."""
    entry = ReanalysisLedger(db).newest()
    if entry is None:
        return None
    remaining = JobQueue(db).outstanding(REANALYSE)
    out: dict[str, Any] = {"pipeline": int(entry["_id"]), "requested": int(entry.get("requested") or 0),
                           "remaining": remaining, "done": bool(entry.get("done")) and remaining == 0}
    walked: datetime | None = entry.get("walked_to")
    if walked is not None:
        out["walkedTo"] = (walked if walked.tzinfo else walked.replace(tzinfo=UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return out
