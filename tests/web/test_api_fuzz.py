"""Schemathesis fuzzes every /api/v1 operation (#14 item 4): no answer is a server error,
and every answer has a documented status, content type and body.

Against the real app (create_app on the test's SecantusDB database and MinIO bucket), as
alice (an image of hers; a write token, a read-only token, her session cookie without the
CSRF header) and as an anonymous caller; positive and negative data, a fixed number of
derandomized examples per operation (tests/support/fuzz.py holds the plan;
bench/bench_fuzz.py runs the same plan with more examples).
"""

from __future__ import annotations

import io

from flask import Flask

from picsource_web.api.openapi import documented_operations
from tests.support import images as samples
from tests.support.fuzz import OPENAPI_PATH, callers_for, load_schema, run_fuzz
from tests.support.web import WebClient
from tests.web.api_support import ApiClient, assert_problem, token_for

EXAMPLES = 25


def test_every_documented_operation_is_fuzzed(app: Flask) -> None:
    """Schemathesis reads every operation of the served document (none skipped as invalid),
    but for the one that serves the document itself, which it leaves out on purpose."""
    loaded = {(op.ok().path, op.ok().method.upper()) for op in load_schema(app).get_all_operations()}
    assert loaded == documented_operations() - {(OPENAPI_PATH, "GET")}


def test_fuzzed_api_never_answers_5xx_nor_off_the_document(app: Flask, alice: WebClient) -> None:
    callers, image_id = callers_for(app, alice)
    report = run_fuzz(app, callers, examples=EXAMPLES, image_id=image_id)
    assert report.cases >= 500, report
    assert {200, 201, 204, 400, 401, 403, 404} <= report.statuses.keys(), report.statuses
    assert report.failures == [], "\n".join(report.failures)  # each with a curl to replay it
    assert report.server_errors == 0, report.statuses


# --- what the fuzz found, pinned as plain tests ------------------------------------------
def test_too_many_form_parts_is_not_called_a_too_large_body(app: Flask, alice: WebClient) -> None:
    """A small upload of 45 parts was refused as 'larger than the limit of 251,048,576 bytes'."""
    api = ApiClient(app, token_for(app, "alice"))
    form = {"file": [(io.BytesIO(b"x"), f"{i}.jpg") for i in range(45)]}
    response = api.client.post("/api/v1/images", data=form, headers=api.headers,
                               content_type="multipart/form-data")
    detail = assert_problem(response, 413, "payload_too_large")["detail"]
    assert "larger than the limit" not in detail
    assert "at most 40 parts" in detail


def test_an_overlong_text_field_is_named_as_such(app: Flask, alice: WebClient) -> None:
    api = ApiClient(app, token_for(app, "alice"))
    response = api.upload((samples.noisy_jpeg(2), "a.jpg"), description="d" * (1024 * 1024 + 1))
    detail = assert_problem(response, 413, "payload_too_large")["detail"]
    assert "a text field" in detail and "1,048,576 bytes" in detail


def test_a_405_says_which_methods_are_allowed(app: Flask) -> None:
    """RFC 9110 requires Allow on a 405 (schemathesis' unsupported_method check asks for it);
    the problem response built for the refusal used to drop the header werkzeug had set."""
    client = app.test_client()
    response = client.put("/api/v1/images")
    assert_problem(response, 405, "method_not_allowed")
    assert {"GET", "POST"} <= {m.strip() for m in response.headers.get("Allow", "").split(",")}
    response = client.post("/api/v1/me")
    assert response.status_code == 405 and "GET" in response.headers.get("Allow", "")
    response = client.put("/upload")
    assert response.status_code == 405 and "POST" in response.headers.get("Allow", "")
