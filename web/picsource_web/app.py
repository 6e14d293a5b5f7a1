"""The application factory: ``create_app(settings=None)``.

Run under gunicorn as ``picsource_web.app:create_app()`` (see gunicorn_conf.py, no
--preload): each worker process builds its own MongoClient and object store here, after
the fork. Start-up work that needs the backing services (indexes, bucket, configured
accounts) is retried on later requests if they are down at boot, so the app recovers
by itself when MongoDB or storage come back.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from flask import Flask, Request, request, url_for
from pymongo.errors import PyMongoError
from werkzeug.middleware.proxy_fix import ProxyFix

from picsource_core.mongo import ensure_indexes
from picsource_core.storage import StorageError
from picsource_core.uploads import upload_request_limit
from picsource_core.web_load import WebLoadReports
from picsource_web import (
    error_handlers,
    load,
    logs,
    metrics,
    navigation,
    resilience,
    security,
    sessions,
    template_urls,
)
from picsource_web.context import EXTENSION
from picsource_web.services.container import Services, build_services
from picsource_web.settings import Settings, load_settings
from picsource_web.views import register_blueprints

log = logging.getLogger(__name__)


#: Uploaded files larger than this go to a temporary file (the chart's /tmp emptyDir)
#: while the request is parsed; smaller ones stay in memory.
SPOOL_BYTES = 256 * 1024


class SpoolingRequest(Request):
    """Uploaded files are spooled to disk past SPOOL_BYTES, so a worker holds at most
    about UPLOAD_FORM_PARTS x SPOOL_BYTES of a request's files in memory while parsing."""

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        return tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="rb+")  # noqa: SIM115


class Bootstrap:
    """Idempotent start-up work against MongoDB and storage, retried until it succeeds once."""

    RETRY_SECONDS = 5.0

    def __init__(self, services: Services) -> None:
        self.services = services
        self.done = False
        self._last_try = 0.0
        self._lock = threading.Lock()

    def ensure(self) -> None:
        if self.done or time.monotonic() - self._last_try < self.RETRY_SECONDS:
            return
        with self._lock:
            if self.done:
                return
            self._last_try = time.monotonic()
            try:
                self._run()
                self.done = True
            except Exception as err:  # noqa: BLE001 - retried on a later request
                log.warning("start-up tasks deferred (%s); retrying on a later request", err)

    def _run(self) -> None:
        svc = self.services
        ensure_indexes(svc.db)
        try:
            svc.store.ensure_bucket()
        except StorageError as err:  # credentials that may not create buckets: the operator did
            if err.reason not in ("BucketForbidden", "InvalidCredentials"):
                raise
            log.warning("cannot create bucket (%s); assuming it is provisioned", err)
        if svc.settings.admin:
            svc.users.ensure_account(svc.settings.admin, is_admin=True)
        if svc.settings.demo:
            svc.users.ensure_account(svc.settings.demo, is_admin=False)


def static_version(folder: Path) -> str:
    """A short hash of the static files, appended to their URLs so browsers may cache them
    for a year and still get a new app.css or script right after a deployment."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*")):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    if not (folder / "app.css").exists():
        log.warning("static/app.css is missing: run `make frontend` (pages work, unstyled)")
    return digest.hexdigest()[:12]


def create_app(settings: Settings | None = None, *, bootstrap: bool = True, **overrides: Any) -> Flask:
    settings = settings or load_settings()
    logs.configure(settings.log_level)
    app = Flask(__name__)
    app.request_class = SpoolingRequest
    if settings.proxy_hops:
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME=sessions.SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(days=14),
        # The largest body, accepted only on the upload routes from a signed-in caller
        # (security.guard_body; every other request gets FORM_BODY_LIMIT). One image per
        # request from the upload page's script; the no-script form and the API may send
        # several, so allow a few files' worth plus form overhead (the operator gives the
        # Ingress the same figure).
        MAX_CONTENT_LENGTH=upload_request_limit(settings.max_upload_bytes),
        MAX_FORM_MEMORY_SIZE=1024 * 1024,
        MAX_FORM_PARTS=200,
        JSON_SORT_KEYS=False,
    )

    def proxy_url(image_id: str, variant: str, share_token: str | None) -> str:
        return url_for("images.media", image_id=image_id, variant=variant, s=share_token)

    services = build_services(settings, proxy_url, **overrides)
    boot = Bootstrap(services)
    app.extensions[EXTENSION] = services
    app.extensions[EXTENSION + ".bootstrap"] = boot

    version = static_version(Path(app.static_folder or ""))
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 365 * 86400  # URLs carry the content version
    template_urls.init_app(app, version)
    navigation.init_app(app)

    logs.init_app(app)
    metrics.init_app(app)
    security.init_app(app, settings)
    sessions.init_app(app)
    error_handlers.init_app(app)
    resilience.init_app(app)
    register_blueprints(app)
    load.init_app(app, WebLoadReports(services.db), settings.load_report_seconds)

    from picsource_web import cli

    cli.init_app(app)

    @app.before_request
    def _bootstrap() -> None:
        if not boot.done and request.blueprint not in ("health", None):
            boot.ensure()

    if bootstrap:
        try:
            boot.ensure()
        except PyMongoError:  # pragma: no cover - ensure() already logs and defers
            pass
    return app
