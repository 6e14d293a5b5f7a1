"""Fail fast while MongoDB is down, so a frozen database cannot hold every worker.

Each MongoDB operation of the web tier is bounded (MONGODB_OPERATION_TIMEOUT_MS), so
the first request that meets a frozen server gets its 503 after one bounded wait. That
failure opens the app's MongoDB circuit (picsource_core.breaker): for the next few
seconds, requests are refused with a 503 before they touch the database, instead of each
holding a gunicorn worker for another timeout. Health endpoints and static files are
never refused, so probes and pages' assets keep their normal latency. Object storage has
its own circuit inside the ObjectStore.
"""

from __future__ import annotations

from flask import Flask, Response, request

from picsource_core.breaker import CircuitOpen
from picsource_web.context import current_services
from picsource_web.services.errors import Unavailable

MONGO_DOWN = "The database (MongoDB) is unavailable right now. Please try again in a moment."
#: Blueprints and endpoints that never need MongoDB's circuit to be closed.
_EXEMPT_BLUEPRINTS = {"health"}
_EXEMPT_ENDPOINTS = {"static", "api.openapi"}


def mongo_failed() -> None:
    """Open the circuit (called by the error handlers when a request met an outage)."""
    current_services().mongo_breaker.failure()


def _exempt() -> bool:
    return request.blueprint in _EXEMPT_BLUEPRINTS or request.endpoint in _EXEMPT_ENDPOINTS


def init_app(app: Flask) -> None:
    @app.before_request
    def _refuse_while_open() -> None:
        if _exempt():
            return
        try:
            current_services().mongo_breaker.check()
        except CircuitOpen as err:
            refusal = Unavailable("mongo", MONGO_DOWN)
            refusal.retry_after = max(1, round(err.retry_after))  # type: ignore[attr-defined]
            raise refusal from err

    @app.after_request
    def _close_on_success(response: Response) -> Response:
        if response.status_code < 500 and not _exempt():
            current_services().mongo_breaker.success()
        return response
