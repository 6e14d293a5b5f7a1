"""Duplicate review: /duplicates (page) and /api/v1/duplicates (JSON), the owner's only.

Thin: grouping, the keeper and the carry-over live in services/dedupe.py.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from picsource_web.api.caller import require_user
from picsource_web.api.problems import Problem
from picsource_web.context import current_services
from picsource_web.services.bulk import parse_ids
from picsource_web.services.dedupe import DuplicateReview, Resolved, suggest_keeper
from picsource_web.services.errors import BadRequest
from picsource_web.services.present import GRID_SIZE
from picsource_web.sessions import login_required, viewer

bp = Blueprint("duplicates", __name__)
api_bp = Blueprint("duplicates_api", __name__)


def _review() -> DuplicateReview:
    svc = current_services()
    return DuplicateReview(svc.images, svc.albums)


def _photo(doc: dict[str, Any]) -> dict[str, Any]:
    exif = (doc.get("analysis") or {}).get("exif") or {}
    return {"id": str(doc["_id"]), "title": doc.get("title") or "", "width": doc.get("width"),
            "height": doc.get("height"), "bytes": doc.get("bytes"), "favourite": bool(doc.get("favourite")),
            "tags": list(doc.get("tags") or []), "exif_fields": sum(1 for v in exif.values() if v not in (None, "")),
            "thumb_url": current_services().media.url(doc, GRID_SIZE)}


def _groups(owner_id: ObjectId) -> list[dict[str, Any]]:
    return [{"keeper": str(suggest_keeper(group)["_id"]), "images": [_photo(dict(doc)) for doc in group]}
            for group in _review().groups(owner_id)]


def _one_id(raw: Any, name: str) -> ObjectId:
    if not (isinstance(raw, str) and len(raw) == 24 and ObjectId.is_valid(raw)):
        raise BadRequest("validation_error", f"{name} must be an image id.")
    return ObjectId(raw)


@bp.get("/duplicates")
@login_required
def index() -> str:
    owner = viewer().user_id
    assert owner is not None
    return render_template("duplicates/index.html", title="Duplicates", groups=_groups(owner))


@bp.post("/duplicates/resolve")
@login_required
def resolve() -> BaseResponse:
    owner = viewer().user_id
    assert owner is not None
    keep = _one_id(request.form.get("keep"), "keep")
    members = parse_ids(request.form.getlist("member"))
    done = _review().resolve(owner, keep, tuple(m for m in members if m != keep))
    flash(_said(done), "success")
    return redirect(url_for("duplicates.index"))


def _said(done: Resolved) -> str:
    carried = [f"{done.tags_added} tag{'s' * (done.tags_added != 1)}" if done.tags_added else "",
               f"{done.albums_added} album{'s' * (done.albums_added != 1)}" if done.albums_added else ""]
    extra = " and ".join(c for c in carried if c)
    return (f"Kept one, moved {done.trashed} to the trash (restorable from the Trash)"
            + (f"; the keeper gained {extra}." if extra else "."))


@api_bp.get("/duplicates")
def api_groups() -> Response:
    """{"groups": [{"keeper": id, "images": [...]}]}: near-identical photos, the keeper suggested."""
    user = require_user()
    return jsonify(groups=_groups(user.id))


@api_bp.post("/duplicates/resolve")
def api_resolve() -> Response:
    """{"keep": id, "trash": [ids]} -> what was kept, trashed and carried over."""
    user = require_user()
    if not request.is_json:
        raise Problem("unsupported_media_type", "Send the choice as application/json.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) != {"keep", "trash"}:
        raise Problem("validation_error", 'The body must be a JSON object such as {"keep": "<id>", "trash": ["<id>"]}.')
    done = _review().resolve(user.id, _one_id(body["keep"], "keep"), parse_ids(body["trash"]))
    return jsonify(kept=str(done.kept), trashed=done.trashed, tags_added=done.tags_added,
                   albums_added=done.albums_added, favourite=done.favourite)
