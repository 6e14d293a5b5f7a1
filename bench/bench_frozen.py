"""What a frozen backing service costs the web tier (#14 item 2), with the default timeouts.

Each service in turn is frozen with SIGSTOP (connections accepted, never answered, the
hardest failure: nothing is refused). Printed per service: the first request that needs
it (one bounded wait, then 503), the next 20 such requests (the circuit is open: 503 at
once), /healthz (never needs it) and /readyz (both checks, answered within 2 s). Real
SecantusDB and MinIO from the test harness; the app through Flask's test client.

Run:  .venv/bin/python bench/bench_frozen.py
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / p) for p in ("core", "web")] + [str(REPO)]

from picsource_web.app import create_app  # noqa: E402
from picsource_web.settings import Settings  # noqa: E402
from tests.harness.services import MinioServer, MongoServer  # noqa: E402
from tests.support import images  # noqa: E402
from tests.support.web import WebClient  # noqa: E402


def ms(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - started) * 1000


def run(tmp: Path) -> None:
    mongo, minio = MongoServer(tmp / "mongo"), MinioServer(tmp / "minio")
    mongo.start()
    minio.start()
    try:
        minio.client().make_bucket("frozen")
        env = {"SECRET_KEY": "bench-" + "k" * 40, "MONGODB_URI": mongo.uri, "MONGODB_DATABASE": "frozen",
               "S3_ENDPOINT": minio.url, "S3_ACCESS_KEY": minio.access_key, "S3_SECRET_KEY": minio.secret_key,
               "S3_BUCKET": "frozen", "S3_REGION": minio.region, "LOG_LEVEL": "critical"}
        app = create_app(Settings.from_env(env))
        app.config["TESTING"] = True
        client = WebClient(app)
        client.signup("frosty")
        image_id = client.upload_id(images.noisy_jpeg(0))
        seed = iter(range(1, 1000))
        needs: dict[str, Callable[[], Any]] = {
            "MongoDB": lambda: client.get(f"/images/{image_id}"),
            "object storage": lambda: client.upload(images.noisy_jpeg(next(seed))),
        }
        for name, server in (("MongoDB", mongo), ("object storage", minio)):
            assert server.process is not None and server.process.proc is not None
            group = server.process.proc.pid
            time.sleep(6)  # let any circuit from the previous round close
            os.killpg(group, signal.SIGSTOP)
            try:
                first, first_ms = ms(needs[name])
                later = [ms(needs[name]) for _ in range(20)]
                health = [ms(lambda: client.get("/healthz"))[1] for _ in range(20)]
                ready, ready_ms = ms(lambda: client.get("/readyz"))
            finally:
                os.killpg(group, signal.SIGCONT)
            statuses = {r.status_code for r, _ in later}
            print(f"{name} frozen: first request {first.status_code} after {first_ms:.0f} ms; "
                  f"next 20: {sorted(statuses)} in median {statistics.median(t for _, t in later):.1f} ms, "
                  f"max {max(t for _, t in later):.1f} ms; /healthz median {statistics.median(health):.1f} ms; "
                  f"/readyz {ready.status_code} in {ready_ms:.0f} ms", flush=True)
    finally:
        minio.stop()
        mongo.stop()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="picsource-frozen-") as tmp:
        run(Path(tmp))
