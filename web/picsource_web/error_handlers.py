"""Error responses: one set of handlers that chooses the representation per request.

Every refusal has a status, a stable ``code`` and a message a person can act on. The
handlers below turn whatever was raised into a ``ServiceError`` (backing services down,
an oversized body, an HTTP error from routing, a bug); ``_respond`` then chooses how to
say it, as microblog's errors/handlers.py does:

- the JSON API (``/api/...``): application/problem+json in the API's documented, stable
  vocabulary (``api/problems.py`` translates service reasons into it);
- other clients that prefer JSON (the upload page's script): problem+json whose ``code``
  is the service reason;
- browsers: the HTML error page.

Backing services being down is a 503 naming the service (never a stack trace), and
nothing is cached about the outage: the next request tries again, so recovery needs no
restart.
"""

from __future__ import annotations

import logging

import urllib3.exceptions
from flask import Flask, Response, current_app, render_template, request
from minio.error import MinioException
from pymongo.errors import ConnectionFailure, PyMongoError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from picsource_core.mongo import is_outage as is_mongo_outage
from picsource_core.storage import StorageError
from picsource_web.api.problems import (
    Problem,
    from_service_error,
    problem_body,
    problem_json,
    problem_response,
)
from picsource_web.context import wants_json
from picsource_web.resilience import MONGO_DOWN, mongo_failed
from picsource_web.services.errors import ServiceError, Unavailable
from picsource_web.sessions import viewer

log = logging.getLogger(__name__)

STORAGE_DOWN = "Image storage is unavailable right now. Please try again in a moment."
NOT_SIGNED_IN = "Authenticate with 'Authorization: Bearer <token>' or a signed-in session."

_TITLES = {400: "Bad request", 401: "Sign-in required", 403: "Not allowed", 404: "Not found",
           405: "Method not allowed", 409: "Conflict", 413: "Too large", 415: "Unsupported format",
           422: "Cannot process", 429: "Too many attempts", 500: "Server error",
           503: "Service unavailable", 507: "Storage full"}


def _respond(err: ServiceError) -> Response:
    """The refusal as the caller wants it: API problem, JSON problem or HTML page."""
    extra = {"service": err.service} if isinstance(err, Unavailable) else {}
    title = _TITLES.get(err.status, "Error")
    if request.path.startswith("/api/"):
        response = problem_response(_api_problem(err), request.path)
    elif wants_json():
        response = problem_json(problem_body(err.status, err.reason, title, err.message, extra=extra),
                                err.status)
    else:
        html = render_template("error.html", status=err.status, title=title, message=err.message,
                               code=err.reason)
        response = Response(html, status=err.status, mimetype="text/html")
    retry_after = getattr(err, "retry_after", None)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    elif err.status == 503:
        response.headers.setdefault("Retry-After", "5")
    return response


def _api_problem(err: ServiceError) -> Problem:
    if isinstance(err, Problem):
        return err
    if err.reason == "csrf_failed" and _anonymous():
        # No session at all: the caller is not authenticated; say so, not "CSRF".
        return Problem("unauthorized", NOT_SIGNED_IN)
    problem = from_service_error(err)
    if isinstance(err, Unavailable):
        problem.extra["service"] = err.service
    return problem


def _too_large_message() -> str:
    """Which limit refused the body. Werkzeug raises the same RequestEntityTooLarge for the
    body's size and for a multipart form's part count or text-field size; a body within
    its size limit was refused for its form, and saying "too large" would mislead."""
    limit = request.max_content_length or current_app.config["MAX_CONTENT_LENGTH"]  # per route
    length = request.content_length
    if length is None or length > limit:
        return f"The upload is larger than the limit of {limit:,} bytes."
    parts, field = request.max_form_parts, request.max_form_memory_size
    return (f"The form is refused: it may have at most {parts} parts, and a text field "
            f"at most {field:,} bytes." if parts and field else "The form is too large.")


def _anonymous() -> bool:
    try:
        return viewer().user is None
    except Exception:  # noqa: BLE001 - MongoDB down while resolving the session
        return True


def init_app(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def _service_error(err: ServiceError) -> Response:
        if isinstance(err, Unavailable):
            log.warning("%s unavailable: %s", err.service, err.__cause__ or err.message)
        return _respond(err)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(err: RequestEntityTooLarge) -> Response:
        return _respond(ServiceError(413, "too_large", _too_large_message()))

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        status = err.code or 500
        reason = {404: "not_found", 405: "method_not_allowed"}.get(status, f"http_{status}")
        message = "No such page." if status == 404 else (err.description or _TITLES.get(status, "Error"))
        response = _respond(ServiceError(status, reason, message))
        for name, value in err.get_headers():  # e.g. Allow on a 405, which HTTP requires
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(ConnectionFailure)
    def _mongo_down(err: PyMongoError) -> Response:
        log.warning("MongoDB unavailable: %s", err)
        mongo_failed()
        return _respond(Unavailable("mongo", MONGO_DOWN))

    @app.errorhandler(StorageError)
    @app.errorhandler(MinioException)
    @app.errorhandler(urllib3.exceptions.HTTPError)
    def _storage_down(err: Exception) -> Response:
        log.warning("object storage unavailable: %s", err)
        return _respond(Unavailable("storage", STORAGE_DOWN))

    @app.errorhandler(PyMongoError)
    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        if is_mongo_outage(err):  # a timeout the server reported (ExecutionTimeout), not a bug
            return _mongo_down(err)  # type: ignore[arg-type]
        log.exception("unhandled error: %s", err)
        return _respond(ServiceError(500, "internal_error",
                                    "Something went wrong on our side. The error was logged."))
