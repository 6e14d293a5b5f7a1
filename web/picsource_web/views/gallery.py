"""Gallery grids: the signed-in user's images, the public page, and search with filters.

All three are one query type (services.query.ImageQuery) with a different default
scope; pagination is a "More" link carrying the opaque cursor, so it works without JS.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from picsource_core.search import COLOUR_FAMILIES, SOURCE_FIELDS, matched_sources
from picsource_core.timeline import TIMELINE
from picsource_web import metrics
from picsource_web.context import current_services
from picsource_web.security import csrf_token
from picsource_web.services import present
from picsource_web.services.listings import TILE_FIELDS, Page
from picsource_web.services.present import MediaUrls
from picsource_web.services.query import parse_query, query_params
from picsource_web.services.semantic import take_ranked_cursor
from picsource_web.services.timeline import jump_months, month_label, month_marks
from picsource_web.sessions import login_required, viewer
from picsource_web.views.cached_html import cached_html

bp = Blueprint("gallery", __name__)

#: Stand-ins in cached pages for what belongs to one request: forms need the session's
#: CSRF token and the page to come back to. HTML comments, inserted unescaped: anything a
#: user wrote is escaped ("<" becomes "&lt;"), so no title or search can ever hold one.
CSRF_SLOT, BACK_SLOT = Markup("<!--csrf slot-->"), Markup("<!--back slot-->")
#: The grid's selection form (templates/gallery/grid.html): ticked tiles go to an album,
#: or to one of the bar's actions (views/selection.py).
SELECTION_FORM = "grid-selection"
#: The search form's colour choices: (value, text) pairs for macros/select_field.html.
COLOUR_OPTIONS = [("", "Any colour"), *((c, c.capitalize()) for c in COLOUR_FAMILIES)]


def tiles_html(page: Page, media: MediaUrls, owned: bool = False, selectable: bool = False,
               tokens: tuple[str, ...] = (), headers: bool = False) -> Markup:
    """The grid's tiles as HTML: a pure function of the page's documents, the URL signing
    window, whether they are the viewer's own (a favourite button each) and whether they
    can be ticked for the selection bar (the owner's, trash included), so it is cached
    under them. With search ``tokens`` each tile also says where they matched (the page's
    version already names the query). It holds no session data: the CSRF token and the way back are
    slots, filled per request (``fill_slots``). With ``headers`` (a listing by date taken)
    the first tile of each month is preceded by that month's sticky header."""
    tiles = [present.tile(doc, media) for doc in page.items]
    docs = {str(doc["_id"]): doc for doc in page.items}
    # One url_for for the page instead of one per tile (routing builds cost ~20 us each).
    href = url_for("images.detail", image_id="IMAGE_ID")
    fav = url_for("images.favourite", image_id="IMAGE_ID")
    for t in tiles:
        t["href"] = href.replace("IMAGE_ID", t["id"])
        t["favourite_url"] = fav.replace("IMAGE_ID", t["id"]) if owned else None
        t["select_form"] = SELECTION_FORM if selectable else None  # tick, then act on all
        t["why"] = ", ".join(matched_sources(docs[t["id"]], tokens)) if tokens else ""
        t["meaning"] = docs[t["id"]]["_id"] in page.meaning
        t["csrf_slot"], t["back_slot"] = CSRF_SLOT, BACK_SLOT
    marks = month_marks(page.items) if headers else [None] * len(tiles)
    for t, month in zip(tiles, marks, strict=True):
        t["month"] = (month_label(month), f"{month:%Y-%m}") if month else None
    return Markup(render_template("gallery/_tiles.html", tiles=tiles))


def fill_slots(html: Markup) -> Markup:
    if CSRF_SLOT not in html and BACK_SLOT not in html:
        return html
    back = str(escape(request.full_path.rstrip("?")))
    return Markup(str(html).replace(CSRF_SLOT, csrf_token()).replace(BACK_SLOT, back))


def render_grid(template_title: str, default_scope: str, *, search: bool,
                fixed: dict[str, str] | None = None, trash: bool = False, home: bool = False) -> str:
    """A grid for the request's filters; ``fixed`` ones (a Favourites or Archive view)
    override what the URL says; ``trash``: the owner's trashed images instead; ``home``:
    the owner's main grid, with the month jump menu and "On this day"."""
    svc, who = current_services(), viewer()
    args = {**request.args.to_dict(), **(fixed or {})}
    args, ranked_from = take_ranked_cursor(args)
    query = replace(parse_query(args, who, default_scope=default_scope), trashed=trash)
    tokens = tuple(query.tokens)
    page = svc.images.listings.list_page(query, who, projection={**TILE_FIELDS, **SOURCE_FIELDS} if tokens else None,
                                                 ranked_from=ranked_from)
    metrics.LISTINGS.labels(source=page.source).inc()
    selectable = query.scope == "mine" and who.user is not None
    owned = selectable and not trash
    headers = query.key == TIMELINE

    def body() -> Markup:
        endpoint = request.endpoint or "gallery.search"
        next_params: dict[str, Any] = query_params(query, cursor=page.next_cursor, month=None)
        first_params: dict[str, Any] = query_params(query, month=None)
        for name in fixed or {}:  # the view's own path says them
            next_params.pop(name, None)
            first_params.pop(name, None)
        return Markup(render_template(
            "gallery/_grid_body.html", title=template_title,
            tiles_html=tiles_html(page, svc.media, owned, selectable, tokens, headers),
            count=len(page.items), query=query,
            next_url=url_for(endpoint, **next_params) if page.next_cursor else None,
            first_url=url_for(endpoint, **first_params) if query.cursor or ranked_from or query.month else None,
            search=search, colour_options=COLOUR_OPTIONS, view=request.endpoint, trash_days=svc.settings.trash_days,
            csrf_slot=CSRF_SLOT, back_slot=BACK_SLOT, **(_home_extras(query, page) if home else {})))
    # The content is a function of the page (its version names the stamp it was read
    # under, so also the timeline's jump menu and "On this day"), the URL, who looks, the
    # URL signing window (cached_html adds it) and the day; the CSRF token and the way
    # back are slots.
    key = ("grid", page.version, who.user_id, request.endpoint, request.full_path,
           datetime.now(UTC).date() if home else None)
    html = fill_slots(cached_html(key, body) if page.version else body())
    # Outside the cached body: the same page of words is also what a search by words alone
    # shows once the model is off, without this notice.
    return render_template("gallery/grid.html", title=template_title, body=html,
                           meaning_pending=page.meaning_pending)


def _home_extras(query: Any, page: Page) -> dict[str, Any]:
    """The owner's main grid: the months to jump to, and "On this day" on its first page
    (each earlier year's tiles link to the image, and the year to that day's search)."""
    svc, who = current_services(), viewer()
    timeline = svc.timeline
    span = timeline.span(who)
    memories = []
    if query.cursor is None and query.month is None and page.items:
        href = url_for("images.detail", image_id="IMAGE_ID")
        for memory in timeline.on_this_day(who, datetime.now(UTC).date()):
            tiles = [{**present.tile(doc, svc.media), "href": href.replace("IMAGE_ID", str(doc["_id"]))}
                     for doc in memory.items]
            day = memory.day.isoformat()
            search: dict[str, Any] = {"scope": "mine", "from": day, "to": day}
            memories.append({"years_ago": memory.years_ago, "day": memory.day, "tiles": tiles,
                             "url": url_for("gallery.search", **search)})
    return {"jump": [(year, [(month_label(m), f"{m:%Y-%m}") for m in months])
                     for year, months in jump_months(*span)] if span else [],
            "memories": memories}


@bp.get("/")
def index() -> Response | str:
    if viewer().user is None:
        return redirect(url_for("gallery.public"))
    return render_grid("My images", "mine", search=False, home=True)


@bp.get("/public")
def public() -> str:
    return render_grid("Public gallery", "public", search=False)


@bp.get("/search")
def search() -> str:
    return render_grid("Search", "mine" if viewer().user else "public", search=True)



@bp.get("/favourites")
@login_required
def favourites() -> str:
    return render_grid("Favourites", "mine", search=False, fixed={"scope": "mine", "favourite": "yes"})


@bp.get("/archive")
@login_required
def archive() -> str:
    """Archived images: out of the main grid, still in search; unarchive from their page."""
    return render_grid("Archive", "mine", search=False, fixed={"scope": "mine", "archived": "yes"})


@bp.get("/trash")
@login_required
def trash() -> str:
    """Trashed images, restorable from their page until TRASH_DAYS pass (the worker purges)."""
    return render_grid("Trash", "mine", search=False, fixed={"scope": "mine"}, trash=True)


@bp.post("/trash/empty")
@login_required
def empty_trash() -> Response:
    user = viewer().user
    assert user is not None  # login_required
    count = current_services().images.empty_trash(user.id)
    flash(f"Deleted {count} image{'' if count == 1 else 's'} for good.", "success")
    return redirect(url_for("gallery.trash"))
