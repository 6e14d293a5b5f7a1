"""Liveness, readiness and metrics: no session, no database access for /healthz."""

from __future__ import annotations

import pymongo
from flask import Blueprint, Response, jsonify

from picsource_core.mongo import ping
from picsource_web.context import services
from picsource_web.metrics import metrics_response

bp = Blueprint("health", __name__)

READY_TIMEOUT_SECONDS = 2.0


@bp.get("/healthz")
def healthz() -> Response:
    """The process is alive and serving; says nothing about dependencies on purpose."""
    return jsonify(status="ok")


def check_dependencies() -> dict[str, str]:
    """'ok' or a short error per dependency; used by /readyz and the admin page."""
    svc = services()
    result: dict[str, str] = {}
    try:
        with pymongo.timeout(READY_TIMEOUT_SECONDS):
            ping(svc.db)
        result["mongo"] = "ok"
    except Exception as err:  # noqa: BLE001 - any failure means not ready
        result["mongo"] = f"unreachable: {type(err).__name__}"
    try:
        svc.store.ping()
        result["storage"] = "ok"
    except Exception as err:  # noqa: BLE001
        result["storage"] = f"unreachable: {getattr(err, 'reason', type(err).__name__)}"
    return result


@bp.get("/readyz")
def readyz() -> Response:
    checks = check_dependencies()
    down = [name for name, state in checks.items() if state != "ok"]
    response = jsonify(status="ok" if not down else "unavailable", checks=checks,
                       detail=f"not ready: {', '.join(down)} down" if down else "ready")
    response.status_code = 503 if down else 200
    return response


@bp.get("/metrics")
def metrics() -> Response:
    return metrics_response()
