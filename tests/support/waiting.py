"""``wait_until``: the one polling loop tests use to wait for something another process does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.2,
               retry_on: tuple[type[Exception], ...] = ()) -> T:  # fmt: skip
    """Call check() until it returns a true value, and return that value.

    An exception listed in ``retry_on`` counts as "not yet"; any other one propagates.
    After ``timeout`` seconds a TimeoutError names ``what`` (and the last retried error).
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except retry_on as exc:
            last_error = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)
