"""JSON API under /api/v1 (stub: the routes are being written on top of services/).

Errors are application/problem+json with a stable ``code`` (see errors.py: any path
under /api/ gets JSON). Authentication is a personal token (``Authorization: Bearer``)
or the browser session (then the X-CSRF-Token header is required on writes).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

bp = Blueprint("api", __name__)


@bp.get("/")
def root() -> Response:
    return jsonify(name="picsource", version="v1")
