"""One analysis process: claim a job, keep its lease alive, process it, repeat.

Forked by the supervisor's forkserver with the models already loaded (picsource_worker.
preload), so it creates its own MongoDB client and object store, and loads no model.
A lease keeper thread renews the lease while the job runs, notices a lost lease, and
enforces two deadlines by giving the job back and leaving the process:

* the shutdown deadline (SIGTERM + WORKER_GRACE_SECONDS): the job is released untouched,
  the image goes back to "pending", and the process exits 0;
* the job timeout (a decoder or model that hangs): the job is failed with backoff and
  the process exits 1, so the supervisor starts a fresh one.

After its share of WORKER_MAX_JOBS_PER_PROCESS jobs, a process settles its last job and
exits with ``recycle.RECYCLED`` to give back its fragmented heap; the supervisor forks a
fresh one at once (picsource_worker.recycle).

A process that dies outright (OOM kill, a segfault in a decoder) settles nothing: its
lease expires and the claim counts. Before each claim the loop buries the jobs whose
lease expired on their last attempt, so their images show failed instead of "processing";
slot 0 also purges the trash whose TRASH_DAYS are up (at most every few minutes),
checks images from before uploads removed location (picsource_worker.location), and asks
for the text vectors older images lack (picsource_worker.embed).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from pymongo.errors import PyMongoError

from picsource_core.mongo import connect
from picsource_core.queue import Job, JobQueue
from picsource_core.reanalysis import ReanalysisLedger
from picsource_core.storage import ObjectStore
from picsource_worker import embed, preload
from picsource_worker.hash_snapshots import HashSnapshots
from picsource_worker.job import (
    JobContext,
    JobState,
    bury_abandoned,
    run_job,
    settle_failure,
)
from picsource_worker.location import LocationBackfill
from picsource_worker.reanalysis import ReanalysisBackfill
from picsource_worker.recycle import RECYCLED, Duties
from picsource_worker.settings import Settings
from picsource_worker.trash import TrashPurge

log = logging.getLogger(__name__)
#: Seconds kept in hand before the grace period ends, to release the job and exit.
RELEASE_MARGIN = 1.5
#: How often a slot looks for jobs abandoned on their last attempt (a find on the jobs);
#: between every two claims it was a round trip per analysed image for something rare.
BURY_EVERY_SECONDS = 5.0


@dataclass
class Shared:
    """Objects shared with the supervisor (multiprocessing primitives; picklable for spawn)."""

    stop: Any  # multiprocessing.Event: stop claiming
    deadline: Any  # multiprocessing.Value('d'): wall-clock time by which work must be gone
    ticks: Any  # multiprocessing.Array('d'): last sign of life per slot (time.time())
    busy: Any  # multiprocessing.Array('b'): 1 while the slot holds a job
    supervisor_pid: int
    duties: Any  # multiprocessing.Array('d'): slot 0's duties' progress (recycle.Duties)
    hash_dir: str = ""  # the supervisor's folder for pHash copies (picsource_worker.hash_snapshots)


def run_slot(slot: int, settings: Settings, shared: Shared, max_jobs: int = 0) -> None:
    """Entry point of an analysis process; it recycles itself after ``max_jobs`` jobs (0: never)."""
    _die_with_parent(shared.supervisor_pid)
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s %(levelname)s worker[{slot}] %(message)s",
    )
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor handles Ctrl-C
    local_stop: list[float] = []
    signal.signal(signal.SIGTERM, lambda *_: local_stop.append(time.time()))

    from picsource_worker import metrics  # after spawn: multiprocess values

    db = connect(settings.mongo, app_name="picsource-worker")
    store = ObjectStore(settings.storage)
    ctx = JobContext(
        db=db,
        store=store,
        queue=JobQueue(
            db, max_attempts=settings.max_attempts, backoff_base=settings.retry_backoff_seconds
        ),
        options=settings.analysis_options(),
        max_attempts=settings.max_attempts,
        observe=metrics.observe_steps,
        snapshots=HashSnapshots(shared.hash_dir) if shared.hash_dir else None,
    )
    worker_id = f"{settings.worker_id}-{slot}-{os.getpid()}"
    duties = Duties([
        # One slot per worker purges expired trash between jobs (picsource_worker.trash),
        TrashPurge(ctx.images, ctx.queue, store, days=settings.trash_days),
        # ...checks images from before uploads removed location (picsource_worker.location),
        LocationBackfill(ctx.images, store),
        # ...asks for the text vectors of images analysed before them (picsource_worker.embed),
        embed.TextBackfill(ctx.images) if ctx.options.text_embedding else None,
        # ...and, after the models changed, asks for older images to be analysed again (throttled);
        # resumed from where a recycled predecessor left them.
        ReanalysisBackfill(ctx.images, ctx.queue, ReanalysisLedger(db)),
    ], shared.duties) if slot == 0 else None  # fmt: skip
    handled = 0
    shared.ticks[slot] = time.time()
    _warm_up(ctx, settings.concurrency)

    def deadline() -> float | None:
        if local_stop:
            own = local_stop[0] + settings.grace_seconds
            return min(own, shared.deadline.value) if shared.stop.is_set() else own
        return shared.deadline.value if shared.stop.is_set() else None

    next_bury = 0.0
    while not (shared.stop.is_set() or local_stop):
        shared.ticks[slot] = time.time()
        try:
            if time.monotonic() >= next_bury:
                metrics.JOBS.labels("failed").inc(bury_abandoned(ctx))
                next_bury = time.monotonic() + BURY_EVERY_SECONDS
            if duties is not None:
                duties.run_if_due()
            job = ctx.queue.claim(worker_id, settings.lease_seconds)
        except PyMongoError as exc:
            log.warning("cannot claim a job: %s", exc)
            shared.stop.wait(settings.poll_seconds)
            continue
        if job is None:
            shared.stop.wait(settings.poll_seconds)
            continue
        if job.reclaimed:
            metrics.LEASES_EXPIRED.inc()
        shared.busy[slot] = 1
        try:
            outcome = _run_with_lease(ctx, job, settings, shared, slot, deadline)
        except Exception:  # noqa: BLE001 - e.g. MongoDB down while settling: the lease expires
            log.exception("job %s could not be settled; its lease will expire", job.id)
            outcome = "lost"
        finally:
            shared.busy[slot] = 0
        metrics.JOBS.labels(outcome).inc()
        log.info("job %s image %s: %s", job.id, job.image_id, outcome)
        handled += 1
        if max_jobs and handled >= max_jobs and not (shared.stop.is_set() or local_stop):
            # Settled, no lease held: hand the slot to a fresh fork (picsource_worker.recycle).
            metrics.RECYCLES.inc()
            log.info("recycling after %d jobs", handled)
            ctx.near_duplicates.save()  # the successor reads only what was analysed since
            db.client.close()
            sys.exit(RECYCLED)
    log.info("stopped claiming; exiting")


def _run_with_lease(ctx: JobContext, job: Job, settings: Settings, shared: Shared, slot: int,
                    deadline: Any) -> str:  # fmt: skip
    state = JobState()
    done = threading.Event()
    keeper = threading.Thread(
        target=_keep_lease,
        args=(ctx, job, state, done, settings, shared, slot, deadline),
        name="lease-keeper",
        daemon=True,
    )
    keeper.start()
    try:
        return run_job(ctx, job, state)
    finally:
        done.set()
        keeper.join()


def _keep_lease(ctx: JobContext, job: Job, state: JobState, done: threading.Event,
                settings: Settings, shared: Shared, slot: int, deadline: Any) -> None:  # fmt: skip
    started = time.time()
    renew_every = max(0.2, settings.lease_seconds / 3)
    next_renewal = time.monotonic() + renew_every
    while not done.wait(0.2):
        now = time.time()
        shared.ticks[slot] = now
        until = deadline()
        if until is not None and now >= until - min(RELEASE_MARGIN, settings.grace_seconds / 2):
            _give_back(ctx, job, state, "shutdown: grace period over", release=True)
            os._exit(0)
        if now - started > settings.job_timeout_seconds:
            _give_back(ctx, job, state, f"timed out after {settings.job_timeout_seconds:g}s",
                       release=False)  # fmt: skip
            os._exit(1)
        if time.monotonic() >= next_renewal and not state.lost.is_set():
            next_renewal = time.monotonic() + renew_every
            try:
                if not ctx.queue.renew(job, settings.lease_seconds):
                    log.warning("lost the lease on job %s; abandoning it", job.id)
                    state.lost.set()
            except PyMongoError as exc:
                log.warning("cannot renew the lease on job %s: %s", job.id, exc)


def _give_back(ctx: JobContext, job: Job, state: JobState, reason: str, *, release: bool) -> None:
    """Return an unfinished job to the queue and its image to a waiting state."""
    with ctx.commit_lock:
        if state.finished or state.lost.is_set():
            return
        state.lost.set()  # the job thread must not write anything after this
        from picsource_worker import metrics  # already imported by run_slot

        try:
            if release:
                outcome = "released" if ctx.queue.release(job) else "lost"
                if outcome == "released" and job.sets_status:
                    ctx.images.mark_pending(job.image_id)
            else:
                outcome = settle_failure(ctx, job, reason)
            metrics.JOBS.labels(outcome).inc()
            log.warning("gave job %s back (%s): %s", job.id, reason, outcome)
        except PyMongoError as exc:  # the lease will expire and another worker retries
            log.error("could not give job %s back: %s", job.id, exc)


def _warm_up(ctx: JobContext, concurrency: int) -> None:
    """Have the models loaded before the first lease starts ticking: normally inherited
    from the forkserver, loaded here otherwise (slower, and logged)."""
    inherited, loaded_here = preload.warm_up(ctx.options, concurrency)
    log.info("models ready: inherited %s; loaded here %s",
             ", ".join(inherited) or "none", ", ".join(loaded_here) or "none")  # fmt: skip


def _die_with_parent(supervisor_pid: int) -> None:
    """Ask Linux to SIGKILL us when our parent dies (the forkserver, which exits when the
    supervisor does), so no orphan keeps working."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    try:
        os.kill(supervisor_pid, 0)
    except ProcessLookupError:  # the supervisor died before prctl took effect
        os._exit(1)
