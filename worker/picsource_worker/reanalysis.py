"""Re-analysis of older images after the models changed: a throttled walk in slot 0.

Why throttled: a new pipeline makes every image in the gallery stale at once. Asking for
100,000 jobs in one go would put new uploads behind all of them. The walk asks for at most
``batch`` re-analyses per pass and only while fewer than ``max_backlog`` jobs of any kind
are waiting, so an upload waits behind at most ``max_backlog`` jobs, and the gallery is
re-analysed as fast as the workers are otherwise idle.

The walk goes once over the images in ``_id`` windows (backfill.IdWindows) and records its
position in the ledger (picsource_core.reanalysis), so a restarted worker resumes where it
was and the operator can report progress. Each re-analysis is a REANALYSE job: the image
stays ready with its old analysis until the new one is written (picsource_worker.job).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from picsource_core.image_documents import ImageDocuments
from picsource_core.images import READY
from picsource_core.queue import REANALYSE, JobQueue
from picsource_core.reanalysis import ANALYSIS_PIPELINE, PIPELINE, ReanalysisLedger, pipeline_of
from picsource_worker.backfill import Backfill, IdWindows

#: Seconds between passes while throttled or after a failed pass; re-analyses asked per
#: pass; jobs waiting above which the walk holds back.
INTERVAL_SECONDS = 15.0
BATCH = 100
MAX_BACKLOG = 20


class ReanalysisBackfill(Backfill):
    """Asks for REANALYSE jobs for ready images analysed by an older pipeline."""

    handled_message = "asked for %d image(s) to be analysed again with the current models"
    name = "re-analysis walk"

    def __init__(self, images: ImageDocuments, queue: JobQueue, ledger: ReanalysisLedger, *,
                 pipeline: int = ANALYSIS_PIPELINE, interval: float = INTERVAL_SECONDS,
                 batch: int = BATCH, max_backlog: int = MAX_BACKLOG,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(interval=interval, batch=batch, clock=clock)
        self.images, self.queue, self.ledger = images, queue, ledger
        self.pipeline, self.max_backlog = pipeline, max_backlog
        self._walk: IdWindows | None = None

    def _pass(self, now: float) -> int:
        if self._walk is None:
            entry = self.ledger.get(self.pipeline)
            if self.pipeline <= 1 or (entry and entry.get("done")):
                self.done = True  # nothing older than the first pipeline, or walked already
                return 0
            self._walk = IdWindows()
            if entry and entry.get("walked_to"):
                self._walk.start = entry["walked_to"].replace(tzinfo=UTC)
        waiting = self.queue.stats().pending
        room = min(self.batch, self.max_backlog - waiting)
        if room <= 0:
            self._next = now + self.interval  # throttled: the queue has work enough
            return 0
        wanted: list[ObjectId] = []
        while len(wanted) < room and not self._walk.done:
            ids, end, last = self._walk.query()
            docs = list(self.images.find({"_id": ids}, {"status": 1, f"analysis.{PIPELINE}": 1}))
            stale = sorted(d["_id"] for d in docs if d.get("status") == READY and pipeline_of(d) < self.pipeline)
            self._walk.advance(end, last, len(docs), self.batch)
            if len(wanted) + len(stale) > room:  # a crowded window: the rest waits for the next pass
                wanted += stale[:room - len(wanted)]
                # Resume a second before the last one asked for: ids within one second are not
                # ordered by time, and reading them again is harmless (a pending job stays one
                # job, a re-analysed image is no longer stale).
                self._walk.start, self._walk.done = wanted[-1].generation_time - timedelta(seconds=1), False
                break
            wanted += stale
        requested = self.queue.request(wanted, REANALYSE) if wanted else 0
        self.done = self._walk.done
        self.ledger.advance(self.pipeline, self._walk.start, requested, done=self.done,
                            now=datetime.fromtimestamp(now, UTC))
        return len(wanted)
