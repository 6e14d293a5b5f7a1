"""A circuit breaker per backing service: after a failure, fail fast for a while.

Why: a frozen service (connections accepted, never answered) costs each caller a full
timeout. With a few sync gunicorn workers, a handful of such requests would hold every
worker and stall requests that do not even need that service. So the first failure
"opens" the circuit for ``open_seconds``; meanwhile callers are refused at once. After
that, calls go through again (a trial): a success closes the circuit, a failure opens it
for another period. Per process and in memory on purpose: each gunicorn worker learns on
its own within one timeout, and nothing is shared that could itself hang.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: How long a circuit stays open after a failure before calls may try again.
DEFAULT_OPEN_SECONDS = 5.0


class CircuitOpen(RuntimeError):
    """The service failed moments ago; the call was not attempted."""

    def __init__(self, service: str, retry_after: float) -> None:
        super().__init__(f"{service} failed moments ago; not tried again for {retry_after:.0f} s")
        self.service = service
        self.retry_after = retry_after


class CircuitBreaker:
    def __init__(self, service: str, *, open_seconds: float = DEFAULT_OPEN_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self.open_seconds = open_seconds
        self.clock = clock
        self._open_until = 0.0

    @property
    def is_open(self) -> bool:
        return self.clock() < self._open_until

    def check(self) -> None:
        """Raise CircuitOpen while the circuit is open."""
        remaining = self._open_until - self.clock()
        if remaining > 0:
            raise CircuitOpen(self.service, remaining)

    def failure(self) -> None:
        if not self.is_open:
            log.warning("%s failed: refusing calls to it for %.0f s", self.service, self.open_seconds)
        self._open_until = self.clock() + self.open_seconds

    def success(self) -> None:
        if self._open_until:
            self._open_until = 0.0
