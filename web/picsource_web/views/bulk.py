"""Bulk actions and zip downloads under /api/v1 (a blueprint of their own beside `api`).

POST /api/v1/images/bulk applies one action to up to BULK_MAX_IDS of the caller's images
and answers a result per image; POST /api/v1/images/zip streams their originals as one
zip. Both take JSON; the zip also takes a form post (``ids`` fields and ``csrf_token``),
so the grid's "Download" button gets a plain browser download that streams to disk.
Only the caller's own images: the owner's untouched originals, never anyone else's.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from flask import Blueprint, Response, jsonify, request, stream_with_context

from picsource_core.storage import ObjectStore
from picsource_web.api.caller import require_user
from picsource_web.api.problems import Problem
from picsource_web.context import current_services
from picsource_web.services.bulk import CHANGED, apply_bulk, owned_selection, parse_bulk, parse_ids
from picsource_web.services.present import download_name, object_key
from picsource_web.services.zipstream import (
    ZipEntry,
    check_size,
    reserve_stream,
    stream_zip,
    unique_names,
)

bp = Blueprint("bulk", __name__)


@bp.post("/images/bulk")
def bulk_action() -> Response:
    """{"action": ..., "ids": [...]} -> {"action", "results": [{"id", "result"}], "changed", "unchanged"}."""
    user = require_user()
    if not request.is_json:
        raise Problem("unsupported_media_type", "Send the action as application/json.")
    req = parse_bulk(request.get_json(silent=True))
    results = apply_bulk(current_services().images, user.id, req)
    changed = sum(1 for _, result in results if result == CHANGED)
    return jsonify(action=req.action, changed=changed, unchanged=len(results) - changed,
                   results=[{"id": str(oid), "result": result} for oid, result in results])


def _zip_ids() -> Any:
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or set(body) - {"ids"}:
            raise Problem("validation_error", 'The body must be a JSON object such as {"ids": ["<image id>"]}.')
        return body.get("ids")
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return request.form.getlist("ids")
    raise Problem("unsupported_media_type", "Send the ids as application/json or as a form.")


def _entry(store: ObjectStore, name: str, doc: dict[str, Any]) -> ZipEntry:
    """The owner's untouched original (present.object_key's one rule: these are their images)."""
    key = object_key(doc, "original", owner=True) or str(doc["original_key"])
    return ZipEntry(name, doc.get("taken_at") or doc["_id"].generation_time, lambda: store.get_bytes(key))


@bp.post("/images/zip")
def zip_download() -> Response:
    """The originals of the caller's images named by ``ids``, as one streamed zip."""
    user = require_user()
    return zip_response(user.id, parse_ids(_zip_ids()))


def zip_response(owner_id: ObjectId, ids: tuple[ObjectId, ...]) -> Response:
    """A streamed zip of the owner's originals (also the grid's Download button)."""
    svc = current_services()
    docs = owned_selection(svc.images, owner_id, ids)
    check_size(docs, svc.settings.zip_max_bytes)
    names = unique_names(download_name(doc) for doc in docs)
    entries = [_entry(svc.store, name, doc) for name, doc in zip(names, docs, strict=True)]
    release = reserve_stream()

    def body() -> Iterator[bytes]:
        try:
            yield from stream_zip(entries, svc.settings.zip_max_seconds)
        finally:
            release()

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    response = Response(stream_with_context(body()), mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="picsource-{stamp}.zip"',
        "Cache-Control": "private, no-store"})
    # Also on close: a client that leaves before the first byte never starts body().
    response.call_on_close(release)
    return response
