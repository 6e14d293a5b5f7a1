"""Liveness: /healthz fails when the supervisor loop or an analysis process stops ticking."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from picsource_core.metrics import Heartbeat, serve_metrics
from picsource_worker.settings import Settings
from picsource_worker.supervisor import Supervisor


def _settings() -> Settings:
    return Settings.from_env({
        "S3_ACCESS_KEY": "k", "S3_SECRET_KEY": "s", "WORKER_CONCURRENCY": "1",
        "WORKER_HEALTH_SECONDS": "1", "WORKER_POLL_SECONDS": "0.1",
    })  # fmt: skip


def _status(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_healthz_fails_when_the_main_loop_stops_ticking() -> None:
    supervisor = Supervisor(_settings())
    supervisor.heartbeat = Heartbeat(0.3)
    server = serve_metrics(0, host="127.0.0.1", health=supervisor.health)
    try:
        port = server.server_address[1]
        assert _status(port) == (200, "ok\n")
        time.sleep(0.5)
        status, message = _status(port)
        assert status == 503 and "main loop stuck" in message
        supervisor.heartbeat.beat()
        assert _status(port)[0] == 200
    finally:
        server.shutdown()


def test_health_fails_when_a_live_analysis_process_is_silent() -> None:
    supervisor = Supervisor(_settings())
    child = supervisor.ctx.Process(target=time.sleep, args=(30,))
    child.start()  # the first start also starts the forkserver: longer than the heartbeat
    supervisor.heartbeat.beat()
    try:
        supervisor.children[0] = child
        supervisor.shared.ticks[0] = time.time()
        assert supervisor.health() == (True, "ok")
        supervisor.shared.ticks[0] = time.time() - 5
        ok, message = supervisor.health()
        assert not ok and "analysis process 0 silent" in message
    finally:
        child.kill()
        child.join()
