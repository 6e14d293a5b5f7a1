"""Frozen backing services (SIGSTOP: connections accepted, never answered) with the
default timeouts (#14 item 2): a request that needs the frozen service gets a 503 after
one bounded wait, later ones fail fast while the service's circuit is open, requests that
do not need it keep working, /readyz answers within its budget, and all recover.

The bounds asserted here are behaviour (nothing waits on a frozen service longer than
its configured timeout); the figures are in bench/bench_frozen.py.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask

from picsource_web.app import create_app
from picsource_web.settings import Settings
from tests.harness.services import MinioServer, MongoServer
from tests.support import images as samples
from tests.support.env import web_env_for
from tests.support.waiting import wait_until
from tests.support.web import WebClient, app_services

pytestmark = pytest.mark.slow
#: The variables web_env_for tightens for other tests: here the product defaults apply.
DEFAULTED = ("MONGODB_TIMEOUT_MS", "S3_TIMEOUT_SECONDS")


@contextmanager
def frozen(server: MongoServer | MinioServer) -> Iterator[None]:
    assert server.process is not None and server.process.proc is not None
    group = server.process.proc.pid  # each managed server leads its own process group
    os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(group, signal.SIGCONT)


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def _app(mongo_uri: str, database: str, minio: MinioServer, bucket: str) -> Flask:
    env = {k: v for k, v in web_env_for(mongo_uri, database, minio, bucket).items() if k not in DEFAULTED}
    return create_app(Settings.from_env(env))


def test_frozen_storage(mongo_server: MongoServer, mongo_db: Any, own_minio: MinioServer,
                        web_client: Callable[..., WebClient]) -> None:
    own_minio.client().make_bucket("frozen")
    app = _app(mongo_server.uri, mongo_db.name, own_minio, "frozen")
    limit = app_services(app).settings.storage.timeout_seconds
    client = web_client(app)
    client.signup("wanda")
    client.upload_id(samples.noisy_jpeg(1))
    with frozen(own_minio):
        first, waited = timed(lambda: client.upload(samples.noisy_jpeg(2)))
        assert first.status_code == 503 and waited <= limit + 1.5, waited
        again, fast = timed(lambda: client.upload(samples.noisy_jpeg(3)))
        assert again.status_code == 503 and fast < 0.5, fast  # the circuit is open: no second wait
        page, quick = timed(lambda: client.get("/"))
        assert page.status_code == 200 and quick < 1.0, quick  # pages do not need storage
        ready, answered = timed(lambda: client.get("/readyz"))
        assert ready.status_code == 503 and answered <= 2.5, answered
        assert ready.get_json()["checks"]["storage"] != "ok"
    wait_until(lambda: client.upload(samples.noisy_jpeg(4)).status_code == 201, 20, "uploads after the thaw")


def test_frozen_mongo(own_mongo: MongoServer, minio_server: MinioServer, bucket: str,
                      web_client: Callable[..., WebClient]) -> None:
    app = _app(own_mongo.uri, "frozen", minio_server, bucket)
    client = web_client(app)
    client.signup("xavier")
    image_id = client.upload_id(samples.jpeg())
    with frozen(own_mongo):
        first, waited = timed(lambda: client.get(f"/images/{image_id}"))
        assert first.status_code == 503 and waited <= 3.0, waited
        again, fast = timed(lambda: client.get("/public"))
        assert again.status_code == 503 and fast < 0.5, fast  # the circuit is open: no second wait
        health, quick = timed(lambda: client.get("/healthz"))
        assert health.status_code == 200 and quick < 0.5, quick
        ready, answered = timed(lambda: client.get("/readyz"))
        assert ready.status_code == 503 and answered <= 2.5, answered
    wait_until(lambda: client.get(f"/images/{image_id}").status_code == 200, 20, "pages after the thaw")
