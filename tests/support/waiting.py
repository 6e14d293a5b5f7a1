"""``wait_until``: the one polling loop tests use to wait for something another process
does; ``wait_serving`` waits for a web server started as a subprocess."""

from __future__ import annotations

import subprocess
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


def wait_serving(url: str, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Until GET ``url`` answers 200: a refused or slow request (a worker still importing)
    counts as "not yet"; if the server process exits, fail at once with its stderr."""
    import requests

    def serving() -> bool:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        return requests.get(url, timeout=2).status_code == 200

    wait_until(serving, timeout, f"{url} to answer", retry_on=(requests.RequestException,))
