"""Request-time access to the per-app services and the current viewer.

Views call ``services()`` and ``viewer()`` instead of importing module globals, which
keeps every client per app (and per gunicorn worker) and lets tests run several apps.
"""

from __future__ import annotations

from flask import current_app, g

from picsource_web.services.container import Services
from picsource_web.services.users import ANONYMOUS, Viewer

EXTENSION = "picsource"


def services() -> Services:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def viewer() -> Viewer:
    """Who is asking; resolved once per request by ``auth.load_viewer``."""
    if "viewer" not in g:
        from picsource_web.auth import load_viewer

        g.viewer = load_viewer()
    return g.viewer if isinstance(g.viewer, Viewer) else ANONYMOUS
