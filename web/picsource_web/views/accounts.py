"""Sign up, sign in, sign out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from picsource_web import metrics
from picsource_web.context import current_services
from picsource_web.services.errors import ServiceError
from picsource_web.services.passwords import POLICY_HINTS
from picsource_web.services.ratelimit import RateLimited
from picsource_web.services.signup import register
from picsource_web.services.signup_limits import SignupRateLimited
from picsource_web.services.users import USERNAME_HINT
from picsource_web.sessions import login_user, logout_user, viewer

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str:
    """Only same-site relative paths: an open redirect would help phishing."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("gallery.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    svc = current_services()
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if viewer().user is not None:
            return redirect(next_url)
        return render_template("auth/login.html", next=next_url, signup_open=svc.settings.signup != "closed")
    username = request.form.get("username", "")[:200]
    password = request.form.get("password", "")[:4096]
    try:
        # The client address ProxyFix computed (TRUSTED_PROXY_HOPS); without trusted hops
        # X-Forwarded-For is ignored, so it cannot mint fresh client identities.
        attempt = svc.limiter.begin(username, request.remote_addr)
    except RateLimited as err:
        metrics.LOGIN_THROTTLED.labels(scope=err.scope).inc()
        page = render_template("auth/login.html", next=next_url, username=username, error=err.message,
                               signup_open=svc.settings.signup != "closed")
        return Response(page, status=429, headers={"Retry-After": str(err.retry_after)})
    try:
        user = svc.users.authenticate(username, password) if username and password else None
    except ServiceError:  # the password was right, the account may not sign in (yet)
        svc.limiter.succeeded(attempt)
        raise
    if user is None:
        svc.limiter.failed(attempt)
        return render_template(
            "auth/login.html", next=next_url, username=username,
            error="Wrong username or password.", signup_open=svc.settings.signup != "closed",
        ), 401
    svc.limiter.succeeded(attempt)
    login_user(user)
    flash(f"Welcome back, {user.username}.", "success")
    return redirect(next_url)


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> Response | str | tuple[str, int]:
    svc = current_services()
    mode = svc.settings.signup
    if mode == "closed":
        return render_template("auth/signup_closed.html"), 403
    context = {"password_hints": POLICY_HINTS, "username_hint": USERNAME_HINT, "mode": mode}
    if request.method == "GET":
        return render_template("auth/signup.html", invite=request.args.get("invite", "")[:64], **context)
    username = request.form.get("username", "")[:200]
    invite = request.form.get("invite", "")[:64]
    password = request.form.get("password", "")[:4096]
    form = {"username": username, "invite": invite, **context}
    try:
        svc.signup_throttle.attempt(request.remote_addr)
    except SignupRateLimited as err:
        page = render_template("auth/signup.html", error=err.message, **form)
        return Response(page, status=429, headers={"Retry-After": str(err.retry_after)})
    if password != request.form.get("password2", password):
        return render_template("auth/signup.html", error="The two passwords do not match.", **form), 400
    try:
        user = register(svc.users, svc.invites, mode, username, password, invite)
    except ServiceError as err:
        return render_template("auth/signup.html", error=err.message, **form), err.status
    if user.pending:
        return render_template("auth/signup_pending.html", username=user.username)
    login_user(user)
    flash("Your account is ready. Upload your first images!", "success")
    return redirect(url_for("upload.upload"))


@bp.post("/logout")
def logout() -> Response:
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("gallery.public"))
