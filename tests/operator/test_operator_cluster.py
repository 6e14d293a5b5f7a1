"""The operator against the real control plane (etcd, kube-apiserver, controller-manager,
scheduler, kwok), real MinIO and the real MongoDB-wire server.

Pods on the kwok node run no containers, so "web available" is judged, as the operator
does, from the Deployments' readyReplicas that kwok reports.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from operator_runner import Env, OperatorProcess, metric_value

from tests.harness.kubeapi import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

CHILDREN = {
    "/api/v1/namespaces/{ns}/secrets/photos-app": "Secret",
    "/api/v1/namespaces/{ns}/configmaps/photos-config": "ConfigMap",
    "/apis/apps/v1/namespaces/{ns}/deployments/photos-web": "Deployment",
    "/apis/apps/v1/namespaces/{ns}/deployments/photos-worker": "Deployment",
    "/api/v1/namespaces/{ns}/services/photos-web": "Service",
    "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/photos-web": "PodDisruptionBudget",
    "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/photos-web": "NetworkPolicy",
    "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/photos-worker": "NetworkPolicy",
}
WORKER = "/apis/apps/v1/namespaces/{ns}/deployments/{name}-worker"


def ready_pods(env: Env, component: str, instance: str = "photos") -> int:
    selector = f"app.kubernetes.io/instance%3D{instance},app.kubernetes.io/component%3D{component}"
    pods = env.obj("/api/v1/namespaces/{ns}/pods?labelSelector=" + selector) or {}
    return sum(
        1 for pod in pods.get("items", [])
        if not pod["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))
    )


def secret_key(env: Env) -> str:
    secret = env.obj("/api/v1/namespaces/{ns}/secrets/photos-app") or {}
    return base64.b64decode(secret["data"]["secret-key"]).decode()


def test_minimal_gallery_becomes_ready_with_every_object_owned(gallery_env: Env,
                                                               running_operator: OperatorProcess,
                                                               kubectl: Any) -> None:
    env = gallery_env
    env.apply(env.gallery("photos"))
    env.wait_condition("photos", "Ready", "True", timeout=60)
    gallery = env.get("photos")
    assert gallery is not None
    status = gallery["status"]
    assert status["phase"] == "Ready"
    assert status["observedGeneration"] == gallery["metadata"]["generation"]
    assert status["webReadyReplicas"] == 2 and status["workerReadyReplicas"] == 1
    assert status["url"] == f"http://photos-web.{env.namespace}.svc"
    reasons = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert reasons == {
        "Ready": ("True", "AllComponentsReady"),
        "StorageBound": ("True", "BucketReady"),
        "DatabaseBound": ("True", "DatabaseReady"),
        "WebAvailable": ("True", "ReplicasReady"),
        "WorkersAvailable": ("True", "ReplicasReady"),
        "EgressPinned": ("True", "EgressPinned"),  # the test's stores listen on IP literals
        "Progressing": ("True", "RolledOut"),
    }
    for cond in status["conditions"]:
        assert cond["lastTransitionTime"] and cond["message"]
    for path, kind in CHILDREN.items():
        obj = env.obj(path)
        assert obj is not None, f"{kind} {path} missing"
        (owner,) = obj["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
            "Gallery", "photos", gallery["metadata"]["uid"], True)
        managers = {m["manager"] for m in obj["metadata"]["managedFields"]}
        assert "picsource-operator" in managers
    assert ready_pods(env, "web") == 2 and ready_pods(env, "worker") == 1
    # The bucket was created and the database bound with its indexes.
    bucket = gallery["spec"]["storage"]["bucket"]
    assert env.minio.client().bucket_exists(bucket)
    import pymongo
    client: Any = pymongo.MongoClient(env.mongo.uri)
    assert "image_kind" in client[gallery["spec"]["database"]["name"]]["jobs"].index_information()
    client.close()
    # Printer columns.
    table = kubectl("get", "gal", "photos", "-n", env.namespace).stdout
    header, row = table.strip().splitlines()
    assert header.split() == ["NAME", "PHASE", "WEB", "WORKERS", "BACKLOG", "URL", "AGE"]
    assert row.split()[:6] == ["photos", "Ready", "2", "1", "0", f"http://photos-web.{env.namespace}.svc"]
    env.wait_event("photos", "ReadyTrue")

    # A spec change rolls the pods (new config hash) and keeps the generated secret key.
    key = secret_key(env)
    dep_path = "/apis/apps/v1/namespaces/{ns}/deployments/photos-web"
    old_hash = env.obj(dep_path)["spec"]["template"]["metadata"]["annotations"]["picsource.io/config-hash"]
    kubectl("patch", "gallery", "photos", "-n", env.namespace, "--type=merge",
            "-p", json.dumps({"spec": {"limits": {"maxUploadBytes": 1048576}}}))

    def rolled() -> bool:
        dep = env.obj(dep_path) or {}
        st = dep.get("status") or {}
        annotations = dep["spec"]["template"]["metadata"]["annotations"]
        return bool(annotations["picsource.io/config-hash"] != old_hash
                    and dep["metadata"]["generation"] == st.get("observedGeneration")
                    and st.get("updatedReplicas") == 2 and st.get("replicas") == 2
                    and st.get("readyReplicas") == 2)

    wait_until(rolled, 30, "the web Deployment to roll to the new configuration")
    # No downtime: the live strategy never removes a ready pod before its replacement is
    # ready (kwok readies pods too fast for sampling readyReplicas to prove it).
    live = env.obj(dep_path) or {}
    assert live["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    cm = env.obj("/api/v1/namespaces/{ns}/configmaps/photos-config") or {}
    assert cm["data"]["MAX_UPLOAD_BYTES"] == "1048576"
    assert secret_key(env) == key
    env.wait_condition("photos", "Ready", "True", timeout=30)
    assert metric_value(running_operator.metrics(), "picsource_operator_reconciles_total",
                        {"result": "success"}) >= 2
    assert metric_value(running_operator.metrics(), "picsource_operator_galleries", {"phase": "Ready"}) == 1
    ours = {"namespace": env.namespace, "name": "photos"}
    text = running_operator.metrics()  # what the dashboard and the GalleryNotReady alert read
    assert metric_value(text, "picsource_operator_gallery_ready", ours) == 1
    desired = env.get("photos")["status"]["desiredWorkers"]
    assert metric_value(text, "picsource_operator_workers_desired", ours) == desired >= 1
    assert metric_value(text, "picsource_operator_workers_ready", ours) == desired


@pytest.mark.parametrize(("spec", "message"), [
    ({"reclaimPolicy": "Destroy"}, 'Unsupported value: "Destroy"'),
    ({"worker": {"replicas": 2, "autoscaling": {"maxReplicas": 3}}},
     "worker.replicas and worker.autoscaling are mutually exclusive"),
    ({"worker": {"autoscaling": {"minReplicas": 5, "maxReplicas": 3}}},
     "minReplicas must be less than or equal to maxReplicas"),
    ({"web": {"ingress": {"tlsSecretName": "tls"}}}, "tlsSecretName requires web.ingress.host"),
    ({"web": {"replicas": 0}}, "should be greater than or equal to 1"),
    ({"worker": {"analysis": {"safetyThreshold": 1.5}}}, "should be less than or equal to 1"),
    ({"auth": {"signup": "invite-only"}}, 'Unsupported value: "invite-only"'),
])
def test_invalid_specs_are_rejected_by_the_api_server(gallery_env: Env, spec: dict[str, Any],
                                                      message: str) -> None:
    doc = gallery_env.gallery("bad")
    doc["spec"].update(spec)
    result = gallery_env.apply(doc, check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_required_fields_bucket_pattern_and_name_length_are_enforced(gallery_env: Env) -> None:
    env = gallery_env
    doc = env.gallery("bad")
    del doc["spec"]["database"]
    result = env.apply(doc, check=False)
    assert result.returncode != 0 and "spec.database: Required value" in result.stderr
    doc = env.gallery("bad")
    doc["spec"]["storage"]["bucket"] = "Not_A_Bucket"
    result = env.apply(doc, check=False)
    assert result.returncode != 0 and "spec.storage.bucket" in result.stderr
    doc = env.gallery("bad")
    doc["metadata"]["name"] = "g" * 46
    result = env.apply(doc, check=False)
    assert result.returncode != 0 and "at most 45 characters" in result.stderr


def test_bucket_and_database_name_are_immutable(gallery_env: Env) -> None:
    env = gallery_env
    doc = env.gallery("fixed")
    env.apply(doc)
    moved = json.loads(json.dumps(doc))
    moved["spec"]["storage"]["bucket"] = "another-bucket"
    result = env.apply(moved, check=False)
    assert result.returncode != 0 and "storage.bucket is immutable" in result.stderr
    renamed = json.loads(json.dumps(doc))
    renamed["spec"]["database"]["name"] = "another_db"
    result = env.apply(renamed, check=False)
    assert result.returncode != 0 and "database.name is immutable" in result.stderr
    # Other fields stay editable.
    doc["spec"]["web"] = {"replicas": 3}
    env.apply(doc)


def test_bad_bindings_are_reported_with_reasons_and_recover(gallery_env: Env,
                                                            running_operator: OperatorProcess) -> None:
    env = gallery_env
    doc = env.gallery("photos")
    env.apply(doc)
    env.wait_condition("photos", "Ready", "True", timeout=60)
    # Wrong secret key: InvalidCredentials (seen on the next check of a changed spec).
    env.secret("wrong-s3", {"accessKey": env.minio.access_key, "secretKey": "not-the-secret"})
    doc["spec"]["storage"]["credentialsSecretRef"] = {"name": "wrong-s3"}
    env.apply(doc)
    cond = env.wait_condition("photos", "StorageBound", "False", reason="InvalidCredentials")
    assert "credentials" in cond["message"]
    ready = env.condition("photos", "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidCredentials")
    assert env.get("photos")["status"]["phase"] == "Degraded"
    wait_until(lambda: any(e["reason"] == "StorageBoundFalse" and e["type"] == "Warning"
                           for e in env.events("photos")), 15, "a Warning event for StorageBound")
    # The operator keeps running and recovers once the Secret is fixed.
    env.secret("wrong-s3", {"accessKey": env.minio.access_key, "secretKey": env.minio.secret_key})
    env.wait_condition("photos", "StorageBound", "True", timeout=40)
    env.wait_condition("photos", "Ready", "True", timeout=20)
    assert running_operator.process is not None and running_operator.process.running()


def test_missing_bucket_secret_and_unreachable_endpoints(gallery_env: Env,
                                                         running_operator: OperatorProcess) -> None:
    env = gallery_env
    env.apply(_no_create(env))
    env.wait_condition("nobucket", "StorageBound", "False", reason="BucketMissing")
    doc = env.gallery("nosecret")
    doc["spec"]["database"]["uriSecretRef"] = {"name": "does-not-exist"}
    env.apply(doc)
    cond = env.wait_condition("nosecret", "DatabaseBound", "False", reason="SecretMissing")
    assert "does-not-exist" in cond["message"]
    doc = env.gallery("nostore")
    doc["spec"]["storage"]["endpoint"] = "http://127.0.0.1:9"
    doc["spec"]["database"]["uriSecretRef"] = {"name": "nodb-mongo"}
    env.secret("nodb-mongo", {"uri": "mongodb://127.0.0.1:9/?directConnection=true"})
    env.apply(doc)
    env.wait_condition("nostore", "StorageBound", "False", reason="EndpointUnreachable", timeout=40)
    env.wait_condition("nostore", "DatabaseBound", "False", reason="DatabaseUnreachable", timeout=40)
    # Valid credentials of a MinIO user without any policy: the bucket is forbidden.
    from minio import MinioAdmin
    from minio.credentials import StaticProvider

    admin = MinioAdmin(endpoint=env.minio.endpoint, secure=False,
                       credentials=StaticProvider(env.minio.access_key, env.minio.secret_key))
    admin.user_add("picsource-nobody", "nobody-secret-123")
    doc = env.gallery("forbidden")
    env.secret("forbidden-s3", {"accessKey": "picsource-nobody", "secretKey": "nobody-secret-123"})
    env.apply(doc)
    env.wait_condition("forbidden", "StorageBound", "False", reason="BucketForbidden", timeout=40)


def _no_create(env: Env) -> dict[str, Any]:
    doc = env.gallery("nobucket")
    doc["spec"]["storage"]["createBucket"] = False
    return doc


def test_drift_is_restored_within_ten_seconds(gallery_env: Env, running_operator: OperatorProcess,
                                              kubectl: Any) -> None:
    env = gallery_env
    env.apply(env.gallery("photos", worker={"replicas": 1}))
    env.wait_condition("photos", "Ready", "True", timeout=60)
    svc_path = "/api/v1/namespaces/{ns}/services/photos-web"
    old_uid = env.obj(svc_path)["metadata"]["uid"]
    kubectl("delete", "service", "photos-web", "-n", env.namespace)
    started = time.monotonic()
    wait_until(lambda: (env.obj(svc_path) or {}).get("metadata", {}).get("uid") not in (None, old_uid),
               10, "the deleted web Service to come back")
    restored_after = time.monotonic() - started
    kubectl("patch", "deployment", "photos-worker", "-n", env.namespace, "--type=merge",
            "-p", '{"spec": {"replicas": 5}}')
    wait_until(lambda: (env.obj(WORKER.replace("{name}", "photos")) or {})["spec"]["replicas"] == 1,
               10, "the hand-edited worker replicas to be reverted")
    kubectl("delete", "configmap", "photos-config", "-n", env.namespace)
    wait_until(lambda: env.obj("/api/v1/namespaces/{ns}/configmaps/photos-config") is not None,
               10, "the deleted ConfigMap to come back")
    text = running_operator.metrics()
    assert metric_value(text, "picsource_operator_drift_corrections_total", {"kind": "Service"}) >= 1
    assert metric_value(text, "picsource_operator_drift_corrections_total", {"kind": "Deployment"}) >= 1
    assert restored_after < 10


def test_workers_scale_with_the_backlog(gallery_env: Env, running_operator: OperatorProcess) -> None:
    from bson import ObjectId

    from picsource_core.config import MongoSettings
    from picsource_core.mongo import connect
    from picsource_core.queue import JobQueue

    env = gallery_env
    doc = env.gallery("photos", base="autoscaling")
    doc["spec"]["worker"]["autoscaling"] = {"minReplicas": 1, "maxReplicas": 4, "targetBacklogPerWorker": 2,
                                            "scaleDownStabilizationSeconds": 3}
    doc["spec"]["web"] = {"replicas": 1}
    env.apply(doc)
    env.wait_condition("photos", "Ready", "True", timeout=60)
    worker = WORKER.replace("{name}", "photos")
    assert env.obj(worker)["spec"]["replicas"] == 1
    db = connect(MongoSettings(uri=env.mongo.uri, database=doc["spec"]["database"]["name"]))
    queue = JobQueue(db)
    for _ in range(5):
        queue.enqueue(ObjectId())
    wait_until(lambda: env.obj(worker)["spec"]["replicas"] == 3, 20, "workers to scale up to ceil(5/2)=3")
    for _ in range(10):
        queue.enqueue(ObjectId())
    wait_until(lambda: env.obj(worker)["spec"]["replicas"] == 4, 20, "workers to scale up to max 4")
    # The scaled Deployment is applied before the status that explains it is published.
    wait_until(lambda: (env.get("photos")["status"].get("backlog"), env.get("photos")["status"].get(
        "desiredWorkers")) == (15, 4), 10, "status backlog 15 and desiredWorkers 4")
    wait_until(lambda: env.get("photos")["status"].get("workerReadyReplicas") == 4, 20, "4 ready workers")
    wait_until(lambda: any(e["reason"] == "ScaledUp" for e in env.events("photos")), 10,
               "the ScaledUp event (posted after the scale)")
    db[JobQueue(db).jobs.name].delete_many({})
    wait_until(lambda: env.obj(worker)["spec"]["replicas"] == 1, 30, "workers to scale back down to 1")
    wait_until(lambda: any(e["reason"] == "ScaledDown" for e in env.events("photos")), 10,
               "the ScaledDown event (posted after the scale)")
    text = running_operator.metrics()
    assert metric_value(text, "picsource_operator_autoscaler_decisions_total", {"direction": "up"}) >= 2
    assert metric_value(text, "picsource_operator_autoscaler_decisions_total", {"direction": "down"}) >= 1
    db.client.close()


def test_paused_gallery_is_left_alone(gallery_env: Env, running_operator: OperatorProcess,
                                      kubectl: Any) -> None:
    env = gallery_env
    doc = env.gallery("photos", web={"replicas": 1})
    env.apply(doc)
    env.wait_condition("photos", "Ready", "True", timeout=60)
    doc["spec"]["paused"] = True
    doc["spec"]["web"] = {"replicas": 3}
    env.apply(doc)
    wait_until(lambda: env.get("photos")["status"]["phase"] == "Paused", 15, "phase Paused")
    kubectl("delete", "service", "photos-web", "-n", env.namespace)
    time.sleep(8)
    assert env.obj("/api/v1/namespaces/{ns}/services/photos-web") is None
    assert env.obj("/apis/apps/v1/namespaces/{ns}/deployments/photos-web")["spec"]["replicas"] == 1
    doc["spec"]["paused"] = False
    env.apply(doc)
    wait_until(lambda: env.obj("/api/v1/namespaces/{ns}/services/photos-web") is not None, 15,
               "the Service after unpausing")
    wait_until(lambda: env.obj("/apis/apps/v1/namespaces/{ns}/deployments/photos-web")["spec"]["replicas"] == 3,
               15, "web replicas 3 after unpausing")


def test_delete_retains_or_removes_bucket_and_database(gallery_env: Env, running_operator: OperatorProcess,
                                                       kubectl: Any) -> None:
    import pymongo

    env = gallery_env
    keep = env.gallery("keep", web={"replicas": 1})
    drop = env.gallery("drop", base="reclaim-delete")
    env.apply(keep)
    env.apply(drop)
    env.wait_condition("keep", "StorageBound", "True", timeout=60)
    env.wait_condition("drop", "DatabaseBound", "True", timeout=60)
    client = env.minio.client()
    import io
    for doc in (keep, drop):
        client.put_object(doc["spec"]["storage"]["bucket"], "originals/u/i", io.BytesIO(b"x"), 1)
    mongo: Any = pymongo.MongoClient(env.mongo.uri)
    for doc in (keep, drop):
        mongo[doc["spec"]["database"]["name"]]["images"].insert_one({"x": 1})

    assert gallery_series(running_operator, env.namespace, "keep")
    kubectl("delete", "gallery", "keep", "-n", env.namespace, "--timeout=30s")
    wait_until(lambda: not gallery_series(running_operator, env.namespace, "keep"), 10,
               "the deleted Gallery's per-gallery series to be removed")
    assert client.bucket_exists(keep["spec"]["storage"]["bucket"])
    assert mongo[keep["spec"]["database"]["name"]]["images"].count_documents({}) == 1

    # A failing reclaim is reported and retried, never dropped: remove the credentials first.
    kubectl("delete", "secret", "drop-s3", "-n", env.namespace)
    kubectl("delete", "gallery", "drop", "-n", env.namespace, "--wait=false")
    wait_until(lambda: any(e["reason"] == "SecretMissing" and e["type"] == "Warning"
                           for e in env.events("drop")), 20, "a Warning event about the failed reclaim")
    assert env.get("drop") is not None  # still there, held by the finalizer
    assert env.condition("drop", "Ready")["reason"] == "SecretMissing"
    assert metric_value(running_operator.metrics(), "picsource_operator_gallery_ready",
                        {"namespace": env.namespace, "name": "drop"}) == 0
    assert gallery_series(running_operator, env.namespace, "drop")
    env.secret("drop-s3", {"accessKey": env.minio.access_key, "secretKey": env.minio.secret_key})
    wait_until(lambda: env.get("drop") is None, 60, "the Delete gallery to be finalized")
    assert not client.bucket_exists(drop["spec"]["storage"]["bucket"])
    assert drop["spec"]["database"]["name"] not in mongo.list_database_names()
    wait_until(lambda: not gallery_series(running_operator, env.namespace, "drop"), 10,
               "the finalized Gallery's per-gallery series to be removed")
    mongo.close()


def gallery_series(operator: OperatorProcess, namespace: str, name: str) -> list[str]:
    """The per-gallery samples the operator exports for one Gallery."""
    labels = {f'namespace="{namespace}"', f'name="{name}"'}
    return [line for line in operator.metrics().splitlines()
            if line.startswith(("picsource_operator_gallery_ready{", "picsource_operator_workers_"))
            and labels <= set(line.partition("{")[2].partition("}")[0].split(","))]


def test_operator_killed_mid_reconcile_converges_after_restart(gallery_env: Env,
                                                               running_operator: OperatorProcess,
                                                               kubectl: Any) -> None:
    env = gallery_env
    env.apply(env.gallery("photos"))
    # Kill it as soon as it has started writing children.
    wait_until(lambda: env.obj("/api/v1/namespaces/{ns}/secrets/photos-app") is not None, 30,
               "the first child object")
    running_operator.kill()
    # While it is down: a hand-deleted child and a spec change.
    kubectl("delete", "configmap", "photos-config", "-n", env.namespace, "--ignore-not-found")
    kubectl("patch", "gallery", "photos", "-n", env.namespace, "--type=merge",
            "-p", json.dumps({"spec": {"web": {"replicas": 1}}}))
    running_operator.start()
    # Ready may still be True from before the kill (the first run can finish before it):
    # wait until the restarted operator has reconciled the patched generation.
    def reconciled() -> bool:
        gallery = env.get("photos") or {}
        status = gallery.get("status") or {}
        return status.get("observedGeneration") == gallery["metadata"]["generation"]

    wait_until(reconciled, 60, "the patched generation reconciled")
    env.wait_condition("photos", "Ready", "True", timeout=60)
    for path in CHILDREN:
        assert env.obj(path) is not None, path
    assert env.obj("/apis/apps/v1/namespaces/{ns}/deployments/photos-web")["spec"]["replicas"] == 1
