"""Operator restarts around backups: a GalleryBackup left Running (part of its objects
written, no manifest) is run again from a clean folder and ends Completed with exactly its
own objects; a restored Gallery stays Restored across a restart, even once its backup is gone."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from operator_backups import backup_body, backup_bucket, seeded_gallery, wait_phase
from operator_runner import Env, OperatorProcess

from tests.harness.kubeapi import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_a_backup_left_running_by_a_dead_operator_is_run_again_from_scratch(
        gallery_env: Env, running_operator: OperatorProcess, kubectl: Any) -> None:
    env = gallery_env
    _, before = seeded_gallery(env, "family", images=2)
    bucket = backup_bucket(env)
    client = env.minio.client()
    client.make_bucket(bucket)
    running_operator.kill()
    # What a crash mid-backup leaves: status Running, a stray object, no manifest.
    env.apply(backup_body(env, "family-b1", "family", bucket))
    kubectl("patch", "gallerybackup", "family-b1", "-n", env.namespace, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": {"phase": "Running", "startedAt": "2026-12-03T03:00:00Z"}}))
    stray = b"half-written"
    client.put_object(bucket, "galleries/family-b1/objects/originals/x/stray", io.BytesIO(stray), len(stray))

    running_operator.start()
    status = wait_phase(env, "family-b1", "Completed")
    assert status["objectCount"] == len(before["objects"]) == 6
    keys = {o.object_name for o in client.list_objects(bucket, prefix="galleries/family-b1/objects/",
                                                       recursive=True)}
    assert keys == {f"galleries/family-b1/objects/{key}" for key in before["objects"]}
    assert status["startedAt"] != "2026-12-03T03:00:00Z"


def test_a_restored_gallery_stays_restored_after_a_restart_even_without_its_backup(
        gallery_env: Env, running_operator: OperatorProcess, kubectl: Any) -> None:
    env = gallery_env
    seeded_gallery(env, "family", images=1)
    env.apply(backup_body(env, "family-b1", "family", backup_bucket(env)))
    wait_phase(env, "family-b1", "Completed")
    env.apply(env.gallery("copy", web={"replicas": 1}, restoreFrom={"backup": "family-b1"}))
    restored = env.wait_condition("copy", "Restored", "True", timeout=60)
    env.wait_condition("copy", "Ready", "True", timeout=60)

    running_operator.kill()
    kubectl("delete", "gallerybackup", "family-b1", "-n", env.namespace)  # e.g. pruned by retention
    kubectl("patch", "gallery", "copy", "-n", env.namespace, "--type=merge", "-p",
            json.dumps({"spec": {"web": {"replicas": 2}}}))
    running_operator.start()

    def reconciled() -> bool:
        gallery = env.get("copy") or {}
        return (gallery.get("status") or {}).get("observedGeneration") == gallery["metadata"]["generation"]

    wait_until(reconciled, 60, "the restarted operator to reconcile the restored gallery")
    assert env.condition("copy", "Restored") == {**restored, "observedGeneration": restored["observedGeneration"] + 1}
    assert not [e for e in env.events("copy") if e["reason"] == "RestoredFalse"]
