"""Sign-in throttling (issue 14 item 5): waits per (username, client) that double and cap,
an owner on another client never locked out, atomic counting across replicas, and the
client address taken from trusted proxy hops only. Real SecantusDB, the fake clock, no sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from prometheus_client import REGISTRY

from picsource_core.config import ConfigurationError
from picsource_core.mongo import LOGIN_ATTEMPTS, ensure_indexes
from picsource_web.services.ratelimit import (
    IP_FACTOR,
    USER_DELAY_CAP_SECONDS,
    Attempt,
    Backoff,
    LoginPolicy,
    LoginRateLimiter,
    RateLimited,
)
from picsource_web.settings import RateLimit, Settings
from tests.support.clock import FakeClock
from tests.support.env import SECRET
from tests.support.web import PASSWORD, WebClient, app_services
from tests.web.api_support import ApiClient, assert_problem

WRONG = "wrong password!!"
ATTACKER, OWNER = "198.51.100.7", "203.0.113.9"


# --- pure: the waits ----------------------------------------------------------------------
def test_waits_are_free_then_double_per_failure_and_cap() -> None:
    backoff = Backoff(free=3, base=1, cap=10)
    assert [backoff.wait_after(n) for n in range(1, 10)] == [0, 0, 1, 2, 4, 8, 10, 10, 10]
    assert backoff.wait_after(10_000) == 10
    assert Backoff(free=1, base=5, cap=2).wait_after(1) == 2  # the cap wins over the base


def test_username_wide_wait_is_small_and_client_allowance_larger() -> None:
    policy = LoginPolicy.from_settings(RateLimit(5, 900), delay_cap_seconds=3600)
    assert policy.user.wait_after(10_000) == USER_DELAY_CAP_SECONDS <= 30
    assert policy.pair.wait_after(10_000) == 3600
    assert policy.client.free == 5 * IP_FACTOR and policy.pair.free == 5 and policy.user.free == 5
    assert LoginPolicy.from_settings(RateLimit(5, 900), delay_cap_seconds=10).user.cap == 10


def test_refusal_message_says_how_long() -> None:
    assert RateLimited(8).message == "Too many failed sign-in attempts. Try again in 8 seconds."
    assert "about 15 minutes" in RateLimited(900).message
    assert RateLimited(900).status == 429 and RateLimited(900).retry_after == 900


@pytest.mark.parametrize("value", ["0", "soon", "-3", "100000"])
def test_bad_delay_cap_names_the_variable(value: str) -> None:
    env = {"SECRET_KEY": SECRET, "S3_ACCESS_KEY": "a", "S3_SECRET_KEY": "b", "LOGIN_DELAY_CAP_SECONDS": value}
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(env)
    assert info.value.name == "LOGIN_DELAY_CAP_SECONDS"
    ok = Settings.from_env({**env, "LOGIN_DELAY_CAP_SECONDS": "60"})
    assert ok.login_delay_cap_seconds == 60


# --- the counters, on a real server -------------------------------------------------------
@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_800_000_000.0)


@pytest.fixture
def limiter(mongo_db: Any, clock: FakeClock) -> LoginRateLimiter:
    ensure_indexes(mongo_db)
    return LoginRateLimiter(mongo_db, RateLimit(3, 600), delay_cap_seconds=16, clock=clock)


def fail(limiter: LoginRateLimiter, username: str, client: str) -> Attempt:
    attempt = limiter.begin(username, client)
    limiter.failed(attempt)
    return attempt


def failures(limiter: LoginRateLimiter, key: str) -> int:
    doc = limiter.attempts.find_one({"key": key}) or {}
    return int(doc.get("failures", 0))


def test_pair_wait_doubles_then_caps_and_waits_are_enforced(limiter: LoginRateLimiter,
                                                            clock: FakeClock) -> None:
    seen = []
    for _ in range(8):
        attempt = fail(limiter, "alice", ATTACKER)
        wait = limiter.wait_seconds(attempt.pair_key)
        seen.append(wait)
        if wait:
            with pytest.raises(RateLimited) as refused:
                limiter.begin("alice", ATTACKER)
            assert refused.value.retry_after == wait
            clock.now += wait - 0.5
            with pytest.raises(RateLimited):  # still inside the wait
                limiter.begin("Alice ", ATTACKER)  # the same username, however typed
            clock.now += 0.5
    assert seen == [0, 0, 1, 2, 4, 8, 16, 16]


def test_attempts_inside_the_wait_are_not_counted(limiter: LoginRateLimiter, clock: FakeClock) -> None:
    for _ in range(3):
        attempt = fail(limiter, "alice", ATTACKER)
    assert limiter.wait_seconds(attempt.pair_key) == 1
    for _ in range(50):  # hammering inside the wait
        with pytest.raises(RateLimited):
            limiter.begin("alice", ATTACKER)
    assert failures(limiter, attempt.pair_key) == 3
    assert failures(limiter, attempt.client_key) == 3  # nor the client's
    clock.now += 1
    fail(limiter, "alice", ATTACKER)
    assert limiter.wait_seconds(attempt.pair_key) == 2  # the next step, not fifty later


def test_success_resets_the_pair(limiter: LoginRateLimiter, clock: FakeClock) -> None:
    for _ in range(5):
        attempt = fail(limiter, "alice", OWNER)
        clock.now += limiter.wait_seconds(attempt.pair_key)
    limiter.succeeded(limiter.begin("alice", OWNER))
    assert limiter.attempts.find_one({"key": attempt.pair_key}) is None
    assert failures(limiter, attempt.client_key) == 5  # the success itself was refunded
    fail(limiter, "alice", OWNER)
    assert failures(limiter, attempt.pair_key) == 1  # the pair counts from the start again


def test_owner_on_another_client_is_never_locked_out(limiter: LoginRateLimiter, clock: FakeClock) -> None:
    for _ in range(30):  # the attacker keeps trying, waiting out each wait
        attempt = fail(limiter, "alice", ATTACKER)
        clock.now += limiter.wait_seconds(attempt.pair_key)
    fail(limiter, "alice", ATTACKER)
    with pytest.raises(RateLimited):
        limiter.begin("alice", ATTACKER)
    owner = limiter.begin("alice", OWNER)  # no wait at all for the owner's own client
    limiter.failed(owner)  # a typo costs the owner at most the small username-wide wait
    wait = limiter.wait_seconds(owner.pair_key)
    assert 0 < wait <= USER_DELAY_CAP_SECONDS
    with pytest.raises(RateLimited):  # the attacker is still throttled
        limiter.begin("alice", ATTACKER)
    clock.now += wait
    limiter.succeeded(limiter.begin("alice", OWNER))


def test_distributed_guessing_is_slowed_by_the_username_wide_wait(limiter: LoginRateLimiter) -> None:
    waits = []
    for n in range(12):  # each guess from a new client: the pairs alone would never wait
        attempt = fail(limiter, "alice", f"192.0.2.{n}")
        waits.append(limiter.wait_seconds(attempt.pair_key))
    assert waits[:2] == [0, 0] and waits[2] == 1
    assert waits == sorted(waits) and waits[-1] == limiter.policy.user.cap
    limiter.begin("alice", OWNER)  # and the owner's client is still let in


def test_spraying_from_one_client_hits_the_client_allowance(limiter: LoginRateLimiter,
                                                            clock: FakeClock) -> None:
    allowance = limiter.policy.client.free
    for n in range(allowance):  # one guess per username: no pair ever waits
        fail(limiter, f"user{n}", ATTACKER)
    with pytest.raises(RateLimited):
        limiter.begin("someone-new", ATTACKER)
    assert limiter.attempts.find_one({"key": f"pair:someone-new\x1f{ATTACKER}", "failures": {"$gt": 0}}) is None
    limiter.begin("someone-new", OWNER)  # another client is not affected
    clock.now += limiter.policy.client.wait_after(allowance)
    limiter.begin("someone-new", ATTACKER)


def test_idle_counters_are_forgotten_after_the_window(limiter: LoginRateLimiter, clock: FakeClock) -> None:
    for _ in range(4):
        attempt = fail(limiter, "alice", ATTACKER)
        clock.now += limiter.wait_seconds(attempt.pair_key)
    clock.now += limiter.policy.window_seconds  # without waiting for the TTL monitor
    fail(limiter, "alice", ATTACKER)
    assert failures(limiter, attempt.pair_key) == 1


def in_parallel(count: int, work: Callable[[int], None]) -> None:
    """Run ``work(0..count-1)`` on threads released together (a barrier), then join them."""
    barrier = threading.Barrier(count)

    def run(n: int) -> None:
        barrier.wait()
        work(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_racing_attempts_are_counted_atomically(mongo_db: Any, clock: FakeClock) -> None:
    """Two replicas (two limiters) and 24 threads at the same instant: exactly the free
    attempts get through, and every admitted failure is counted."""
    ensure_indexes(mongo_db)
    replicas = [LoginRateLimiter(mongo_db, RateLimit(3, 600), clock=clock) for _ in range(2)]
    admitted: list[Attempt] = []
    refused: list[RateLimited] = []

    def guess(n: int) -> None:
        try:
            attempt = replicas[n % 2].begin("alice", ATTACKER)
        except RateLimited as err:
            refused.append(err)
            return
        admitted.append(attempt)
        replicas[n % 2].failed(attempt)

    in_parallel(24, guess)
    assert len(admitted) == 3 and len(refused) == 21
    assert failures(replicas[0], admitted[0].pair_key) == 3
    assert failures(replicas[0], admitted[0].user_key) == 3

    # Failures from many usernames, racing to create each client's counter: none lost,
    # none counted twice.
    spray = [LoginRateLimiter(mongo_db, RateLimit(100, 600), clock=clock) for _ in range(2)]
    for client in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        def spray_from(n: int, client: str = client) -> None:
            spray[n % 2].failed(spray[n % 2].begin(f"user{n}", client))

        in_parallel(20, spray_from)
        assert failures(spray[0], f"client:{client}") == 20


# --- the pages -----------------------------------------------------------------------------
def clocked(app: Flask, clock: FakeClock) -> Flask:
    app_services(app).limiter.clock = clock
    return app


def login_from(client: WebClient, username: str, password: str, addr: str | None = None,
               forwarded: str | None = None) -> Any:
    kwargs: dict[str, Any] = {}
    if addr:
        kwargs["environ_base"] = {"REMOTE_ADDR": addr}
    if forwarded:
        kwargs["headers"] = {"X-Forwarded-For": forwarded}
    return client.post("/login", {"username": username, "password": password}, **kwargs)


def throttled(scope: str) -> float:
    return REGISTRY.get_sample_value("picsource_web_login_throttled_total", {"scope": scope}) or 0.0


def test_attacker_gets_429_while_the_owner_signs_in(app: Flask, web_client: Callable[..., WebClient],
                                                     clock: FakeClock) -> None:
    clocked(app, clock)
    web_client().signup("grace")
    attacker, owner = web_client(), web_client()
    limit = app_services(app).settings.login_rate_limit.attempts
    for _ in range(limit):
        assert login_from(attacker, "grace", WRONG, addr=ATTACKER).status_code == 401
    before = throttled("pair")
    refused = login_from(attacker, "grace", PASSWORD, addr=ATTACKER)  # even the right password
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert "Too many failed sign-in attempts. Try again in 1 second." in refused.get_data(as_text=True)
    assert throttled("pair") == before + 1
    assert login_from(owner, "grace", PASSWORD, addr=OWNER).status_code == 302
    clock.now += 1
    assert login_from(attacker, "grace", PASSWORD, addr=ATTACKER).status_code == 302  # waited it out


def test_counters_are_in_mongo_and_shared_by_replicas(make_app: Callable[..., Flask],
                                                      web_client: Callable[..., WebClient],
                                                      clock: FakeClock) -> None:
    app_a, app_b = clocked(make_app(), clock), clocked(make_app(), clock)
    web_client(app_a).signup("hank")
    for _ in range(app_services(app_a).settings.login_rate_limit.attempts):
        assert web_client(app_a).login("hank", WRONG).status_code == 401
    assert web_client(app_b).login("hank").status_code == 429  # the same client, another replica
    keys = {d["key"] for d in app_services(app_b).db[LOGIN_ATTEMPTS].find({})}
    assert keys == {"pair:hank\x1f127.0.0.1", "user:hank", "client:127.0.0.1"}


def test_forwarded_for_is_ignored_without_trusted_proxy_hops(app: Flask, web_client: Callable[..., WebClient],
                                                              clock: FakeClock) -> None:
    clocked(app, clock)
    web_client().signup("ivan")
    attacker = web_client()
    limit = app_services(app).settings.login_rate_limit.attempts
    for n in range(limit):  # a fresh forged address each time: one client all the same
        assert login_from(attacker, "ivan", WRONG, forwarded=f"192.0.2.{n}").status_code == 401
    assert login_from(attacker, "ivan", WRONG, forwarded="192.0.2.99").status_code == 429
    keys = {d["key"] for d in app_services(app).db[LOGIN_ATTEMPTS].find({})}
    assert keys == {"pair:ivan\x1f127.0.0.1", "user:ivan", "client:127.0.0.1"}


def test_forwarded_for_is_honoured_with_trusted_proxy_hops(make_app: Callable[..., Flask],
                                                           web_client: Callable[..., WebClient],
                                                           clock: FakeClock) -> None:
    app = clocked(make_app(proxy_hops=1), clock)
    web_client(app).signup("judy")
    attacker, owner = web_client(app), web_client(app)
    limit = app_services(app).settings.login_rate_limit.attempts
    for _ in range(limit):  # behind the Ingress, everyone arrives from 127.0.0.1
        assert login_from(attacker, "judy", WRONG, forwarded=ATTACKER).status_code == 401
    assert login_from(attacker, "judy", PASSWORD, forwarded=ATTACKER).status_code == 429
    assert login_from(owner, "judy", PASSWORD, forwarded=OWNER).status_code == 302
    keys = {d["key"] for d in app_services(app).db[LOGIN_ATTEMPTS].find({})}
    assert f"pair:judy\x1f{ATTACKER}" in keys and f"client:{ATTACKER}" in keys
    assert not any("127.0.0.1" in key for key in keys)  # the proxy's address is not the client


def test_invalid_api_tokens_wait_per_client(make_app: Callable[..., Flask], clock: FakeClock) -> None:
    app = clocked(make_app(proxy_hops=1), clock)
    limit = app_services(app).settings.login_rate_limit.attempts
    guesser = ApiClient(app, "psk_guess")
    guesser.headers["X-Forwarded-For"] = ATTACKER
    for _ in range(limit):
        assert_problem(guesser.get("/api/v1/images"), 401, "unauthorized")
    for _ in range(5):  # inside the wait: refused and not counted
        response = guesser.get("/api/v1/images")
        assert_problem(response, 429, "rate_limited")
        assert response.headers["Retry-After"] == "1"
    neighbour = ApiClient(app, "psk_typo")
    neighbour.headers["X-Forwarded-For"] = OWNER
    assert_problem(neighbour.get("/api/v1/images"), 401, "unauthorized")  # another client
    clock.now += 1
    assert_problem(guesser.get("/api/v1/images"), 401, "unauthorized")
    response = guesser.get("/api/v1/images")
    assert_problem(response, 429, "rate_limited")
    assert response.headers["Retry-After"] == "2"


def test_right_password_for_an_account_awaiting_approval_resets_the_pair(
        make_app: Callable[..., Flask], web_client: Callable[..., WebClient], clock: FakeClock) -> None:
    app = clocked(make_app(signup="approval"), clock)
    web_client(app).signup("kate")  # registered, not yet approved
    client = web_client(app)
    for _ in range(app_services(app).settings.login_rate_limit.attempts - 1):
        assert client.login("kate", WRONG).status_code == 401
    assert client.login("kate").status_code == 403  # the right password: not a failed guess
    keys = {d["key"] for d in app_services(app).db[LOGIN_ATTEMPTS].find({})}
    assert "pair:kate\x1f127.0.0.1" not in keys
