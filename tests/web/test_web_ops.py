"""Operations: health and readiness, metrics, logs with request ids, security headers,
configuration errors, outages of MongoDB and storage (503, then recovery without restart),
and the app under a real gunicorn."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from flask import Flask
from prometheus_client import REGISTRY
from pymongo.errors import PyMongoError

from picsource_core.config import ConfigurationError
from picsource_core.mongo import IMAGES
from picsource_web.app import create_app
from picsource_web.settings import Settings
from tests.harness.procs import free_port
from tests.harness.run import WEB_GUNICORN_CONF as GUNICORN_CONF
from tests.harness.services import MinioServer, MongoServer
from tests.support import images as samples
from tests.support.env import SECRET, web_env_for
from tests.support.gunicorn import start_gunicorn, stop_gunicorn
from tests.support.waiting import wait_serving, wait_until
from tests.support.web import WebClient, app_services


# --- health, metrics, headers, logs ------------------------------------------------------
def test_healthz_and_readyz(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"] == {"mongo": "ok", "storage": "ok"}


def test_readyz_names_the_service_that_is_down(web_settings: Settings) -> None:
    closed = free_port()
    no_mongo = create_app(replace(web_settings, mongo=replace(web_settings.mongo, uri=f"mongodb://127.0.0.1:{closed}",
                                                              timeout_ms=500)), bootstrap=False)
    response = no_mongo.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["mongo"].startswith("unreachable") and body["checks"]["storage"] == "ok"
    assert "mongo" in body["detail"]
    no_storage = create_app(replace(web_settings, storage=replace(web_settings.storage,
                                                                  endpoint=f"http://127.0.0.1:{closed}")))
    response = no_storage.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["mongo"] == "ok" and "storage" in response.get_json()["detail"]
    assert no_storage.test_client().get("/healthz").status_code == 200  # alive, just not ready


def test_metrics_by_route_template(app: Flask, alice: WebClient) -> None:
    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    route = {"route": "/images/<image_id>", "method": "GET", "status": "404"}
    before = sample("picsource_web_requests_total", **route)
    uploads, nbytes = sample("picsource_web_uploads_total"), sample("picsource_web_upload_bytes_total")
    rejected = sample("picsource_web_upload_rejections_total", reason="unsupported_format")
    alice.get("/images/000000000000000000000000")
    alice.get("/images/not-an-id")
    data = samples.jpeg()
    alice.upload_id(data)
    alice.upload(samples.SVG, "x.svg")
    assert sample("picsource_web_requests_total", **route) == before + 2
    assert sample("picsource_web_uploads_total") == uploads + 1
    assert sample("picsource_web_upload_bytes_total") == nbytes + len(data)
    assert sample("picsource_web_upload_rejections_total", reason="unsupported_format") == rejected + 1
    assert (REGISTRY.get_sample_value("picsource_web_request_duration_seconds_count",
                                      {"route": "/images/<image_id>"}) or 0) >= 2
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'route="/images/<image_id>"' in text and "not-an-id" not in text


def test_security_headers_and_no_inline_script(app: Flask, alice: WebClient) -> None:
    for url in ("/public", "/upload", "/settings/", "/images/nope"):
        response = alice.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        html = response.get_data(as_text=True)
        assert "<script>" not in html and " onclick=" not in html and "style=\"" not in html


def test_request_id_is_echoed_and_logged(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    client = app.test_client()
    with caplog.at_level(logging.INFO, logger="picsource_web.access"):
        response = client.get("/public", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    generated = client.get("/public", headers={"X-Request-ID": "bad id with spaces <>"}).headers["X-Request-ID"]
    assert len(generated) == 32 and " " not in generated
    from picsource_web.logs import JsonFormatter

    records = [r for r in caplog.records if r.name == "picsource_web.access"]
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["route"] == "/public" and line["status"] == 200 and "duration_ms" in line


def test_problem_json_for_api_clients(app: Flask) -> None:
    response = app.test_client().get("/images/nope", headers={"Accept": "application/json"})
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "not_found"


# --- configuration ------------------------------------------------------------------------
@pytest.mark.parametrize(("change", "variable"), [
    ({"SECRET_KEY": ""}, "SECRET_KEY"),
    ({"SECRET_KEY": "short"}, "SECRET_KEY"),
    ({"MAX_UPLOAD_BYTES": "lots"}, "MAX_UPLOAD_BYTES"),
    ({"MAX_IMAGE_PIXELS": "-5"}, "MAX_IMAGE_PIXELS"),
    ({"QUOTA_IMAGES": "five"}, "QUOTA_IMAGES"),
    ({"PRESIGN_SECONDS": "5"}, "PRESIGN_SECONDS"),
    ({"PROXY_IMAGES": "maybe"}, "PROXY_IMAGES"),
    ({"SIGNUP": "sometimes"}, "SIGNUP"),
    ({"ADMIN_USERNAME": "root"}, "ADMIN_PASSWORD"),
    ({"ADMIN_USERNAME": "root", "ADMIN_PASSWORD": "short"}, "ADMIN_PASSWORD"),
    ({"LOGIN_RATE_LIMIT": "ten"}, "LOGIN_RATE_LIMIT"),
    ({"S3_PUBLIC_ENDPOINT": "ftp://x"}, "S3_PUBLIC_ENDPOINT"),
    ({"MONGODB_URI": "http://db"}, "MONGODB_URI"),
])
def test_bad_configuration_names_the_variable(change: dict[str, str], variable: str) -> None:
    env = {"SECRET_KEY": SECRET, "S3_ACCESS_KEY": "a", "S3_SECRET_KEY": "b", **change}
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(env)
    assert info.value.name == variable and variable in str(info.value)


def test_settings_defaults_and_units() -> None:
    settings = Settings.from_env({"SECRET_KEY": SECRET, "S3_ACCESS_KEY": "a", "S3_SECRET_KEY": "b",
                                  "MAX_UPLOAD_BYTES": "10MiB", "QUOTA_IMAGES": "5", "LOGIN_RATE_LIMIT": "3/1h"})
    assert settings.max_upload_bytes == 10 * 1024 * 1024 and settings.quota_images == 5
    assert settings.quota_bytes is None and settings.max_image_pixels == 50_000_000
    assert settings.presign_seconds == 1800 and settings.proxy_images is False
    assert settings.login_rate_limit.attempts == 3 and settings.login_rate_limit.window_seconds == 3600


# --- outages and recovery -----------------------------------------------------------------
@pytest.mark.slow
def test_storage_outage_gives_503_then_recovers(mongo_server: MongoServer, mongo_db: object,
                                                own_minio: MinioServer,
                                                web_client: Callable[..., WebClient]) -> None:
    settings = Settings.from_env(web_env_for(mongo_server.uri, mongo_db.name, own_minio, "outage"))  # type: ignore[attr-defined]
    app = create_app(settings)
    client = web_client(app)
    client.signup("ursula")
    client.upload_id(samples.noisy_jpeg(1))
    assert own_minio.process is not None
    own_minio.process.stop()
    failed = client.upload(samples.noisy_jpeg(2))
    assert failed.status_code == 503 and "storage is unavailable" in failed.get_json()["detail"].lower()
    assert app_services(app).db[IMAGES].count_documents({}) == 1  # nothing half-written
    assert client.get("/readyz").status_code == 503
    own_minio.start()  # same port, same data
    assert client.get("/readyz").status_code == 200
    # Same app, no restart: uploads work again once the store's circuit lets one through.
    wait_until(lambda: client.upload(samples.noisy_jpeg(2)).status_code == 201, 20, "uploads to work again")


@pytest.mark.slow
def test_mongo_outage_gives_503_pages_then_recovers(own_mongo: MongoServer, minio_server: MinioServer,
                                                    bucket: str,
                                                    web_client: Callable[..., WebClient]) -> None:
    env = {**web_env_for(own_mongo.uri, "outage", minio_server, bucket), "MONGODB_TIMEOUT_MS": "500"}
    app = create_app(Settings.from_env(env))
    client = web_client(app)
    client.signup("victor")
    image_id = client.upload_id(samples.jpeg())
    assert own_mongo.process is not None
    own_mongo.process.stop()
    page = client.get(f"/images/{image_id}")
    assert page.status_code == 503 and "MongoDB" in page.get_data(as_text=True)
    assert page.headers["Retry-After"]
    api = client.get("/public", headers={"Accept": "application/json"})
    assert api.status_code == 503 and api.get_json()["code"] == "mongo_unavailable"
    assert client.upload(samples.noisy_jpeg(5)).status_code == 503
    own_mongo.start()
    # The session and app survived: pages work again once MongoDB's circuit lets one through.
    wait_until(lambda: client.get(f"/images/{image_id}").status_code == 200, 20, "pages to work again")
    assert app_services(app).db[IMAGES].count_documents({}) == 1
    assert len(list(app_services(app).store.list_keys(""))) == 1  # the failed upload left nothing


@pytest.mark.slow
def test_app_starts_while_mongo_is_down_and_bootstraps_later(tmp_path: Path, minio_server: MinioServer,
                                                             bucket: str,
                                                             web_client: Callable[..., WebClient]) -> None:
    port = free_port()
    env = web_env_for(f"mongodb://127.0.0.1:{port}/", "late", minio_server, bucket)
    env.update(ADMIN_USERNAME="root", ADMIN_PASSWORD="admin passphrase 1", MONGODB_TIMEOUT_MS="300")
    app = create_app(Settings.from_env(env))  # does not crash at boot
    assert app.test_client().get("/public").status_code == 503
    server = MongoServer(tmp_path / "late", port=port)
    server.start()
    try:
        # pymongo rediscovers a server on its own heartbeat: wait for the app's own client to
        # see the restarted one, so the next request is the one that bootstraps.
        wait_until(lambda: app_services(app).db.command("ping"), 20, "the app's client to reach MongoDB",
                   interval=0.1, retry_on=(PyMongoError,))
        app.extensions["picsource.bootstrap"]._last_try = 0.0  # skip the 5 s retry pause
        admin = web_client(app)  # the first request may meet the circuit opened by the 503 above
        wait_until(lambda: admin.login("root", "admin passphrase 1").status_code == 302, 20, "the admin to sign in")
    finally:
        server.stop()


# --- gunicorn -----------------------------------------------------------------------------
@pytest.mark.slow
def test_gunicorn_refuses_bad_configuration_with_one_line(web_env: dict[str, str], tmp_path: Path) -> None:
    env = {**web_env, "MAX_UPLOAD_BYTES": "a lot", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
           "TMPDIR": str(tmp_path)}
    proc = start_gunicorn(env)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0
    lines = [line for line in stderr.splitlines() if "MAX_UPLOAD_BYTES" in line]
    assert lines == ["picsource-web: configuration error: MAX_UPLOAD_BYTES must be a byte size like 25MB, got 'a lot'"]
    assert not list(tmp_path.glob("picsource-listings-*"))  # the shared cache's directory went too


@pytest.mark.slow
def test_under_gunicorn_with_multiprocess_metrics(web_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    env = {**web_env, "WEB_BIND": f"127.0.0.1:{port}", "WEB_WORKERS": "2",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    proc = start_gunicorn(env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_serving(f"{base}/healthz", proc)
        session = requests.Session()
        for _ in range(20):  # spread over both workers by separate connections
            assert requests.get(f"{base}/public", timeout=30).status_code == 200
        assert session.get(f"{base}/readyz", timeout=30).status_code == 200
        metrics = requests.get(f"{base}/metrics", timeout=30).text
        line = next(m for m in metrics.splitlines()
                    if m.startswith("picsource_web_requests_total{") and 'route="/public"' in m)
        assert float(line.rsplit(" ", 1)[1]) == 20.0  # summed across worker processes
        assert "picsource_web_request_duration_seconds_bucket" in metrics
    finally:
        stop_gunicorn(proc)
    assert proc.returncode == 0


@pytest.mark.slow
def test_gunicorn_workers_share_their_cached_pages_in_a_directory_of_their_own(
        web_env: dict[str, str], tmp_path: Path) -> None:
    """The master makes the directory (under TMPDIR), the workers leave what they build
    there for each other, so a page is read from the database once per pod, not once per
    worker; the directory goes with the master."""
    port = free_port()
    env = {**web_env, "WEB_BIND": f"127.0.0.1:{port}", "WEB_WORKERS": "2", "TMPDIR": str(tmp_path),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    env.pop("LISTING_SHARED_DIR", None)
    proc = start_gunicorn(env)
    base = f"http://127.0.0.1:{port}"

    def listed() -> dict[str, float]:
        found = re.findall(r'picsource_web_listing_pages_total\{source="(\w+)"\} (\S+)',
                           requests.get(f"{base}/metrics", timeout=30).text)
        return {source: float(value) for source, value in found}

    try:
        wait_serving(f"{base}/healthz", proc)
        (shared_dir,) = tmp_path.glob("picsource-listings-*")
        for _ in range(200):  # separate connections, until the second worker has served one
            assert requests.get(f"{base}/public", timeout=30).status_code == 200
            if listed().get("shared"):
                break
        counts = listed()
        assert counts.get("shared", 0) >= 1 and counts["database"] == 1, counts
        assert any(name.suffix == ".entry" for name in shared_dir.iterdir())
    finally:
        stop_gunicorn(proc)
    assert proc.returncode == 0 and not shared_dir.exists()


def test_a_gunicorn_worker_freezes_what_it_built_before_serving(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    """post_worker_init takes the objects the worker holds for good out of every later
    collection (gc.freeze), after collecting what was garbage, and shortens the GIL's
    turns so a cached page does not wait 5 ms at each hand-over behind a search."""
    import gc
    import importlib.util
    import sys

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # the module sets one up otherwise
    monkeypatch.setenv("LISTING_SHARED_DIR", str(tmp_path))  # and this one
    spec = importlib.util.spec_from_file_location("gunicorn_conf_under_test", GUNICORN_CONF)
    assert spec is not None and spec.loader is not None
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    assert gc.get_freeze_count() == 0
    default = sys.getswitchinterval()
    try:
        conf.post_worker_init(None)
        assert gc.get_freeze_count() > 10_000  # the modules, the app and everything else alive
        assert conf.GIL_SWITCH_SECONDS < default
        assert sys.getswitchinterval() == pytest.approx(conf.GIL_SWITCH_SECONDS)
    finally:
        gc.unfreeze()
        sys.setswitchinterval(default)


def test_bootstrap_flag(app: Flask, make_app: Callable[..., Flask]) -> None:
    assert app.extensions["picsource.bootstrap"].done is True


def test_static_assets_are_versioned_and_long_cached(app: Flask) -> None:
    client = app.test_client()
    html = client.get("/public").get_data(as_text=True)
    import re

    css = re.search(r'href="(/static/app\.css\?v=[0-9a-f]{12})"', html)
    assert css, "app.css link with a content version"
    response = client.get(css.group(1))
    assert response.status_code == 200 and "max-age=31536000" in response.headers["Cache-Control"]
    assert b"tailwindcss" in response.data and b"--color-base-100" in response.data  # DaisyUI theme
