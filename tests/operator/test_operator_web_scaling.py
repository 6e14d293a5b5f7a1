"""The web autoscaler's pure parts: spec.web.autoscaling parsed with the CRD's defaults and
clear errors, the shared decision on requests in flight, the builders and the resume."""

from __future__ import annotations

import pytest
from operator_samples import gallery_body
from test_operator_spec import apply_defaults, crd_schema

from picsource_operator.autoscale import IN_FLIGHT, decide_replicas
from picsource_operator.builders import build_all
from picsource_operator.spec import SpecError, WebAutoscaling, parse_gallery
from picsource_operator.state import GalleryState
from picsource_operator.status import desired_web
from picsource_operator.web_scaling import resume_web

KEY = "k" * 48
WEB = WebAutoscaling(max_replicas=6, min_replicas=1, target_in_flight_per_replica=4,
                     scale_down_stabilization_seconds=300)


def test_web_autoscaling_defaults_equal_the_crd_defaults():
    auto = {"autoscaling": {"maxReplicas": 5}}
    defaulted = gallery_body(web={"autoscaling": {"maxReplicas": 5}})
    defaulted["spec"] = apply_defaults(crd_schema()["properties"]["spec"], defaulted["spec"])
    parsed = parse_gallery(defaulted)
    assert parsed == parse_gallery(gallery_body(web=auto))
    assert parsed.web.autoscaling == WebAutoscaling(max_replicas=5, min_replicas=1,
                                                    target_in_flight_per_replica=4,
                                                    scale_down_stabilization_seconds=300)


def test_parsed_web_autoscaling():
    g = parse_gallery(gallery_body(web={"replicas": 3, "autoscaling": {
        "minReplicas": 2, "maxReplicas": 9, "targetInFlightPerReplica": 6, "scaleDownStabilizationSeconds": 30}}))
    assert g.web.autoscaling == WebAutoscaling(9, 2, 6, 30)
    assert parse_gallery(gallery_body()).web.autoscaling is None


@pytest.mark.parametrize(("autoscaling", "message"), [
    ({"minReplicas": 1}, r"spec\.web\.autoscaling\.maxReplicas is required"),
    ({"minReplicas": 5, "maxReplicas": 3}, r"spec\.web\.autoscaling\.minReplicas \(5\) must be <= maxReplicas \(3\)"),
    ({"minReplicas": 0, "maxReplicas": 3}, r"spec\.web\.autoscaling\.minReplicas must be a whole number from 1"),
    ({"maxReplicas": 3, "targetInFlightPerReplica": 0}, r"targetInFlightPerReplica must be a whole number"),
    ({"maxReplicas": "3"}, r"maxReplicas must be a whole number from 1 to 100, not '3'"),
    ({"maxReplicas": 3, "scaleDownStabilizationSeconds": -1}, "scaleDownStabilizationSeconds"),
    ([3], r"spec\.web\.autoscaling must be an object"),
])
def test_impossible_web_autoscaling_names_the_field(autoscaling, message):
    with pytest.raises(SpecError, match=message):
        parse_gallery(gallery_body(web={"autoscaling": autoscaling}))


def test_web_scales_up_at_once_on_requests_in_flight():
    d = decide_replicas(9.5, 1, WEB, (), 100.0, IN_FLIGHT)
    assert (d.replicas, d.direction) == (3, "up")
    assert d.reason == "requests in flight 9.5 needs 3 web pod(s) at 4 per web pod: scaling up from 1 to 3"
    assert decide_replicas(400.0, 3, WEB, d.history, 101.0, IN_FLIGHT).replicas == 6  # maxReplicas


def test_web_scales_down_only_after_the_window():
    d = decide_replicas(12.0, 1, WEB, (), 0.0, IN_FLIGHT)
    idle = decide_replicas(0.0, d.replicas, WEB, d.history, 200.0, IN_FLIGHT)
    assert (idle.replicas, idle.direction) == (3, "none")
    assert "holding 3 for the 300s scale-down stabilisation window" in idle.reason
    later = decide_replicas(0.0, 3, WEB, idle.history, 301.0, IN_FLIGHT)
    assert (later.replicas, later.direction) == (1, "down")  # never below minReplicas


def test_the_web_deployment_takes_the_autoscalers_replicas():
    g = parse_gallery(gallery_body(web={"replicas": 2, "autoscaling": {"maxReplicas": 5}}))
    (dep,) = [o for o in build_all(g, secret_key=KEY, worker_replicas=1, web_replicas=4)
              if o["kind"] == "Deployment" and o["metadata"]["name"] == "photos-web"]
    assert dep["spec"]["replicas"] == 4
    (fixed,) = [o for o in build_all(g, secret_key=KEY, worker_replicas=1)
                if o["kind"] == "Deployment" and o["metadata"]["name"] == "photos-web"]
    assert fixed["spec"]["replicas"] == 2


def test_desired_web_replicas_resume_from_status_within_bounds():
    g = parse_gallery(gallery_body(web={"replicas": 2, "autoscaling": {"minReplicas": 2, "maxReplicas": 5}}))
    st = GalleryState()
    assert desired_web(g, st) == 2  # minReplicas before any decision; spec.web.replicas ignored
    resume_web(g, st, {"status": {"desiredWebReplicas": 9}})
    assert (st.desired_web, desired_web(g, st)) == (5, 5)  # clamped to maxReplicas
    fresh = GalleryState()
    resume_web(g, fresh, {"status": {"desiredWebReplicas": 3}})
    assert desired_web(g, fresh) == 3
    fixed = parse_gallery(gallery_body(web={"replicas": 3}))
    resume_web(fixed, fresh, {})
    assert (fresh.desired_web, desired_web(fixed, fresh)) == (None, 3)
