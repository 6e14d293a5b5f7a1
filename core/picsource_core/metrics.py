"""Prometheus helpers shared by the worker and the operator.

Both expose /metrics on a port of their own next to a liveness endpoint; the
web tier uses prometheus-client's multiprocess mode under gunicorn instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

HealthCheck = Callable[[], tuple[bool, str]]


def serve_metrics(port: int, *, host: str = "0.0.0.0", registry: CollectorRegistry = REGISTRY,
                  health: HealthCheck | None = None,
                  collect: Callable[[], CollectorRegistry] | None = None) -> ThreadingHTTPServer:
    """Serve /metrics and /healthz from a daemon thread; returns the server (port 0 = any free port).

    ``collect`` lets a caller build the registry per scrape (multiprocess mode).
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body = generate_latest(collect() if collect else registry)
                self._send(200, body, CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/livez"):
                ok, message = health() if health else (True, "ok")
                self._send(200 if ok else 503, (message + "\n").encode(), "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return  # scrapes every few seconds would drown the logs

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return server


class Heartbeat:
    """Liveness for a loop: healthy while ``beat()`` was called within ``max_silence`` seconds."""

    def __init__(self, max_silence: float) -> None:
        self.max_silence = max_silence
        self._last = time.monotonic()

    def beat(self) -> None:
        self._last = time.monotonic()

    def check(self) -> tuple[bool, str]:
        silence = time.monotonic() - self._last
        if silence > self.max_silence:
            return False, f"main loop stuck for {silence:.0f}s"
        return True, "ok"
