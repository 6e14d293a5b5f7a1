"""URLs for templates, built once instead of once per page.

Why: every page renders the navigation bar (~30 links to endpoints without arguments)
and its asset links, and Flask's ``url_for`` costs ~17 us each through the routing map:
about 0.5 ms of a cached grid page's ~2 ms. A link to an endpoint without arguments, or
to a versioned asset, is the same for every request under one script root, so templates
get the same ``url_for`` with those answers remembered. Anything with arguments (an
image id, a cursor), a blueprint-relative name or ``_external`` goes to Flask every time.

The script root comes from the request (gunicorn takes a SCRIPT_NAME header), so the
memory is bounded: past MAX_REMEMBERED answers it starts again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, has_request_context, request, url_for

#: Distinct (endpoint, script root) answers kept; a client inventing script roots only
#: makes the memory start again, never grow past this.
MAX_REMEMBERED = 512


class TemplateUrls:
    """``url_for`` and ``asset`` for Jinja, remembering what cannot differ per request."""

    def __init__(self, static_version: str) -> None:
        self.static_version = static_version
        self._known: dict[tuple[str, str, str], str] = {}

    def _remembered(self, kind: str, name: str, build: Callable[[], str]) -> str:
        if not has_request_context():  # no script root to key it by (a CLI render)
            return str(build())
        key = (kind, name, request.script_root)
        found = self._known.get(key)
        if found is None:
            if len(self._known) >= MAX_REMEMBERED:
                self._known.clear()
            found = self._known[key] = build()
        return found

    def url_for(self, endpoint: str, **values: Any) -> str:
        if values or endpoint.startswith("."):
            return url_for(endpoint, **values)
        return self._remembered("endpoint", endpoint, lambda: url_for(endpoint))

    def asset(self, name: str) -> str:
        """A static file's URL carrying the content version (so it is cached for a year)."""
        return self._remembered("asset", name, lambda: url_for("static", filename=name, v=self.static_version))


def init_app(app: Flask, static_version: str) -> TemplateUrls:
    urls = TemplateUrls(static_version)
    app.jinja_env.globals["url_for"] = urls.url_for
    app.jinja_env.globals["asset"] = urls.asset
    return urls
