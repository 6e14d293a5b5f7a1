"""The supervisor's /metrics: the children's multiprocess values plus its own gauges.

Queue depth and the age of the oldest pending job come from MongoDB (refreshed by the
supervisor loop, so a scrape never waits on the database); busy slots come from the
flags the children set in shared memory, which stay correct even when a child is killed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from picsource_worker import tempdirs

ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The folder made when ENV is not set (picsource_worker.tempdirs sweeps a dead one's).
METRICS_DIR_PREFIX = "picsource-worker-metrics-"


@dataclass(frozen=True)
class QueueSnapshot:
    pending: int = 0
    running: int = 0
    failed: int = 0
    oldest_pending_age_seconds: float = 0.0


class SupervisorCollector(Collector):
    """Gauges computed by the supervisor at scrape time from cached state."""

    def __init__(self, snapshot: Callable[[], QueueSnapshot], busy: Callable[[], int],
                 slots: int) -> None:  # fmt: skip
        self._snapshot = snapshot
        self._busy = busy
        self._slots = slots

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot()
        yield GaugeMetricFamily(
            "picsource_queue_pending_jobs",
            "Analysis jobs waiting to be claimed (including those in retry backoff).",
            value=snap.pending,
        )
        yield GaugeMetricFamily(
            "picsource_queue_running_jobs", "Analysis jobs currently leased by a worker.",
            value=snap.running,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "picsource_queue_failed_jobs", "Analysis jobs that exhausted their attempts.",
            value=snap.failed,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "picsource_queue_oldest_pending_age_seconds",
            "Age of the oldest pending analysis job; 0 when the queue is empty.",
            value=snap.oldest_pending_age_seconds,
        )
        yield GaugeMetricFamily(
            "picsource_worker_busy_slots", "Analysis processes of this worker busy with a job.",
            value=self._busy(),
        )  # fmt: skip
        yield GaugeMetricFamily(
            "picsource_worker_slots", "Analysis processes this worker runs (WORKER_CONCURRENCY).",
            value=self._slots,
        )  # fmt: skip


def prepare_multiprocess_dir() -> tuple[str, bool]:
    """Use $PROMETHEUS_MULTIPROC_DIR (wiped: stale files would resurrect old counts) or a
    fresh temporary one; exported so spawned children inherit it. Returns (dir, owned)."""
    existing = os.environ.get(ENV)
    if existing:
        os.makedirs(existing, exist_ok=True)
        for name in os.listdir(existing):
            if name.endswith(".db"):
                os.remove(os.path.join(existing, name))
        return existing, False
    path = tempdirs.make(METRICS_DIR_PREFIX)
    os.environ[ENV] = path
    return path, True


def remove_multiprocess_dir(path: str, owned: bool) -> None:
    if owned:
        shutil.rmtree(path, ignore_errors=True)


def registry_factory(path: str, own: Collector) -> Callable[[], CollectorRegistry]:
    """A fresh registry per scrape: the children's files are re-read every time."""

    def build() -> CollectorRegistry:
        registry = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(registry, path=path)
        registry.register(own)
        return registry

    return build
