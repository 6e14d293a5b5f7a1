"""Request-time access to the per-app services and to what the client asked for.

Views call ``current_services()`` instead of importing module globals, which keeps every
client per app (and per gunicorn worker) and lets tests run several apps. Who is asking
is resolved in ``sessions``, which builds on this module (never the other way round).
"""

from __future__ import annotations

from flask import current_app, request

from picsource_web.services.container import Services

EXTENSION = "picsource"


def current_services() -> Services:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def wants_json() -> bool:
    """The JSON API, or a client (such as the upload page's script) preferring JSON over HTML."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
