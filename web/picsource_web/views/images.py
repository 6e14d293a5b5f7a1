"""One image: its page, share link page, edit, delete, analysis status and bytes.

Every route resolves the image through the repository with the current viewer, so the
privacy rule (owner / public / unlisted-by-token, otherwise 404) lives in one place.
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from picsource_core.images import VISIBILITIES
from picsource_core.mongo import Document
from picsource_web.context import current_services
from picsource_web.services import present
from picsource_web.services.albums import is_grant, is_owner
from picsource_web.services.errors import BadRequest, Conflict, NotFound, ServiceError
from picsource_web.services.metadata import MAX_DESCRIPTION, MAX_TITLE, parse_metadata
from picsource_web.services.present import DETAIL_PROJECTION
from picsource_web.sessions import login_required, viewer
from picsource_web.views.accounts import safe_next

bp = Blueprint("images", __name__)


def _detail_page(doc: dict, share_token: str | None = None) -> str:
    svc, who = current_services(), viewer()
    view = present.detail(doc, who, svc.media, share_token)
    similar = [present.tile(d, svc.media) for d in svc.images.similar(doc, who)] if not share_token else []
    share_url = url_for("images.shared", token=doc["share_token"], _external=True) if view["is_owner"] else None
    owner_albums = svc.albums.owned(doc["owner_id"]) if view["is_owner"] else []
    in_albums = svc.albums.albums_of(doc) if view["is_owner"] else []
    return render_template("images/detail.html", image=view, similar=similar, share_url=share_url,
                           via_share=bool(share_token), in_albums=in_albums,
                           other_albums=[a for a in owner_albums if a not in in_albums])


def _owned(image_id: str) -> Document:
    """One of the viewer's own images; anyone else's is a 404, as a missing one is."""
    return current_services().images.get_owned(image_id, viewer())


@bp.get("/images/<image_id>")
def detail(image_id: str) -> str:
    doc = current_services().images.get_visible(image_id, viewer(), projection=DETAIL_PROJECTION)
    return _detail_page(doc)


@bp.get("/s/<token>")
def shared(token: str) -> str:
    doc = current_services().images.get_by_share_token(token)
    return _detail_page(doc, share_token=token)


@bp.get("/images/<image_id>/status")
def status(image_id: str) -> Response:
    """Polled by static/gallery.js while an image is analysed."""
    svc = current_services()
    share = request.args.get("s") or None
    doc = svc.images.get_visible(image_id, viewer(), share, projection=DETAIL_PROJECTION)
    tile = present.tile(doc, svc.media)
    return jsonify(id=tile["id"], status=tile["status"], pending=tile["pending"],
                   thumb_url=tile["thumb_url"], placeholder=tile["placeholder"], alt=tile["alt"])


@bp.route("/images/<image_id>/edit", methods=["GET", "POST"])
@login_required
def edit(image_id: str) -> BaseResponse | str | tuple[str, int]:
    svc, doc = current_services(), _owned(image_id)
    context = {"image": present.detail(doc, viewer(), svc.media), "visibilities": VISIBILITIES,
               "max_title": MAX_TITLE, "max_description": MAX_DESCRIPTION}
    if request.method == "GET":
        return render_template("images/edit.html", form=doc, **context)
    form = {"title": request.form.get("title", ""), "description": request.form.get("description", ""),
            "tags": request.form.get("tags", ""), "visibility": request.form.get("visibility", "")}
    try:
        meta = parse_metadata(form["title"], form["description"], form["tags"], form["visibility"])
    except ServiceError as err:
        return render_template("images/edit.html", form=form, error=err.message, **context), err.status
    svc.images.update_metadata(doc, meta)
    return _to_image(image_id, "Saved.")


def _switch(name: str) -> bool:
    """A form's on/off field ("1" or "0"); anything else is a 400 naming it."""
    value = request.form.get(name, "")
    if value not in ("0", "1"):
        raise BadRequest(f"invalid_{name}", f"{name} must be 1 (on) or 0 (off).")
    return value == "1"


def _to_image(image_id: str, done: str) -> BaseResponse:
    """Back to the image page, saying what the action did."""
    flash(done, "success")
    return redirect(url_for("images.detail", image_id=image_id))


def _back(image_id: str) -> str:
    """Where a toggle returns to: the page it was made on (same site only), else the image."""
    target = request.form.get("next")
    return safe_next(target) if target else url_for("images.detail", image_id=image_id)


@bp.post("/images/<image_id>/favourite")
@login_required
def favourite(image_id: str) -> BaseResponse:
    doc, on = _owned(image_id), _switch("favourite")
    current_services().images.set_marks(doc, favourite=on)
    flash("Added to favourites." if on else "Removed from favourites.", "success")
    return redirect(_back(image_id))


@bp.post("/images/<image_id>/archive")
@login_required
def archive(image_id: str) -> BaseResponse:
    doc, on = _owned(image_id), _switch("archived")
    current_services().images.set_marks(doc, archived=on)
    flash("Archived: it left your main grid; search and the Archive still show it." if on
          else "Back in your main grid.", "success")
    return redirect(_back(image_id))


@bp.post("/images/<image_id>/share-link")
@login_required
def rotate_share_link(image_id: str) -> BaseResponse:
    current_services().images.rotate_share_token(_owned(image_id))
    return _to_image(image_id, "A new share link was made; the old one no longer works.")


@bp.post("/images/<image_id>/delete")
@login_required
def delete(image_id: str) -> BaseResponse:
    """Move to the trash (restorable until TRASH_DAYS pass); "delete for good" is purge."""
    doc = _owned(image_id)
    current_services().images.trash(doc)
    flash(f"Moved “{doc.get('title') or 'untitled image'}” to the trash. You can restore it from "
          "the Trash.", "success")
    return redirect(url_for("gallery.index"))


@bp.post("/images/<image_id>/restore")
@login_required
def restore(image_id: str) -> BaseResponse:
    doc = _owned(image_id)
    if not current_services().images.restore(doc):
        raise Conflict("not_in_trash", "This image is not in the trash.")
    return _to_image(image_id, "Restored.")


@bp.post("/images/<image_id>/purge")
@login_required
def purge(image_id: str) -> BaseResponse:
    """Delete for good, from the trash only: a slip on the image page cannot lose it."""
    doc = _owned(image_id)
    if doc.get("trashed_at") is None:
        raise Conflict("not_in_trash", "Only an image in the trash can be deleted for good; "
                       "move it to the trash first.")
    if not current_services().images.purge(doc, from_trash=True):
        raise Conflict("not_in_trash", "The image is no longer in the trash (it was restored "
                       "or deleted meanwhile); nothing was deleted.")
    flash(f"Deleted “{doc.get('title') or 'untitled image'}” for good.", "success")
    return redirect(url_for("gallery.trash"))


def _media_doc(image_id: str, share: str | None) -> Document:
    """The image whose bytes are asked for, if this viewer may have them: an album's grant
    opens that album's images only (downloads only if the album allows them, or for its
    owner); anything else is an image share token, checked by the repository."""
    svc = current_services()
    if not is_grant(share):
        return svc.images.get_visible(image_id, viewer(), share, projection=DETAIL_PROJECTION)
    doc, album = svc.albums.image_by_grant(str(share), image_id, projection=DETAIL_PROJECTION)
    if request.args.get("download") == "1" and not album.get("allow_download") \
            and not is_owner(album, viewer()):
        raise ServiceError(403, "download_disabled", "The owner of this album turned downloads off.")
    return doc


@bp.get("/media/<image_id>/<variant>")
def media(image_id: str, variant: str) -> BaseResponse:
    """Image bytes: streamed with ETag/Cache-Control in proxy mode, else a redirect to a
    presigned URL (useful for API clients and <img> tags alike)."""
    if variant not in present.VARIANTS:
        raise NotFound("No such image size.")
    svc = current_services()
    share = request.args.get("s") or None
    doc = _media_doc(image_id, share)
    owner = present.owns(doc, viewer().user_id)
    key = present.object_key(doc, variant, owner=owner)
    if key is None:
        raise NotFound(present.unavailable(doc, variant))
    download = request.args.get("download") == "1"
    if not svc.settings.proxy_images:
        url = svc.media.url(doc, variant, share, download=download, owner=owner)
        return redirect(url or "", code=302)
    etag = present.etag(doc, variant, key)
    private = doc.get("visibility") != "public"
    # The owner's original differs from what others get here: never in a shared cache.
    personal = key != present.object_key(doc, variant)
    cache = f"{'private' if private or personal else 'public'}, max-age=3600"
    if request.if_none_match.contains(etag):
        return Response(status=304, headers={"ETag": f'"{etag}"', "Cache-Control": cache})
    data = svc.store.get_bytes(key)
    content_type = str(doc.get("content_type")) if variant == "original" else "image/webp"
    response = Response(data, mimetype=content_type)
    response.set_etag(etag)
    response.headers["Cache-Control"] = cache
    if private or personal:
        response.headers["Vary"] = "Cookie, Authorization" if personal else "Cookie"
    if download:
        response.headers["Content-Disposition"] = f'attachment; filename="{present.download_name(doc)}"'
    return response
