"""Gallery grids: the signed-in user's images, the public page, and search with filters.

All three are one query type (services.query.ImageQuery) with a different default
scope; pagination is a "More" link carrying the opaque cursor, so it works without JS.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response

from picsource_core.search import COLOUR_FAMILIES
from picsource_web import metrics
from picsource_web.context import current_services
from picsource_web.services import present
from picsource_web.services.images import Page
from picsource_web.services.present import MediaUrls
from picsource_web.services.query import parse_query, query_params
from picsource_web.sessions import viewer

bp = Blueprint("gallery", __name__)


def tiles_html(page: Page, media: MediaUrls) -> Markup:
    """The grid's tiles as HTML: a pure function of the page's documents and the URL
    signing window, so it is cached under both (it holds no session data, no CSRF token)."""
    tiles = [present.tile(doc, media) for doc in page.items]
    # One url_for for the page instead of one per tile (routing builds cost ~20 us each).
    href = url_for("images.detail", image_id="IMAGE_ID")
    for t in tiles:
        t["href"] = href.replace("IMAGE_ID", t["id"])
    return Markup(render_template("gallery/_tiles.html", tiles=tiles))


def render_grid(template_title: str, default_scope: str, *, search: bool) -> str:
    svc, who = current_services(), viewer()
    query = parse_query(request.args, who, default_scope=default_scope)
    page = svc.images.list_page(query, who)
    metrics.LISTINGS.labels(source="cache" if page.cached else "database").inc()
    build = functools.partial(tiles_html, page, svc.media)
    html = svc.fragments.get_or_build((page.version, svc.media.window()), build) if page.version else build()
    endpoint = request.endpoint or "gallery.search"
    next_params: dict[str, Any] = query_params(query, cursor=page.next_cursor)
    first_params: dict[str, Any] = query_params(query)
    next_url = url_for(endpoint, **next_params) if page.next_cursor else None
    first_url = url_for(endpoint, **first_params) if query.cursor else None
    return render_template(
        "gallery/grid.html", title=template_title, tiles_html=html, count=len(page.items),
        query=query, next_url=next_url,
        first_url=first_url, search=search, colours=COLOUR_FAMILIES,
    )


@bp.get("/")
def index() -> Response | str:
    if viewer().user is None:
        return redirect(url_for("gallery.public"))
    return render_grid("My images", "mine", search=False)


@bp.get("/public")
def public() -> str:
    return render_grid("Public gallery", "public", search=False)


@bp.get("/search")
def search() -> str:
    return render_grid("Search", "mine" if viewer().user else "public", search=True)

