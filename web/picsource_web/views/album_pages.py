"""Looking at an album: its page (the owner's, or anyone's public album), its share link
(/a/<token>), and one of its images opened from there.

Pages for someone other than the owner are read-only and built from the album alone:
tiles link to the album's own image page, never to /images/<id>, and every media URL
carries the album's grant (services/albums.py), which opens this album's images and no
other. An expired link answers 410 with a page that says so.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from picsource_core.mongo import Document
from picsource_web.context import current_services
from picsource_web.services import present
from picsource_web.services.album_input import day_from_expiry, parse_album_query, query_params
from picsource_web.services.albums import LinkExpired, grant_for, is_owner
from picsource_web.services.present import DETAIL_PROJECTION
from picsource_web.sessions import viewer
from picsource_web.views.cached_html import cached_html

bp = Blueprint("album_pages", __name__)


def _tiles(album: Document, items: list[Document], grant: str | None, href: Any) -> list[dict[str, Any]]:
    """Grid tiles whose thumbnails go through the grant (none for the owner's own view)."""
    media = current_services().media
    tiles = []
    for doc in items:
        tile = present.tile(doc, media)
        if grant:
            tile["thumb_url"] = media.display_url(doc, present.GRID_SIZE, grant)
            tile["pending"] = False  # status polling is the owner's; a viewer sees the colour
            tile["visibility"] = None  # the image's own setting is its owner's business
        tile["href"] = href(tile["id"])
        tile["select_form"] = "album-selection" if grant is None else None
        tiles.append(tile)
    return tiles


def _album_page(album: Document, *, token: str | None = None) -> str:
    svc, who = current_services(), viewer()
    owner = is_owner(album, who) and token is None
    grant = None if owner else grant_for(album, token)
    query = parse_album_query(request.args.to_dict())
    page = svc.albums.page(album, query, viewer=who)
    if owner:
        def href(image_id: str) -> str:
            return url_for("images.detail", image_id=image_id)
    elif token:
        def href(image_id: str) -> str:
            return url_for("album_pages.shared_image", token=token, image_id=image_id)
    else:
        def href(image_id: str) -> str:
            return url_for("album_pages.image", album_id=str(album["_id"]), image_id=image_id)
    endpoint, args = (request.endpoint or "album_pages.album"), dict(request.view_args or {})

    def link(cursor: str | None = None) -> str:
        params: dict[str, Any] = {**args, **query_params(query, cursor)}
        return url_for(endpoint, **params)
    share_url = (url_for("album_pages.shared", token=album["share_token"], _external=True)
                 if owner and album.get("visibility") != "private" else None)

    def tiles_html() -> Markup:
        tiles = _tiles(album, page.items, grant, href)
        return Markup(render_template("gallery/_tiles.html", tiles=tiles))
    # The rendered tiles depend on the page, the URL signing window, who looks (the grant)
    # and where tiles link (the endpoint and its arguments): cached under all of them
    # (cached_html adds the window).
    key = ("album", page.version, grant, endpoint, tuple(sorted(args.items())))
    return render_template(
        "albums/album.html", album=album, owner=owner, tiles=bool(page.items),
        tiles_html=cached_html(key, tiles_html) if page.version else tiles_html(),
        count=svc.albums.count(album), query=query,
        next_url=link(page.next_cursor) if page.next_cursor else None,
        first_url=link() if query.after else None,
        share_url=share_url, expires_on=day_from_expiry(album.get("share_expires_at")))


def _image_page(album: Document, image_id: str, token: str | None) -> str:
    svc, who = current_services(), viewer()
    grant = grant_for(album, token)
    doc, _ = svc.albums.image_by_grant(grant, image_id, projection=DETAIL_PROJECTION)
    view = present.detail(doc, who, svc.media, grant)
    downloads = bool(album.get("allow_download")) or view["is_owner"]
    back = (url_for("album_pages.shared", token=token) if token
            else url_for("album_pages.album", album_id=str(album["_id"])))
    return render_template("albums/photo.html", album=album, image=view, back=back,
                           download_url=view["download_url"] if downloads else None)


@bp.get("/albums/<album_id>")
def album(album_id: str) -> str:
    """The owner's album (with its controls), or anyone's public album (read-only)."""
    return _album_page(current_services().albums.get_viewable(album_id, viewer()))


@bp.get("/albums/<album_id>/images/<image_id>")
def image(album_id: str, image_id: str) -> str:
    return _image_page(current_services().albums.get_viewable(album_id, viewer()), image_id, None)


def _expired() -> ResponseReturnValue:
    return render_template("albums/expired.html"), 410


@bp.get("/a/<token>")
def shared(token: str) -> ResponseReturnValue:
    """An album through its share link: only its images, read-only, for anyone holding it."""
    try:
        album = current_services().albums.open_link(token)
    except LinkExpired:
        return _expired()
    return _album_page(album, token=token)


@bp.get("/a/<token>/images/<image_id>")
def shared_image(token: str, image_id: str) -> ResponseReturnValue:
    try:
        album = current_services().albums.open_link(token)
    except LinkExpired:
        return _expired()
    return _image_page(album, image_id, token)
