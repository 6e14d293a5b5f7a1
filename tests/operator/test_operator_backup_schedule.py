"""A Gallery's spec.backup on the real control plane: a due run creates its GalleryBackup
(named after the run time), and retention deletes older scheduled backups with their
objects while one-off backups stay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from operator_backups import BACKUPS, backup_body, backup_bucket, seeded_gallery, wait_phase
from operator_runner import Env, OperatorProcess

from tests.harness.kubeapi import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_a_due_run_creates_its_backup_and_retention_prunes_the_older_ones(
        gallery_env: Env, running_operator: OperatorProcess, kubectl: Any) -> None:
    env = gallery_env
    seeded_gallery(env, "family", images=1)
    bucket = backup_bucket(env)
    # An older scheduled backup, and a one-off one retention must never touch.
    old = backup_body(env, "family-old", "family", bucket)
    old["metadata"]["labels"] = {"picsource.io/gallery": "family", "picsource.io/scheduled": "true"}
    env.apply(old)
    env.apply(backup_body(env, "family-manual", "family", bucket))
    wait_phase(env, "family-old", "Completed")
    wait_phase(env, "family-manual", "Completed")

    # The schedule last ran two days ago: today's midnight run is due as soon as it is set.
    now = datetime.now(UTC)
    set_up = (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    kubectl("patch", "gallery", "family", "-n", env.namespace, "--subresource=status", "--type=merge", "-p",
            json.dumps({"status": {"lastScheduledBackup": {"name": "", "scheduledAt": set_up, "since": set_up}}}))
    kubectl("patch", "gallery", "family", "-n", env.namespace, "--type=merge", "-p", json.dumps({"spec": {"backup": {
        "schedule": "0 0 * * *", "retention": 1, "destination": {"bucket": bucket, "prefix": "galleries"}}}}))
    run = f"family-{now:%Y%m%d}0000"
    wait_until(lambda: env.obj(f"{BACKUPS}/{run}") is not None, 30, f"the scheduled GalleryBackup {run}")
    wait_phase(env, run, "Completed")
    assert (env.get("family") or {})["status"]["lastScheduledBackup"] == {
        "name": run, "scheduledAt": f"{now:%Y-%m-%d}T00:00:00Z", "since": set_up}

    wait_until(lambda: env.obj(f"{BACKUPS}/family-old") is None, 20, "retention to delete family-old")
    keys = [o.object_name for o in env.minio.client().list_objects(bucket, prefix="galleries/", recursive=False)]
    assert set(keys) == {"galleries/family-manual/", f"galleries/{run}/"}  # family-old: objects gone too
    assert env.obj(f"{BACKUPS}/family-manual") is not None
