"""Autoscaling as a pure decision, for the workers (queue backlog) and the web tier (requests in flight).

Why not an HPA: neither measure is a resource metric. The backlog lives in MongoDB and the
web tier's load in its processes' reports there (picsource_core.web_load); exposing them to
an HPA needs a metrics adapter. The operator already reads that database, so it decides
here, with the HPA's semantics: desired = ceil(load / target per replica) within [min, max],
scale up at once, scale down only to the highest recommendation seen within the
stabilisation window (a briefly empty queue or a quiet minute must not kill pods that
are still busy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

History = tuple[tuple[float, int], ...]


class Policy(Protocol):
    """What a decision needs from a spec (spec.Autoscaling, spec.WebAutoscaling)."""

    @property
    def min_replicas(self) -> int: ...
    @property
    def max_replicas(self) -> int: ...
    @property
    def target(self) -> float: ...
    @property
    def scale_down_stabilization_seconds(self) -> int: ...


@dataclass(frozen=True)
class Measure:
    """How a decision's reason names the load and the replicas (for the Event and the log)."""

    load: str
    replica: str


BACKLOG = Measure("backlog", "worker")
IN_FLIGHT = Measure("requests in flight", "web pod")


@dataclass(frozen=True)
class ScaleDecision:
    replicas: int
    recommendation: int
    direction: str  # "up", "down" or "none"
    reason: str
    history: History


def recommend(load: float, spec: Policy) -> int:
    """ceil(load / target) clamped to [min, max]."""
    wanted = math.ceil(max(0.0, load) / spec.target)
    return max(spec.min_replicas, min(spec.max_replicas, wanted))


def decide_replicas(load: float, current: int, spec: Policy, history: Sequence[tuple[float, int]],
                    now: float, measure: Measure = BACKLOG) -> ScaleDecision:
    """The replicas the Deployment should have now, and the history to keep.

    `history` holds earlier (time, recommendation) pairs; entries older than the
    stabilisation window are dropped from the returned history.
    """
    rec = recommend(load, spec)
    window = spec.scale_down_stabilization_seconds
    kept = tuple((t, r) for t, r in history if now - t < window) + ((now, rec),)
    if rec >= current:
        replicas = rec
    else:
        # Highest recommendation within the window, never above where we are.
        replicas = min(current, max(r for _, r in kept))
    replicas = max(spec.min_replicas, min(spec.max_replicas, replicas))
    what, unit = f"{measure.load} {round(load, 1):g}", f"{measure.replica}(s)"
    if replicas > current:
        direction = "up"
        reason = (f"{what} needs {rec} {unit} at {spec.target:g} per {measure.replica}: "
                  f"scaling up from {current} to {replicas}")
    elif replicas < current:
        direction = "down"
        reason = f"{what} needs {rec} {unit}: scaling down from {current} to {replicas}"
    else:
        direction = "none"
        if rec < current:
            reason = (f"{what} needs {rec} {unit}; holding {current} for the "
                      f"{window}s scale-down stabilisation window")
        else:
            reason = f"{what}: {current} {unit} is right"
    return ScaleDecision(replicas, rec, direction, reason, kept)


def resumed(spec: Policy, decided: int | None, recorded: object, history: History,
            now: float) -> tuple[int, History]:
    """Where an autoscaler stands: its last decision in this process, else the one recorded
    in the Gallery's status (after a restart), else minReplicas; always within the bounds
    (the spec may have changed), with the history seeded by it so a restart scales down
    no sooner than the window allows."""
    if decided is None:
        decided = int(str(recorded)) if recorded is not None else spec.min_replicas
    current = max(spec.min_replicas, min(spec.max_replicas, decided))
    return current, history or ((now, current),)
