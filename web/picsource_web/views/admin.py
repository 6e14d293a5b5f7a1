"""Admin area: users with usage and quota, accounts waiting for approval, invites, the
analysis queue with retry, statistics with the gallery's storage cap, sweep."""

from __future__ import annotations

from datetime import timedelta

from bson import ObjectId
from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from picsource_core.queue import FAILED, PENDING, RUNNING
from picsource_web.context import current_services
from picsource_web.services.errors import NotFound
from picsource_web.services.invites import MAX_DAYS, parse_days
from picsource_web.services.uploads import sweep_orphans
from picsource_web.services.users import parse_object_id
from picsource_web.sessions import admin_required, current_user

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@admin_required
def index() -> str:
    svc = current_services()
    usage = svc.images.usage_by_owner()
    users = [
        {"user": u, "images": usage.get(u.id, (0, 0))[0], "bytes": usage.get(u.id, (0, 0))[1]}
        for u in svc.users.list_all()
    ]
    state = request.args.get("jobs", FAILED)
    if state not in (PENDING, RUNNING, FAILED):
        state = FAILED
    by_status = svc.images.count_by_status()
    stats = {
        "users": svc.users.count(),
        "images": sum(by_status.values()),
        "bytes": sum(b for _, b in usage.values()),
        "by_status": by_status,
        "gallery_bytes": svc.images.docs.usage.current().bytes,
        "gallery_quota_bytes": svc.settings.gallery_quota_bytes,
    }
    return render_template(
        "admin/index.html", users=users, queue=svc.queue.stats(), jobs=svc.queue.list(state, limit=100),
        job_state=state, stats=stats, quota_images=svc.settings.quota_images,
        quota_bytes=svc.settings.quota_bytes, orphan_minutes=svc.settings.orphan_minutes,
        signup=svc.settings.signup, pending=svc.users.list_pending(),
        invites=svc.invites.list_recent() if svc.settings.signup == "invite" else [],
        now=svc.invites.now(), max_invite_days=MAX_DAYS,
    )


@bp.post("/jobs/<job_id>/retry")
@admin_required
def retry_job(job_id: str) -> Response:
    svc = current_services()
    oid = parse_object_id(job_id)
    job = svc.queue.get(oid) if oid else None
    if job is None:
        raise NotFound("No such job.")
    if svc.queue.retry(job.id):
        if job.sets_status:  # an EMBED job leaves its ready image as it is
            svc.images.mark_pending(job.image_id)
        flash("The job is queued again.", "success")
    else:
        flash("That job is not failed or finished, so it was not retried.", "info")
    return redirect(url_for("admin.index", jobs=request.form.get("jobs", FAILED)))


@bp.post("/sweep")
@admin_required
def sweep() -> Response:
    svc = current_services()
    result = sweep_orphans(svc.images, timedelta(minutes=svc.settings.orphan_minutes))
    total = svc.images.docs.usage.recount()  # the running storage total, repaired too
    flash(f"Orphan sweep: scanned {result.scanned} objects, removed {len(result.removed)}; "
          f"{total.images} images, {total.bytes:,} bytes stored.", "success")
    return redirect(url_for("admin.index"))


def _user_id(user_id: str) -> ObjectId:
    oid = parse_object_id(user_id)
    if oid is None:
        raise NotFound("No such account.")
    return oid


@bp.post("/users/<user_id>/approve")
@admin_required
def approve_user(user_id: str) -> Response:
    user = current_services().users.approve(_user_id(user_id))
    return _decided(None if user is None else f"{user.username} is approved and can sign in now.")


@bp.post("/users/<user_id>/reject")
@admin_required
def reject_user(user_id: str) -> Response:
    user = current_services().users.reject(_user_id(user_id))
    return _decided(None if user is None
                    else f"The sign-up of {user.username} is rejected; the account is deleted.")


def _decided(done: str | None) -> Response:
    """Back to the admin page, saying what a decision did (or that another admin was first)."""
    if done is None:
        flash("That account is not waiting for approval (already approved or rejected).", "info")
    else:
        flash(done, "success")
    return redirect(url_for("admin.index"))


@bp.post("/invites")
@admin_required
def create_invite() -> Response:
    svc = current_services()
    days = parse_days(request.form.get("days", "7"))
    admin = current_user()
    code, invite = svc.invites.create(admin.username if admin else "", days=days,
                                      note=request.form.get("note", ""))
    link = url_for("auth.signup", invite=code, _external=True)
    flash(f"New invite (shown only now): {code} · valid until "
          f"{invite.expires_at.strftime('%Y-%m-%d %H:%M')} UTC · sign-up link: {link}", "success")
    return redirect(url_for("admin.index"))


@bp.post("/invites/<invite_id>/revoke")
@admin_required
def revoke_invite(invite_id: str) -> Response:
    oid = parse_object_id(invite_id)
    if oid is None or not current_services().invites.revoke(oid):
        flash("That invite is already used or gone.", "info")
    else:
        flash("The invite is revoked.", "success")
    return redirect(url_for("admin.index"))
