"""The JSON API as a script sees it: ``ApiClient`` with a bearer token, ``token_for`` a
user, and ``assert_problem`` for application/problem+json answers. The files uploaded come
from tests/support/images.py.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from picsource_web.context import EXTENSION

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


class ApiClient:
    """A script's view of the API: a bearer token on every request."""

    def __init__(self, app: Flask, token: str | None) -> None:
        self.client: FlaskClient = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, url: str, **kw: Any) -> TestResponse:
        return self.client.get(url, headers=self.headers, **kw)

    def delete(self, url: str) -> TestResponse:
        return self.client.delete(url, headers=self.headers)

    def patch(self, url: str, body: Any) -> TestResponse:
        return self.client.patch(url, json=body, headers=self.headers)

    def upload(self, *files: tuple[bytes, str], **fields: str) -> TestResponse:
        form: dict[str, Any] = {"file": [(io.BytesIO(data), name) for data, name in files], **fields}
        return self.client.post("/api/v1/images", data=form, headers=self.headers,
                                content_type="multipart/form-data")

    def upload_one(self, data: bytes, name: str = "a.jpg", **fields: str) -> dict[str, Any]:
        response = self.upload((data, name), **fields)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()["images"][0]  # type: ignore[no-any-return]


def token_for(app: Flask, username: str) -> str:
    svc = app.extensions[EXTENSION]
    user = svc.users.by_username(username)
    assert user is not None
    plain, _ = svc.tokens.create(user.id, "tests")
    return plain


def assert_problem(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert PROBLEM_KEYS <= body.keys()
    assert (body["status"], body["code"]) == (status, code), body
    assert body["type"].endswith("/" + code) and body["detail"]
    return body  # type: ignore[no-any-return]
