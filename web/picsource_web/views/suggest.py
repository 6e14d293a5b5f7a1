"""GET /api/v1/suggest?q=…: autocomplete from the caller's own tags and labels.

A GET, so the search boxes' script calls it with the session cookie and no CSRF token;
anyone not signed in gets no suggestions (there is nothing of theirs to suggest).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from picsource_web.api.caller import api_viewer
from picsource_web.api.problems import Problem
from picsource_web.context import current_services
from picsource_web.services.suggest import MAX_PREFIX, VOCABULARY_FIELDS, Suggester, suggest

api_bp = Blueprint("suggest_api", __name__)
_EXTENSION = "picsource.suggester"


def _suggester() -> Suggester:
    """One per app (and so per gunicorn process), made on first use."""
    found = current_app.extensions.get(_EXTENSION)
    if found is None:
        images = current_services().images
        found = Suggester(lambda owner, limit: images.newest_owned(owner, limit, VOCABULARY_FIELDS))
        current_app.extensions[_EXTENSION] = found
    return found  # type: ignore[no-any-return]


@api_bp.get("/suggest")
def suggestions() -> Response:
    """{"suggestions": [{"text", "kind": "tag"|"label", "count"}]}, most used first."""
    unknown = sorted(set(request.args) - {"q"})
    if unknown:
        raise Problem("validation_error", f"Unknown parameter {unknown[0]!r}; accepted: q.")
    prefix = request.args.get("q", "")
    if len(prefix) > MAX_PREFIX:
        raise Problem("validation_error", f"q: at most {MAX_PREFIX} characters.")
    user = api_viewer().user
    if user is None:
        return jsonify(suggestions=[])
    vocabulary = _suggester().vocabulary(user.id, str(user.listing_stamp))
    return jsonify(suggestions=[{"text": s.text, "kind": s.kind, "count": s.count}
                                for s in suggest(vocabulary, prefix)])
