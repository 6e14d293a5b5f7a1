"""Upgrade decisions without a cluster: what a release change takes, when pods may roll,
what Progressing and status.version say, and spec.version's images (upgrade.py, release.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from operator_samples import gallery_body

from picsource_operator import conditions as c
from picsource_operator import constants, upgrade
from picsource_operator.migrations import MIGRATIONS, RELEASE_SCHEMA, Migration, schema_version
from picsource_operator.release import VERSION_PATTERN, parse_version, with_tag
from picsource_operator.spec import SpecError, parse_gallery
from picsource_operator.state import DeploymentState, GalleryState

CRD = Path(__file__).resolve().parents[2] / "charts/picsource/crds/galleries.picsource.io.yaml"


def _noop(db: object) -> None:
    return None


STEPS = tuple(Migration(v, f"step{v}", _noop) for v in (1, 2, 3))
RELEASES = {"0.1.0": 1, "0.2.0": 3, "0.1.5": 1}


def test_a_fresh_database_gets_every_migration_of_the_release_in_order():
    p = upgrade.plan("0.2.0", 0, RELEASES, STEPS)
    assert p.refused is None
    assert [m.version for m in p.migrations] == [1, 2, 3]


def test_a_database_already_at_the_release_schema_needs_nothing():
    assert upgrade.plan("0.2.0", 3, RELEASES, STEPS).migrations == ()


def test_an_upgrade_runs_only_the_migrations_after_the_recorded_version():
    p = upgrade.plan("0.2.0", 1, RELEASES, STEPS)
    assert [m.version for m in p.migrations] == [2, 3]


def test_a_release_older_than_the_database_schema_is_refused_with_advice():
    p = upgrade.plan("0.1.0", 3, RELEASES, STEPS)
    assert p.refused is not None and p.migrations == ()
    assert (p.refused.type, p.refused.status, p.refused.reason) == (c.PROGRESSING, c.FALSE, "DowngradeRefused")
    assert "schema version 3" in p.refused.message and "0.2.0 or newer" in p.refused.message


def test_a_downgrade_to_a_release_with_the_same_schema_is_allowed():
    assert upgrade.plan("0.1.0", 1, RELEASES, STEPS).refused is None


def test_an_unknown_release_is_refused_naming_the_known_ones_in_order():
    p = upgrade.plan("0.9.0", 1, RELEASES, STEPS)
    assert p.refused is not None and p.refused.reason == "UnsupportedVersion"
    assert "0.1.0, 0.1.5, 0.2.0" in p.refused.message


def test_every_release_maps_to_a_schema_the_migrations_reach_and_versions_are_contiguous():
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert all(0 < schema <= schema_version() for schema in RELEASE_SCHEMA.values())
    assert constants.APP_VERSION in RELEASE_SCHEMA  # the operator knows its own release


# --- the gate ---------------------------------------------------------------------------
def test_pods_of_a_new_release_wait_for_its_schema():
    g = parse_gallery(gallery_body(version="0.1.0"))
    st = GalleryState()
    assert not upgrade.may_apply(g, st, running="0.0.9")  # a release change: migrate first
    assert upgrade.may_apply(g, st, running="0.1.0")  # same release: e.g. a replica change
    assert upgrade.may_apply(g, st, running=None)  # a new gallery may start before its database answers
    st.schema_release = "0.1.0"
    assert upgrade.may_apply(g, st, running="0.0.9")


def test_nothing_is_applied_while_an_upgrade_is_blocked():
    g = parse_gallery(gallery_body())
    st = GalleryState(schema_release=constants.APP_VERSION,
                      upgrade_blocked=c.Condition(c.PROGRESSING, c.FALSE, "DowngradeRefused", "no"))
    assert not upgrade.may_apply(g, st, running=constants.APP_VERSION)


# --- Progressing and status -------------------------------------------------------------
def _deployment(ready: int, updated: int, total: int, desired: int = 2, current: bool = True) -> DeploymentState:
    return DeploymentState(ready=ready, desired=desired, updated=updated, total=total, current=current)


@pytest.mark.parametrize("web", [
    _deployment(ready=2, updated=1, total=3),  # surge: an old pod still runs
    _deployment(ready=2, updated=2, total=2, current=False),  # the controller has not seen the new template
    _deployment(ready=1, updated=2, total=2),  # a new pod not ready yet
    None,
])
def test_progressing_is_rolling_out_until_every_pod_runs_the_new_template(web):
    g = parse_gallery(gallery_body(web={"replicas": 2}, worker={"replicas": 1}))
    cond = upgrade.progressing_condition(g, GalleryState(schema_version=1), web, _deployment(1, 1, 1, 1), 2, 1)
    assert (cond.status, cond.reason) == (c.TRUE, "RollingOut")
    assert "web" in cond.message and "workers" not in cond.message
    assert upgrade.status_fields(g, GalleryState(), {"version": "0.0.9"}, cond) == {"version": "0.0.9"}


def test_rolled_out_sets_status_version_and_schema():
    g = parse_gallery(gallery_body(web={"replicas": 2}, worker={"replicas": 1}))
    st = GalleryState(schema_version=1)
    cond = upgrade.progressing_condition(g, st, _deployment(2, 2, 2), _deployment(1, 1, 1, 1), 2, 1)
    assert (cond.status, cond.reason) == (c.TRUE, "RolledOut")
    assert f"release {constants.APP_VERSION}" in cond.message and "schema 1" in cond.message
    assert upgrade.status_fields(g, st, {"version": "0.0.9"}, cond) == {
        "version": constants.APP_VERSION, "schemaVersion": 1}


def test_status_carries_the_reanalysis_progress_until_it_is_read_again():
    g = parse_gallery(gallery_body())
    cond = c.Condition(c.PROGRESSING, c.TRUE, "RollingOut", "")
    progress = {"pipeline": 2, "requested": 5, "remaining": 1, "done": False}
    assert upgrade.status_fields(g, GalleryState(reanalysis=progress), {}, cond)["reanalysis"] == progress
    assert upgrade.status_fields(g, GalleryState(), {"reanalysis": progress}, cond)["reanalysis"] == progress


def test_a_blocked_upgrade_is_the_progressing_condition_and_keeps_the_old_version():
    g = parse_gallery(gallery_body())
    blocked = c.Condition(c.PROGRESSING, c.FALSE, "MigrationFailed", "migration 2 failed")
    st = GalleryState(upgrade_blocked=blocked, schema_version=1)
    cond = upgrade.progressing_condition(g, st, _deployment(2, 2, 2), _deployment(1, 1, 1, 1), 2, 1)
    assert cond == blocked
    assert upgrade.status_fields(g, st, {"version": "0.0.9"}, cond)["version"] == "0.0.9"


def test_progressing_never_holds_back_ready_or_the_phase():
    assert c.PROGRESSING in c.ADVISORY
    parts = [c.Condition(c.STORAGE_BOUND, c.TRUE, "Bound"),
             c.Condition(c.PROGRESSING, c.FALSE, "DowngradeRefused", "no")]
    assert c.phase(parts) == "Ready"


def test_release_change_is_announced_only_between_two_releases():
    assert upgrade.release_change({"version": "0.1.0"}, {"version": "0.2.0"}) == \
        "every pod runs release 0.2.0 (was 0.1.0)"
    assert upgrade.release_change({}, {"version": "0.1.0"}) is None
    assert upgrade.release_change({"version": "0.1.0"}, {"version": "0.1.0"}) is None


# --- spec.version -----------------------------------------------------------------------
def test_spec_version_retags_the_default_images_and_spec_images_win():
    g = parse_gallery(gallery_body(version="0.2.0", worker={"image": "registry.local/w@sha256:" + "a" * 64}),
                      web_image="registry.local:5000/picsource/web:0.1.0@sha256:" + "b" * 64)
    assert g.version == "0.2.0"
    assert g.web.image == "registry.local:5000/picsource/web:0.2.0"
    assert g.worker.image == "registry.local/w@sha256:" + "a" * 64


def test_without_spec_version_the_operator_defaults_stay():
    g = parse_gallery(gallery_body())
    assert g.version is None and g.web.image == constants.DEFAULT_WEB_IMAGE


@pytest.mark.parametrize("bad", ["v0.2.0", "0.2", "01.2.3", "latest", 2])
def test_a_malformed_spec_version_is_a_spec_error_naming_the_field(bad):
    with pytest.raises(SpecError, match=r"spec\.version"):
        parse_gallery(gallery_body(version=bad))


def test_with_tag_keeps_a_registry_port():
    assert with_tag("localhost:5000/web", "1.2.3") == "localhost:5000/web:1.2.3"
    assert parse_version("") is None


# --- the CRD's versions -----------------------------------------------------------------
def test_the_crd_serves_v1beta1_beside_v1alpha1_with_one_schema_and_v1alpha1_storage():
    crd = yaml.safe_load(CRD.read_text())
    versions = {v["name"]: v for v in crd["spec"]["versions"]}
    assert set(versions) == {"v1alpha1", "v1beta1"}
    assert all(v["served"] for v in versions.values())
    assert [n for n, v in versions.items() if v["storage"]] == ["v1alpha1"]
    assert crd["spec"]["conversion"] == {"strategy": "None"}  # only legitimate with identical schemas
    for key in ("schema", "subresources", "additionalPrinterColumns"):
        assert versions["v1alpha1"][key] == versions["v1beta1"][key]


def test_the_crd_documents_and_checks_the_upgrade_fields():
    schema = yaml.safe_load(CRD.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    version = schema["spec"]["properties"]["version"]
    assert version["pattern"] == VERSION_PATTERN
    for field in (version, schema["status"]["properties"]["version"], schema["status"]["properties"]["schemaVersion"]):
        assert len(field["description"]) > 40
