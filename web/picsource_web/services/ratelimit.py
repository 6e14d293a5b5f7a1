"""Sign-in rate limiting with counters in MongoDB, so the limit holds across replicas.

Fixed windows: one counter document per (key, window) incremented atomically with an
upsert; a TTL index on ``expires_at`` removes old windows. Keys are the username and the
client address, so one attacker cannot try many names and many clients cannot hammer one.
A client address gets ``IP_FACTOR`` times the per-user allowance: many people may share
one address (NAT, an office), and locking all of them out on one person's typos is worse
than the small extra guessing room.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from picsource_core.mongo import LOGIN_ATTEMPTS, Document
from picsource_web.services.errors import ServiceError
from picsource_web.settings import RateLimit

IP_FACTOR = 5


class RateLimited(ServiceError):
    def __init__(self, retry_after: int) -> None:
        minutes = max(1, round(retry_after / 60))
        super().__init__(
            429, "rate_limited",
            f"Too many failed sign-in attempts. Try again in about {minutes} minute"
            f"{'s' if minutes != 1 else ''}.",
        )
        self.retry_after = retry_after


class LoginRateLimiter:
    def __init__(self, db: Database[Document], limit: RateLimit,
                 clock: Callable[[], float] = time.time) -> None:
        self.attempts = db[LOGIN_ATTEMPTS]
        self.limit = limit
        self.clock = clock

    def _window(self) -> tuple[int, int]:
        """(window index, seconds until it ends)."""
        now = self.clock()
        index = int(now // self.limit.window_seconds)
        return index, int((index + 1) * self.limit.window_seconds - now) + 1

    def check(self, keys: Iterable[str]) -> None:
        """Raise RateLimited when any key has used up its failures in this window."""
        index, remaining = self._window()
        ids = [f"{key}@{index}" for key in keys]
        for doc in self.attempts.find({"key": {"$in": ids}}, {"count": 1, "key": 1}):
            allowed = self.limit.attempts * (IP_FACTOR if str(doc["key"]).startswith("ip:") else 1)
            if int(doc.get("count", 0)) >= allowed:
                raise RateLimited(remaining)

    def record_failure(self, keys: Iterable[str]) -> None:
        index, _ = self._window()
        expires = datetime.fromtimestamp((index + 1) * self.limit.window_seconds, UTC)
        for key in keys:
            try:
                self.attempts.update_one(
                    {"key": f"{key}@{index}"},
                    {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": expires}},
                    upsert=True,
                )
            except DuplicateKeyError:  # two replicas created the counter at once
                self.attempts.update_one({"key": f"{key}@{index}"}, {"$inc": {"count": 1}})

    def reset(self, key: str) -> None:
        """After a successful sign-in the username's counter starts over (the client's stays)."""
        index, _ = self._window()
        self.attempts.delete_one({"key": f"{key}@{index}"})


def login_keys(username: str, client_addr: str | None) -> list[str]:
    keys = [f"user:{username.strip().lower()[:64]}"]
    if client_addr:
        keys.append(f"ip:{client_addr}")
    return keys
