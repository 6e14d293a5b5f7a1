"""An operator that dies in the middle of a backup: the GalleryBackup it left Running, with
part of its objects written and no manifest, is run again from a clean folder when the
operator is back, and ends Completed with exactly the backup's own objects."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from operator_backups import backup_body, backup_bucket, seeded_gallery, wait_phase
from operator_runner import Env, OperatorProcess

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
