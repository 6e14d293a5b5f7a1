"""JSON API for albums under /api/v1/albums: list, create, read, change, delete, rotate the
share link, list the images (cursor pages), add and remove images.

Thin handlers over ``services.albums`` (the same rules as the HTML pages): the owner does
everything; anyone may read a public album; everyone else gets 404, as for a missing id.
Add and remove take ``{"image_ids": [...]}``, at most 500 ids, and answer one result per
id: the caller's own images are all applied, anything else is named (``not_found``) and
nothing else changes, so a retry of the same call is safe.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from picsource_core.mongo import Document
from picsource_web.api.album_json import AlbumLinks, album_image_json, album_json, results_json
from picsource_web.api.caller import api_viewer, require_user
from picsource_web.api.params import check_known_params
from picsource_web.api.problems import Problem
from picsource_web.api.serializers import LIST_PROJECTION, Links
from picsource_web.context import current_services
from picsource_web.services.album_input import (
    AlbumInputError,
    parse_album_fields,
    parse_album_query,
    parse_image_ids,
)
from picsource_web.services.albums import grant_for, is_owner

bp = Blueprint("api_albums", __name__)

PAGE_PARAMS = frozenset({"sort", "order", "cursor", "limit"})


def _links() -> AlbumLinks:
    return AlbumLinks(
        images=Links(
            media=current_services().media,
            page_url=lambda doc: url_for("images.detail", image_id=str(doc["_id"])),
            api_url=lambda doc: url_for("api.get_image", image_id=str(doc["_id"])),
            share_url=lambda doc: url_for("images.shared", token=doc["share_token"], _external=True),
        ),
        page_url=lambda album: url_for("album_pages.album", album_id=str(album["_id"])),
        api_url=lambda album: url_for("api_albums.get_album", album_id=str(album["_id"])),
        share_url=lambda album: url_for("album_pages.shared", token=album["share_token"], _external=True),
    )


def _json_body() -> dict[str, Any]:
    if not request.is_json:
        raise Problem("unsupported_media_type", "Send the body as application/json.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Problem("validation_error", 'The body must be a JSON object such as {"title": "Summer"}.')
    return body


def _named(err: AlbumInputError) -> Problem:
    return Problem("validation_error", err.message,
                   extra={"errors": [{"field": err.field, "problem": err.problem}]})


def _album_body(album: Document, status: int = 200) -> tuple[Response, int]:
    svc, who = current_services(), api_viewer()
    return jsonify(album_json(album, who.user_id, _links(), count=svc.albums.count(album),
                              cover=svc.albums.cover(album))), status


def _ids() -> list[Any]:
    body = _json_body()
    unknown = sorted(set(body) - {"image_ids"})
    try:
        if unknown:
            raise AlbumInputError(unknown[0], "unknown field; accepted: image_ids")
        return parse_image_ids(body.get("image_ids"))
    except AlbumInputError as err:
        raise _named(err) from None


@bp.get("/albums")
def list_albums() -> Response:
    """The caller's albums, newest first, each with its image count and cover."""
    user = require_user()
    links = _links()
    return jsonify(items=[album_json(s.album, user.id, links, count=s.count, cover=s.cover)
                          for s in current_services().albums.summaries(user.id)])


@bp.post("/albums")
def create_album() -> tuple[Response, int, dict[str, str]]:
    user = require_user()
    try:
        fields = parse_album_fields(_json_body(), today=date.today(), partial=False)
    except AlbumInputError as err:
        raise _named(err) from None
    album = current_services().albums.create(user.id, fields)
    response, status = _album_body(album, 201)
    return response, status, {"Location": url_for("api_albums.get_album", album_id=str(album["_id"]))}


@bp.get("/albums/<album_id>")
def get_album(album_id: str) -> tuple[Response, int]:
    return _album_body(current_services().albums.get_viewable(album_id, api_viewer()))


@bp.patch("/albums/<album_id>")
def update_album(album_id: str) -> tuple[Response, int]:
    require_user()
    svc = current_services()
    album = svc.albums.get_owned(album_id, api_viewer())
    body = _json_body()
    cover_given, cover = "cover_image_id" in body, body.pop("cover_image_id", None)
    try:
        if cover is not None and not isinstance(cover, str):
            raise AlbumInputError("cover_image_id", "must be the id of an image in the album, or null")
        changes = parse_album_fields(body, today=date.today(), partial=True) if body or not cover_given else {}
        if cover is not None:
            album = svc.albums.set_cover(album, cover)
    except AlbumInputError as err:
        raise _named(err) from None
    if cover_given and cover is None:
        changes["cover_image_id"] = None
    return _album_body(svc.albums.update(album, changes) if changes else album)


@bp.delete("/albums/<album_id>")
def delete_album(album_id: str) -> Response:
    """Delete the album; its images stay in the library."""
    require_user()
    svc = current_services()
    svc.albums.delete(svc.albums.get_owned(album_id, api_viewer()))
    return Response(status=204)


@bp.post("/albums/<album_id>/share-link")
def rotate_album_link(album_id: str) -> tuple[Response, int]:
    require_user()
    svc = current_services()
    return _album_body(svc.albums.rotate_link(svc.albums.get_owned(album_id, api_viewer())))


@bp.get("/albums/<album_id>/images")
def list_album_images(album_id: str) -> Response:
    who = api_viewer()
    check_known_params(request.args, PAGE_PARAMS)
    svc = current_services()
    album = svc.albums.get_viewable(album_id, who)
    try:
        query = parse_album_query(request.args.to_dict())
    except AlbumInputError as err:
        raise _named(err) from None
    page = svc.albums.page(album, query, projection=LIST_PROJECTION)
    grant, links = None if is_owner(album, who) else grant_for(album), _links().images
    return jsonify(items=[album_image_json(doc, who.user_id, links, grant) for doc in page.items],
                   next_cursor=page.next_cursor)


def _members(album_id: str, verb: str) -> Response:
    """Add or remove the body's image ids; one result per id and how many ``verb``-ed."""
    require_user()
    albums = current_services().albums
    album = albums.get_owned(album_id, api_viewer())
    change = albums.add if verb == "added" else albums.remove
    results = change(album, _ids())
    return jsonify({"results": results_json(results), verb: sum(r == verb for r in results.values())})


@bp.post("/albums/<album_id>/images")
def add_album_images(album_id: str) -> Response:
    """Add images: {"results": [{"id", "result": added|already_in_album|not_found}], "added": n}."""
    return _members(album_id, "added")


@bp.post("/albums/<album_id>/images/remove")
def remove_album_images(album_id: str) -> Response:
    """Remove images: {"results": [{"id", "result": removed|not_in_album}], "removed": n}."""
    return _members(album_id, "removed")
