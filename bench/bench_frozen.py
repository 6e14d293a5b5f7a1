"""What a frozen backing service costs the web tier (#14 item 2), with the default timeouts.

Each service in turn is frozen with SIGSTOP (connections accepted, never answered, the
hardest failure: nothing is refused). Printed per service: the first request that needs
it (one bounded wait, then 503), the next 20 such requests (the circuit is open: 503 at
once), /healthz (never needs it) and /readyz (both checks, answered within 2 s). Real
SecantusDB and MinIO from the test harness; the app through Flask's test client.

With --load the same freeze happens under load on gunicorn started as the image starts it
(sync workers, two per core): client threads keep sending requests that need the frozen
service and requests that do not, for a fixed time, while /readyz is polled on the
internal port. Printed per class: statuses, p50/p99/max latency, next to a baseline with
nothing frozen. What it shows: how long the workers can be tied up before each worker's
circuit opens, and whether requests that don't need the service keep normal latency.

Run:  .venv/bin/python bench/bench_frozen.py            (in-process, one request at a time)
      .venv/bin/python bench/bench_frozen.py --load     (gunicorn, 8 client threads, 8 s per phase)
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / p) for p in ("core", "web")] + [str(REPO)]

from flask import Flask  # noqa: E402

from picsource_web.app import create_app  # noqa: E402
from picsource_web.settings import Settings  # noqa: E402
from tests.harness.services import MinioServer, MongoServer  # noqa: E402
from tests.support import images  # noqa: E402
from tests.support.gunicorn import start_gunicorn, stop_gunicorn  # noqa: E402
from tests.support.waiting import wait_until  # noqa: E402
from tests.support.web import WebClient, app_services  # noqa: E402


def ms(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - started) * 1000


def stack(mongo: MongoServer, minio: MinioServer) -> tuple[dict[str, str], Flask, WebClient, str]:
    """The web tier's environment on fresh servers, an in-process app, a signed-up user
    with one image: (env, app, that user's client, the image's id)."""
    minio.client().make_bucket("frozen")
    env = {"SECRET_KEY": "bench-" + "k" * 40, "MONGODB_URI": mongo.uri, "MONGODB_DATABASE": "frozen",
           "S3_ENDPOINT": minio.url, "S3_ACCESS_KEY": minio.access_key, "S3_SECRET_KEY": minio.secret_key,
           "S3_BUCKET": "frozen", "S3_REGION": minio.region, "LOG_LEVEL": "critical"}
    app = create_app(Settings.from_env(env))
    app.config["TESTING"] = True
    client = WebClient(app)
    client.signup("frosty")
    return env, app, client, client.upload_id(images.noisy_jpeg(0))


def run(tmp: Path) -> None:
    mongo, minio = MongoServer(tmp / "mongo"), MinioServer(tmp / "minio")
    mongo.start()
    minio.start()
    try:
        _, _, client, image_id = stack(mongo, minio)
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


# --- under load, on gunicorn ----------------------------------------------------------------
Sample = tuple[str, int, float]  # (class, status, ms)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(port: int, method: str, path: str, headers: dict[str, str], body: bytes | None = None,
            timeout: float = 30.0) -> tuple[int, float]:
    """(status, ms) of one request on a new connection; status 0 when it failed or timed out."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        status = response.status
    except OSError:
        status = 0
    finally:
        conn.close()
    return status, (time.perf_counter() - started) * 1000


def unique_jpeg(seed: int) -> bytes:
    """A small JPEG of random pixels: distinct bytes for every seed (no accidental duplicates)."""
    import io
    import random

    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("RGB", (64, 48), random.Random(seed).randbytes(64 * 48 * 3)).save(out, "JPEG")
    return out.getvalue()


def multipart(data: bytes) -> tuple[bytes, str]:
    boundary = "benchfrozenboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def load_phase(port: int, internal: int, calls: dict[str, Callable[[], tuple[int, float]]],
               seconds: float, threads: int) -> list[Sample]:
    """``threads`` clients, split evenly over the classes in ``calls``, plus a /readyz poller."""
    samples: list[Sample] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(name: str, call: Callable[[], tuple[int, float]]) -> None:
        while time.monotonic() < deadline:
            status, took = call()
            with lock:
                samples.append((name, status, took))

    def readiness() -> None:
        while time.monotonic() < deadline:
            status, took = request(internal, "GET", "/readyz", {})
            with lock:
                samples.append(("/readyz", status, took))
            time.sleep(max(0.0, 0.5 - took / 1000))

    names = list(calls)
    workers = [threading.Thread(target=client, args=(names[i % len(names)], calls[names[i % len(names)]]))
               for i in range(threads)] + [threading.Thread(target=readiness)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return samples


def report(label: str, samples: list[Sample]) -> None:
    for name in sorted({s[0] for s in samples}):
        times = sorted(t for n, _, t in samples if n == name)
        statuses: dict[int, int] = {}
        for n, status, _ in samples:
            if n == name:
                statuses[status] = statuses.get(status, 0) + 1
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(f"  {label:<22} {name:<28} n={len(times):<5} statuses={dict(sorted(statuses.items()))} "
              f"p50 {statistics.median(times):7.1f} ms  p99 {p99:7.1f} ms  max {times[-1]:7.1f} ms",
              flush=True)


def run_load(tmp: Path, seconds: float, threads: int) -> None:
    mongo, minio = MongoServer(tmp / "mongo"), MinioServer(tmp / "minio")
    mongo.start()
    minio.start()
    gunicorn = None
    try:
        env, app, _, image_id = stack(mongo, minio)
        svc = app_services(app)
        user = svc.users.by_username("frosty")
        assert user is not None
        token, _ = svc.tokens.create(user.id, "bench")
        auth = {"Authorization": f"Bearer {token}"}
        port, internal = free_port(), free_port()
        gunicorn = start_gunicorn({**env, "WEB_BIND": f"127.0.0.1:{port}",
                                   "WEB_INTERNAL_PORT": str(internal)}, stdout=subprocess.DEVNULL)
        wait_until(lambda: request(port, "GET", "/healthz", {}, timeout=1)[0] == 200, 30, "gunicorn to answer")
        seed = iter(range(1, 1_000_000))

        def upload() -> tuple[int, float]:
            body, content_type = multipart(unique_jpeg(next(seed)))
            return request(port, "POST", "/api/v1/images", {**auth, "Content-Type": content_type}, body)

        def one(path: str, headers: dict[str, str]) -> Callable[[], tuple[int, float]]:
            return lambda: request(port, "GET", path, headers)

        plans: list[tuple[str, MongoServer | MinioServer | None, dict[str, Callable[[], tuple[int, float]]]]] = [
            ("nothing frozen", None, {"upload (S3+Mongo)": upload,
                                      "image JSON (Mongo)": one(f"/api/v1/images/{image_id}", auth),
                                      "/healthz": one("/healthz", {})}),
            ("object storage frozen", minio, {"upload (needs S3)": upload,
                                              "image JSON (no S3)": one(f"/api/v1/images/{image_id}", auth)}),
            ("MongoDB frozen", mongo, {"image JSON (needs Mongo)": one(f"/api/v1/images/{image_id}", auth),
                                       "/healthz (no Mongo)": one("/healthz", {})}),
        ]
        print(f"gunicorn (WEB_WORKERS={os.environ.get('WEB_WORKERS', 'default')}, "
              f"WEB_THREADS={os.environ.get('WEB_THREADS', '4')}), {threads} client threads, {seconds:.0f} s per phase",
              flush=True)
        for label, server, calls in plans:
            time.sleep(6)  # let the circuits of the previous phase close
            group = None
            if server is not None:
                assert server.process is not None and server.process.proc is not None
                group = server.process.proc.pid
                os.killpg(group, signal.SIGSTOP)
            try:
                samples = load_phase(port, internal, calls, seconds, threads)
            finally:
                if group is not None:
                    os.killpg(group, signal.SIGCONT)
            report(label, samples)
    finally:
        if gunicorn is not None:
            stop_gunicorn(gunicorn)
        minio.stop()
        mongo.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--load", action="store_true", help="gunicorn under load instead of in-process")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each load phase")
    parser.add_argument("--threads", type=int, default=8, help="client threads in each load phase")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="picsource-frozen-") as tmp:
        if arguments.load:
            run_load(Path(tmp), arguments.seconds, arguments.threads)
        else:
            run(Path(tmp))
