"""Process one claimed job: read the original, analyse, write thumbnails and the document.

Every write is idempotent (fixed thumbnail keys overwritten, document fields set whole,
duplicate links via $addToSet/$pull), so a job that runs twice (a lease that expired
under a slow worker, an admin retry) converges on the same state. The final writes run
under ``commit_lock`` so a shutdown that has to give the job back never interleaves with
them, and are skipped once the lease is known to be lost.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from minio.error import S3Error
from pymongo.database import Database

from picsource_core import images
from picsource_core.image_documents import ImageDocuments
from picsource_core.queue import FAILED, PENDING, Job, JobQueue
from picsource_core.storage import ObjectStore, thumbnail_key, thumbnails_prefix
from picsource_worker import duplicates
from picsource_worker.pipeline.analyse import AnalysisOptions, analyse, describe_error
from picsource_worker.results import analysis_fields, failure_fields

log = logging.getLogger(__name__)


class PermanentJobError(Exception):
    """Retrying cannot help (the original is gone, the file is not an image)."""

    def __init__(self, message: str, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.fields = fields


@dataclass
class JobContext:
    """Per-process clients and settings the job needs (created after the process started)."""

    db: Database[Any]
    store: ObjectStore
    queue: JobQueue
    options: AnalysisOptions
    max_attempts: int
    observe: Any = None  # callable(durations) for the step histogram
    commit_lock: threading.Lock = field(default_factory=threading.Lock)
    #: The image documents of ``db``; every write to one goes through it.
    images: ImageDocuments = field(init=False)

    def __post_init__(self) -> None:
        self.images = ImageDocuments(self.db)


@dataclass
class JobState:
    """Shared between the job thread and its lease keeper."""

    lost: threading.Event = field(default_factory=threading.Event)
    finished: bool = False


def run_job(ctx: JobContext, job: Job, state: JobState) -> str:
    """Process `job` and settle it in the queue; returns the outcome for the metrics."""
    try:
        return _process(ctx, job, state)
    except PermanentJobError as exc:
        return _settle_failure(ctx, job, state, str(exc), permanent=True, fields=exc.fields)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded and retried
        log.warning("job %s for image %s failed: %s", job.id, job.image_id, exc, exc_info=True)
        return _settle_failure(ctx, job, state, describe_error(exc), permanent=False)


def _process(ctx: JobContext, job: Job, state: JobState) -> str:
    image_id = job.image_id
    doc = ctx.images.start_analysis(image_id)
    if doc is None:
        with ctx.commit_lock:
            ctx.queue.complete(job)
            state.finished = True
        return "skipped"  # the image was deleted while its job waited
    data = _read_original(ctx.store, str(doc.get("original_key") or ""))
    analysis = analyse(data, ctx.options)
    if ctx.observe is not None:
        ctx.observe(analysis.durations)
    if analysis.fatal_error:
        raise PermanentJobError(analysis.fatal_error, failure_fields(analysis))

    keys: dict[int, str] = {}
    for thumb in analysis.thumbnails:
        keys[thumb.size] = thumbnail_key(image_id, thumb.size)
        ctx.store.put_bytes(keys[thumb.size], thumb.data, thumb.content_type)
    fields = analysis_fields(analysis, keys, ctx.options.safety_threshold)
    near: list[Any] = []
    if analysis.phash:
        near = duplicates.find_near_duplicates(ctx.images, doc.get("owner_id"), image_id, analysis.phash)
    fields["near_duplicates"] = near

    with ctx.commit_lock:
        if state.lost.is_set():
            return "lost"
        updated = ctx.images.apply_analysis(image_id, fields, status=images.READY, seen=doc)
        if updated is not None:
            ctx.images.link_near_duplicates(image_id, near, seen=doc)
        else:  # deleted mid-job: do not leave orphaned thumbnails behind
            ctx.store.delete_prefix(thumbnails_prefix(image_id))
        ctx.queue.complete(job)
        state.finished = True
    return "done" if updated is not None else "skipped"


def _read_original(store: ObjectStore, key: str) -> bytes:
    if not key:
        raise PermanentJobError("the image document has no original_key")
    try:
        return store.get_bytes(key)
    except S3Error as exc:
        if exc.code in {"NoSuchKey", "NoSuchObject", "NotFound"}:
            raise PermanentJobError(f"the original {key} is missing from object storage") from exc
        raise


def _settle_failure(ctx: JobContext, job: Job, state: JobState, error: str, *,
                    permanent: bool, fields: dict[str, Any] | None = None) -> str:  # fmt: skip
    with ctx.commit_lock:
        if state.lost.is_set():
            return "lost"
        state.finished = True
        return settle_failure(ctx, job, error, permanent=permanent, fields=fields)


def settle_failure(ctx: JobContext, job: Job, error: str, *, permanent: bool = False,
                   fields: dict[str, Any] | None = None) -> str:  # fmt: skip
    """Record a failure on the job and the image; never leave the image "processing".

    Retries use the worker's WORKER_MAX_ATTEMPTS; a permanent error fails the job now.
    The caller holds ``commit_lock``.
    """
    attempts = job.attempts if permanent else ctx.max_attempts
    outcome = ctx.queue.fail(replace(job, max_attempts=max(1, attempts)), error)
    if outcome == FAILED:
        failed = {
            **(fields or {"analysis": {"step_errors": {"job": error}}}),
            "near_duplicates": [],
        }
        ctx.images.apply_analysis(job.image_id, failed, status=images.FAILED, error=error)
        ctx.images.unlink_near_duplicates(job.image_id)
        return "failed"
    if outcome == PENDING:
        ctx.images.mark_pending(job.image_id)
        return "retry"
    return "lost"
