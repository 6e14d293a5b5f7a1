"""CSRF protection and security headers.

CSRF: a random token per session (synchroniser-token pattern), required on every
state-changing request that could carry the session cookie: as a ``csrf_token`` form
field or an ``X-CSRF-Token`` header (the upload script). Requests authenticated with a
Bearer token are exempt (see sessions.py). SameSite=Lax cookies are a second layer.

Request bodies: ``guard_body`` runs before anything may read one (the CSRF check reads
``request.form``). It answers an unknown URL or a wrong method (404/405) and an upload
from a caller with no credentials at all (401) without reading a byte, and gives every request its route's body limit:
``FORM_BODY_LIMIT`` everywhere, MAX_CONTENT_LENGTH only on the upload routes for a
signed-in caller. A Content-Length over the limit is a 413 up front; a chunked body is
read through a stream that stops with a 413 at the limit. Under gunicorn's sync workers
the unread rest is never parsed: the connection is closed after the answer.

Headers: a strict Content-Security-Policy with no inline script or style (the templates
use none), nosniff, no framing, and a conservative Referrer-Policy so share tokens in
URLs do not leak to other sites.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request, session

from picsource_web.api.caller import require_user
from picsource_web.services.api_uploads import MAX_FILES
from picsource_web.services.errors import ServiceError
from picsource_web.sessions import Unauthorized, bearer_token
from picsource_web.settings import Settings

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: The largest body any route but an upload accepts: sign-in and settings forms, edits,
#: JSON patches. Also all an anonymous caller may send anywhere.
FORM_BODY_LIMIT = 1024 * 1024
#: Routes that take images; their limit is MAX_CONTENT_LENGTH, for a signed-in caller only.
UPLOAD_ENDPOINTS = frozenset({"upload.upload", "api.upload_image"})
#: Multipart parts an upload may have: MAX_FILES files plus the form fields, with room to
#: spare; a body of thousands of tiny parts is refused while it is parsed.
UPLOAD_FORM_PARTS = 2 * MAX_FILES


class CsrfFailed(ServiceError):
    def __init__(self) -> None:
        super().__init__(
            400, "csrf_failed",
            "This form has expired or did not come from this site. Reload the page and try again.",
        )


def csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


class BodyTooLarge(ServiceError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "too_large", f"The request body is larger than the limit of {limit:,} bytes "
                         "for this address.")


def _presents_credentials() -> bool:
    """Whether the caller could be signed in, decided without the database (so a hostile
    flood costs no query, and an open MongoDB circuit still answers 503 further on).
    A bearer token is verified before the body is read (such requests need no CSRF field;
    the view authenticates first). A session cookie is signed by this app, so only a real
    sign-in (perhaps since ended) may have its body parsed before login_required looks
    the account up: within the upload limit, and spooled to disk."""
    return bearer_token() is not None or bool(session.get("uid"))


def guard_body() -> None:
    """Route, check credentials and bound the body before anything reads it (module doc)."""
    if request.routing_exception is not None:
        current_app.raise_routing_exception(request)  # 404, 405, redirect: the body unread
    limit = FORM_BODY_LIMIT
    if request.endpoint in UPLOAD_ENDPOINTS and request.method in UNSAFE_METHODS:
        if not _presents_credentials():
            if request.endpoint == "api.upload_image":
                require_user()  # the API's 401 problem (no credentials: no database call)
            raise Unauthorized()  # as login_required answers a POST
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        request.max_form_parts = UPLOAD_FORM_PARTS
    request.max_content_length = limit  # bounds a chunked body's stream too
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(limit)


def check_csrf() -> None:
    if request.method not in UNSAFE_METHODS or bearer_token() is not None:
        return
    expected = session.get("csrf")
    if not isinstance(expected, str):
        raise CsrfFailed()  # no token was ever issued to this caller: do not read the body
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not sent or not secrets.compare_digest(expected, sent):
        raise CsrfFailed()


def content_security_policy(settings: Settings) -> str:
    img_src = ["'self'", "data:", "blob:"]  # blob: upload previews (static/upload.js)
    if not settings.proxy_images:
        endpoint = settings.public_endpoint or settings.storage.endpoint
        parts = urlsplit(endpoint)
        img_src.append(f"{parts.scheme}://{parts.netloc}")
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src {' '.join(img_src)}",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def init_app(app: Flask, settings: Settings) -> None:
    policy = content_security_policy(settings)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.before_request(guard_body)
    app.before_request(check_csrf)

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if settings.session_cookie_secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response
