"""Blueprint error handlers: every API failure becomes problem+json with a stable code.

Why blueprint-level: the app-wide handlers (picsource_web.errors) already answer JSON
under /api/, but with the service's internal reason as the code. Flask looks handlers
up per exception class, blueprint before app, so the API registers one for each class
the app handles; that keeps ``code`` values from the documented vocabulary in
``problems.CODES`` whatever part of the stack raised.
"""

from __future__ import annotations

import logging

import urllib3.exceptions
from flask import Blueprint, Response, request
from minio.error import MinioException
from pymongo.errors import ConnectionFailure, PyMongoError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from picsource_core.storage import StorageError
from picsource_web import metrics
from picsource_web.api.problems import Problem, from_service_error, problem_response
from picsource_web.errors import MONGO_DOWN, STORAGE_DOWN
from picsource_web.identity import viewer
from picsource_web.services.errors import ServiceError, Unavailable

log = logging.getLogger(__name__)

UPLOAD_ENDPOINT = "api.upload_image"


def _respond(problem: Problem) -> Response:
    if request.endpoint == UPLOAD_ENDPOINT and 400 <= problem.status < 500:
        metrics.UPLOAD_REJECTIONS.labels(reason=str(problem.extra.get("reason", problem.code))).inc()
    if problem.status == 503:
        problem.headers.setdefault("Retry-After", "5")
    return problem_response(problem, request.path)


def _anonymous() -> bool:
    try:
        return viewer().user is None
    except Exception:  # noqa: BLE001 - MongoDB down while resolving the session
        return True


def register(bp: Blueprint) -> None:
    @bp.errorhandler(Problem)
    def _problem(err: Problem) -> Response:
        return _respond(err)

    @bp.errorhandler(ServiceError)
    def _service_error(err: ServiceError) -> Response:
        if err.reason == "csrf_failed" and _anonymous():
            # No session at all: the caller is not authenticated; say so, not "CSRF".
            return _respond(Problem("unauthorized", "Authenticate with 'Authorization: Bearer "
                                    "<token>' or a signed-in session."))
        problem = from_service_error(err)
        if isinstance(err, Unavailable):
            problem.extra["service"] = err.service
            log.warning("%s unavailable: %s", err.service, err.__cause__ or err.message)
        retry_after = getattr(err, "retry_after", None)
        if retry_after:
            problem.headers["Retry-After"] = str(retry_after)
        return _respond(problem)

    @bp.errorhandler(RequestEntityTooLarge)
    def _too_large(err: RequestEntityTooLarge) -> Response:
        return _respond(Problem("payload_too_large", "The request body is larger than the limit.",
                                extra={"reason": "too_large"}))

    @bp.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Response:
        status = err.code or 500
        code = {400: "validation_error", 404: "not_found", 405: "method_not_allowed",
                415: "unsupported_media_type"}.get(status, "internal_error")
        return _respond(Problem(code, err.description or "Request refused.", status=status))

    @bp.errorhandler(ConnectionFailure)
    def _mongo_down(err: ConnectionFailure) -> Response:
        log.warning("MongoDB unavailable: %s", err)
        return _respond(Problem("service_unavailable", MONGO_DOWN, extra={"service": "mongo"}))

    @bp.errorhandler(StorageError)
    @bp.errorhandler(MinioException)
    @bp.errorhandler(urllib3.exceptions.HTTPError)
    def _storage_down(err: Exception) -> Response:
        log.warning("object storage unavailable: %s", err)
        return _respond(Problem("service_unavailable", STORAGE_DOWN, extra={"service": "storage"}))

    @bp.errorhandler(PyMongoError)
    @bp.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("unhandled API error: %s", err)
        return _respond(Problem("internal_error", "Something went wrong on our side. "
                                "The error was logged."))
