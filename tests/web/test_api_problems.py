"""Problem details: the stable API codes, their statuses and the translation of service errors."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from picsource_web.api.problems import (
    CODES,
    PROBLEM_JSON,
    TYPE_BASE,
    Problem,
    code_for,
    from_service_error,
    problem_response,
)
from picsource_web.services.errors import NotFound, ServiceError, Unavailable
from picsource_web.services.uploads import QuotaExceeded
from picsource_web.services.validation import UploadRejected


@pytest.mark.parametrize(
    ("reason", "status", "code"),
    [
        ("empty", 400, "empty_file"),
        ("too_large", 413, "payload_too_large"),
        ("too_many_pixels", 422, "image_too_large"),
        ("unsupported_format", 415, "unsupported_media_type"),
        ("corrupt", 422, "corrupt_image"),
        ("quota_images", 403, "quota_exceeded"),
        ("quota_bytes", 403, "quota_exceeded"),
        ("mongo_unavailable", 503, "service_unavailable"),
        ("storage_unavailable", 503, "service_unavailable"),
        ("invalid_cursor", 400, "validation_error"),
        ("title_too_long", 400, "validation_error"),
        ("something_new", 404, "not_found"),
        ("something_new", 500, "internal_error"),
    ],
)
def test_service_reasons_map_to_stable_codes(reason: str, status: int, code: str) -> None:
    assert code_for(reason, status) == code
    assert code in CODES


def test_service_error_keeps_status_message_and_reason() -> None:
    problem = from_service_error(UploadRejected(422, "too_many_pixels", "Too many pixels."))
    body = problem.body("/api/v1/images")
    assert body == {
        "type": TYPE_BASE + "image_too_large", "title": CODES["image_too_large"][1],
        "status": 422, "detail": "Too many pixels.", "code": "image_too_large",
        "instance": "/api/v1/images", "reason": "too_many_pixels",
    }


def test_not_found_and_unavailable_translate() -> None:
    assert from_service_error(NotFound()).status == 404
    assert from_service_error(NotFound()).code == "not_found"
    problem = from_service_error(Unavailable("storage", "Object storage is down."))
    assert (problem.status, problem.code) == (503, "service_unavailable")
    quota = from_service_error(QuotaExceeded(403, "quota_images", "Limit reached."))
    assert (quota.status, quota.code) == (403, "quota_exceeded")


def test_response_is_problem_json_with_required_members() -> None:
    with Flask(__name__).app_context():
        response = problem_response(Problem("unauthorized", "Send a token."))
    assert response.status_code == 401
    assert response.mimetype == PROBLEM_JSON
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = json.loads(response.get_data())
    assert {"type", "title", "status", "detail", "code"} <= body.keys()
    assert body["status"] == 401 and body["code"] == "unauthorized"


def test_every_code_has_a_client_or_server_error_status() -> None:
    for code, (status, title) in CODES.items():
        assert 400 <= status < 600, code
        assert title and title[0].isupper(), code
    with pytest.raises(KeyError):
        Problem("no_such_code", "x")
    assert isinstance(from_service_error(ServiceError(418, "teapot", "x")), Problem)
