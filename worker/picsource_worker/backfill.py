"""What every slot-0 backfill shares: a bounded pass when due, and a pause after an outage.

Why one home: the first analysis process walks older images for work that new images
get on their way in (the location-free copy, the text vector). Each walk differs in what
it reads; when it runs, how it survives a database or store outage (log, wait
``interval``, try again) and when it stops for good (``done``) are the same.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

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
