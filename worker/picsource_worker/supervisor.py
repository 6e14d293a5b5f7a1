"""The worker's main process: starts K analysis processes and watches over them.

It owns no jobs itself. It keeps WORKER_CONCURRENCY children alive (restarting one that
crashed, and at once, without crash backoff, one that recycled itself after its
WORKER_MAX_JOBS_PER_PROCESS jobs: picsource_worker.recycle; all are forked from a
forkserver that loaded the models once, so a restarted child is ready without loading
them again: picsource_worker.preload), refreshes queue
statistics for /metrics, answers /healthz (failing when its own loop or a child has
stopped ticking), and on SIGTERM/SIGINT tells the children to stop
claiming, waits up to WORKER_GRACE_SECONDS for them to finish or release their jobs,
and exits 0.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import random
import shutil
import signal
import threading
import time
from multiprocessing.context import ForkServerProcess

from prometheus_client import multiprocess
from pymongo.database import Database
from pymongo.errors import PyMongoError

from picsource_core import blas_threads
from picsource_core.image_documents import ImageDocuments
from picsource_core.metrics import Heartbeat, serve_metrics
from picsource_core.mongo import Document, connect, ensure_indexes
from picsource_core.queue import JobQueue
from picsource_worker import exposition, tempdirs
from picsource_worker.recycle import MAX_DUTIES, RECYCLED, SLOTS_PER_DUTY, jobs_before_recycle
from picsource_worker.runner import Shared, run_slot
from picsource_worker.settings import Settings

log = logging.getLogger("picsource_worker")
#: Extra seconds after the grace period before stragglers are killed.
KILL_MARGIN = 3.0
STATS_EVERY = 2.0
#: ...or, when reading them is slow (they count every pending job: 170 ms at 2,000 on
#: SecantusDB), this many times as long as the last read took, so that the statistics
#: never take more than 1/20 of the database's time.
STATS_COST_FACTOR = 20.0
#: The folder recycled processes hand their pHash copies on through (hash_snapshots).
HASH_DIR_PREFIX = "picsource-phashes-"
TICK = 0.2
#: A child that dies sooner than this after its start is crash-looping and is restarted
#: with a growing delay. Forked with its models, a child is ready in about 0.1 s, so one
#: that crashes after working a while (a decoder segfault on one upload) comes back at once.
YOUNG_SECONDS = 2.0


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ctx = multiprocessing.get_context("forkserver")
        # The forkserver starts with the first child, imports this module, and forks every
        # child from then on: the models load once, for all of them (picsource_worker.preload).
        self.ctx.set_forkserver_preload(["picsource_worker.forkserver"])
        k = settings.concurrency
        self.shared = Shared(
            stop=self.ctx.Event(),
            deadline=self.ctx.Value("d", 0.0, lock=False),
            ticks=self.ctx.Array("d", [time.time()] * k, lock=False),
            busy=self.ctx.Array("b", [0] * k, lock=False),
            supervisor_pid=multiprocessing.current_process().pid or 0,
            duties=self.ctx.Array("d", [0.0] * (SLOTS_PER_DUTY * MAX_DUTIES), lock=False),
        )
        self.rng = random.Random()
        self.children: list[ForkServerProcess | None] = [None] * k
        self.started_at = [0.0] * k
        self.crashes = [0] * k
        self.restart_at = [0.0] * k
        self.heartbeat = Heartbeat(settings.health_seconds)
        self.snapshot = exposition.QueueSnapshot()
        self.signalled: list[int] = []
        self._stats_due = 0.0

    # --- lifecycle --------------------------------------------------------------------
    def run(self) -> int:
        # Before the forkserver starts (with the first child): it and every analysis process
        # forked from it get the allocator (picsource_worker.allocator); this process keeps glibc.
        # They also get one BLAS thread each, read when numpy loads (picsource_core.blas_threads).
        self.settings.allocator.apply()
        blas_threads.apply()
        log.info("analysis processes allocate with %s", self.settings.allocator.describe(os.environ))
        metrics_dir, owned = exposition.prepare_multiprocess_dir()
        db = connect(self.settings.mongo, app_name="picsource-worker-supervisor")
        self.queue = JobQueue(db)
        try:
            ensure_indexes(db)
        except PyMongoError as exc:  # the children retry; do not crash-loop on a slow start
            log.warning("could not ensure indexes yet: %s", exc)
        # Images stored before the timeline key existed get theirs (idempotent), beside the
        # work: a large gallery's walk must not hold back /healthz or the first jobs.
        threading.Thread(target=self._backfill_timeline, args=(db,), name="timeline backfill",
                         daemon=True).start()
        collector = exposition.SupervisorCollector(
            lambda: self.snapshot, self.busy_slots, self.settings.concurrency
        )
        server = serve_metrics(
            self.settings.metrics_port,
            health=self.health,
            collect=exposition.registry_factory(metrics_dir, collector),
        )
        log.info("metrics and /healthz on port %d", server.server_address[1])
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _frame: self.signalled.append(signum))
        # Recycled processes hand their pHash copies on through here (hash_snapshots).
        self.shared.hash_dir = tempdirs.make(HASH_DIR_PREFIX)
        try:
            self._loop()
        finally:
            server.shutdown()
            db.client.close()
            exposition.remove_multiprocess_dir(metrics_dir, owned)
            shutil.rmtree(self.shared.hash_dir, ignore_errors=True)
        log.info("stopped")
        return 0

    @staticmethod
    def _backfill_timeline(db: Database[Document]) -> None:
        try:
            done = ImageDocuments(db).backfill_timeline()
        except PyMongoError as exc:  # the next start-up walks again
            log.warning("could not backfill the timeline keys: %s", exc)
            return
        if done:
            log.info("gave %d older image(s) their timeline key", done)

    def _loop(self) -> None:
        for slot in range(self.settings.concurrency):
            self._start(slot)
        while not self.signalled:
            self._reap_and_restart()
            self._refresh_stats()
            self.heartbeat.beat()
            # Wakes as soon as a child exits: a recycled slot is forked again without idling
            # out the tick (with 50 jobs a process, a 0.2 s gap each would cost ~1 %).
            multiprocessing.connection.wait([p.sentinel for p in self.children if p is not None], TICK)
        self._drain()

    def _start(self, slot: int) -> None:
        self.shared.ticks[slot] = time.time()
        self.shared.busy[slot] = 0
        max_jobs = jobs_before_recycle(self.settings.max_jobs_per_process, self.rng)
        proc = self.ctx.Process(
            target=run_slot, args=(slot, self.settings, self.shared, max_jobs), name=f"analysis-{slot}"
        )
        proc.start()
        self.children[slot] = proc
        self.started_at[slot] = time.monotonic()
        log.info("started analysis process %d (pid %s)", slot, proc.pid)

    def _reap_and_restart(self) -> None:
        """Restart exited children; back off (up to 30 s) when one keeps dying young. One that
        recycled itself is replaced at once, however young (picsource_worker.recycle)."""
        now = time.monotonic()
        for slot, proc in enumerate(self.children):
            if proc is not None and not proc.is_alive():
                recycled = proc.exitcode == RECYCLED
                if recycled:
                    log.info("analysis process %d (pid %s) recycled; forking a fresh one", slot, proc.pid)
                else:
                    log.warning("analysis process %d (pid %s) exited with %s",
                                slot, proc.pid, proc.exitcode)  # fmt: skip
                self._forget(proc)
                self.children[slot] = None
                young = not recycled and now - self.started_at[slot] < YOUNG_SECONDS
                self.crashes[slot] = self.crashes[slot] + 1 if young else 0
                self.restart_at[slot] = (
                    now + min(30.0, 0.5 * 2 ** self.crashes[slot]) if young else now
                )
            if self.children[slot] is None and now >= self.restart_at[slot]:
                self._start(slot)

    def _drain(self) -> None:
        grace = self.settings.grace_seconds
        log.info("signal %s: stop claiming, %gs to finish or release jobs",
                 self.signalled[0], grace)  # fmt: skip
        self.shared.deadline.value = time.time() + grace
        self.shared.stop.set()
        hard_deadline = time.monotonic() + grace + KILL_MARGIN
        for proc in self.children:
            if proc is None:
                continue
            proc.join(max(0.0, hard_deadline - time.monotonic()))
            if proc.is_alive():
                log.error("analysis process pid %s did not stop in time; killing it", proc.pid)
                proc.kill()
                proc.join(5)
            self._forget(proc)

    def _forget(self, proc: ForkServerProcess) -> None:
        if proc.pid is not None:
            multiprocess.mark_process_dead(proc.pid)
        slot = self.children.index(proc) if proc in self.children else None
        if slot is not None:
            self.shared.busy[slot] = 0

    # --- observation ------------------------------------------------------------------
    def _refresh_stats(self) -> None:
        if time.monotonic() < self._stats_due:
            return
        started = time.monotonic()
        self._stats_due = started + STATS_EVERY
        try:
            stats = self.queue.stats()
        except PyMongoError as exc:
            log.warning("cannot read queue statistics: %s", exc)
            return
        self._stats_due = started + max(STATS_EVERY, STATS_COST_FACTOR * (time.monotonic() - started))
        self.snapshot = exposition.QueueSnapshot(
            stats.pending, stats.running, stats.failed, stats.oldest_pending_age_seconds
        )

    def busy_slots(self) -> int:
        return sum(1 for flag in self.shared.busy[:] if flag)

    def health(self) -> tuple[bool, str]:
        ok, message = self.heartbeat.check()
        if not ok:
            return ok, message
        now = time.time()
        for slot, proc in enumerate(self.children):
            silence = now - self.shared.ticks[slot]
            if proc is not None and proc.is_alive() and silence > self.settings.health_seconds:
                return False, f"analysis process {slot} silent for {silence:.0f}s"
        return True, "ok"


def run(settings: Settings) -> int:
    return Supervisor(settings).run()
