"""The operator's Prometheus metrics, declared once at import (client_python style).

Served on PICSOURCE_OPERATOR_METRICS_PORT (default 9102) by picsource_core.metrics.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

RECONCILES = Counter(
    "picsource_operator_reconciles", "Gallery reconciles by result.", ["result"],
)
RECONCILE_DURATION = Histogram(
    "picsource_operator_reconcile_duration_seconds", "Time spent in one Gallery reconcile.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
GALLERIES = Gauge("picsource_operator_galleries", "Galleries known to the operator by phase.", ["phase"])
DRIFT_CORRECTIONS = Counter(
    "picsource_operator_drift_corrections", "Owned objects restored after a hand edit or deletion.",
    ["kind"],
)
AUTOSCALER_DECISIONS = Counter(
    "picsource_operator_autoscaler_decisions", "Worker autoscaler changes by direction.", ["direction"],
)

PHASES = ("Pending", "Progressing", "Ready", "Degraded", "Paused", "Deleting")
for _phase in PHASES:
    GALLERIES.labels(_phase)
for _result in ("success", "temporary_error", "permanent_error", "error", "paused"):
    RECONCILES.labels(_result)
for _direction in ("up", "down"):
    AUTOSCALER_DECISIONS.labels(_direction)


def set_phases(phases: Iterable[str]) -> None:
    """Set the galleries-by-phase gauge from the phases of every known gallery."""
    counts = Tally(phases)
    for phase in {*PHASES, *counts}:
        GALLERIES.labels(phase).set(counts.get(phase, 0))
