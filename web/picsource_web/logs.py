"""Structured JSON logs, one object per line, each carrying the request id.

The request id comes from an incoming ``X-Request-ID`` (when it looks sane, so a proxy's
id links the two logs) or is generated, and is echoed in the response header.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, Response, g, has_request_context, request

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
access_log = logging.getLogger("picsource_web.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if has_request_context() and "request_id" in g:
            entry["request_id"] = g.request_id
        for key in ("method", "path", "route", "status", "duration_ms", "user_id"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str) -> None:
    """Install the JSON handler on the root logger once (idempotent for repeated create_app)."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    if not any(getattr(h, "_picsource", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._picsource = True  # type: ignore[attr-defined]
        root.addHandler(handler)


def init_app(app: Flask) -> None:
    @app.before_request
    def _request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _access(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if request.blueprint != "health" and request.endpoint != "static":
            viewer = g.get("viewer")
            access_log.info(
                "%s %s %s", request.method, request.path, response.status_code,
                extra={
                    "method": request.method, "path": request.path,
                    "route": request.url_rule.rule if request.url_rule else None,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2),
                    "user_id": str(viewer.user_id) if viewer is not None and viewer.user_id else None,
                },
            )
        return response
