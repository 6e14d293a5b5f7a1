"""Worker autoscaling from the analysis queue backlog, as a pure decision.

Why not an HPA: the backlog lives in MongoDB, and exposing it to an HPA needs a
metrics adapter. The operator already reads the queue, so it decides here, with
the HPA's semantics: scale up at once, scale down only to the highest
recommendation seen within the stabilisation window (a briefly empty queue must
not kill workers that are still busy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from picsource_operator.spec import Autoscaling

History = tuple[tuple[float, int], ...]


@dataclass(frozen=True)
class ScaleDecision:
    replicas: int
    recommendation: int
    direction: str  # "up", "down" or "none"
    reason: str
    history: History


def recommend(backlog: int, spec: Autoscaling) -> int:
    """ceil(backlog / target) clamped to [min, max]."""
    wanted = math.ceil(max(0, backlog) / spec.target_backlog_per_worker)
    return max(spec.min_replicas, min(spec.max_replicas, wanted))


def decide_replicas(backlog: int, current: int, spec: Autoscaling,
                    history: Sequence[tuple[float, int]], now: float) -> ScaleDecision:
    """The replicas the worker Deployment should have now, and the history to keep.

    `history` holds earlier (time, recommendation) pairs; entries older than the
    stabilisation window are dropped from the returned history.
    """
    rec = recommend(backlog, spec)
    window = spec.scale_down_stabilization_seconds
    kept = tuple((t, r) for t, r in history if now - t < window) + ((now, rec),)
    if rec >= current:
        replicas = rec
    else:
        # Highest recommendation within the window, never above where we are.
        replicas = min(current, max(r for _, r in kept))
    replicas = max(spec.min_replicas, min(spec.max_replicas, replicas))
    if replicas > current:
        direction = "up"
        reason = (f"backlog {backlog} needs {rec} worker(s) at {spec.target_backlog_per_worker} "
                  f"per worker: scaling up from {current} to {replicas}")
    elif replicas < current:
        direction = "down"
        reason = f"backlog {backlog} needs {rec} worker(s): scaling down from {current} to {replicas}"
    else:
        direction = "none"
        if rec < current:
            reason = (f"backlog {backlog} needs {rec} worker(s); holding {current} for the "
                      f"{window}s scale-down stabilisation window")
        else:
            reason = f"backlog {backlog}: {current} worker(s) is right"
    return ScaleDecision(replicas, rec, direction, reason, kept)
