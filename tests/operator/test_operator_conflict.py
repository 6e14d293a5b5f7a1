"""Server-side apply never takes over a same-named object someone else made (#14 item 10):
the Gallery reports Ready=False (ObjectConflict) with a Warning Event naming the object,
leaves it untouched, and goes on once it is gone. Our own objects' hand edits are still
drift and reverted (test_operator_cluster.py::test_drift_is_restored_within_ten_seconds)."""

from __future__ import annotations

from typing import Any

import pytest
from operator_runner import Env, OperatorProcess

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

CONFIG = "/api/v1/namespaces/{ns}/configmaps/photos-config"


def test_a_foreign_object_in_the_way_is_reported_and_never_taken_over(
        gallery_env: Env, running_operator: OperatorProcess, kubectl: Any) -> None:
    env = gallery_env
    kubectl("create", "configmap", "photos-config", "-n", env.namespace, "--from-literal=MAX_UPLOAD_BYTES=1")
    env.apply(env.gallery("photos", worker={"replicas": 1}))
    ready = env.wait_condition("photos", "Ready", "False", timeout=60, reason="ObjectConflict")
    assert "ConfigMap" in ready["message"] and "photos-config" in ready["message"]
    foreign = env.obj(CONFIG) or {}
    assert foreign["data"] == {"MAX_UPLOAD_BYTES": "1"}
    assert not foreign["metadata"].get("ownerReferences")
    assert "picsource-operator" not in {m["manager"] for m in foreign["metadata"]["managedFields"]}
    env.wait_event("photos", "ObjectConflict", "Warning")

    kubectl("delete", "configmap", "photos-config", "-n", env.namespace)
    env.wait_condition("photos", "Ready", "True", timeout=120)
    ours = env.obj(CONFIG) or {}
    (owner,) = ours["metadata"]["ownerReferences"]
    assert owner["name"] == "photos" and ours["data"]["MAX_UPLOAD_BYTES"] != "1"
