"""Albums the owner manages: the Albums page, create, edit, share link, cover, delete, and
adding or removing images (a grid selection, the image page, the upload page when done).

Every route takes the album through ``AlbumService.get_owned``: anyone else's album is
the same 404 as a missing one. Forms post without JavaScript (CSRF field in each); a
selection is a list of ``image_id`` fields, at most MAX_IDS_PER_CALL.
"""

from __future__ import annotations

from datetime import date

from bson import ObjectId
from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from picsource_core.albums import ADDED, REMOVED
from picsource_core.images import VISIBILITIES
from picsource_core.mongo import Document
from picsource_web.context import current_services
from picsource_web.services import present
from picsource_web.services.album_input import day_from_expiry, parse_album_fields, parse_image_ids
from picsource_web.services.errors import ServiceError
from picsource_web.services.metadata import MAX_DESCRIPTION, MAX_TITLE
from picsource_web.sessions import login_required, viewer
from picsource_web.views.accounts import safe_next

bp = Blueprint("albums", __name__)


def _owner_id() -> ObjectId:
    user = viewer().user
    assert user is not None  # login_required
    return user.id


def _owned(album_id: str) -> Document:
    return current_services().albums.get_owned(album_id, viewer())


def _form_fields(names: tuple[str, ...]) -> dict[str, str]:
    """The album fields a form sent; an unticked download box is "0"."""
    fields = {name: request.form.get(name, "") for name in names if name in request.form}
    if "allow_download" in names:
        fields["allow_download"] = "1" if request.form.get("allow_download") == "1" else "0"
    return fields


def _selection() -> list[ObjectId]:
    return parse_image_ids(request.form.getlist("image_id"))


def _back(default: str) -> str:
    target = request.form.get("next")
    return safe_next(target) if target else default


def _say(results: dict[ObjectId, str], done: str, verb: str) -> None:
    """Flash what an add or remove did, naming how many were skipped and why."""
    count = sum(1 for r in results.values() if r == done)
    flash(f"{verb} {count} image{'' if count == 1 else 's'}.", "success")
    skipped = len(results) - count
    if skipped:
        flash(f"{skipped} image{' was' if skipped == 1 else 's were'} skipped (already there, "
              "not in the album, or not one of your images).", "info")


@bp.get("/albums")
@login_required
def index() -> str:
    svc = current_services()
    cards = [{"album": s.album, "count": s.count,
              "cover_url": svc.media.display_url(s.cover, present.GRID_SIZE) if s.cover else None,
              "placeholder": present.placeholder_colour(s.cover) if s.cover else present.NEUTRAL}
             for s in svc.albums.summaries(_owner_id())]
    return render_template("albums/index.html", cards=cards, max_title=MAX_TITLE)


@bp.post("/albums")
@login_required
def create() -> Response:
    fields = parse_album_fields(_form_fields(("title", "description")), today=date.today(), partial=False)
    album = current_services().albums.create(_owner_id(), fields)
    flash(f"Created the album “{album['title']}”.", "success")
    return redirect(url_for("album_pages.album", album_id=str(album["_id"])))


@bp.route("/albums/<album_id>/edit", methods=["GET", "POST"])
@login_required
def edit(album_id: str) -> Response | str | tuple[str, int]:
    svc, album = current_services(), _owned(album_id)
    context = {"album": album, "visibilities": VISIBILITIES, "max_title": MAX_TITLE,
               "max_description": MAX_DESCRIPTION, "today": date.today().isoformat()}
    form = {**album, "share_expires_on": day_from_expiry(album.get("share_expires_at"))}
    if request.method == "GET":
        return render_template("albums/edit.html", form=form, **context)
    sent = _form_fields(("title", "description", "visibility", "allow_download", "share_expires_on"))
    try:
        changes = parse_album_fields(sent, today=date.today(), partial=False)
    except ServiceError as err:
        return render_template("albums/edit.html", form=sent, error=err.message, **context), err.status
    svc.albums.update(album, changes)
    flash("Saved.", "success")
    return redirect(url_for("album_pages.album", album_id=album_id))


@bp.post("/albums/<album_id>/delete")
@login_required
def delete(album_id: str) -> Response:
    album = _owned(album_id)
    current_services().albums.delete(album)
    flash(f"Deleted the album “{album['title']}”. Its images are still in your library.", "success")
    return redirect(url_for("albums.index"))


@bp.post("/albums/<album_id>/share-link")
@login_required
def rotate_link(album_id: str) -> Response:
    current_services().albums.rotate_link(_owned(album_id))
    flash("A new share link was made; the old one no longer works.", "success")
    return redirect(url_for("album_pages.album", album_id=album_id))


@bp.post("/albums/<album_id>/cover")
@login_required
def cover(album_id: str) -> Response:
    current_services().albums.set_cover(_owned(album_id), request.form.get("image_id"))
    flash("Cover set.", "success")
    return redirect(_back(url_for("album_pages.album", album_id=album_id)))


@bp.post("/albums/<album_id>/remove")
@login_required
def remove(album_id: str) -> Response:
    """Take the selected images out of the album (they stay in the library)."""
    album = _owned(album_id)
    results = current_services().albums.remove(album, _selection())
    _say(results, REMOVED, "Removed from the album:")
    return redirect(_back(url_for("album_pages.album", album_id=album_id)))


@bp.post("/albums/pick")
@login_required
def pick() -> Response | str:
    """Step two of "select, then Add to album": which album (or a new one) gets them."""
    if not request.form.getlist("image_id"):
        flash("Tick one or more images first.", "info")
        return redirect(_back(url_for("gallery.index")))
    ids = _selection()
    albums = current_services().albums.owned(_owner_id())
    return render_template("albums/pick.html", ids=[str(i) for i in ids], albums=albums,
                           max_title=MAX_TITLE, back=_back(url_for("gallery.index")))


@bp.post("/albums/add")
@login_required
def add() -> Response:
    """Add the selection to a new album named in ``new_title`` (a title given wins), or
    else to the chosen ``album_id``."""
    svc, ids = current_services(), _selection()
    new_title = request.form.get("new_title", "").strip()
    if new_title or not request.form.get("album_id"):
        fields = parse_album_fields({"title": new_title}, today=date.today(), partial=False)
        album = svc.albums.create(_owner_id(), fields)
    else:
        album = _owned(request.form["album_id"])
    results = svc.albums.add(album, ids)
    _say(results, ADDED, f"Added to “{album['title']}”:")
    return redirect(_back(url_for("album_pages.album", album_id=str(album["_id"]))))
