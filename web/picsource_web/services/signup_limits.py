"""Sign-up throttling: attempts per client address and from everyone together.

Why two limits: the per-client one stops one address from registering accounts in bulk
(or guessing invite codes); the global one is a brake when many addresses do it at once,
so a botnet cannot fill the gallery with accounts faster than an admin can notice.

Fixed windows, one counter document per (key, window) in MongoDB, so the limit holds
across replicas, removed by a TTL index once its window has passed. (Sign-in uses waits
that double per failure instead, services/ratelimit.py.) Unlike sign-in, every
attempt counts (not only failures), and the count is taken in the same atomic update that
adds the attempt: two replicas can never both let the sixth attempt through.
The client is counted first; a client over its own limit does not use up the global one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from picsource_core.mongo import SIGNUP_ATTEMPTS, Document
from picsource_web.services.errors import ServiceError
from picsource_web.settings import RateLimit


class SignupRateLimited(ServiceError):
    """429 with ``retry_after`` (the error handlers send it as a Retry-After header)."""

    def __init__(self, retry_after: int, *, everyone: bool) -> None:
        minutes = max(1, round(retry_after / 60))
        wait = f"Try again in about {minutes} minute{'s' if minutes != 1 else ''}."
        message = ("Sign-up is busy: too many new accounts were requested recently. " + wait
                   if everyone else "Too many sign-up attempts from your network. " + wait)
        super().__init__(429, "rate_limited", message)
        self.retry_after = retry_after


class SignupThrottle:
    def __init__(self, db: Database[Document], per_client: RateLimit, everyone: RateLimit,
                 clock: Callable[[], float] = time.time) -> None:
        self._counters = db[SIGNUP_ATTEMPTS]
        self.per_client = per_client
        self.everyone = everyone
        self.clock = clock

    def attempt(self, client_addr: str | None) -> None:
        """Count one sign-up attempt; SignupRateLimited when it is over either limit."""
        if client_addr:
            self._count(f"ip:{client_addr}", self.per_client, everyone=False)
        self._count("all", self.everyone, everyone=True)

    def _count(self, key: str, limit: RateLimit, *, everyone: bool) -> None:
        now = self.clock()
        index = int(now // limit.window_seconds)
        ends = (index + 1) * limit.window_seconds
        doc_key = f"{key}@{limit.window_seconds}:{index}"
        # Create the window's counter with a plain upsert that changes nothing when it
        # exists, then count in it with an update that is not an upsert. One
        # find_one_and_update(upsert=True) would be a round trip less, but SecantusDB
        # answers None to some of several racing upserts that it did apply, which read
        # as a count of 0 and let an attempt past the limit.
        try:
            self._counters.update_one(
                {"key": doc_key},
                {"$setOnInsert": {"count": 0, "expires_at": datetime.fromtimestamp(ends, UTC)}},
                upsert=True)
        except DuplicateKeyError:  # two replicas created the counter at once: it exists now
            pass
        doc = self._counters.find_one_and_update({"key": doc_key}, {"$inc": {"count": 1}},
                                                 return_document=ReturnDocument.AFTER)
        # None only if the TTL monitor removed the counter in between, which happens once
        # its window has ended: then this is the first attempt of a new window.
        if int((doc or {}).get("count", 1)) > limit.attempts:
            raise SignupRateLimited(int(ends - now) + 1, everyone=everyone)
