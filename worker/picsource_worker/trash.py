"""The worker's periodic purge of images whose time in the trash (TRASH_DAYS) is up.

Why here and not in the web tier: a web request must never delete on a timer (a slow
page because someone's trash expired, or a purge that depends on traffic). The worker
loop already wakes up every poll; ``TrashPurge.due`` makes it purge at most once per
``interval`` seconds, at most ``batch`` images per pass, so a large expired trash is
worked off over a few passes without holding up analysis jobs. The purge itself (and
what it frees: document, jobs, objects, quota bytes) is picsource_core.trash.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from picsource_core.image_documents import ImageDocuments
from picsource_core.queue import JobQueue
from picsource_core.storage import ObjectStore
from picsource_core.trash import purge_expired

log = logging.getLogger(__name__)

#: Seconds between purge passes, and images purged per pass at most.
PURGE_INTERVAL_SECONDS = 300.0
PURGE_BATCH = 100


class TrashPurge:
    """Purges expired trash when due; ``clock`` (seconds, like time.time) also gives "now",
    so a test moves one fake clock past TRASH_DAYS and past the interval."""

    def __init__(self, images: ImageDocuments, queue: JobQueue, store: ObjectStore, *, days: int,
                 interval: float = PURGE_INTERVAL_SECONDS, batch: int = PURGE_BATCH,
                 clock: Callable[[], float] = time.time) -> None:
        self.images, self.queue, self.store = images, queue, store
        self.days, self.interval, self.batch, self.clock = days, interval, batch, clock
        self._next = 0.0

    def run_if_due(self) -> int:
        """Purge one batch if ``interval`` has passed since the last pass; how many went.
        A full batch makes the next pass due at once: more may be waiting."""
        now = self.clock()
        if now < self._next:
            return 0
        purged = purge_expired(self.images, self.queue, self.store, days=self.days,
                               now=datetime.fromtimestamp(now, UTC), limit=self.batch)
        self._next = now if purged >= self.batch else now + self.interval
        if purged:
            log.info("purged %d image(s) from the trash after %d days", purged, self.days)
        return purged

    def checkpoint(self) -> tuple[float, float]:
        """When the next pass is due: a recycled process's successor keeps the interval."""
        return self._next, 0.0

    def resume(self, due: float, position: float) -> None:  # noqa: ARG002 - no walk here
        self._next = due
