"""Prometheus metrics for the web tier, in prometheus-client's multiprocess mode.

Gunicorn runs several worker processes; each writes its samples to files in
PROMETHEUS_MULTIPROC_DIR and /metrics aggregates them (gunicorn_conf.py marks dead
workers). Without that variable (tests, `flask run`) the default registry is used.
The route label is the URL rule template (``/images/<image_id>``), never the raw path,
so label cardinality stays bounded.

Uploads are counted here and only here: ``count_upload`` for each file the upload service
took (stored or a duplicate), ``count_refusal`` for each refused one; the upload views
call them, or are wrapped in ``counts_upload_refusals``.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from werkzeug.exceptions import RequestEntityTooLarge

from picsource_web.services.errors import ServiceError

F = TypeVar("F", bound=Callable[..., Any])

REQUESTS = Counter(
    "picsource_web_requests_total", "HTTP requests by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "picsource_web_request_duration_seconds", "Time to answer a request, by route template.",
    ["route"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
UPLOADS = Counter("picsource_web_uploads_total", "Images stored by upload (duplicates excluded).")
UPLOAD_BYTES = Counter("picsource_web_upload_bytes_total", "Bytes of images stored by upload.")
UPLOAD_REJECTIONS = Counter(
    "picsource_web_upload_rejections_total", "Uploads refused, by reason.", ["reason"],
)
LOGIN_THROTTLED = Counter(
    "picsource_web_login_throttled_total",
    "Sign-in attempts and API tokens refused inside a wait (429, not counted as guesses), "
    "by the counter that refused them: pair (username and client), client or api_token. "
    "Counted where the refusal is answered (the sign-in view, the API caller).", ["scope"],
)
LISTINGS = Counter(
    "picsource_web_listing_pages_total",
    "Listing pages (grid, search, API list) by where they came from: the process's cache "
    "(cache), the cache the pod's workers share (shared) or a database query (database).",
    ["source"],
)


def count_upload(size_bytes: int, *, duplicate: bool) -> None:
    """One file the upload service took: stored (with its bytes), or refused as a duplicate
    of one of the uploader's own images."""
    if duplicate:
        UPLOAD_REJECTIONS.labels(reason="duplicate").inc()
    else:
        UPLOADS.inc()
        UPLOAD_BYTES.inc(size_bytes)


def count_refusal(err: ServiceError) -> None:
    """One upload refused by the client's fault (4xx), by its service reason."""
    if 400 <= err.status < 500:
        UPLOAD_REJECTIONS.labels(reason=err.reason).inc()


def counts_upload_refusals(view: F) -> F:
    """Count every refusal raised out of an upload view: validation, quota, metadata, no
    credentials, a body over the request limit. A batch of nothing but duplicates is
    answered with a ``duplicate`` error, but its files were counted by ``count_upload``."""
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except ServiceError as err:
            if err.reason != "duplicate":
                count_refusal(err)
            raise
        except RequestEntityTooLarge:
            UPLOAD_REJECTIONS.labels(reason="too_large").inc()
            raise

    return cast(F, wrapper)


def registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        reg = CollectorRegistry()
        multiprocess.MultiProcessCollector(reg)  # type: ignore[no-untyped-call]
        return reg
    return REGISTRY


def metrics_response() -> Response:
    return Response(generate_latest(registry()), mimetype=CONTENT_TYPE_LATEST)


def route_label() -> str:
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


def init_app(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _record(response: Response) -> Response:
        if request.endpoint == "static":
            return response
        route = route_label()
        REQUESTS.labels(route=route, method=request.method, status=str(response.status_code)).inc()
        started = g.get("metrics_started")
        if started is not None:
            LATENCY.labels(route=route).observe(time.perf_counter() - started)
        return response
