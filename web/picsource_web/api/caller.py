"""Who is calling the API, on top of ``picsource_web.sessions``: token or session, never silent.

The HTML side treats a bad or missing credential as "anonymous" (public pages still
render). An API client that sent a token wants to know it was refused, so a presented
but unknown/revoked token is a 401 here, never a quiet downgrade to anonymous; and
refused tokens are counted per client (the ProxyFix-computed address) by the sign-in
throttle, services/ratelimit.py: free refusals, then a doubling wait (stored in MongoDB,
so it holds across replicas).
"""

from __future__ import annotations

from flask import g, request

from picsource_web import metrics
from picsource_web.api.problems import Problem
from picsource_web.context import current_services
from picsource_web.services.ratelimit import RateLimited
from picsource_web.services.users import User, Viewer
from picsource_web.sessions import bearer_token, viewer


def api_viewer() -> Viewer:
    """Who is calling; 401 for a malformed Authorization header or a refused token."""
    header = request.headers.get("Authorization")
    token = bearer_token()
    if header is not None and token is None:
        raise Problem("unauthorized",
                      "Unsupported Authorization header: send 'Authorization: Bearer <token>'.")
    who = viewer()
    if token is not None and who.user is None:
        # RateLimited (429, not counted) inside this client's wait; else counted, then 401.
        try:
            current_services().limiter.refuse_token(request.remote_addr)
        except RateLimited as err:
            metrics.LOGIN_THROTTLED.labels(scope=err.scope).inc()
            raise
        raise Problem("unauthorized", "The API token is not valid (unknown or revoked).")
    return who


def require_user() -> User:
    """The calling user, or a 401 problem telling how to authenticate."""
    user = api_viewer().user
    if user is None:
        raise Problem("unauthorized", "Authenticate with 'Authorization: Bearer <token>' "
                      "(create a token under Settings) or a signed-in session.")
    return user


def auth_method() -> str | None:
    """'token' or 'session' for an authenticated request (set by sessions.load_viewer)."""
    return g.get("auth_method") if viewer().user is not None else None
