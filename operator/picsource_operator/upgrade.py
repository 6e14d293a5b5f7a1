"""Upgrades: migrate the database before the new pods, refuse what cannot work, report progress.

The order of a release change (spec.version, or a Gallery first seen by a newer operator):

1. ``plan`` (pure) compares the release's schema (migrations.RELEASE_SCHEMA) with the one
   recorded in the database: pending migrations, or a refusal (a release this operator does
   not know, or a downgrade below the database's schema, which the older code may misread);
2. ``ensure_schema`` runs the pending migrations (the old pods keep serving: migrations are
   additive) and records each; a failure blocks the rollout and is retried with backoff;
3. only then are the Deployments applied with the new pod templates (``may_apply`` is the
   gate the reconciler, the resync timer, the autoscaler and drift repair all ask);
4. the ``Progressing`` condition follows the rollout like a Deployment's: True/RollingOut
   until every web and worker pod runs the new template, True/RolledOut after, and
   ``status.version`` becomes the new release; False (DowngradeRefused, UnsupportedVersion,
   MigrationFailed) while blocked, with the pods left as they were.

Progressing is advisory (conditions.ADVISORY): a refused upgrade leaves a working gallery on
its current release, so it never turns Ready False by itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from picsource_operator import conditions as c
from picsource_operator.migrations import MIGRATIONS, RELEASE_SCHEMA, Migration, pending
from picsource_operator.release import release_of, sort_key
from picsource_operator.spec import Gallery
from picsource_operator.state import DeploymentState, GalleryState

ROLLING_OUT, ROLLED_OUT = "RollingOut", "RolledOut"
DOWNGRADE_REFUSED, UNSUPPORTED_VERSION, MIGRATION_FAILED = "DowngradeRefused", "UnsupportedVersion", "MigrationFailed"


class UpgradeBlocked(Exception):
    """The rollout waits: ``permanent`` when only a spec change can unblock it (a refusal),
    otherwise a failed migration that is retried with backoff."""

    def __init__(self, condition: c.Condition, *, permanent: bool) -> None:
        super().__init__(condition.message)
        self.condition, self.permanent = condition, permanent


@dataclass(frozen=True)
class Plan:
    release: str
    recorded: int  # the database's schema version
    target: int  # the release's schema version (0 when the release is unknown)
    migrations: tuple[Migration, ...] = ()
    refused: c.Condition | None = None


def plan(release: str, recorded: int, releases: Mapping[str, int] = RELEASE_SCHEMA,
         migrations: Sequence[Migration] = MIGRATIONS) -> Plan:
    """What moving a database at schema ``recorded`` to ``release`` takes (pure)."""
    target = releases.get(release)
    if target is None:
        known = ", ".join(sorted(releases, key=sort_key))
        return Plan(release, recorded, 0, refused=c.Condition(
            c.PROGRESSING, c.FALSE, UNSUPPORTED_VERSION,
            f"release {release} is unknown to this operator, which runs releases {known}: upgrade "
            "the operator first; the pods keep their current release"))
    if recorded > target:
        newer = [r for r, schema in releases.items() if schema >= recorded]
        advice = (f"set spec.version to {min(newer, key=sort_key)} or newer" if newer
                  else "upgrade the operator to the release that wrote it")
        return Plan(release, recorded, target, refused=c.Condition(
            c.PROGRESSING, c.FALSE, DOWNGRADE_REFUSED,
            f"the database is at schema version {recorded}, newer than release {release} understands "
            f"(schema {target}): downgrades below the database's schema are not supported; {advice}, "
            "or restore a backup taken before the upgrade into a new Gallery. Nothing was changed"))
    return Plan(release, recorded, target, tuple(pending(recorded, target, migrations)))


def may_apply(g: Gallery, st: GalleryState, running: str | None) -> bool:
    """Whether pod templates may be applied now: never while blocked, and a release change
    (``running`` = status.version, the release the pods run) only once its schema is in place.
    A new gallery (nothing running yet) may start while its database is still unreachable."""
    if st.upgrade_blocked is not None:
        return False
    release = release_of(g.version)
    return st.schema_release == release or running in (None, release)


def rolled_out(state: DeploymentState | None, desired: int) -> bool:
    """A Deployment runs only pods of its current template, all of them ready (the
    rollout-complete rule of `kubectl rollout status`)."""
    return (state is not None and state.current and state.updated >= desired
            and state.total <= desired and state.ready >= desired)


def progressing_condition(g: Gallery, st: GalleryState, web: DeploymentState | None,
                          worker: DeploymentState | None, web_desired: int, workers_desired: int) -> c.Condition:
    """Progressing, from the block (if any) and the two Deployments' rollouts (pure)."""
    if st.upgrade_blocked is not None:
        return st.upgrade_blocked
    release = release_of(g.version)
    schema = f", database schema {st.schema_version}" if st.schema_version is not None else ""
    web_done, workers_done = rolled_out(web, web_desired), rolled_out(worker, workers_desired)
    if web_done and workers_done:
        return c.Condition(c.PROGRESSING, c.TRUE, ROLLED_OUT, f"running release {release}{schema}")
    waiting = [f"{what} {state.updated if state else 0}/{desired} updated"
               for what, state, desired, done in (("web", web, web_desired, web_done),
                                                  ("workers", worker, workers_desired, workers_done))
               if not done]
    return c.Condition(c.PROGRESSING, c.TRUE, ROLLING_OUT,
                       f"rolling out release {release}{schema}: {', '.join(waiting)}")


def status_fields(g: Gallery, st: GalleryState, existing: Mapping[str, Any] | None,
                  progressing: c.Condition) -> dict[str, Any]:
    """status.version (the release every pod runs, once rolled out), status.schemaVersion and
    status.reanalysis (the worker's re-analysis walk, read with the backlog)."""
    out: dict[str, Any] = {}
    version = (existing or {}).get("version")
    if progressing.reason == ROLLED_OUT:
        version = release_of(g.version)
    if version:
        out["version"] = version
    schema = st.schema_version if st.schema_version is not None else (existing or {}).get("schemaVersion")
    if schema is not None:
        out["schemaVersion"] = schema
    reanalysis = st.reanalysis if st.reanalysis is not None else (existing or {}).get("reanalysis")
    if reanalysis:
        out["reanalysis"] = reanalysis
    return out


def release_change(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> str | None:
    """The Event message when every pod runs another release than before (None for a new
    gallery's first rollout, or no change)."""
    old, new = (before or {}).get("version"), after.get("version")
    if old and new and old != new:
        return f"every pod runs release {new} (was {old})"
    return None
