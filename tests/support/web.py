"""Clients of the web tier for tests: ``WebClient`` behaves like a browser on the pages.

Tests do not build clients themselves: they ask for the ``web_client`` factory or the
signed-in ``alice`` and ``bob`` fixtures (tests/web/conftest.py), as flaskr's tests ask
for ``auth``. ``app_services(app)`` is the service container ``create_app`` keeps on an
app, for a test that looks at the database or the bucket behind the pages.
"""

from __future__ import annotations

import io
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from picsource_web.context import EXTENSION
from picsource_web.services.container import Services

PASSWORD = "correct horse battery"
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def app_services(app: Flask) -> Services:
    """The Services container of ``app`` (its database, bucket, repositories and settings)."""
    return app.extensions[EXTENSION]  # type: ignore[no-any-return]


class WebClient:
    """A test client that signs up, signs in and posts forms the way the pages do: every
    form post carries the CSRF token the page would have rendered."""

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
        form: dict[str, Any] = {"file": (io.BytesIO(data), filename), **fields}
        headers = {"Accept": "application/json"} if as_json else {}
        return self.post("/upload", form, content_type="multipart/form-data", headers=headers)

    def upload_id(self, data: bytes, filename: str = "photo.jpg", **fields: str) -> str:
        response = self.upload(data, filename, **fields)
        assert response.status_code == 201, response.get_data(as_text=True)
        return str(response.get_json()["id"])
