"""The database schema's versions: an ordered list of migrations, recorded in the database.

Why the operator runs them: a migration must run once, before any pod of the release that
needs it starts, and while the old pods keep serving. The operator is the one process that
sees both the Gallery's target release and its database, so it migrates first and rolls the
Deployments only after every migration succeeded (picsource_operator.upgrade). The schema
itself (collections, indexes) stays in picsource_core.mongo; this module only says which
steps bring a database from one schema version to the next, and which release needs which.

Contract of every migration:

* **Additive.** Old pods keep running against the migrated database until the rollout
  replaces them, so a migration may add (indexes, fields, documents) but never remove or
  rename what the previous release reads; the removal waits for a later release.
* **Idempotent.** Running it twice, against a database it already ran on, against one
  written by a newer release, or after a crash half-way, changes nothing more than once.
* **Recorded only after it succeeded**, in ``schema_migrations`` as ``{_id: version, name,
  applied_at}``; a failure is retried by the next reconcile, never skipped. The recorded
  schema version of a database is the highest recorded version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo.database import Database

from picsource_core.albums import AlbumDocuments
from picsource_core.mongo import Document, ensure_indexes

#: The collection of applied migrations (one document per migration, ``_id`` = version).
SCHEMA_MIGRATIONS = "schema_migrations"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Database[Document]], None]


def _indexes(db: Database[Document]) -> None:
    """The baseline: every index of picsource_core.mongo.INDEXES (create_indexes skips those present)."""
    ensure_indexes(db)


def _album_numbers(db: Database[Document]) -> None:
    """Number the memberships of albums made before memberships carried a number (their
    pages by date added are read by it), so that the first such page after the upgrade is
    not the request that numbers 20,000 memberships (about 40 s); resumable if cut short."""
    ensure_indexes(db)  # the album_seq index, on a database migrated to 1 before it existed
    AlbumDocuments(db).number_all()


#: Every migration, in version order (1, 2, 3, ...). Append only: a released migration never
#: changes (a database recorded it as done), a fix is a new one.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "indexes", _indexes),
    Migration(2, "album membership numbers", _album_numbers),
)

#: The schema version each PicSource release's pods need (and understand): a release runs on
#: a database at exactly this version or older (then migrated up to it first). A new release
#: that adds a migration adds its line here with the new version.
RELEASE_SCHEMA: dict[str, int] = {
    "0.1.0": 2,
}


def schema_version(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """The newest schema version these migrations reach."""
    return max((m.version for m in migrations), default=0)


def recorded_version(db: Database[Document]) -> int:
    """The schema version recorded in ``db`` (0: never migrated, e.g. a new or pre-migrations database)."""
    newest = db[SCHEMA_MIGRATIONS].find_one({}, {"_id": 1}, sort=[("_id", -1)])
    return int(newest["_id"]) if newest else 0


def pending(recorded: int, target: int, migrations: Sequence[Migration] = MIGRATIONS) -> list[Migration]:
    """The migrations that bring a database at ``recorded`` to ``target``, in order (pure)."""
    return sorted((m for m in migrations if recorded < m.version <= target), key=lambda m: m.version)


class MigrationFailed(Exception):
    """A migration raised: nothing after it ran, and it is not recorded."""

    def __init__(self, migration: Migration, cause: BaseException) -> None:
        super().__init__(f"migration {migration.version} ({migration.name}) failed: {cause}")
        self.migration, self.cause = migration, cause


def migrate(db: Database[Document], target: int, migrations: Sequence[Migration] = MIGRATIONS,
            clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> list[Migration]:
    """Apply, in order, each migration up to ``target`` the database has not recorded; returns
    those applied. Raises MigrationFailed at the first failure (the ones before it stay recorded).

    The recorded version is read once: a migration recorded meanwhile by someone else runs
    again, which its idempotence makes harmless; a version recorded twice is one document.
    """
    done: list[Migration] = []
    for migration in pending(recorded_version(db), target, migrations):
        try:
            migration.apply(db)
        except Exception as err:  # noqa: BLE001 - whatever it was, the migration is not done
            raise MigrationFailed(migration, err) from err
        db[SCHEMA_MIGRATIONS].update_one(
            {"_id": migration.version},
            {"$setOnInsert": {"name": migration.name, "applied_at": clock()}}, upsert=True)
        done.append(migration)
    return done
