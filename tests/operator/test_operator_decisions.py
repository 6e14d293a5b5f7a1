"""Pure decisions: the autoscaler and status conditions."""

from __future__ import annotations

from picsource_operator import conditions as c
from picsource_operator.autoscale import decide_replicas, recommend
from picsource_operator.spec import Autoscaling

AUTO = Autoscaling(max_replicas=10, min_replicas=1, target_backlog_per_worker=5,
                   scale_down_stabilization_seconds=60)


def test_recommendation_is_backlog_over_target_clamped():
    assert recommend(0, AUTO) == 1
    assert recommend(5, AUTO) == 1
    assert recommend(6, AUTO) == 2
    assert recommend(49, AUTO) == 10
    assert recommend(10_000, AUTO) == 10
    assert recommend(0, Autoscaling(max_replicas=3, min_replicas=0)) == 0


def test_scale_up_is_immediate():
    d = decide_replicas(23, current=1, spec=AUTO, history=(), now=100.0)
    assert (d.replicas, d.direction) == (5, "up")
    assert "scaling up from 1 to 5" in d.reason


def test_scale_down_waits_for_the_stabilisation_window():
    history: tuple = ()
    d = decide_replicas(50, current=1, spec=AUTO, history=history, now=0.0)
    assert d.replicas == 10
    # Queue drained 10 s later: hold 10 while the high recommendation is in the window.
    d2 = decide_replicas(0, current=10, spec=AUTO, history=d.history, now=10.0)
    assert (d2.replicas, d2.direction) == (10, "none")
    assert "stabilisation" in d2.reason
    d3 = decide_replicas(0, current=10, spec=AUTO, history=d2.history, now=59.0)
    assert d3.replicas == 10
    # The high recommendation left the window: scale down to the highest remaining one.
    d4 = decide_replicas(0, current=10, spec=AUTO, history=d3.history, now=61.0)
    assert (d4.replicas, d4.direction) == (1, "down")
    assert all(61.0 - t < 60 for t, _ in d4.history)


def test_scale_down_goes_to_highest_recent_recommendation():
    history = ((0.0, 8), (30.0, 4))
    d = decide_replicas(0, current=8, spec=AUTO, history=history, now=70.0)
    assert d.replicas == 4  # the 8 at t=0 expired, the 4 at t=30 has not


def test_zero_window_scales_down_at_once_and_bounds_are_enforced():
    spec = Autoscaling(max_replicas=3, min_replicas=2, target_backlog_per_worker=1,
                       scale_down_stabilization_seconds=0)
    assert decide_replicas(0, 3, spec, ((0.0, 3),), now=1.0).replicas == 2
    # Current outside new bounds (spec edited): clamp at once.
    assert decide_replicas(100, 9, spec, (), now=1.0).replicas == 3
    assert decide_replicas(0, 0, spec, (), now=1.0).replicas == 2


def test_deployment_conditions():
    assert c.deployment_condition(c.WEB_AVAILABLE, "web", None, 2).reason == "DeploymentMissing"
    assert c.deployment_condition(c.WEB_AVAILABLE, "web", 1, 2).status == c.FALSE
    ok = c.deployment_condition(c.WEB_AVAILABLE, "web", 2, 2)
    assert ok.ok and ok.message == "2/2 web replicas ready"
    assert c.deployment_condition(c.WORKERS_AVAILABLE, "worker", 0, 0).reason == "ScaledToZero"


def test_ready_names_the_first_failing_part_and_phase_summarises():
    parts = [
        c.Condition(c.STORAGE_BOUND, c.FALSE, "BucketForbidden", "access denied"),
        c.Condition(c.DATABASE_BOUND, c.TRUE, "Connected", "ok"),
        c.Condition(c.WEB_AVAILABLE, c.TRUE, "ReplicasReady", ""),
        c.Condition(c.WORKERS_AVAILABLE, c.TRUE, "ReplicasReady", ""),
    ]
    ready = c.ready_condition(parts)
    assert (ready.status, ready.reason) == (c.FALSE, "BucketForbidden")
    assert "StorageBound" in ready.message
    assert c.phase(parts) == "Degraded"
    good = [c.Condition(p.type, c.TRUE, "Ok") for p in parts]
    assert c.ready_condition(good).ok and c.phase(good) == "Ready"
    assert c.phase(good, paused=True) == "Paused"
    assert c.phase(good, deleting=True) == "Deleting"
    progressing = [*good[:2], c.Condition(c.WEB_AVAILABLE, c.FALSE, "ReplicasNotReady")]
    assert c.phase(progressing) == "Progressing"
    assert c.phase([c.unknown(c.STORAGE_BOUND), *good[1:]]) == "Pending"


def test_merge_keeps_transition_time_unless_status_changes():
    first = c.merge([], [c.Condition(c.READY, c.FALSE, "Pending", "x")], 1, "2026-01-01T00:00:00Z")
    same = c.merge(first, [c.Condition(c.READY, c.FALSE, "Other", "y")], 2, "2026-01-01T00:01:00Z")
    assert same[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert same[0]["observedGeneration"] == 2 and same[0]["reason"] == "Other"
    flipped = c.merge(same, [c.Condition(c.READY, c.TRUE, "AllComponentsReady")], 2, "2026-01-01T00:02:00Z")
    assert flipped[0]["lastTransitionTime"] == "2026-01-01T00:02:00Z"
    changes = c.transitions(same, [c.Condition(c.READY, c.TRUE, "AllComponentsReady")])
    assert [(cond.type, prev) for cond, prev in changes] == [(c.READY, "False")]
    assert c.transitions(flipped, [c.Condition(c.READY, c.TRUE, "AllComponentsReady")]) == []
