"""Instruments updated inside the analysis processes (prometheus-client multiprocess mode).

Imported only by the child processes: the supervisor sets PROMETHEUS_MULTIPROC_DIR before
spawning them, so these values live in per-process files that the supervisor's /metrics
aggregates. Queue depth, oldest-job age and busy slots are the supervisor's own view and
are exported by `exposition.py` instead.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

#: Outcomes of one claimed job.
RESULTS = ("done", "failed", "retry", "deferred", "released", "lost", "skipped")

JOBS = Counter(
    "picsource_worker_jobs_total",
    "Analysis jobs finished by this worker, by outcome (done, failed, retry, deferred, released, lost, skipped).",
    ["result"],
)
STEP_SECONDS = Histogram(
    "picsource_worker_step_duration_seconds",
    "Wall-clock time of one analysis step on one image.",
    ["step"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
LEASES_EXPIRED = Counter(
    "picsource_worker_leases_expired_total",
    "Jobs this worker took over because the previous holder's lease had expired.",
)
RECYCLES = Counter(
    "picsource_worker_process_recycles_total",
    "Analysis processes that exited after WORKER_MAX_JOBS_PER_PROCESS jobs to be replaced by a fresh fork (not crashes).",
)


def observe_steps(durations: dict[str, float]) -> None:
    for step, seconds in durations.items():
        STEP_SECONDS.labels(step).observe(seconds)
