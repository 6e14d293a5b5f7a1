"""The worker's settings, read once from the environment at start-up.

A bad value stops the process with one line naming the variable (see ``__main__``)
instead of a traceback minutes later inside a job.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from picsource_core.config import ConfigurationError, Env, MongoSettings, StorageSettings
from picsource_core.cpus import available_cpus
from picsource_core.images import DEFAULT_SAFETY_THRESHOLD
from picsource_core.storage import THUMBNAIL_SIZES
from picsource_core.trash import DEFAULT_TRASH_DAYS, trash_days
from picsource_worker.allocator import Allocator
from picsource_worker.pipeline.analyse import AnalysisOptions
from picsource_worker.pipeline.decode import DEFAULT_MAX_PIXELS

#: Jobs before an analysis process is recycled (picsource_worker.recycle). Measured with
#: bench/bench_recycle.py: a process's peak RSS is set within its first dozen images
#: (~355 MB) and creeps ~10 MB more by 64-96; a new process costs ~100 ms of CPU (~1 % at
#: 50 jobs of ~200 ms; 5-10 % at 12-20, which still peaked at 351-357 MB). 50 caps the
#: creep (and any slow leak) within the throughput budget.
DEFAULT_MAX_JOBS_PER_PROCESS = 50


@dataclass(frozen=True)
class Settings:
    mongo: MongoSettings
    storage: StorageSettings
    #: WORKER_CONCURRENCY: jobs analysed in parallel, one process each (default: the CPUs
    #: this container may use: its cgroup CPU limit if it has one, else the CPU count).
    concurrency: int
    #: WORKER_LEASE_SECONDS: a job's lease; renewed every third of it while working.
    lease_seconds: float = 60.0
    #: WORKER_GRACE_SECONDS: after SIGTERM, time to finish or release running jobs.
    grace_seconds: float = 25.0
    #: WORKER_MAX_ATTEMPTS: tries before a job (and its image) is marked failed.
    max_attempts: int = 5
    #: WORKER_METRICS_PORT: /metrics and /healthz (0 picks a free port, for tests).
    metrics_port: int = 9101
    #: WORKER_OCR / WORKER_FACES / WORKER_LABELS / WORKER_SAFETY: switch model steps.
    ocr: bool = True
    faces: bool = True
    labels: bool = True
    safety: bool = True
    #: WORKER_TEXT_EMBEDDING: embed each image's text for semantic search (picsource_worker.embed).
    text_embedding: bool = True
    #: WORKER_SAFETY_THRESHOLD: NSFW score (0..1) at or above which an image is flagged
    #: ``hidden_from_public`` (the Gallery's spec.worker.analysis.safetyThreshold).
    safety_threshold: float = DEFAULT_SAFETY_THRESHOLD
    #: WORKER_RETRY_BACKOFF_SECONDS: first retry delay; doubles per attempt, or per failed try
    #: during an outage (capped at 300 s).
    retry_backoff_seconds: float = 2.0
    #: WORKER_POLL_SECONDS: idle wait between claims when the queue is empty.
    poll_seconds: float = 1.0
    #: WORKER_MAX_PIXELS (else the web tier's MAX_IMAGE_PIXELS): larger images are refused
    #: before decoding.
    max_pixels: int = DEFAULT_MAX_PIXELS
    #: WORKER_HEALTH_SECONDS: /healthz fails when a loop has not ticked for this long.
    health_seconds: float = 120.0
    #: WORKER_JOB_TIMEOUT_SECONDS: a job still running after this is failed (hung decoder/model).
    job_timeout_seconds: float = 300.0
    #: WORKER_ID: prefix of lease owners (default: the host name, the pod name in a cluster).
    worker_id: str = "worker"
    #: WORKER_MAX_JOBS_PER_PROCESS: an analysis process is replaced by a fresh fork after at
    #: most this many jobs, to give back its fragmented heap (picsource_worker.recycle); 0: never.
    max_jobs_per_process: int = DEFAULT_MAX_JOBS_PER_PROCESS
    #: WORKER_ALLOCATOR (auto, jemalloc, glibc) and WORKER_JEMALLOC_PATH: the analysis
    #: processes' malloc (picsource_worker.allocator); auto is jemalloc where it is found.
    allocator: Allocator = Allocator()
    #: TRASH_DAYS: trashed images older than this are purged by the worker (picsource_worker.trash).
    trash_days: int = DEFAULT_TRASH_DAYS

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        env = Env(environ)
        lease = env.float("WORKER_LEASE_SECONDS", 60.0, minimum=1.0, maximum=3600.0)
        poll = env.float("WORKER_POLL_SECONDS", 1.0, minimum=0.05, maximum=60.0)
        health = env.float("WORKER_HEALTH_SECONDS", 120.0, minimum=1.0, maximum=3600.0)
        threshold = env.float("WORKER_SAFETY_THRESHOLD", DEFAULT_SAFETY_THRESHOLD, minimum=0.0, maximum=1.0)
        if math.isnan(threshold):  # NaN slips through range checks and would flag nothing
            raise ConfigurationError("WORKER_SAFETY_THRESHOLD", "must be a number from 0 to 1")
        if health <= poll:
            raise ConfigurationError(
                "WORKER_HEALTH_SECONDS", f"must be longer than WORKER_POLL_SECONDS ({poll})"
            )
        return cls(
            mongo=MongoSettings.from_env(environ),
            storage=StorageSettings.from_env(environ),
            concurrency=env.int("WORKER_CONCURRENCY", available_cpus(), minimum=1, maximum=256),
            lease_seconds=lease,
            grace_seconds=env.float("WORKER_GRACE_SECONDS", 25.0, minimum=0.0, maximum=3600.0),
            max_attempts=env.int("WORKER_MAX_ATTEMPTS", 5, minimum=1, maximum=100),
            retry_backoff_seconds=env.float(
                "WORKER_RETRY_BACKOFF_SECONDS", 2.0, minimum=0.0, maximum=3600.0
            ),
            metrics_port=env.int("WORKER_METRICS_PORT", 9101, minimum=0, maximum=65535),
            ocr=env.bool("WORKER_OCR", True),
            faces=env.bool("WORKER_FACES", True),
            labels=env.bool("WORKER_LABELS", True),
            safety=env.bool("WORKER_SAFETY", True),
            text_embedding=env.bool("WORKER_TEXT_EMBEDDING", True),
            safety_threshold=threshold,
            poll_seconds=poll,
            max_pixels=env.int(
                "WORKER_MAX_PIXELS",
                env.int("MAX_IMAGE_PIXELS", DEFAULT_MAX_PIXELS, minimum=1),
                minimum=1,
            ),
            health_seconds=health,
            job_timeout_seconds=env.float(
                "WORKER_JOB_TIMEOUT_SECONDS", 300.0, minimum=1.0, maximum=86400.0
            ),
            worker_id=env.str("WORKER_ID", env.str("HOSTNAME", socket.gethostname())),
            max_jobs_per_process=env.int(
                "WORKER_MAX_JOBS_PER_PROCESS", DEFAULT_MAX_JOBS_PER_PROCESS, minimum=0, maximum=1_000_000
            ),
            trash_days=trash_days(environ),
            allocator=Allocator.from_env(environ),
        )

    def analysis_options(self) -> AnalysisOptions:
        return AnalysisOptions(
            labels=self.labels,
            faces=self.faces,
            ocr=self.ocr,
            safety=self.safety,
            text_embedding=self.text_embedding,
            safety_threshold=self.safety_threshold,
            max_pixels=self.max_pixels,
            thumbnail_sizes=tuple(THUMBNAIL_SIZES),
        )
