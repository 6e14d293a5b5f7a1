"""This process's request load, measured around the WSGI app and reported to MongoDB.

The operator scales the web Deployment from these reports (picsource_core.web_load says
what they hold and why). ``LoadMeter`` counts requests in flight and integrates them
over time; ``LoadMiddleware`` wraps the WSGI app, so a request counts from its first
byte until its response body (a streamed zip too) is closed, including requests
refused by a before-request hook. Probes and /metrics are not load.

``LoadPublisher`` reports every WEB_LOAD_REPORT_SECONDS from a daemon thread started by
``create_app`` (after gunicorn's fork, one per worker process), never from a request:
a slow or down MongoDB costs the reporting thread at most one bounded operation
(MONGODB_OPERATION_TIMEOUT_MS), and after a failure the publisher's circuit breaker
skips reports for a while instead of piling them up. Requests only touch the meter's
counters under a lock.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import PyMongoError
from werkzeug.wsgi import ClosingIterator

from picsource_core.breaker import CircuitBreaker
from picsource_core.web_load import LoadSample, WebLoadReports

log = logging.getLogger(__name__)

#: Paths whose requests are not user load (kubelet probes, Prometheus).
NOT_LOAD = frozenset({"/healthz", "/readyz", "/metrics"})
#: A report stays live for this many report intervals, so one late report drops nothing.
TTL_INTERVALS = 3


class LoadMeter:
    """Requests in flight in this process, and their integral over time since the last sample."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight = 0
        self._completed = 0
        self._area = 0.0  # request-seconds since the last sample
        self._since = self._changed = clock()

    def _advance(self, now: float) -> None:
        self._area += self._in_flight * (now - self._changed)
        self._changed = now

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def started(self) -> None:
        with self._lock:
            self._advance(self._clock())
            self._in_flight += 1

    def finished(self) -> None:
        with self._lock:
            self._advance(self._clock())
            self._in_flight = max(0, self._in_flight - 1)
            self._completed += 1

    def sample(self) -> LoadSample:
        """The load since the previous sample (which this one ends)."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            seconds = now - self._since
            busy = self._area / seconds if seconds > 0 else float(self._in_flight)
            sample = LoadSample(busy=busy, in_flight=self._in_flight, completed=self._completed,
                                seconds=seconds)
            self._area, self._completed, self._since = 0.0, 0, now
            return sample


class LoadMiddleware:
    """WSGI middleware: every request but probes and /metrics counts while it is served."""

    def __init__(self, app: Callable[..., Iterable[bytes]], meter: LoadMeter) -> None:
        self.app = app
        self.meter = meter

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in NOT_LOAD:
            return self.app(environ, start_response)
        self.meter.started()
        try:
            body = self.app(environ, start_response)
        except BaseException:
            self.meter.finished()
            raise
        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(file_wrapper, type) and isinstance(body, file_wrapper):
            # The server sends the file itself (gunicorn: sendfile) only if it gets its own
            # wrapper back, so the request counts as finished here (static files, cached a year).
            self.meter.finished()
            return body
        return ClosingIterator(body, self.meter.finished)


def process_id() -> tuple[str, str]:
    """(process, pod): the pod's name (its hostname in Kubernetes) and this process's pid."""
    pod = socket.gethostname()
    return f"{pod}/{os.getpid()}", pod


class LoadPublisher:
    """Reports the meter's samples to ``web_load`` on a daemon thread (``start``/``stop``)."""

    def __init__(self, reports: WebLoadReports, meter: LoadMeter, interval: float, *,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.reports = reports
        self.meter = meter
        self.interval = interval
        self.process, self.pod = process_id()
        self.breaker = CircuitBreaker("MongoDB (web load reports)", open_seconds=TTL_INTERVALS * interval)
        self._wall_clock = wall_clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish(self) -> bool:
        """Report one sample now; False when skipped (circuit open) or failed."""
        if self.breaker.is_open:
            return False
        sample = self.meter.sample()
        try:
            self.reports.report(self.process, self.pod, sample, now=self._wall_clock(),
                                ttl_seconds=TTL_INTERVALS * self.interval)
        except PyMongoError as err:
            log.warning("load report not written (%s); skipping reports for %.0f s", err,
                        self.breaker.open_seconds)
            self.breaker.failure()
            return False
        self.breaker.success()
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="web-load-report", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.publish()
            except Exception:  # noqa: BLE001 - the reporting thread must outlive any surprise
                log.exception("load report failed")

    def stop(self) -> None:
        """Stop reporting and withdraw this process's report (best effort; once)."""
        if self._stop.is_set():
            return
        self._stop.set()
        atexit.unregister(self.stop)
        if self._thread is not None:
            self._thread.join(timeout=self.interval)
            self._thread = None
        try:
            self.reports.withdraw(self.process)
        except PyMongoError as err:
            log.info("load report not withdrawn (%s); it expires by itself", err)


def init_app(app: Any, reports: WebLoadReports, interval: int) -> LoadMeter:
    """Measure the app's requests; report them every ``interval`` seconds (0: measure only).

    Called by create_app, i.e. after the fork: the thread and the client are this process's.
    """
    meter = LoadMeter()
    app.wsgi_app = LoadMiddleware(app.wsgi_app, meter)
    app.extensions["picsource.load"] = meter
    if interval:
        publisher = LoadPublisher(reports, meter, interval)
        publisher.start()
        atexit.register(publisher.stop)
        app.extensions["picsource.load_publisher"] = publisher
    return meter
