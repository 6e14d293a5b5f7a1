"""Account settings: personal API tokens and password change."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from picsource_web.context import current_services
from picsource_web.services.errors import ServiceError
from picsource_web.services.passwords import POLICY_HINTS
from picsource_web.services.tokens import parse_expiry_days
from picsource_web.sessions import login_required, login_user, viewer

bp = Blueprint("settings", __name__, url_prefix="/settings")


def _page(status: int = 200, **extra: object) -> tuple[str, int]:
    svc, user = current_services(), viewer().user
    assert user is not None
    count, used = svc.images.usage(user.id)
    return render_template(
        "settings/index.html", tokens=svc.tokens.list(user.id), password_hints=POLICY_HINTS,
        usage={"images": count, "bytes": used}, quota_images=svc.settings.quota_images,
        quota_bytes=svc.settings.quota_bytes, **extra,
    ), status


@bp.get("/")
@login_required
def index() -> tuple[str, int]:
    return _page()


@bp.post("/tokens")
@login_required
def create_token() -> tuple[str, int]:
    user = viewer().user
    assert user is not None
    try:
        plain, token = current_services().tokens.create(
            user.id, request.form.get("name", ""), scope=request.form.get("scope", "write"),
            expires_days=parse_expiry_days(request.form.get("expires_days")),
        )
    except ServiceError as err:
        return _page(err.status, token_error=err.message)
    # Shown once on this response only; never stored in plain text or put in a URL.
    return _page(201, new_token=plain, new_token_name=token.name)


@bp.post("/tokens/<token_id>/revoke")
@login_required
def revoke_token(token_id: str) -> Response:
    user = viewer().user
    assert user is not None
    current_services().tokens.revoke(user.id, token_id)
    flash("Token revoked.", "success")
    return redirect(url_for("settings.index"))


@bp.post("/password")
@login_required
def change_password() -> Response | tuple[str, int]:
    user = viewer().user
    assert user is not None
    new = request.form.get("new_password", "")
    if new != request.form.get("new_password2", new):
        return _page(400, password_error="The two new passwords do not match.")
    try:
        updated = current_services().users.change_password(user, request.form.get("current_password", ""), new)
    except ServiceError as err:
        return _page(err.status, password_error=err.message)
    login_user(updated)
    flash("Password changed. Other sessions were signed out and your API tokens revoked.", "success")
    return redirect(url_for("settings.index"))
