"""Liveness, readiness and metrics: no session, no database access for /healthz.

With WEB_INTERNAL_PORT set, /readyz and /metrics answer only on that port and are a
plain 404 on the public one, so an Ingress routing "/" to the public port exposes
neither the dependency report nor the metrics. The port is the listening socket's
(gunicorn and werkzeug fill SERVER_PORT from it for TCP binds, not from the Host header).
"""

from __future__ import annotations

import threading
import time

import pymongo
from flask import Blueprint, Response, abort, jsonify, request

from picsource_core.mongo import ping
from picsource_web.context import current_services
from picsource_web.metrics import metrics_response

bp = Blueprint("health", __name__)

READY_TIMEOUT_SECONDS = 1.8  # /readyz answers within 2 s, whatever hangs


@bp.get("/healthz")
def healthz() -> Response:
    """The process is alive and serving; says nothing about dependencies on purpose."""
    return jsonify(status="ok")


def check_dependencies() -> dict[str, str]:
    """'ok' or a short error per dependency; used by /readyz and the admin page.

    Both checks run at once and the answer is given after READY_TIMEOUT_SECONDS at most,
    whatever hangs: a check still waiting then reports "timed out" (its thread ends on its
    own, bounded by the client's timeout)."""
    svc = current_services()
    result: dict[str, str] = {}

    def mongo() -> None:
        try:
            with pymongo.timeout(READY_TIMEOUT_SECONDS):
                ping(svc.db)
            result["mongo"] = "ok"
        except Exception as err:  # noqa: BLE001 - any failure means not ready
            result["mongo"] = f"unreachable: {type(err).__name__}"

    def storage() -> None:
        try:
            svc.store.ping()
            result["storage"] = "ok"
        except Exception as err:  # noqa: BLE001
            result["storage"] = f"unreachable: {getattr(err, 'reason', type(err).__name__)}"

    checks = {"mongo": mongo, "storage": storage}
    threads = [threading.Thread(target=check, name=f"readyz-{name}", daemon=True) for name, check in checks.items()]
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return {name: result.get(name, f"unreachable: no answer within {READY_TIMEOUT_SECONDS:g} s")
            for name in checks}


def internal_only() -> None:
    """404 unless the request came in on the internal port (when one is configured)."""
    port = current_services().settings.internal_port
    if port is not None and request.environ.get("SERVER_PORT") != str(port):
        abort(404)


@bp.get("/readyz")
def readyz() -> Response:
    internal_only()
    checks = check_dependencies()
    down = [name for name, state in checks.items() if state != "ok"]
    response = jsonify(status="ok" if not down else "unavailable", checks=checks,
                       detail=f"not ready: {', '.join(down)} down" if down else "ready")
    response.status_code = 503 if down else 200
    return response


@bp.get("/metrics")
def metrics() -> Response:
    internal_only()
    return metrics_response()
