"""Sign-in throttling that slows guessing without handing anyone a lockout weapon.

Three counters per sign-in, all MongoDB documents (so the limits hold across replicas,
removed by a TTL index once idle):

* the **pair** (username, client) is the main one: after ``LOGIN_RATE_LIMIT``'s free
  failures each further failure doubles the wait before that pair may try again (1 s, 2 s,
  ... up to ``LOGIN_DELAY_CAP_SECONDS``). An attacker's failures therefore throttle the
  attacker's own client, never the owner signing in from another one.
* the **username** across all clients only *adds* a small wait (at most
  ``USER_DELAY_CAP_SECONDS``) to the pair that just failed. It is deliberately not a gate:
  a shared gate can be held shut by whoever grabs each slot as it opens, which is the
  lockout again. So distributed guessing is slowed and the owner can always sign in.
* the **client** across all usernames (spraying) gets ``IP_FACTOR`` times the pair's free
  allowance: many people may share one address (NAT, an office), or one Ingress address
  when ``TRUSTED_PROXY_HOPS`` is unset, which is why it must be set behind a proxy.

Counting is atomic: one ``find_one_and_update`` (a pipeline update) decides whether the
attempt is inside the wait, and if not counts it and sets the next wait, returning the
state. Attempts are charged *before* the password is checked, so two replicas racing
cannot both slip a guess past the limit; an attempt inside the wait is refused with 429
and not counted (hammering does not lengthen the wait). A success resets its pair and
refunds its client charge. Refused API tokens are throttled per client like one pair
(a valid token never is: 256 random bits are not guessed).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from picsource_core.mongo import LOGIN_ATTEMPTS, Document
from picsource_web.services.errors import ServiceError
from picsource_web.settings import RateLimit

IP_FACTOR = 5
BASE_DELAY_SECONDS = 1.0
USER_DELAY_CAP_SECONDS = 30.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = round(seconds / 60)
    return f"about {minutes} minute{'s' if minutes != 1 else ''}"


class RateLimited(ServiceError):
    """429 with ``retry_after`` (seconds; sent as a Retry-After header)."""

    def __init__(self, retry_after: int, what: str = "failed sign-in attempts",
                 scope: str = "pair") -> None:
        super().__init__(429, "rate_limited",
                         f"Too many {what}. Try again in {_duration(retry_after)}.")
        self.retry_after = retry_after
        #: The counter that refused: pair (username and client), client or api_token; the
        #: edges count it in picsource_web_login_throttled_total.
        self.scope = scope


@dataclass(frozen=True)
class Backoff:
    """``free`` failures without a wait, then a wait that doubles per failure from ``base``
    seconds up to ``cap``. ``steps`` is the doubling part, shared with the MongoDB side so
    the numbers have one home."""

    free: int
    base: float
    cap: float

    @property
    def steps(self) -> list[float]:
        waits = [min(self.base, self.cap)]
        while waits[-1] < self.cap and len(waits) < 64:
            waits.append(min(waits[-1] * 2, self.cap))
        return waits

    def wait_after(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure before the next attempt."""
        if failures < self.free:
            return 0.0
        steps = self.steps
        return steps[min(failures - self.free, len(steps) - 1)]

    def wait_expression(self, failures: Any) -> dict[str, Any]:
        """``wait_after`` as an aggregation expression over ``failures`` (a field path)."""
        steps = self.steps
        index = {"$min": [{"$subtract": [failures, self.free]}, len(steps) - 1]}
        return {"$cond": [{"$lt": [failures, self.free]}, 0.0,
                          {"$arrayElemAt": [{"$literal": steps}, index]}]}


@dataclass(frozen=True)
class Attempt:
    """A sign-in admitted past the waits: its pair and client counters were charged."""

    username: str
    client: str

    @property
    def pair_key(self) -> str:
        return f"pair:{self.username}\x1f{self.client}"

    @property
    def user_key(self) -> str:
        return f"user:{self.username}"

    @property
    def client_key(self) -> str:
        return f"client:{self.client}"


@dataclass(frozen=True)
class LoginPolicy:
    """The three backoffs and the idle window, from LOGIN_RATE_LIMIT (``limit``) and
    LOGIN_DELAY_CAP_SECONDS (``delay_cap_seconds``)."""

    pair: Backoff
    user: Backoff
    client: Backoff
    window_seconds: int

    @classmethod
    def from_settings(cls, limit: RateLimit, delay_cap_seconds: float) -> LoginPolicy:
        return cls(
            pair=Backoff(limit.attempts, BASE_DELAY_SECONDS, delay_cap_seconds),
            user=Backoff(limit.attempts, BASE_DELAY_SECONDS,
                         min(USER_DELAY_CAP_SECONDS, delay_cap_seconds)),
            client=Backoff(limit.attempts * IP_FACTOR, BASE_DELAY_SECONDS, delay_cap_seconds),
            window_seconds=limit.window_seconds,
        )


def normalise_username(username: str) -> str:
    return username.strip().lower()[:64]


class LoginRateLimiter:
    """The throttle for sign-ins (``begin``/``failed``/``succeeded``) and API tokens."""

    def __init__(self, db: Database[Document], limit: RateLimit, delay_cap_seconds: float = 900,
                 clock: Callable[[], float] = time.time) -> None:
        self.attempts = db[LOGIN_ATTEMPTS]
        self.policy = LoginPolicy.from_settings(limit, delay_cap_seconds)
        self.clock = clock

    # --- sign-in ----------------------------------------------------------------------
    def begin(self, username: str, client_addr: str | None) -> Attempt:
        """Admit one sign-in attempt, or raise RateLimited (uncounted) inside a wait.

        The pair goes first: if the client is then refused, the refund touches only this
        pair (the caller's own), never a wait others behind the same address share."""
        attempt = Attempt(normalise_username(username), client_addr or "unknown")
        now = self.clock()
        pair = self._charge(attempt.pair_key, self.policy.pair, now)
        self._refuse_inside_wait(pair, now, "pair")
        client = self._charge(attempt.client_key, self.policy.client, now)
        if not client.get("admitted"):
            self._refund(attempt.pair_key)
            self._refuse_inside_wait(client, now, "client")
        return attempt

    def failed(self, attempt: Attempt) -> None:
        """The password was wrong: count it for the username too, whose (small) wait is
        added to this pair's own."""
        now = self.clock()
        user = self._charge(attempt.user_key, self.policy.user, now, gate=False)
        wait = self.policy.user.wait_after(int(user.get("failures", 0)))
        if wait > 0:
            until = now + wait
            self.attempts.update_one({"key": attempt.pair_key},
                                     {"$max": {"next_at": until, "expires_at": self._expiry(until)}})

    def succeeded(self, attempt: Attempt) -> None:
        """The owner is in: the pair starts over and the client's charge is refunded
        (its wait, if it was spraying, stays). The username's count stays: signing in
        must not reset an attacker's progress elsewhere."""
        self.attempts.delete_one({"key": attempt.pair_key})
        self._refund(attempt.client_key)

    # --- API tokens -------------------------------------------------------------------
    def refuse_token(self, client_addr: str | None) -> None:
        """Count a refused API token for this client; RateLimited (uncounted) inside the
        client's wait. A valid token is never throttled (it is not a guess: tokens carry
        256 random bits), so callers count only refusals."""
        key = f"api-token:{client_addr or 'unknown'}"
        now = self.clock()
        self._refuse_inside_wait(self._charge(key, self.policy.pair, now), now, "api_token",
                                 what="invalid API tokens from this client")

    # --- counters ---------------------------------------------------------------------
    def wait_seconds(self, key: str) -> float:
        """Seconds until ``key`` may try again (0 when it may now); for tests and admins."""
        doc = self.attempts.find_one({"key": key}) or {}
        now = self.clock()
        if self._stale(doc, now):
            return 0.0
        return max(0.0, float(doc.get("next_at", 0.0)) - now)

    def _charge(self, key: str, backoff: Backoff, now: float, *, gate: bool = True) -> Document:
        """One atomic step: unless inside the wait (when ``gate``), count a failure and set
        the next wait; returns the counter after it, with ``admitted``."""
        now_date = datetime.fromtimestamp(now, UTC)
        fresh = {"$lte": [{"$ifNull": ["$expires_at", _EPOCH]}, now_date]}
        admit = {"$lte": ["$next_at", now]} if gate else {"$literal": True}
        pipeline: list[Mapping[str, Any]] = [
            # A counter idle past its expiry starts over, whether or not the TTL monitor
            # has removed it yet.
            {"$set": {"failures": {"$cond": [fresh, 0, {"$ifNull": ["$failures", 0]}]},
                      "next_at": {"$cond": [fresh, 0.0, {"$ifNull": ["$next_at", 0.0]}]}}},
            {"$set": {"admitted": admit}},
            {"$set": {"failures": {"$add": ["$failures", {"$cond": ["$admitted", 1, 0]}]}}},
            {"$set": {"next_at": {"$cond": ["$admitted",
                                            {"$add": [now, backoff.wait_expression("$failures")]},
                                            "$next_at"]}}},
            # Forgotten one window after its wait ends.
            {"$set": {"expires_at": {"$toDate": {"$multiply": [
                {"$add": ["$next_at", self.policy.window_seconds]}, 1000]}}}},
        ]
        for _ in range(3):
            doc = self.attempts.find_one_and_update({"key": key}, pipeline,
                                                    return_document=ReturnDocument.AFTER)
            if doc is not None:
                return doc
            # A new key: create it empty with a plain upsert (racing replicas make one
            # document), then count in it. Not a pipeline upsert: SecantusDB applies racing
            # pipeline upserts on a missing document more than once (20 racers, up to 37).
            try:
                self.attempts.update_one({"key": key}, {"$setOnInsert": {
                    "failures": 0, "next_at": 0.0, "expires_at": self._expiry(now)}}, upsert=True)
            except DuplicateKeyError:  # another replica created it first
                pass
        raise RuntimeError(f"login counter {key!r} could not be updated")  # pragma: no cover

    def _refund(self, key: str) -> None:
        self.attempts.update_one({"key": key, "failures": {"$gt": 0}}, {"$inc": {"failures": -1}})

    def _refuse_inside_wait(self, doc: Document, now: float, scope: str,
                            what: str = "failed sign-in attempts") -> None:
        if not doc.get("admitted"):
            raise RateLimited(max(1, math.ceil(float(doc.get("next_at", now)) - now)), what, scope)

    def _expiry(self, at: float) -> datetime:
        return datetime.fromtimestamp(at + self.policy.window_seconds, UTC)

    def _stale(self, doc: Mapping[str, Any], now: float) -> bool:
        expires = doc.get("expires_at")
        if expires is None:
            return True
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        return bool(expires <= datetime.fromtimestamp(now, UTC))
