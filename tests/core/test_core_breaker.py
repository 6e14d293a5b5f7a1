"""The circuit breaker (pure, with a fake clock): open after a failure, refuse while open,
let calls try again after the open period, close on success."""

from __future__ import annotations

import pytest

from picsource_core.breaker import CircuitBreaker, CircuitOpen
from tests.support.clock import FakeClock


def test_a_failure_opens_the_circuit_for_its_period_then_calls_try_again() -> None:
    clock = FakeClock(100.0)
    breaker = CircuitBreaker("S3", open_seconds=5, clock=clock)
    breaker.check()  # closed: nothing raised
    breaker.failure()
    with pytest.raises(CircuitOpen) as refused:
        breaker.check()
    assert refused.value.service == "S3" and refused.value.retry_after == pytest.approx(5)
    clock.now += 4.9
    assert breaker.is_open
    clock.now += 0.2
    breaker.check()  # the period is over: a trial call goes through
    breaker.failure()  # ... and fails: open for another full period
    clock.now += 4.9
    assert breaker.is_open


def test_a_success_closes_the_circuit() -> None:
    clock = FakeClock(100.0)
    breaker = CircuitBreaker("MongoDB", open_seconds=5, clock=clock)
    breaker.failure()
    breaker.success()
    assert not breaker.is_open
    breaker.check()
