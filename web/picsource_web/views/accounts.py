"""Sign up, sign in, sign out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from picsource_web.context import current_services
from picsource_web.services.errors import ServiceError
from picsource_web.services.passwords import POLICY_HINTS
from picsource_web.services.ratelimit import RateLimited
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
        return render_template("auth/login.html", next=next_url, signup_open=svc.settings.signup == "open")
    username = request.form.get("username", "")[:200]
    password = request.form.get("password", "")[:4096]
    try:
        # The client address ProxyFix computed (TRUSTED_PROXY_HOPS); without trusted hops
        # X-Forwarded-For is ignored, so it cannot mint fresh client identities.
        attempt = svc.limiter.begin(username, request.remote_addr)
    except RateLimited as err:
        page = render_template("auth/login.html", next=next_url, username=username, error=err.message,
                               signup_open=svc.settings.signup == "open")
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
            error="Wrong username or password.", signup_open=svc.settings.signup == "open",
        ), 401
    svc.limiter.succeeded(attempt)
    login_user(user)
    flash(f"Welcome back, {user.username}.", "success")
    return redirect(next_url)


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> Response | str | tuple[str, int]:
    svc = current_services()
    if svc.settings.signup != "open":
        return render_template("auth/signup_closed.html"), 403
    context = {"password_hints": POLICY_HINTS, "username_hint": USERNAME_HINT}
    if request.method == "GET":
        return render_template("auth/signup.html", **context)
    username = request.form.get("username", "")[:200]
    password = request.form.get("password", "")[:4096]
    if password != request.form.get("password2", password):
        return render_template("auth/signup.html", username=username,
                               error="The two passwords do not match.", **context), 400
    try:
        user = svc.users.sign_up(username, password)
    except ServiceError as err:
        return render_template("auth/signup.html", username=username, error=err.message,
                               **context), err.status
    login_user(user)
    flash("Your account is ready. Upload your first images!", "success")
    return redirect(url_for("upload.upload"))


@bp.post("/logout")
def logout() -> Response:
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("gallery.public"))
