"""RFC 9457 problem details (application/problem+json) with a stable ``code``.

Why a translation table: the services raise ``ServiceError`` with reasons chosen for
metrics labels and HTML messages (``too_large``, ``corrupt``...); API clients need a
small, documented and stable vocabulary instead. The table is the one place where
the two meet, so a renamed service reason cannot silently change the API contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, json

from picsource_web.services.errors import ServiceError

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://picsource.dev/problems/"

# Stable API codes with their HTTP status and human title. Documented in openapi.py.
CODES: dict[str, tuple[int, str]] = {
    "validation_error": (400, "Invalid request"),
    "empty_file": (400, "Empty file"),
    "unauthorized": (401, "Authentication required"),
    "forbidden": (403, "Forbidden"),
    "csrf_failed": (403, "CSRF check failed"),
    "not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "duplicate": (409, "Duplicate image"),
    "conflict": (409, "Conflict"),
    "payload_too_large": (413, "Payload too large"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "image_too_large": (422, "Image has too many pixels"),
    "corrupt_image": (422, "Image cannot be decoded"),
    "quota_exceeded": (403, "Quota exceeded"),
    "rate_limited": (429, "Too many requests"),
    "internal_error": (500, "Internal error"),
    "service_unavailable": (503, "Service unavailable"),
}

# Service reasons (see services/*) -> API code. Unknown reasons map by HTTP status.
_REASONS: dict[str, str] = {
    "empty": "empty_file",
    "too_large": "payload_too_large",
    "too_many_pixels": "image_too_large",
    "unsupported_format": "unsupported_media_type",
    "corrupt": "corrupt_image",
    "not_found": "not_found",
    "duplicate": "duplicate",
    "quota_images": "quota_exceeded",
    "quota_bytes": "quota_exceeded",
    "quota_exceeded": "quota_exceeded",
    "rate_limited": "rate_limited",
    "csrf_failed": "csrf_failed",
    "mongo_unavailable": "service_unavailable",
    "mongodb_unavailable": "service_unavailable",
    "storage_unavailable": "service_unavailable",
}
_BY_STATUS = {
    400: "validation_error", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited",
    503: "service_unavailable",
}


class Problem(ServiceError):
    """Raised by API code; a service error whose reason is already a stable API code."""

    def __init__(self, code: str, detail: str, *, status: int | None = None,
                 extra: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None) -> None:
        default_status, self.title = CODES[code]
        super().__init__(status or default_status, code, detail)
        self.code = code
        self.detail = detail
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self, instance: str | None = None) -> dict[str, Any]:
        return problem_body(self.status, self.code, self.title, self.detail, instance, self.extra)


def problem_body(status: int, code: str, title: str, detail: str, instance: str | None = None,
                 extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The RFC 9457 members every problem carries, then ``instance`` and any extra members."""
    body: dict[str, Any] = {"type": TYPE_BASE + code, "title": title, "status": status,
                            "detail": detail, "code": code}
    if instance:
        body["instance"] = instance
    body.update(extra or {})
    return body


def code_for(reason: str, status: int) -> str:
    """The stable API code for a service reason (falling back on the HTTP status)."""
    if reason in _REASONS:
        return _REASONS[reason]
    if reason.startswith("quota"):
        return "quota_exceeded"
    if reason.endswith("_unavailable"):
        return "service_unavailable"
    return _BY_STATUS.get(status, "internal_error" if status >= 500 else "validation_error")


def from_service_error(err: ServiceError, **extra: Any) -> Problem:
    """Translate a service refusal, keeping its HTTP status and message."""
    problem = Problem(code_for(err.reason, err.status), err.message, status=err.status, extra=extra)
    if err.reason != problem.code:
        problem.extra.setdefault("reason", err.reason)
    return problem


def problem_response(problem: Problem, instance: str | None = None) -> Response:
    response = problem_json(problem.body(instance), problem.status)
    for name, value in problem.headers.items():
        response.headers[name] = value
    if problem.status == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="picsource"')
    return response


def problem_json(body: Mapping[str, Any], status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
