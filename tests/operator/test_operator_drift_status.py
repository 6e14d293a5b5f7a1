"""Pure parts of drift detection and status computation (no cluster needed)."""

from __future__ import annotations

from operator_samples import gallery_body

from picsource_operator import conditions as c
from picsource_operator.drift import foreign_managers, owning_gallery
from picsource_operator.reconcile import record_deployment
from picsource_operator.settings import OperatorSettings
from picsource_operator.spec import parse_gallery
from picsource_operator.state import GalleryState, Runtime
from picsource_operator.status import build_status


def runtime() -> Runtime:
    # build_status never calls the API, so no client is needed here.
    return Runtime(settings=OperatorSettings(), kube=None)  # type: ignore[arg-type]


def managed(*entries: tuple[str, str | None, dict]) -> dict:
    return {"metadata": {"managedFields": [
        {"manager": m, "operation": "Update", "subresource": sub, "fieldsV1": f} if sub else
        {"manager": m, "operation": "Update", "fieldsV1": f}
        for m, sub, f in entries
    ]}}


def test_foreign_spec_owners_are_drift_but_status_and_metadata_writers_are_not():
    ours = ("picsource-operator", None, {"f:spec": {"f:replicas": {}}})
    controller_status = ("kube-controller-manager", "status", {"f:status": {}})
    revision = ("kube-controller-manager", None, {"f:metadata": {"f:annotations": {}}})
    assert foreign_managers(managed(ours, controller_status, revision)) == []
    edit = ("kubectl-patch", None, {"f:spec": {"f:replicas": {}}})
    assert foreign_managers(managed(ours, edit)) == ["kubectl-patch"]
    data_edit = ("kubectl-edit", None, {"f:data": {"f:MAX_UPLOAD_BYTES": {}}})
    assert foreign_managers(managed(data_edit)) == ["kubectl-edit"]


def test_owning_gallery_reads_the_controller_reference():
    obj = {"metadata": {"ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x"},
        {"apiVersion": "picsource.io/v1alpha1", "kind": "Gallery", "name": "photos"},
    ]}}
    assert owning_gallery(obj) == "photos"
    assert owning_gallery({"metadata": {}}) is None
    assert owning_gallery({"metadata": {"ownerReferences": [
        {"apiVersion": "other.io/v1", "kind": "Gallery", "name": "x"}]}}) is None


def deployment(name: str, ready: int, desired: int, rv: str) -> dict:
    return {"metadata": {"namespace": "team-a", "name": name, "resourceVersion": rv},
            "spec": {"replicas": desired}, "status": {"readyReplicas": ready}}


def test_deployment_cache_ignores_older_events():
    rt = runtime()
    assert record_deployment(rt, deployment("photos-web", 0, 2, "10"))
    assert record_deployment(rt, deployment("photos-web", 2, 2, "12"))
    assert not record_deployment(rt, deployment("photos-web", 1, 2, "11"))  # stale
    assert rt.deployments[("team-a", "photos-web")].ready == 2
    assert not record_deployment(rt, deployment("photos-web", 2, 2, "13"))  # no change


def test_status_goes_ready_when_bindings_and_deployments_are():
    rt = runtime()
    g = parse_gallery(gallery_body())
    st = GalleryState()
    status, _ = build_status(rt, g, st, None)
    assert status["phase"] == "Pending"
    assert {cond["type"]: cond["status"] for cond in status["conditions"]} == {
        "Ready": "Unknown", "StorageBound": "Unknown", "DatabaseBound": "Unknown",
        "WebAvailable": "False", "WorkersAvailable": "False", "EgressPinned": "Unknown",
        "Progressing": "True"}  # RollingOut: no pod runs yet
    st.storage = c.Condition(c.STORAGE_BOUND, c.TRUE, "BucketReady", "ok")
    st.database = c.Condition(c.DATABASE_BOUND, c.TRUE, "DatabaseReady", "ok")
    record_deployment(rt, deployment("photos-web", 1, 2, "1"))
    record_deployment(rt, deployment("photos-worker", 1, 1, "2"))
    status, _ = build_status(rt, g, st, status)
    assert status["phase"] == "Progressing"
    assert status["webReadyReplicas"] == 1 and status["workerReadyReplicas"] == 1
    record_deployment(rt, deployment("photos-web", 2, 2, "3"))
    st.backlog = 4
    status, conds = build_status(rt, g, st, status)
    assert status["phase"] == "Ready" and conds[0].ok
    assert status["backlog"] == 4 and status["desiredWorkers"] == 1
    assert status["url"] == "http://photos-web.team-a.svc"
    assert status["observedGeneration"] == 3
    paused, _ = build_status(rt, g, st, status, paused=True)
    assert paused["phase"] == "Paused"
