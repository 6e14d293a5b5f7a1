"""CSRF protection and security headers.

CSRF: a random token per session (synchroniser-token pattern), required on every
state-changing request that could carry the session cookie: as a ``csrf_token`` form
field or an ``X-CSRF-Token`` header (the upload script). Requests authenticated with a
Bearer token are exempt (see sessions.py). SameSite=Lax cookies are a second layer.

Headers: a strict Content-Security-Policy with no inline script or style (the templates
use none), nosniff, no framing, and a conservative Referrer-Policy so share tokens in
URLs do not leak to other sites.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, request, session

from picsource_web.services.errors import ServiceError
from picsource_web.sessions import bearer_token
from picsource_web.settings import Settings

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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


def check_csrf() -> None:
    if request.method not in UNSAFE_METHODS or bearer_token() is not None:
        return
    expected = session.get("csrf")
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
