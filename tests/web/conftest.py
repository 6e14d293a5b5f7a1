"""Web-tier fixtures: a real app on the fresh database and bucket, and browser-like clients.

``app`` is ``create_app`` with settings pointing at the session's SecantusDB and MinIO
(fresh database and bucket per test). ``web_client()`` returns a Flask test client
wrapped with helpers that behave like the pages do: every form post carries the CSRF
token the page would have rendered.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from picsource_web.app import create_app
from picsource_web.context import EXTENSION
from picsource_web.services.container import Services
from picsource_web.settings import Settings

PASSWORD = "correct horse battery"
SECRET = "test-secret-key-" + "x" * 32
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def base_env(mongo_uri: str, database: str, minio: Any, bucket: str) -> dict[str, str]:
    return {
        "SECRET_KEY": SECRET,
        "MONGODB_URI": mongo_uri,
        "MONGODB_DATABASE": database,
        "MONGODB_TIMEOUT_MS": "2000",
        "S3_ENDPOINT": minio.url,
        "S3_ACCESS_KEY": minio.access_key,
        "S3_SECRET_KEY": minio.secret_key,
        "S3_BUCKET": bucket,
        "S3_REGION": minio.region,
        "S3_TIMEOUT_SECONDS": "3",
        "LOGIN_RATE_LIMIT": "5/15m",
        "LOG_LEVEL": "warning",
    }


@pytest.fixture
def web_env(mongo_server: Any, minio_server: Any, mongo_db: Any, bucket: str) -> dict[str, str]:
    return base_env(mongo_server.uri, mongo_db.name, minio_server, bucket)


@pytest.fixture
def web_settings(web_env: dict[str, str]) -> Settings:
    return Settings.from_env(web_env)


@pytest.fixture
def make_app(web_settings: Settings) -> Callable[..., Flask]:
    """make_app(**setting_changes, share_token_factory=...) -> a fresh app."""
    created: list[Flask] = []

    def factory(**changes: Any) -> Flask:
        overrides = {k: changes.pop(k) for k in list(changes) if k == "share_token_factory"}
        app = create_app(replace(web_settings, **changes), **overrides)
        app.config["TESTING"] = True
        created.append(app)
        return app

    return factory


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


def services_of(app: Flask) -> Services:
    return app.extensions[EXTENSION]  # type: ignore[no-any-return]


class WebClient:
    """A test client that signs up, signs in and posts forms the way the pages do."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()
        self.username: str | None = None

    # plain requests --------------------------------------------------------------------
    def get(self, url: str, **kwargs: Any) -> TestResponse:
        return self.client.get(url, **kwargs)

    def csrf(self) -> str:
        """The token the current session's pages carry (rendering a page creates it)."""
        with self.client.session_transaction() as session:
            token = session.get("csrf")
        if token:
            return str(token)
        page = self.client.get("/public")
        match = _CSRF_META.search(page.get_data(as_text=True))
        assert match, "no csrf meta tag on /public"
        return match.group(1)

    def post(self, url: str, data: dict[str, Any] | None = None, *, csrf: bool = True,
             **kwargs: Any) -> TestResponse:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf())
        return self.client.post(url, data=form, **kwargs)

    # accounts --------------------------------------------------------------------------
    def signup(self, username: str, password: str = PASSWORD) -> TestResponse:
        response = self.post("/signup", {"username": username, "password": password, "password2": password})
        if response.status_code == 302:
            self.username = username
        return response

    def login(self, username: str, password: str = PASSWORD) -> TestResponse:
        response = self.post("/login", {"username": username, "password": password})
        if response.status_code == 302:
            self.username = username
        return response

    def logout(self) -> TestResponse:
        return self.post("/logout")

    # uploads ---------------------------------------------------------------------------
    def upload(self, data: bytes, filename: str = "photo.jpg", *, as_json: bool = True,
               **fields: str) -> TestResponse:
        import io

        form: dict[str, Any] = {"file": (io.BytesIO(data), filename), **fields}
        headers = {"Accept": "application/json"} if as_json else {}
        return self.post("/upload", form, content_type="multipart/form-data", headers=headers)

    def upload_id(self, data: bytes, filename: str = "photo.jpg", **fields: str) -> str:
        response = self.upload(data, filename, **fields)
        assert response.status_code == 201, response.get_data(as_text=True)
        return str(response.get_json()["id"])


@pytest.fixture
def web_client(app: Flask) -> Callable[[], WebClient]:
    """web_client() -> a new, signed-out browser-like client of ``app``."""
    return lambda: WebClient(app)


@pytest.fixture
def alice(web_client: Callable[[], WebClient]) -> Iterator[WebClient]:
    client = web_client()
    assert client.signup("alice").status_code == 302
    yield client


@pytest.fixture
def bob(web_client: Callable[[], WebClient]) -> Iterator[WebClient]:
    client = web_client()
    assert client.signup("bob").status_code == 302
    yield client
