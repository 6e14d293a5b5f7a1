"""Process one claimed job: read the original, analyse, write thumbnails and the document.

Every write is idempotent (fixed thumbnail keys overwritten, document fields set whole,
duplicate links via $addToSet/$pull), so a job that runs twice (a lease that expired
under a slow worker, an admin retry) converges on the same state. The final writes run
under ``commit_lock`` so a shutdown that has to give the job back never interleaves with
them, and are skipped once the lease is known to be lost.

A failure is the image's fault unless ``is_infrastructure_error`` says a backing service
failed (MongoDB or S3 unreachable, a timeout, an S3 5xx): then the job waits for the
service with backoff and spends no attempt (see the queue module for the rule).

An ``EMBED`` job (the image's text changed; picsource_worker.embed) only brings the text
vector up to date: it never touches the image's status, and its failures stay on the job
(``Job.sets_status``), so a retry or a dead letter never shows a ready image as failed.
A ``REANALYSE`` job (newer models; picsource_worker.reanalysis) is an analysis with the same
care: the image stays ready with its old analysis until the new one is written.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from typing import Any

import urllib3
from minio.error import InvalidResponseError, S3Error, ServerError
from pymongo.database import Database

from picsource_core import images
from picsource_core.image_documents import WHOLE, ImageDocuments
from picsource_core.location import LOCATION
from picsource_core.mongo import is_outage as is_mongo_outage
from picsource_core.queue import EMBED, FAILED, PENDING, REANALYSE, Job, JobQueue
from picsource_core.storage import (
    ObjectStore,
    StorageError,
    is_server_side,
    location_free_key,
    thumbnail_key,
    thumbnails_prefix,
)
from picsource_worker import embed
from picsource_worker.duplicates import NO_MATCHES, NearDuplicates
from picsource_worker.hash_snapshots import HashSnapshots
from picsource_worker.location import check_original
from picsource_worker.pipeline.analyse import AnalysisOptions, analyse, describe_error
from picsource_worker.results import analysis_fields, failure_fields

log = logging.getLogger(__name__)


def is_infrastructure_error(exc: BaseException) -> bool:
    """True when a backing service failed rather than the image (any exception in the chain)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_outage(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_outage(exc: BaseException) -> bool:
    if is_mongo_outage(exc):
        return True  # pymongo's AutoReconnect, ServerSelectionTimeout, NetworkTimeout, timeouts
    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError
                  | ServerError | InvalidResponseError):  # fmt: skip
        return True
    if isinstance(exc, S3Error):
        return is_server_side(exc)
    return isinstance(exc, StorageError) and exc.reason in {"EndpointUnreachable", "Unavailable"}


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
    #: Copies of the pHashes a predecessor left, and where this process leaves its own.
    snapshots: HashSnapshots | None = None
    #: The image documents of ``db``; every write to one goes through it.
    images: ImageDocuments = field(init=False)
    #: This process's copy of the owners' pHashes (picsource_worker.duplicates).
    near_duplicates: NearDuplicates = field(init=False)

    def __post_init__(self) -> None:
        self.images = ImageDocuments(self.db)
        self.near_duplicates = NearDuplicates(self.images, snapshots=self.snapshots)


@dataclass
class JobState:
    """Shared between the job thread and its lease keeper."""

    lost: threading.Event = field(default_factory=threading.Event)
    finished: bool = False


def run_job(ctx: JobContext, job: Job, state: JobState) -> str:
    """Process `job` and settle it in the queue; returns the outcome for the metrics."""
    try:
        if job.kind == EMBED:
            return _embed(ctx, job, state)
        return _process(ctx, job, state)
    except PermanentJobError as exc:
        return _settle_failure(ctx, job, state, str(exc), permanent=True, fields=exc.fields)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded and retried
        outage = is_infrastructure_error(exc)
        log.warning("job %s for image %s failed%s: %s", job.id, job.image_id,
                    " (backing service; no attempt spent)" if outage else "", exc, exc_info=True)
        return _settle_failure(ctx, job, state, describe_error(exc), permanent=False,
                               infrastructure=outage)


def _process(ctx: JobContext, job: Job, state: JobState) -> str:
    image_id = job.image_id
    again = job.kind == REANALYSE  # a ready image keeps its status and analysis meanwhile
    doc = (ctx.images.find_one({"_id": image_id, "status": images.READY}, WHOLE) if again
           else ctx.images.start_analysis(image_id))
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
    if doc.get(LOCATION) is None:  # uploaded before uploads checked it: the copy first
        fields[LOCATION] = check_original(ctx.store, doc, data, analysis.format)
    near = NO_MATCHES
    if analysis.phash:
        near = ctx.near_duplicates.find(doc.get("owner_id"), image_id, analysis.phash)
    fields[images.NEAR_DUPLICATES] = near.to_store
    text_ok = ctx.options.text_embedding and embed.add_text_fields(doc, fields, ctx.observe)

    with ctx.commit_lock:
        if state.lost.is_set():
            return "lost"
        updated = ctx.images.apply_analysis(image_id, fields, status=images.READY, seen=doc)
        if updated is not None:
            ctx.images.drop_stale_near_duplicate_links(image_id, near.close, seen=doc)
            if text_ok:  # an edit while the job ran made the vector stale: once more
                embed.catch_up(ctx.images, updated)
        else:  # deleted mid-job: do not leave orphaned thumbnails (or a copy) behind
            ctx.store.delete_prefix(thumbnails_prefix(image_id))
            ctx.store.delete(location_free_key(image_id))
        ctx.queue.complete(job)
        state.finished = True
    return "done" if updated is not None else "skipped"


def _embed(ctx: JobContext, job: Job, state: JobState) -> str:
    """An EMBED job: the image's text vector from its text as it is now (ready images only:
    an analysis in progress embeds its own and catches up with edits)."""
    outcome = "skipped"
    if ctx.options.text_embedding:
        doc = ctx.images.find_one({"_id": job.image_id}, embed.READ)
        outcome = "done" if embed.refresh(ctx.images, doc) in ("embedded", "current") else "skipped"
    with ctx.commit_lock:
        if state.lost.is_set():
            return "lost"
        ctx.queue.complete(job)
        state.finished = True
    return outcome


def _read_original(store: ObjectStore, key: str) -> bytes:
    if not key:
        raise PermanentJobError("the image document has no original_key")
    try:
        return store.get_bytes(key)
    except S3Error as exc:
        if exc.code in {"NoSuchKey", "NoSuchObject", "NotFound"}:
            raise PermanentJobError(f"the original {key} is missing from object storage") from exc
        raise


def _settle_failure(ctx: JobContext, job: Job, state: JobState, error: str, *, permanent: bool,
                    fields: dict[str, Any] | None = None, infrastructure: bool = False) -> str:  # fmt: skip
    with ctx.commit_lock:
        if state.lost.is_set():
            return "lost"
        state.finished = True
        return settle_failure(ctx, job, error, permanent=permanent, fields=fields,
                              infrastructure=infrastructure)  # fmt: skip


def settle_failure(ctx: JobContext, job: Job, error: str, *, permanent: bool = False,
                   fields: dict[str, Any] | None = None, infrastructure: bool = False) -> str:  # fmt: skip
    """Record a failure on the job and the image; never leave the image "processing".

    Retries use the worker's WORKER_MAX_ATTEMPTS; a permanent error fails the job now;
    an infrastructure error waits for the service without spending an attempt.
    The caller holds ``commit_lock``.
    """
    attempts = job.attempts if permanent else ctx.max_attempts
    outcome = ctx.queue.fail(replace(job, max_attempts=max(1, attempts)), error,
                             infrastructure=infrastructure and not permanent)  # fmt: skip
    if outcome == FAILED:
        if job.sets_status:
            fail_image(ctx, job.image_id, error, fields)
        return "failed"
    if outcome == PENDING:
        if job.sets_status:
            ctx.images.mark_pending(job.image_id)
        return "deferred" if infrastructure and not permanent else "retry"
    return "lost"


def fail_image(ctx: JobContext, image_id: Any, error: str, fields: dict[str, Any] | None = None) -> None:
    """Show the image failed with ``error`` (its job is failed for good)."""
    failed = {**(fields or {"analysis": {"step_errors": {"job": error}}}), images.NEAR_DUPLICATES: []}
    ctx.images.apply_analysis(image_id, failed, status=images.FAILED, error=error)
    ctx.images.unlink_near_duplicates(image_id)


def bury_abandoned(ctx: JobContext) -> int:
    """Fail the jobs whose worker died on their last attempt, and their images; returns how many."""
    buried = ctx.queue.bury_abandoned()
    for job in buried:
        log.error("%s job %s for image %s: %s", job.kind, job.id, job.image_id, job.last_error)
        if job.sets_status:
            fail_image(ctx, job.image_id, job.last_error)
    return len(buried)
