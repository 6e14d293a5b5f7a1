"""Credentials: a changed Secret rolls the pods; a namespace deletion never hangs on them.

Pure part: which Secret keys a Gallery's pods read and the digest of their values on the
pod templates. Cluster part (real control plane, real MinIO and MongoDB-wire server):
editing the referenced Secret rolls both Deployments, and deleting the namespace of a
reclaimPolicy Delete Gallery finishes, with the bucket and database reclaimed from the
credentials the operator read before the namespace took the Secrets away, or, when it
never read them, with a ReclaimAbandoned warning instead of a namespace stuck forever.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from operator_runner import Env, OperatorProcess
from operator_samples import gallery_body

from picsource_operator import constants
from picsource_operator.builders import build_all
from picsource_operator.builders.config import secrets_digest
from picsource_operator.builders.pods import secret_refs
from picsource_operator.spec import parse_gallery
from tests.harness.kubeapi import wait_until

KEY = "k" * 48
WEB = "/apis/apps/v1/namespaces/{ns}/deployments/photos-web"
WORKER = "/apis/apps/v1/namespaces/{ns}/deployments/photos-worker"


def test_secret_refs_are_the_authors_secrets_only() -> None:
    g = parse_gallery(gallery_body(auth={"adminSecretRef": {"name": "photos-admin"}}))
    assert secret_refs(g) == [
        ("photos-mongo", "uri", False), ("photos-s3", "accessKey", False), ("photos-s3", "secretKey", False),
        ("photos-admin", "username", True), ("photos-admin", "password", True),
    ]  # not photos-app: the generated secret key is the operator's own


def test_secrets_digest_changes_with_any_value_and_hides_them() -> None:
    base = {("s3", "accessKey"): "a", ("s3", "secretKey"): "b", ("db", "uri"): "mongodb://x"}
    digest = secrets_digest(base)
    assert digest == secrets_digest(dict(reversed(base.items())))  # order does not matter
    assert digest != secrets_digest({**base, ("s3", "secretKey"): "c"})
    assert digest != secrets_digest({**base, ("admin", "password"): None})
    assert len(digest) == 16 and "mongodb" not in digest


def test_both_pod_templates_carry_the_digest() -> None:
    objs = build_all(parse_gallery(gallery_body()), secret_key=KEY, worker_replicas=1, secrets_hash="abc123")
    for obj in objs:
        if obj["kind"] == "Deployment":
            annotations = obj["spec"]["template"]["metadata"]["annotations"]
            assert annotations[constants.SECRETS_HASH_ANNOTATION] == "abc123"


def annotation(env: Env, path: str) -> str:
    dep = env.obj(path) or {}
    return str(dep["spec"]["template"]["metadata"]["annotations"].get(constants.SECRETS_HASH_ANNOTATION))


@pytest.mark.cluster
@pytest.mark.slow
def test_a_changed_credential_secret_rolls_the_pods(gallery_env: Env, running_operator: OperatorProcess) -> None:
    env = gallery_env
    env.apply(env.gallery("photos", web={"replicas": 1}))
    env.wait_condition("photos", "Ready", "True", timeout=60)
    before = {path: annotation(env, path) for path in (WEB, WORKER)}
    assert all(len(v) == 16 for v in before.values()), before
    # Same data again (kubectl apply of an unchanged Secret): nothing rolls.
    env.secret("photos-s3", {"accessKey": env.minio.access_key, "secretKey": env.minio.secret_key})
    # Rotate the MongoDB URI Secret (same server, another spelling of it).
    env.secret("photos-mongo", {"uri": env.mongo.uri + ("&" if "?" in env.mongo.uri else "?") + "appname=rotated"})
    wait_until(lambda: all(annotation(env, p) != before[p] for p in (WEB, WORKER)), 15,
               "both Deployments to roll after the Secret changed")
    env.wait_event("photos", "CredentialsChanged")
    dep = env.obj(WEB) or {}
    assert dep["spec"]["template"]["metadata"]["annotations"][constants.CONFIG_HASH_ANNOTATION]
    env.wait_condition("photos", "Ready", "True", timeout=30)
    # Nothing of the values is in the annotation.
    assert "rotated" not in json.dumps(dep["spec"]["template"]["metadata"])


@pytest.fixture
def clusterwide_operator(gallery_env: Env, tmp_path: Path) -> Iterator[OperatorProcess]:
    """The operator as the chart runs it (--all-namespaces): a namespaced kopf operator stops
    watching its namespace as soon as that namespace starts terminating."""
    proc = OperatorProcess(gallery_env.cluster, gallery_env.namespace, tmp_path / "operator.log",
                           clusterwide=True).start()
    yield proc
    gallery_env.cleanup()
    proc.stop()
    print("--- operator log (tail) ---\n" + "\n".join(proc.log().splitlines()[-80:]))


def _delete_namespace(env: Env, kubectl: Any) -> None:
    kubectl("delete", "namespace", env.namespace, "--wait=false")
    # The namespace controller retries with a growing backoff (up to a minute) while a
    # finalizer holds content, so this can take a while on a loaded machine.
    wait_until(lambda: env.api.get(f"/api/v1/namespaces/{env.namespace}") is None, 180,
               f"namespace {env.namespace} to be deleted")


@pytest.mark.cluster
@pytest.mark.slow
def test_deleting_the_namespace_reclaims_a_delete_gallery_and_finishes(
        gallery_env: Env, clusterwide_operator: OperatorProcess, kubectl: Any) -> None:
    import pymongo

    env = gallery_env
    doc = env.gallery("drop", base="reclaim-delete")
    env.apply(doc)
    env.wait_condition("drop", "Ready", "True", timeout=60)
    bucket, database = doc["spec"]["storage"]["bucket"], doc["spec"]["database"]["name"]
    client = env.minio.client()
    client.put_object(bucket, "originals/u/i", io.BytesIO(b"x"), 1)
    mongo: Any = pymongo.MongoClient(env.mongo.uri)
    mongo[database]["images"].insert_one({"x": 1})
    _delete_namespace(env, kubectl)
    assert not client.bucket_exists(bucket)
    assert database not in mongo.list_database_names()
    mongo.close()


@pytest.mark.cluster
@pytest.mark.slow
def test_without_credentials_the_finalizer_gives_up_instead_of_blocking(
        gallery_env: Env, clusterwide_operator: OperatorProcess, kubectl: Any) -> None:
    """The operator never had the credentials (the Secrets were never there): nothing to
    reclaim with, so the namespace must still go, with the loss said out loud."""
    env = gallery_env
    doc = env.gallery("drop", base="reclaim-delete")
    doc["spec"]["storage"]["credentialsSecretRef"] = {"name": "never-created"}
    env.apply(doc)
    env.wait_condition("drop", "StorageBound", "False", reason="SecretMissing", timeout=60)
    assert "picsource.io/finalizer" in env.get("drop")["metadata"]["finalizers"]
    try:
        _delete_namespace(env, kubectl)
    except TimeoutError:
        print("\n".join(line for line in clusterwide_operator.log().splitlines()
                        if "kopf-event-" not in line and "periodic check" not in line))
        raise
    wait_until(lambda: "ReclaimAbandoned" in clusterwide_operator.log(), 10, "the ReclaimAbandoned warning")
    assert doc["spec"]["storage"]["bucket"] in clusterwide_operator.log()
