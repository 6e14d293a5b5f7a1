"""JSON API under /api/v1: list/search, upload, get, patch, delete (to the trash), restore,
the trash (list, empty), analysis status, and the lookup by SHA-256 an importer resumes with.

Thin handlers: visibility, validation, quotas, search parsing and storage all come from
``picsource_web.services`` (the same code as the HTML pages); this module only reads
the request, calls them and serialises. Errors are application/problem+json with a
stable ``code`` (error_handlers.py, api/problems.py). Authentication: ``Authorization: Bearer <token>`` or
the browser session; with the session, writes need ``X-CSRF-Token`` (security.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from picsource_core.search import SOURCE_FIELDS, matched_sources
from picsource_web import metrics
from picsource_web.api.caller import api_viewer, auth_method, require_user
from picsource_web.api.openapi import document
from picsource_web.api.params import (
    DELETE_PARAMS,
    LIST_PARAMS,
    TRASH_PARAMS,
    check_known_params,
    lookup_hashes,
    patch_marks,
    patch_metadata,
    permanent_param,
)
from picsource_web.api.problems import Problem
from picsource_web.api.serializers import (
    LIST_PROJECTION,
    Links,
    analysis_json,
    image_json,
)
from picsource_web.context import current_services
from picsource_web.services.api_uploads import IncomingFile, upload_batch
from picsource_web.services.metadata import parse_metadata
from picsource_web.services.present import DETAIL_PROJECTION
from picsource_web.services.query import parse_query
from picsource_web.services.semantic import take_ranked_cursor

bp = Blueprint("api", __name__)


def _links() -> Links:
    return Links(
        media=current_services().media,
        page_url=lambda doc: url_for("images.detail", image_id=str(doc["_id"])),
        api_url=lambda doc: url_for("api.get_image", image_id=str(doc["_id"])),
        share_url=lambda doc: url_for("images.shared", token=doc["share_token"], _external=True),
    )


@bp.get("/")
def root() -> Response:
    return jsonify(name="picsource", version="v1", openapi=url_for("api.openapi"),
                   images=url_for("api.list_images"))


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())


@bp.get("/me")
def me() -> Response:
    user = require_user()
    return jsonify(id=str(user.id), username=user.username, is_admin=user.is_admin,
                   auth=auth_method())


@bp.get("/images")
def list_images() -> Response:
    who = api_viewer()
    check_known_params(request.args, LIST_PARAMS)
    args, ranked_from = take_ranked_cursor(request.args)
    query = parse_query(args, who)
    fields = {**LIST_PROJECTION, **SOURCE_FIELDS} if query.tokens else LIST_PROJECTION
    page = current_services().images.listings.list_page(query, who, projection=fields, ranked_from=ranked_from)
    metrics.LISTINGS.labels(source=page.source).inc()
    links = _links()
    items = [image_json(doc, who.user_id, links) for doc in page.items]
    if query.tokens:  # a search: where each result matched, and whether meaning is ready
        for item, doc in zip(items, page.items, strict=True):
            item["matched"] = matched_sources(doc, query.tokens, meaning=doc["_id"] in page.meaning)
        return jsonify(items=items, next_cursor=page.next_cursor, meaning_pending=page.meaning_pending)
    return jsonify(items=items, next_cursor=page.next_cursor)


def _incoming_files() -> list[IncomingFile]:
    limit = current_services().settings.max_upload_bytes
    parts = request.files.getlist("file") + request.files.getlist("files")
    return [IncomingFile(filename=part.filename or "", data=part.stream.read(limit + 1))
            for part in parts]


@bp.post("/images")
@metrics.counts_upload_refusals
def upload_image() -> tuple[Response, int, dict[str, str]] | Response:
    user = require_user()
    if request.mimetype != "multipart/form-data":
        raise Problem("unsupported_media_type",
                      "Send the images as multipart/form-data in a field named 'file'.")
    files = _incoming_files()
    form = request.form
    meta = parse_metadata(form.get("title"), form.get("description"), form.get("tags"),
                          form.get("visibility"))
    results = upload_batch(current_services().uploads, user, files, meta)
    created_ids = [r.image_id for _, r in results if not r.duplicate]
    duplicates = [{"filename": item.filename, "existing_id": str(r.image_id),
                   "url": url_for("api.get_image", image_id=str(r.image_id))}
                  for item, r in results if r.duplicate]
    for item, result in results:
        metrics.count_upload(len(item.data), duplicate=result.duplicate)
    if not created_ids:
        first = duplicates[0]
        raise Problem("duplicate", "You already uploaded this image; nothing new was stored.",
                      extra={"existing_id": first["existing_id"], "existing_url": first["url"],
                             "duplicates": duplicates})
    links = _links()
    images = [image_json(r.doc, user.id, links) for _, r in results if r.doc is not None]
    headers = {"Location": url_for("api.get_image", image_id=str(created_ids[0]))}
    return jsonify(images=images, duplicates=duplicates), 201, headers


@bp.post("/images/lookup")
def lookup_images() -> Response:
    """Which of these SHA-256s the caller already uploaded (their own images only), so an
    importer re-run sends only what is missing. Answers {"found": {sha256: id}, "missing": [...]}."""
    user = require_user()
    if not request.is_json:
        raise Problem("unsupported_media_type", "Send the hashes as application/json.")
    hashes = lookup_hashes(request.get_json(silent=True))
    found = current_services().images.find_by_hashes(user.id, hashes)
    return jsonify(found={sha: str(oid) for sha, oid in found.items()},
                   missing=[sha for sha in hashes if sha not in found])


@bp.get("/images/<image_id>")
def get_image(image_id: str) -> Response:
    who = api_viewer()
    doc = current_services().images.get_visible(image_id, who, projection=DETAIL_PROJECTION)
    return jsonify(image_json(doc, who.user_id, _links()))


@bp.patch("/images/<image_id>")
def update_image(image_id: str) -> Response:
    user = require_user()
    svc = current_services()
    doc = svc.images.get_owned(image_id, api_viewer())
    body: Any = request.get_json(silent=True) if request.is_json else None
    if not request.is_json:
        raise Problem("unsupported_media_type", "Send the changes as application/json.")
    meta, marks = patch_metadata(doc, body), patch_marks(body)
    updated = svc.images.update_metadata(doc, meta) if meta is not None else doc
    updated = svc.images.set_marks(updated, **marks)
    return jsonify(image_json(updated, user.id, _links()))


@bp.delete("/images/<image_id>")
def delete_image(image_id: str) -> Response:
    """To the trash (restorable until TRASH_DAYS pass); ``?permanent=true`` deletes for good."""
    require_user()
    check_known_params(request.args, DELETE_PARAMS)
    permanent = permanent_param(request.args.get("permanent"))
    svc = current_services()
    doc = svc.images.get_owned(image_id, api_viewer())
    if permanent:
        svc.images.purge(doc)
    else:
        svc.images.trash(doc)
    return Response(status=204)


@bp.post("/images/<image_id>/restore")
def restore_image(image_id: str) -> Response:
    user = require_user()
    svc = current_services()
    doc = svc.images.get_owned(image_id, api_viewer())
    if not svc.images.restore(doc):
        raise Problem("conflict", "This image is not in the trash.")
    restored = svc.images.get_owned(image_id, api_viewer())
    return jsonify(image_json(restored, user.id, _links()))


@bp.get("/trash")
def list_trash() -> Response:
    """The caller's trashed images, newest first (cursor pagination like /images)."""
    require_user()
    who = api_viewer()
    check_known_params(request.args, TRASH_PARAMS)
    query = replace(parse_query(request.args, who, default_scope="mine"), trashed=True)
    page = current_services().images.listings.list_page(query, who, projection=LIST_PROJECTION)
    links = _links()
    return jsonify(items=[image_json(doc, who.user_id, links) for doc in page.items],
                   next_cursor=page.next_cursor)


@bp.delete("/trash")
def empty_trash() -> Response:
    """Delete every image in the caller's trash for good: {"purged": n}."""
    user = require_user()
    return jsonify(purged=current_services().images.empty_trash(user.id))


@bp.get("/images/<image_id>/analysis")
def get_analysis(image_id: str) -> Response:
    who = api_viewer()
    doc = current_services().images.get_visible(image_id, who, projection=DETAIL_PROJECTION)
    return jsonify(analysis_json(doc, who.user_id))
