"""Request bodies (issue #14 item 1): nothing reads a body before the route and the caller
are known; per-route limits answer 413 before reading the rest; uploads spool to disk;
the HTML upload is bounded in file count; duplicates are found by hash before decoding.

The Flask test client proves who reads what: the request body is a ``Body`` that counts
the bytes read and refuses to give more than a cap. A real gunicorn proves the memory:
an anonymous 100 MB POST must not grow the worker's peak RSS (VmHWM) by more than 20 MB.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from werkzeug.test import EnvironBuilder, TestResponse

from picsource_core.mongo import IMAGES
from picsource_web.services import validation
from picsource_web.services.api_uploads import MAX_FILES
from tests.harness.procs import free_port
from tests.support import images as samples
from tests.support.gunicorn import stop_gunicorn
from tests.support.hostile import (
    BOUNDARY,
    gunicorn_on,
    hostile_post,
    multipart_head,
    peak_rss_kib,
    worker_pids,
)
from tests.support.waiting import wait_serving
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, assert_problem, token_for

MB = 1024 * 1024


class Body:
    """A request body of ``size`` bytes (a multipart head, then zeros) that is never built
    in memory, counts what the app reads and refuses to give more than ``cap`` bytes."""

    def __init__(self, size: int, head: bytes = b"", cap: int = 8 * MB) -> None:
        self.size, self.head, self.cap, self.read_bytes = size, head, cap, 0

    def read(self, n: int = -1) -> bytes:
        left = self.size - self.read_bytes
        n = left if n is None or n < 0 else min(n, left)
        if self.read_bytes + n > self.cap:
            raise AssertionError(f"the app read more than {self.cap:,} bytes of the body")
        start = self.read_bytes
        self.read_bytes += n
        head = self.head[start:start + n]
        return head + b"\0" * (n - len(head))

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def readline(self, limit: int = -1) -> bytes:
        return self.read(limit if limit and limit > 0 else 65536)


class HostileRequest(EnvironBuilder):
    """A POST whose body is a ``Body``: with its Content-Length, or chunked (no length,
    ``wsgi.input_terminated`` as gunicorn sets it)."""

    def __init__(self, path: str, body: Body, *, chunked: bool = False, method: str = "POST",
                 **kwargs: Any) -> None:
        super().__init__(path, method=method,
                         content_type=f"multipart/form-data; boundary={BOUNDARY}", **kwargs)
        self.body, self.chunked = body, chunked

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ["wsgi.input"] = self.body
        environ.pop("CONTENT_LENGTH", None)
        if self.chunked:
            environ["wsgi.input_terminated"] = True
        else:
            environ["CONTENT_LENGTH"] = str(self.body.size)
        return environ


def send(client: Any, path: str, body: Body, **kwargs: Any) -> TestResponse:
    return client.open(HostileRequest(path, body, **kwargs))  # type: ignore[no-any-return]


# --- nothing reads a body before the route and the caller are known ------------------------
REFUSED_UNREAD = [
    pytest.param("POST", "/nope", {}, False, 404, id="unknown-url"),
    pytest.param("PUT", "/nope", {}, True, 404, id="unknown-url-chunked"),
    pytest.param("POST", "/healthz", {}, False, 405, id="wrong-method"),
    pytest.param("POST", "/upload", {}, False, 401, id="upload-anonymous"),
    pytest.param("POST", "/upload", {}, True, 401, id="upload-anonymous-chunked"),
    pytest.param("POST", "/api/v1/images", {}, False, 401, id="api-upload-anonymous"),
    pytest.param("POST", "/api/v1/images", {"Authorization": "Bearer forged"}, True, 401,
                 id="api-upload-bad-token"),
    pytest.param("POST", "/login", {}, False, 413, id="form-route-over-its-limit"),
]


@pytest.mark.parametrize(("method", "path", "headers", "chunked", "status"), REFUSED_UNREAD)
def test_anonymous_bodies_are_refused_unread(app: Flask, web_client: Callable[..., WebClient],
                                             method: str, path: str, headers: dict[str, str],
                                             chunked: bool, status: int) -> None:
    client = web_client()
    client.csrf()  # a session with a CSRF token, as a visitor who loaded a page has
    body = Body(100 * MB, multipart_head("csrf_token", None))  # the token in the form, as pages send it
    response = send(client.client, path, body, method=method, chunked=chunked, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert body.read_bytes == 0


def test_post_without_any_session_is_refused_unread(app: Flask) -> None:
    """No CSRF token was ever issued to this caller, so nothing in the body can match."""
    body = Body(100 * MB, multipart_head("csrf_token", None))
    response = send(app.test_client(), "/signup", body, chunked=True)
    assert response.status_code == 400 and body.read_bytes == 0


def test_signed_in_bodies_over_the_route_limit_are_refused_unread(app: Flask, alice: WebClient) -> None:
    over_upload = Body(app.config["MAX_CONTENT_LENGTH"] + 1, multipart_head())
    response = send(alice.client, "/upload", over_upload, headers={"X-CSRF-Token": alice.csrf(),
                                                                   "Accept": "application/json"})
    assert response.status_code == 413 and over_upload.read_bytes == 0
    assert str(app.config["MAX_CONTENT_LENGTH"]) in response.get_json()["detail"].replace(",", "")
    over_form = Body(5 * MB, multipart_head("name", None))
    response = send(alice.client, "/settings/tokens", over_form,
                    headers={"X-CSRF-Token": alice.csrf()})
    assert response.status_code == 413 and over_form.read_bytes == 0


def test_chunked_form_body_is_cut_off_at_the_form_limit(app: Flask,
                                                        web_client: Callable[..., WebClient]) -> None:
    """No Content-Length to check up front: the stream itself stops at the route's limit."""
    from picsource_web.security import FORM_BODY_LIMIT

    client = web_client()
    body = Body(50 * MB, multipart_head())
    response = send(client.client, "/login", body, chunked=True,
                    headers={"X-CSRF-Token": client.csrf()})
    assert response.status_code == 413
    assert 0 < body.read_bytes <= FORM_BODY_LIMIT + 64 * 1024


# --- spooling, file count, duplicates -----------------------------------------------------
def test_uploaded_files_spool_to_disk_past_a_small_threshold(app: Flask) -> None:
    from picsource_web.app import SPOOL_BYTES

    files = {"small": (io.BytesIO(b"s" * 1000), "s.jpg"),
             "big": (io.BytesIO(b"b" * (SPOOL_BYTES + 1)), "b.jpg")}
    with app.test_request_context("/upload", method="POST", data=files,
                                  content_type="multipart/form-data"):
        small, big = request.files["small"].stream, request.files["big"].stream
        assert isinstance(big, tempfile.SpooledTemporaryFile) and big._rolled  # type: ignore[attr-defined]
        assert isinstance(small, tempfile.SpooledTemporaryFile) and not small._rolled  # type: ignore[attr-defined]


def test_html_upload_is_bounded_in_file_count(app: Flask, alice: WebClient) -> None:
    files = [(io.BytesIO(samples.noisy_jpeg(i)), f"{i}.jpg") for i in range(MAX_FILES + 1)]
    response = alice.post("/upload", {"files": files}, content_type="multipart/form-data",
                          headers={"Accept": "application/json"})
    assert response.status_code == 400 and response.get_json()["code"] == "too_many_files"
    assert app_services(app).db[IMAGES].count_documents({}) == 0


@pytest.fixture
def pillow_opens(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every Image.open the upload validation makes (header probe or decode)."""
    calls: list[object] = []
    real = validation.Image.open

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(validation.Image, "open", counting)
    return calls


def test_duplicate_is_found_by_hash_before_any_decode(app: Flask, alice: WebClient,
                                                      pillow_opens: list[object]) -> None:
    data = samples.noisy_jpeg(7)
    first = alice.upload(data)
    assert first.status_code == 201 and pillow_opens
    pillow_opens.clear()
    again = alice.upload(data)
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert pillow_opens == []


def test_api_batch_duplicates_are_found_before_any_decode(app: Flask, alice: WebClient,
                                                          pillow_opens: list[object]) -> None:
    api = ApiClient(app, token_for(app, "alice"))
    data = samples.noisy_jpeg(8)
    api.upload_one(data)
    pillow_opens.clear()
    assert_problem(api.upload((data, "a.jpg"), (data, "b.jpg")), 409, "duplicate")
    assert pillow_opens == []


# --- a real gunicorn: the worker's memory --------------------------------------------------
@pytest.mark.slow
def test_hostile_100mb_posts_do_not_grow_the_worker(web_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    proc = gunicorn_on(web_env, port, 1, tmp_path)
    try:
        wait_serving(f"http://127.0.0.1:{port}/healthz", proc)
        for path in ("/nope", "/upload", "/api/v1/images", "/login"):  # warm every code path
            hostile_post(port, path, 64 * 1024)
        (worker,) = worker_pids(proc.pid)
        before = peak_rss_kib(worker)
        for path, chunked, status in (("/nope", False, 404), ("/upload", False, 401),
                                      ("/upload", True, 401), ("/api/v1/images", False, 401),
                                      ("/login", False, 413), ("/login", True, 400)):
            answer, sent, seconds = hostile_post(port, path, 100 * MB, chunked=chunked)
            assert answer == status, (path, chunked, answer)
            assert seconds < 10, (path, chunked, seconds)
        grown = (peak_rss_kib(worker) - before) / 1024
        assert grown <= 20, f"the worker's peak RSS grew by {grown:.0f} MB"
        assert worker_pids(proc.pid) == [worker], "the worker was replaced"
    finally:
        stop_gunicorn(proc)
