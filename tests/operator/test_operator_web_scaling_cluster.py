"""The web autoscaler on the real control plane (kwok runs the pods), with the load reports
in the real MongoDB-wire server.

Pods on kwok run no process, so the test writes the web processes' reports itself, through
the same core writer the web tier uses (picsource_core.web_load), and watches the operator
size the web Deployment from them: up at once, down after the (short) window of the spec.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from operator_runner import Env, OperatorProcess, metric_value

from picsource_core.config import MongoSettings
from picsource_core.mongo import connect
from picsource_core.web_load import LoadSample, WebLoadReports
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

WEB = "/apis/apps/v1/namespaces/{ns}/deployments/photos-web"
AUTOSCALING = {"minReplicas": 1, "maxReplicas": 4, "targetInFlightPerReplica": 2,
               "scaleDownStabilizationSeconds": 2}


def _report(reports: WebLoadReports, pod: str, busy: float, now: datetime, ttl: float = 600) -> None:
    sample = LoadSample(busy=busy, in_flight=round(busy), completed=50, seconds=5.0)
    reports.report(f"{pod}/7", pod, sample, now=now, ttl_seconds=ttl)


def test_web_replicas_follow_the_requests_in_flight(gallery_env: Env, running_operator: OperatorProcess) -> None:
    env = gallery_env
    doc = env.gallery("photos", web={"replicas": 2, "autoscaling": AUTOSCALING})
    env.apply(doc)
    env.wait_condition("photos", "Ready", "True", timeout=60)
    assert env.obj(WEB)["spec"]["replicas"] == 1  # minReplicas: web.replicas is ignored
    db = connect(MongoSettings(uri=env.mongo.uri, database=doc["spec"]["database"]["name"]))
    reports = WebLoadReports(db)
    now = datetime.now(UTC)
    _report(reports, "photos-web-a", 2.5, now)
    _report(reports, "photos-web-b", 2.0, now)
    _report(reports, "photos-web-gone", 100.0, now - timedelta(hours=1), ttl=15)  # expired: not load
    wait_until(lambda: env.obj(WEB)["spec"]["replicas"] == 3, 30, "web replicas ceil(4.5 / 2) = 3")
    wait_until(lambda: {k: env.get("photos")["status"].get(k) for k in ("desiredWebReplicas", "webLoad")}
               == {"desiredWebReplicas": 3, "webLoad": 4.5}, 15, "status desiredWebReplicas 3 and webLoad 4.5")
    wait_until(lambda: env.get("photos")["status"].get("webReadyReplicas") == 3, 30, "3 ready web pods")
    env.wait_condition("photos", "WebAvailable", "True", timeout=15)
    wait_until(lambda: any(e["reason"] == "WebScaledUp" and "requests in flight 4.5" in e["message"]
                           for e in env.events("photos")), 15, "the WebScaledUp event")
    reports.withdraw("photos-web-a/7")
    reports.withdraw("photos-web-b/7")
    wait_until(lambda: env.obj(WEB)["spec"]["replicas"] == 1, 30, "web replicas back to minReplicas 1")
    wait_until(lambda: any(e["reason"] == "WebScaledDown" for e in env.events("photos")), 15,
               "the WebScaledDown event")
    assert env.get("photos")["status"]["desiredWebReplicas"] == 1
    text = running_operator.metrics()
    assert metric_value(text, "picsource_operator_web_autoscaler_decisions_total", {"direction": "up"}) >= 1
    assert metric_value(text, "picsource_operator_web_autoscaler_decisions_total", {"direction": "down"}) >= 1
    db.client.close()


def test_web_autoscaling_is_validated_and_explained(gallery_env: Env, kubectl: Any) -> None:
    env = gallery_env
    bad = env.gallery("bad", web={"autoscaling": {"minReplicas": 5, "maxReplicas": 3}})
    result = env.apply(bad, check=False)
    assert result.returncode != 0
    assert "web.autoscaling.minReplicas must be less than or equal to maxReplicas" in result.stderr
    zero = env.gallery("zero", web={"autoscaling": {"minReplicas": 0, "maxReplicas": 3}})
    result = env.apply(zero, check=False)
    assert result.returncode != 0 and "spec.web.autoscaling.minReplicas" in result.stderr, result.stderr
    wait_until(lambda: kubectl("explain", "gallery.spec.web.autoscaling", check=False).returncode == 0, 60,
               "the Gallery schema in the API server's OpenAPI")
    text = " ".join(kubectl("explain", "gallery.spec.web.autoscaling").stdout.split())
    assert "Scale the web pods on request load" in text
    assert "targetInFlightPerReplica" in text and "scaleDownStabilizationSeconds" in text
    text = " ".join(kubectl("explain", "gallery.status.webLoad").stdout.split())
    assert "Requests in flight in the whole web tier" in text
