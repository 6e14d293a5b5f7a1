"""Web-tier fixtures: a real app on the fresh database and bucket, and browser-like clients.

``app`` is ``create_app`` with settings pointing at the session's SecantusDB and MinIO
(fresh database and bucket per test). ``web_client()`` returns a new browser-like
``WebClient`` (tests/support/web.py); ``alice`` and ``bob`` are clients already signed up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask

from picsource_web.app import create_app
from picsource_web.settings import Settings
from tests.support.env import web_env_for
from tests.support.web import WebClient


@pytest.fixture
def web_env(mongo_server: Any, minio_server: Any, mongo_db: Any, bucket: str) -> dict[str, str]:
    return web_env_for(mongo_server.uri, mongo_db.name, minio_server, bucket)


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


@pytest.fixture
def web_client(request: pytest.FixtureRequest) -> Callable[..., WebClient]:
    """web_client(app=None) -> a new, signed-out browser-like client of ``app``, or of the
    test's ``app`` fixture when none is given (so a test on its own app builds no other)."""

    def make(app: Flask | None = None) -> WebClient:
        return WebClient(app if app is not None else request.getfixturevalue("app"))

    return make


@pytest.fixture
def alice(web_client: Callable[..., WebClient]) -> Iterator[WebClient]:
    client = web_client()
    assert client.signup("alice").status_code == 302
    yield client


@pytest.fixture
def bob(web_client: Callable[..., WebClient]) -> Iterator[WebClient]:
    client = web_client()
    assert client.signup("bob").status_code == 302
    yield client
