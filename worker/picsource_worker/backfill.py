"""What every slot-0 backfill shares: a bounded pass when due, and a pause after an outage.

Why one home: the first analysis process walks older images for work that new images
get on their way in (the location-free copy, the text vector). Each walk differs in what
it reads; when it runs, how it survives a database or store outage (log, wait
``interval``, try again) and when it stops for good (``done``) are the same.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

log = logging.getLogger(__name__)


class Backfill:
    """Subclasses implement ``_pass(now)``: one bounded pass, returning how many images it
    handled, setting ``done`` (and ``_next``, when the next pass must wait)."""

    #: The log line after a pass that handled images ("%d" is the count).
    handled_message = "backfilled %d image(s)"
    #: What the walk is called in a warning.
    name = "backfill"

    def __init__(self, *, interval: float, batch: int, clock: Callable[[], float] = time.time) -> None:
        self.interval, self.batch, self.clock = interval, batch, clock
        self.done = False
        self._next = 0.0

    def run_if_due(self) -> int:
        """One pass if due; how many images it handled (0 after a failed pass)."""
        now = self.clock()
        if self.done or now < self._next:
            return 0
        try:
            handled = self._pass(now)
        except Exception:  # noqa: BLE001 - a store or database outage: try again next interval
            log.warning("%s pass failed; retrying later", self.name, exc_info=True)
            self._next = now + self.interval
            return 0
        if handled:
            log.info(self.handled_message, handled)
        return handled

    def _pass(self, now: float) -> int:
        raise NotImplementedError

    def checkpoint(self) -> tuple[float, float]:
        """(next due, inf once done; the walk's position, 0 here): what a recycled analysis
        process hands its successor (picsource_worker.recycle)."""
        return (math.inf if self.done else self._next), 0.0

    def resume(self, due: float, position: float) -> None:  # noqa: ARG002 - no walk here
        self.done, self._next = math.isinf(due), (0.0 if math.isinf(due) else due)


#: Where a walk of the images starts (no image id predates PicSource), its first window,
#: and the bounds of a window's span.
WALK_START = datetime(2020, 1, 1, tzinfo=UTC)
FIRST_SPAN = timedelta(days=1)
MIN_SPAN, MAX_SPAN = timedelta(seconds=1), timedelta(days=64)


class IdWindows:
    """A walk over the images once, in ``_id`` (upload time) windows, up to the present.

    Why windows and not one sorted, limited query per pass: SecantusDB, the bundled server,
    reads every match before applying a limit, so "the next 200 after X" would read all
    the rest each pass (quadratic in the gallery). A query bounded to an ``_id`` range reads
    that range only. A window's span doubles after a sparse one and halves after a crowded one.
    """

    def __init__(self, start: datetime = WALK_START) -> None:
        self.start, self.span, self.done = start, FIRST_SPAN, False

    def query(self) -> tuple[dict[str, Any], datetime, bool]:
        """The next window's ``_id`` condition, its end, and whether it is the last (open-ended)."""
        end = self.start + self.span
        last = end >= datetime.now(UTC)
        ids: dict[str, Any] = {"$gt": ObjectId.from_datetime(self.start)}
        if not last:
            ids["$lte"] = ObjectId.from_datetime(end)
        return ids, end, last

    def advance(self, end: datetime, last: bool, seen: int, batch: int) -> None:
        """The window up to ``end`` is read (``seen`` images); the next starts there."""
        self.start, self.done = end, last
        if seen > 2 * batch:
            self.span = max(MIN_SPAN, self.span / 2)
        elif seen < batch / 4:
            self.span = min(MAX_SPAN, self.span * 2)
