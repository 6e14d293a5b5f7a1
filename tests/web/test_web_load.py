"""The web tier's load reports (picsource_web.load) for the operator's web autoscaler.

Requests held open in a real app show up in the report written to the real SecantusDB;
under gunicorn every worker process reports on its own and withdraws its report when it
stops; probes are not load; a MongoDB that cannot be reached neither fails a request nor stops
the reports once it is back; the meter's average is checked on a fake clock.
"""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from werkzeug.wsgi import FileWrapper

from picsource_core.config import MongoSettings
from picsource_core.mongo import connect
from picsource_core.web_load import WebLoadReports
from picsource_web.load import LoadMeter, LoadMiddleware, LoadPublisher
from tests.harness.procs import free_port
from tests.support.clock import FakeClock
from tests.support.gunicorn import start_gunicorn, stop_gunicorn
from tests.support.waiting import wait_serving, wait_until

NOW = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)


@pytest.fixture
def held(app: Flask) -> Iterator[threading.Event]:
    """A route of the test's app that answers only once the returned event is set."""
    release = threading.Event()

    def hold() -> str:
        release.wait(30)
        return "done"

    app.add_url_rule("/test-hold", "test_hold", hold)
    yield release
    release.set()


def _get(app: Flask, path: str) -> int:
    """GET through the real WSGI stack; closing the response, as a server does, ends the request."""
    response = app.test_client().get(path)
    response.close()
    return response.status_code


def _meter(app: Flask) -> LoadMeter:
    meter: LoadMeter = app.extensions["picsource.load"]
    return meter


def test_a_report_counts_the_requests_in_flight(app: Flask, held: threading.Event, mongo_db: Any) -> None:
    meter = _meter(app)
    reports = WebLoadReports(mongo_db)
    publisher = LoadPublisher(reports, meter, 5, wall_clock=lambda: NOW)
    with ThreadPoolExecutor(3) as pool:
        answers = [pool.submit(_get, app, "/test-hold") for _ in range(3)]
        wait_until(lambda: meter.in_flight == 3, 10, "three requests in flight")
        assert _get(app, "/healthz") == 200  # a probe is no load
        assert publisher.publish()
        load = reports.total(NOW)
        assert (load.in_flight, load.processes, load.pods) == (3, 1, 1)
        assert 0 < load.busy <= 3
        held.set()
        assert [a.result(10) for a in answers] == [200, 200, 200]
    wait_until(lambda: meter.in_flight == 0, 10, "the requests to finish")
    assert publisher.publish()
    doc = mongo_db["web_load"].find_one({"_id": publisher.process})
    assert (doc["in_flight"], doc["completed"], doc["pod"]) == (0, 3, publisher.pod)
    assert doc["expires_at"].replace(tzinfo=UTC) == NOW + timedelta(seconds=15)
    assert reports.total(NOW + timedelta(seconds=16)).processes == 0  # a silent process drops out
    publisher.stop()
    assert mongo_db["web_load"].count_documents({}) == 0  # a clean exit withdraws its report
    assert publisher.publish()
    publisher.stop()  # once stopped, stopping again (atexit) touches nothing
    assert mongo_db["web_load"].count_documents({}) == 1


def test_an_unreachable_database_fails_no_request_and_reports_resume(
        app: Flask, mongo_server: Any, mongo_db: Any) -> None:
    meter = _meter(app)
    down = connect(MongoSettings(uri=f"mongodb://127.0.0.1:{free_port()}/", database=mongo_db.name,
                                 timeout_ms=200, operation_timeout_ms=300))
    publisher = LoadPublisher(WebLoadReports(down), meter, 5, wall_clock=lambda: NOW)
    publisher.start()  # the reporting thread: it never sees a request
    try:
        assert _get(app, "/healthz") == 200
        assert publisher.publish() is False
        assert publisher.breaker.is_open
        assert publisher.publish() is False  # skipped at once while the circuit is open
        assert _get(app, "/login") == 200
    finally:
        publisher.stop()  # the withdrawal fails too, quietly
        down.client.close()
    publisher.reports = WebLoadReports(mongo_db)  # MongoDB is back
    publisher.breaker.success()
    assert publisher.publish()
    assert WebLoadReports(mongo_db).total(NOW).processes == 1


def test_the_meter_averages_requests_in_flight_over_the_interval() -> None:
    clock = FakeClock(100.0)
    meter = LoadMeter(clock)
    clock.now = 110.0
    meter.started()
    meter.started()
    clock.now = 115.0
    meter.finished()
    clock.now = 120.0
    sample = meter.sample()
    # 2 in flight for 5 s and 1 for 5 s, over 20 s.
    assert (sample.busy, sample.in_flight, sample.completed, sample.seconds) == (0.75, 1, 1, 20.0)
    clock.now = 130.0
    assert meter.sample().busy == 1.0  # the next interval starts where the last ended


def test_the_report_interval_is_validated(web_env: dict[str, str]) -> None:
    from picsource_core.config import ConfigurationError
    from picsource_web.settings import Settings

    assert Settings.from_env({**web_env, "WEB_LOAD_REPORT_SECONDS": "10"}).load_report_seconds == 10
    with pytest.raises(ConfigurationError, match="WEB_LOAD_REPORT_SECONDS"):
        Settings.from_env({**web_env, "WEB_LOAD_REPORT_SECONDS": "600"})


def test_an_app_reports_on_its_own_when_configured(make_app: Callable[..., Flask], mongo_db: Any) -> None:
    app = make_app(load_report_seconds=1)
    publisher: LoadPublisher = app.extensions["picsource.load_publisher"]
    try:
        wait_until(lambda: mongo_db["web_load"].find_one({"_id": publisher.process}), 10,
                   "the app's first load report")
    finally:
        publisher.stop()


@pytest.mark.slow
def test_each_gunicorn_worker_reports_and_withdraws_when_stopped(
        web_env: dict[str, str], tmp_path: Path, mongo_db: Any) -> None:
    port = free_port()
    env = {**web_env, "WEB_BIND": f"127.0.0.1:{port}", "WEB_WORKERS": "2", "WEB_LOAD_REPORT_SECONDS": "1",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    proc = start_gunicorn(env)
    reports = WebLoadReports(mongo_db)
    try:
        wait_serving(f"http://127.0.0.1:{port}/healthz", proc)
        assert requests.get(f"http://127.0.0.1:{port}/public", timeout=30).status_code == 200
        load = wait_until(lambda: (lambda t: t if t.processes == 2 else None)(reports.total(datetime.now(UTC))),
                          30, "a load report from each of the two worker processes")
        assert load.pods == 1
        docs = list(mongo_db["web_load"].find())
        assert {d["pod"] for d in docs} == {socket.gethostname()}
        assert {d["_id"].split("/")[1] for d in docs} != {str(proc.pid)}  # the workers', not the master's
    finally:
        stop_gunicorn(proc)
    assert proc.returncode == 0
    assert mongo_db["web_load"].count_documents({}) == 0  # each worker withdrew its report on the way out


def test_a_file_the_server_sends_itself_keeps_its_wrapper() -> None:
    """gunicorn uses sendfile only for its own wsgi.file_wrapper: the middleware returns it
    unwrapped (the request ends there) and wraps every other body until it is closed."""
    sent = FileWrapper(io.BytesIO(b"body { }"))
    meter = LoadMeter()
    middleware = LoadMiddleware(lambda environ, start_response: sent, meter)
    environ = {"PATH_INFO": "/static/app.css", "wsgi.file_wrapper": FileWrapper}
    assert middleware(environ, lambda *_: None) is sent and meter.in_flight == 0
    streamed = LoadMiddleware(lambda environ, start_response: iter([b"a", b"b"]), meter)
    body = streamed({"PATH_INFO": "/zip", "wsgi.file_wrapper": FileWrapper}, lambda *_: None)
    assert b"".join(body) == b"ab" and meter.in_flight == 1  # still being sent
    body.close()  # type: ignore[attr-defined]
    assert meter.in_flight == 0
