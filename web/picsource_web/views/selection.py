"""The grid's selection bar: tick images, then one button acts on all of them.

A plain form post (works without JavaScript): the ticked tiles' ``image_id`` fields and
the pressed button's ``action``. The rules are the API's (services/bulk.py): the whole
selection is checked first, then applied; "download" streams the zip the API streams.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from picsource_web.context import current_services
from picsource_web.services.bulk import CHANGED, apply_bulk, parse_bulk, parse_ids
from picsource_web.sessions import login_required, viewer
from picsource_web.views.accounts import safe_next
from picsource_web.views.bulk import zip_response

bp = Blueprint("selection", __name__)

#: What the message after each action says was done (count, "image(s)").
DONE = {
    "trash": "Moved {n} {images} to the trash.", "restore": "Restored {n} {images}.",
    "favourite": "Added {n} {images} to your favourites.",
    "unfavourite": "Removed {n} {images} from your favourites.",
    "archive": "Archived {n} {images}.", "unarchive": "Brought {n} {images} back to the main grid.",
    "set_visibility": "Made {n} {images} {visibility}.", "add_tags": "Tagged {n} {images}.",
    "remove_tags": "Untagged {n} {images}.",
}


def _images(n: int) -> str:
    return "image" if n == 1 else "images"


@bp.post("/selection")
@login_required
def act() -> BaseResponse:
    back = safe_next(request.form.get("next"))
    ticked = request.form.getlist("image_id")
    if not ticked:
        flash("Tick one or more images first.", "info")
        return redirect(back)
    action = request.form.get("action", "")
    owner = viewer().user_id
    assert owner is not None  # login_required
    if action == "download":
        return zip_response(owner, parse_ids(ticked))
    body: dict[str, object] = {"action": action, "ids": ticked}
    if action == "set_visibility":
        body["visibility"] = request.form.get("visibility", "")
    if action in ("add_tags", "remove_tags"):
        body["tags"] = request.form.get("tags", "").split(",")
    req = parse_bulk(body)
    results = apply_bulk(current_services().images, owner, req)
    changed = sum(1 for _, result in results if result == CHANGED)
    message = DONE[req.action].format(n=changed, images=_images(changed), visibility=req.visibility)
    if changed < len(results):
        message += f" {len(results) - changed} already {'was' if len(results) - changed == 1 else 'were'}."
    flash(message, "success")
    return redirect(back)
