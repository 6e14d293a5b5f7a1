"""The per-gallery gauges the dashboard and the GalleryNotReady alert read (no cluster needed)."""

from __future__ import annotations

from operator_samples import gallery_body
from prometheus_client import REGISTRY

from picsource_operator import conditions as c
from picsource_operator import metrics
from picsource_operator.reconcile import record_deployment
from picsource_operator.settings import OperatorSettings
from picsource_operator.spec import parse_gallery
from picsource_operator.state import GalleryState, Runtime
from picsource_operator.status import build_status

NAMES = ("picsource_operator_gallery_ready", "picsource_operator_workers_desired",
         "picsource_operator_workers_ready")


def sample(metric: str, namespace: str, name: str) -> float | None:
    return REGISTRY.get_sample_value(metric, {"namespace": namespace, "name": name})


def readings(namespace: str, name: str) -> tuple[float | None, ...]:
    return tuple(sample(metric, namespace, name) for metric in NAMES)


def deployment(name: str, ready: int, desired: int, rv: str) -> dict:
    return {"metadata": {"namespace": "team-a", "name": name, "resourceVersion": rv},
            "spec": {"replicas": desired}, "status": {"readyReplicas": ready}}


def test_readings_follow_the_ready_condition_and_worker_counts():
    ready = {"conditions": [{"type": "Ready", "status": "True"}], "desiredWorkers": 3,
             "workerReadyReplicas": 2}
    assert metrics.gallery_readings(ready) == (1.0, 3.0, 2.0)
    for status in ("False", "Unknown"):
        assert metrics.gallery_readings({**ready, "conditions": [
            {"type": "StorageBound", "status": "True"}, {"type": "Ready", "status": status}]})[0] == 0.0
    assert metrics.gallery_readings({}) == (0.0, 0.0, 0.0)


def test_gauges_track_the_computed_status_and_vanish_when_forgotten():
    rt = Runtime(settings=OperatorSettings(), kube=None)  # type: ignore[arg-type]
    g = parse_gallery(gallery_body(worker={"replicas": 2}))
    st = GalleryState()
    status, _ = build_status(rt, g, st, None)
    metrics.record_gallery("team-a", "photos", status)
    assert readings("team-a", "photos") == (0.0, 2.0, 0.0)

    st.storage = c.Condition(c.STORAGE_BOUND, c.TRUE, "BucketReady", "ok")
    st.database = c.Condition(c.DATABASE_BOUND, c.TRUE, "DatabaseReady", "ok")
    record_deployment(rt, deployment("photos-web", 2, 2, "1"))
    record_deployment(rt, deployment("photos-worker", 2, 2, "2"))
    status, _ = build_status(rt, g, st, status)
    metrics.record_gallery("team-a", "photos", status)
    assert readings("team-a", "photos") == (1.0, 2.0, 2.0)

    metrics.record_not_ready("team-a", "photos")
    assert sample("picsource_operator_gallery_ready", "team-a", "photos") == 0.0

    metrics.forget_gallery("team-a", "photos")
    assert readings("team-a", "photos") == (None, None, None)
    metrics.forget_gallery("team-a", "photos")  # twice, or never recorded: no error
    metrics.forget_gallery("team-a", "never-seen")
