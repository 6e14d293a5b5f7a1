"""Typed views of the autoscaling specs: workers from the queue backlog, web pods from load.

Both feed the one decision in autoscale.py (through its ``Policy``: min, max, target per
replica, scale-down window); they differ in what is measured. Like spec.py, the API
server validates first (schema + CEL) and this parses again, so a spec from an older CRD
or a unit test's dict gets the same defaults and a SpecError naming the field.

Why the web target is requests in flight per pod (see picsource_core.web_load): a pod's
capacity is its gunicorn threads (2 processes per requested CPU x 4 threads; the default
pod has 8), and a thread is held as long as a request lasts, so slow searches and zip
downloads weigh what they cost, where requests per second would count them like a
cached page. The default of 4 keeps half the default pod's threads free for bursts.

Why ``web.replicas`` is not refused next to ``web.autoscaling`` (as worker.replicas is
next to worker.autoscaling): the CRD defaults web.replicas to 2, so every stored Gallery
has it. While autoscaling is set it is ignored, like a Deployment's replicas under an HPA.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from picsource_operator.errors import SpecError

#: The most replicas either component may have (the CRD's maximum).
MAX_REPLICAS = 100


@dataclass(frozen=True)
class Autoscaling:
    """spec.worker.autoscaling: workers from the analysis queue backlog."""

    max_replicas: int
    min_replicas: int = 1
    target_backlog_per_worker: int = 10
    scale_down_stabilization_seconds: int = 60

    @property
    def target(self) -> float:
        return float(self.target_backlog_per_worker)


@dataclass(frozen=True)
class WebAutoscaling:
    """spec.web.autoscaling: web pods from the requests they have in flight."""

    max_replicas: int
    min_replicas: int = 1
    target_in_flight_per_replica: int = 4
    scale_down_stabilization_seconds: int = 300

    @property
    def target(self) -> float:
        return float(self.target_in_flight_per_replica)


def _whole(raw: Mapping[str, Any], key: str, default: int | None, low: int, high: int) -> int:
    value = raw.get(key, default)
    if value is None:
        raise SpecError(f"spec.web.autoscaling.{key} is required")
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError(f"spec.web.autoscaling.{key} must be a whole number from {low} to {high}, not {value!r}")
    return value


def parse_web_autoscaling(raw: Mapping[str, Any] | None) -> WebAutoscaling | None:
    """spec.web.autoscaling, or None when it is not set. At least one web pod always runs:
    nothing would hold a request while a pod starts (no scale to zero)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise SpecError("spec.web.autoscaling must be an object with minReplicas and maxReplicas")
    auto = WebAutoscaling(
        max_replicas=_whole(raw, "maxReplicas", None, 1, MAX_REPLICAS),
        min_replicas=_whole(raw, "minReplicas", 1, 1, MAX_REPLICAS),
        target_in_flight_per_replica=_whole(raw, "targetInFlightPerReplica", 4, 1, 1000),
        scale_down_stabilization_seconds=_whole(raw, "scaleDownStabilizationSeconds", 300, 0, 3600),
    )
    if auto.min_replicas > auto.max_replicas:
        raise SpecError(f"spec.web.autoscaling.minReplicas ({auto.min_replicas}) must be <= "
                        f"maxReplicas ({auto.max_replicas})")
    return auto
