"""Admin area: users with usage and quota, the analysis queue with retry, statistics, sweep."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from picsource_core.queue import FAILED, PENDING, RUNNING
from picsource_web.context import current_services
from picsource_web.services.errors import NotFound
from picsource_web.services.uploads import sweep_orphans
from picsource_web.services.users import parse_object_id
from picsource_web.sessions import admin_required

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
    }
    return render_template(
        "admin/index.html", users=users, queue=svc.queue.stats(), jobs=svc.queue.list(state, limit=100),
        job_state=state, stats=stats, quota_images=svc.settings.quota_images,
        quota_bytes=svc.settings.quota_bytes, orphan_minutes=svc.settings.orphan_minutes,
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
    flash(f"Orphan sweep: scanned {result.scanned} objects, removed {len(result.removed)}.", "success")
    return redirect(url_for("admin.index"))
