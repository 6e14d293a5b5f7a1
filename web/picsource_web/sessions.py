"""Who is asking: a signed session cookie (browsers) or a personal API token (scripts).

The session stores the user id and the account's ``session_epoch``; signing out and a
password change bump the epoch on the server, so every cookie issued before stops
working, including a copy taken from the browser (sign-out therefore ends the account's
sessions on every device). A read-only API token is refused (403) on any method
other than GET, HEAD and OPTIONS, on the API and the HTML routes alike. A request carrying an
``Authorization: Bearer`` header is authenticated by the token alone (never the cookie),
which is also why such requests need no CSRF token: browsers never add that header on
their own.

The cookie lasts 14 days from when it was last sent. It is sent again when the session
changes (sign-in, a new CSRF token) and otherwise at most once per RENEW_SECONDS
(``renew_session``), not on every response as Flask does by default: signing and
compressing it again cost ~0.1 ms of a ~2 ms cached page, for an expiry that moves
by an hour at most.
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, g, redirect, request, session, url_for
from pymongo.errors import PyMongoError

from picsource_web.context import current_services, wants_json
from picsource_web.services.errors import NotFound, ServiceError
from picsource_web.services.users import ANONYMOUS, User, Viewer

F = TypeVar("F", bound=Callable[..., Any])


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The session cookie's name (app.py sets it; the OpenAPI document names it).
SESSION_COOKIE = "picsource_session"
#: A session unchanged for this long is sent again, moving its expiry (see the docstring).
RENEW_SECONDS = 3600
#: The session's field naming the period it was last sent in.
RENEWED = "renewed"
#: app.extensions key of the clock ``renew_session`` reads (tests move it).
CLOCK = "picsource.session_clock"


class Unauthorized(ServiceError):
    def __init__(self, message: str = "Sign in to continue.") -> None:
        super().__init__(401, "unauthorized", message)


class ReadOnlyToken(ServiceError):
    def __init__(self) -> None:
        super().__init__(403, "read_only_token", "This API token is read-only: it may only read "
                         "(GET). Create a token with write access under Settings to change anything.")


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def viewer() -> Viewer:
    """Who is asking, resolved once per request. While MongoDB's circuit is open, or once
    resolving failed, the rest of the request (its error page) sees an anonymous viewer
    instead of waiting on the database again."""
    if "viewer" not in g:
        if current_services().mongo_breaker.is_open:  # only a refusal's error page gets here
            g.viewer = ANONYMOUS
            return ANONYMOUS
        try:
            g.viewer = load_viewer()
        except PyMongoError:
            g.viewer = ANONYMOUS
            raise
    return g.viewer if isinstance(g.viewer, Viewer) else ANONYMOUS


def load_viewer() -> Viewer:
    svc = current_services()
    token = bearer_token()
    if token is not None:
        g.auth_method = "token"
        grant = svc.tokens.grant_for(token)
        user = svc.users.get(grant.user_id) if grant else None
        if user is None:
            return ANONYMOUS
        if grant and grant.read_only and request.method not in SAFE_METHODS:
            raise ReadOnlyToken()
        return Viewer(user)
    uid = session.get("uid")
    if not uid:
        return ANONYMOUS
    user = svc.users.get(uid)
    if user is None or user.session_epoch != session.get("epoch"):
        session.pop("uid", None)
        session.pop("epoch", None)
        return ANONYMOUS
    g.auth_method = "session"
    return Viewer(user)


def login_user(user: User) -> None:
    """Start a fresh session (new CSRF token too: no fixation of a pre-login session)."""
    session.clear()
    session.permanent = True
    session["uid"] = str(user.id)
    session["epoch"] = user.session_epoch
    session["csrf"] = secrets.token_urlsafe(32)
    g.viewer = Viewer(user)


def logout_user() -> None:
    """End the session here and on the server: the epoch bump retires every cookie issued
    so far, so a copied cookie does not outlive the sign-out."""
    user = viewer().user
    if user is not None and g.get("auth_method") == "session":
        current_services().users.end_sessions(user.id)
    session.clear()
    g.viewer = ANONYMOUS


def login_required(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if viewer().user is None:
            if wants_json() or request.method != "GET":
                raise Unauthorized()
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return cast(F, wrapper)


def admin_required(view: F) -> F:
    """Non-admins get 404: the admin area does not exist for them."""
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not viewer().is_admin:
            if viewer().user is None and not wants_json():
                return redirect(url_for("auth.login", next=request.path))
            raise NotFound()
        return view(*args, **kwargs)

    return cast(F, wrapper)


def current_user() -> User | None:
    return viewer().user


def template_user() -> User | None:
    """For templates: never raises, so the 503 page still renders while MongoDB is down."""
    try:
        return current_user()
    except Exception:  # noqa: BLE001
        g.viewer = ANONYMOUS
        return None


def renew_session(response: Response) -> Response:
    """Mark a non-empty session once per RENEW_SECONDS, so Flask sends it again (with a
    new expiry) then; any other change sends it anyway."""
    if session:
        clock: Callable[[], float] = current_app.extensions.get(CLOCK, time.time)
        period = int(clock() // RENEW_SECONDS)
        if session.get(RENEWED) != period:
            session[RENEWED] = period
    return response


def init_app(app: Flask) -> None:
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    app.after_request(renew_session)
    app.context_processor(lambda: {"current_user": template_user()})
