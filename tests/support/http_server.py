"""A Flask app served over real HTTP on a loopback port, in a thread, that a test may stop
and start again on the same port (a web-tier outage as a client sees it: connections
refused, then answers again).

Why not the test client: command-line clients (the importer) speak HTTP through urllib;
why not gunicorn: the test keeps the app's services in reach (its database) and starts
in milliseconds. Requests in flight when ``stop`` is called are still answered.
"""

from __future__ import annotations

import threading

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from tests.harness.procs import free_port


class AppServer:
    """``url`` stays the same across ``stop()``/``start()``."""

    def __init__(self, app: Flask, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> AppServer:
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name=f"app-server-{self.port}")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting connections and close the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
