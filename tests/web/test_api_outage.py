"""MongoDB or object storage unreachable: the API answers 503 problem+json naming the
service (code service_unavailable), never a 500 or a hang, and stores nothing."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace

from flask import Flask

from tests.harness.procs import free_port
from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, assert_problem, token_for


def test_mongo_down_is_503_service_unavailable(make_app: Callable[..., Flask],
                                               web_settings: object) -> None:
    dead = replace(web_settings.mongo, uri=f"mongodb://127.0.0.1:{free_port()}/",  # type: ignore[attr-defined]
                   timeout_ms=300)
    app = make_app(mongo=dead)
    client = app.test_client()
    for response in (client.get("/api/v1/images"),
                     client.get("/api/v1/images", headers={"Authorization": "Bearer psk_x"}),
                     client.get(f"/api/v1/images/{'a' * 24}")):
        body = assert_problem(response, 503, "service_unavailable")
        assert body["service"] == "mongo" and response.headers["Retry-After"]
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_storage_down_is_503_and_nothing_is_stored(make_app: Callable[..., Flask],
                                                   web_settings: object,
                                                   web_client: Callable[..., WebClient]) -> None:
    dead = replace(web_settings.storage, endpoint=f"http://127.0.0.1:{free_port()}",  # type: ignore[attr-defined]
                   timeout_seconds=0.5)
    app = make_app(storage=dead)
    user = web_client(app)
    assert user.signup("dora").status_code == 302
    api = ApiClient(app, token_for(app, "dora"))
    response = api.client.post("/api/v1/images", headers=api.headers,
                               data={"file": (io.BytesIO(samples.jpeg()), "a.jpg")},
                               content_type="multipart/form-data")
    body = assert_problem(response, 503, "service_unavailable")
    assert body["service"] == "storage"
    assert app_services(app).db.images.count_documents({}) == 0
    assert app_services(app).db.jobs.count_documents({}) == 0
