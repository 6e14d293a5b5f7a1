"""Error responses: HTML pages for browsers, application/problem+json for API clients.

Every refusal has a status, a stable ``code`` and a message a person can act on. Backing
services being down is a 503 naming the service (never a stack trace), and nothing is
cached about the outage: the next request tries again, so recovery needs no restart.
"""

from __future__ import annotations

import logging
from typing import Any

import urllib3.exceptions
from flask import Flask, Response, jsonify, render_template, request
from minio.error import MinioException
from pymongo.errors import ConnectionFailure, PyMongoError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from picsource_core.storage import StorageError
from picsource_web import metrics
from picsource_web.context import wants_json
from picsource_web.services.errors import ServiceError, Unavailable

log = logging.getLogger(__name__)

MONGO_DOWN = "The database (MongoDB) is unavailable right now. Please try again in a moment."
STORAGE_DOWN = "Image storage is unavailable right now. Please try again in a moment."

_TITLES = {400: "Bad request", 401: "Sign-in required", 403: "Not allowed", 404: "Not found",
           405: "Method not allowed", 409: "Conflict", 413: "Too large", 415: "Unsupported format",
           422: "Cannot process", 429: "Too many attempts", 500: "Server error",
           503: "Service unavailable"}


def problem(status: int, code: str, detail: str, **extra: Any) -> Response:
    body = {"type": f"https://picsource.dev/problems/{code}", "title": _TITLES.get(status, "Error"),
            "status": status, "code": code, "detail": detail, **extra}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    if wants_json():
        response = problem(status, code, message, **extra)
    else:
        html = render_template("error.html", status=status, title=_TITLES.get(status, "Error"),
                               message=message, code=code)
        response = Response(html, status=status, mimetype="text/html")
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def _service_error(err: ServiceError) -> Response:
        if request.endpoint in ("upload.upload", "api.upload_image") and 400 <= err.status < 500:
            metrics.UPLOAD_REJECTIONS.labels(reason=err.reason).inc()
        response = error_response(err.status, err.reason, err.message)
        retry_after = getattr(err, "retry_after", None)
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        if isinstance(err, Unavailable):
            log.warning("%s unavailable: %s", err.service, err.__cause__ or err.message)
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(err: RequestEntityTooLarge) -> Response:
        if request.endpoint in ("upload.upload", "api.upload_image"):
            metrics.UPLOAD_REJECTIONS.labels(reason="too_large").inc()
        limit = app.config["MAX_CONTENT_LENGTH"]
        return error_response(413, "too_large", f"The upload is larger than the limit of {limit:,} bytes.")

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        status = err.code or 500
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, f"http_{status}")
        message = "No such page." if status == 404 else (err.description or _TITLES.get(status, "Error"))
        return error_response(status, code, message)

    @app.errorhandler(ConnectionFailure)
    def _mongo_down(err: ConnectionFailure) -> Response:
        log.warning("MongoDB unavailable: %s", err)
        return error_response(503, "mongo_unavailable", MONGO_DOWN, service="mongo")

    @app.errorhandler(StorageError)
    @app.errorhandler(MinioException)
    @app.errorhandler(urllib3.exceptions.HTTPError)
    def _storage_down(err: Exception) -> Response:
        log.warning("object storage unavailable: %s", err)
        return error_response(503, "storage_unavailable", STORAGE_DOWN, service="storage")

    @app.errorhandler(PyMongoError)
    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("unhandled error: %s", err)
        return error_response(500, "internal_error",
                              "Something went wrong on our side. The error was logged.")
