"""Upload page and endpoint.

The page's script (static/upload.js) sends one file per request with its own title,
description and tags and shows per-file progress; it asks for JSON. Without script
the same form posts every file at once with shared fields and gets HTML back.
"""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import FileStorage

from picsource_core.images import VISIBILITIES
from picsource_web import metrics
from picsource_web.context import current_services, wants_json
from picsource_web.services.api_uploads import MAX_FILES
from picsource_web.services.errors import BadRequest, ServiceError
from picsource_web.services.metadata import (
    MAX_DESCRIPTION,
    MAX_TITLE,
    ImageMetadata,
    parse_metadata,
)
from picsource_web.services.uploads import UploadResult
from picsource_web.services.validation import accept_attribute, accepted_names
from picsource_web.sessions import login_required, viewer

bp = Blueprint("upload", __name__)


def store_upload(file: FileStorage, meta: ImageMetadata) -> UploadResult:
    """Upload one file for the current user and count the outcome."""
    svc = current_services()
    user = viewer().user
    assert user is not None
    data = file.stream.read(svc.settings.max_upload_bytes + 1)
    result = svc.uploads.upload(user, data, file.filename, meta)
    metrics.count_upload(len(data), duplicate=result.duplicate)
    return result


def _page(**extra: object) -> str:
    svc = current_services()
    return render_template(
        "upload/upload.html", visibilities=VISIBILITIES, formats=accepted_names(),
        accept=accept_attribute(), max_bytes=svc.settings.max_upload_bytes,
        max_title=MAX_TITLE, max_description=MAX_DESCRIPTION, **extra,
    )


@bp.route("/upload", methods=["GET", "POST"])
@metrics.counts_upload_refusals
@login_required
def upload() -> ResponseReturnValue:
    if request.method == "GET":
        return _page()
    files = [f for f in request.files.getlist("file") + request.files.getlist("files") if f.filename or f.content_length]
    if not files:
        raise BadRequest("no_file", "Choose at least one image to upload.")
    if len(files) > MAX_FILES:
        raise BadRequest("too_many_files", f"Choose at most {MAX_FILES} images per upload.")
    meta = parse_metadata(request.form.get("title"), request.form.get("description"),
                          request.form.get("tags"), request.form.get("visibility"))
    if wants_json() or len(files) == 1:
        result = store_upload(files[0], meta)
        url = url_for("images.detail", image_id=str(result.image_id))
        message = ("You already uploaded this image; nothing new was stored." if result.duplicate
                   else "Uploaded. Analysis is running.")
        if wants_json():
            return jsonify(id=str(result.image_id), url=url, duplicate=result.duplicate,
                           message=message), 200 if result.duplicate else 201
        flash(message, "info" if result.duplicate else "success")
        return redirect(url)
    stored, failures = 0, []
    for file in files:
        try:
            result = store_upload(file, meta)
            stored += 0 if result.duplicate else 1
        except ServiceError as err:
            metrics.count_refusal(err)
            failures.append(f"{file.filename}: {err.message}")
    if stored == 0 and failures:
        return _page(errors=failures), 400
    flash(f"Uploaded {stored} image{'s' if stored != 1 else ''}.", "success")
    for failure in failures:
        flash(failure, "error")
    return redirect(url_for("gallery.index"))
