"""`make run`: the whole platform on this machine, with real servers, until Ctrl-C.

Why: a developer (or a reviewer) should get from a clone to a working gallery with one
command and no hand-installed services. This starts the MongoDB-wire server, MinIO, the
web tier under gunicorn and one analysis worker, keeps their data and logs under
`.run/`, and stops every process it started on SIGINT/SIGTERM.

The web and worker command lines are defined once, in WEB_APP / web_argv / worker_argv.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from tests.harness.procs import (
    ManagedProcess,
    StartupError,
    free_port,
    http_responds,
    log_tail,
    port_is_free,
)
from tests.harness.services import MinioServer, MongoServer
from tests.harness.tools import REPO, MissingToolError
from tests.support.env import python_path as package_path

RUN_DIR = REPO / ".run"
LOG_DIR = RUN_DIR / "logs"

MONGO_PORT = 27017
MINIO_PORT = 9000
WEB_PORT = 5000
WORKER_METRICS_PORT = 9101
BUCKET = "picsource"
DATABASE = "picsource"
ADMIN_USERNAME = "admin"

# --- the two application command lines (the one place to change them) -------------------
WEB_APP = "picsource_web.app:create_app()"
WEB_GUNICORN_CONF = REPO / "web" / "picsource_web" / "gunicorn_conf.py"


def web_argv(port: int) -> list[str]:
    argv = [sys.executable, "-m", "gunicorn"]
    if WEB_GUNICORN_CONF.exists():
        argv += ["-c", str(WEB_GUNICORN_CONF)]
    # Command-line flags win over the config file: pin the loopback bind here.
    return argv + ["--bind", f"127.0.0.1:{port}", WEB_APP]


def worker_argv() -> list[str]:
    return [sys.executable, "-m", "picsource_worker"]


# -----------------------------------------------------------------------------------------


def persistent_secret(path: Path, nbytes: int = 32) -> str:
    """A random secret generated on first use and kept (0600) for later runs."""
    if path.exists() and path.read_text().strip():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def python_path() -> str:
    existing = os.environ.get("PYTHONPATH")
    return os.pathsep.join([package_path()] + ([existing] if existing else []))


def app_env(mongo: MongoServer, minio: MinioServer, run_dir: Path = RUN_DIR) -> dict[str, str]:
    """The environment the web tier and the worker read their settings from."""
    metrics_dir = run_dir / "prometheus-multiproc"
    shutil.rmtree(metrics_dir, ignore_errors=True)  # stale gunicorn metrics files lie
    metrics_dir.mkdir(parents=True)
    env = dict(os.environ)
    env.update(
        PYTHONPATH=python_path(),
        # No retryable writes against the local SecantusDB: it keeps a record of each one for
        # 30 minutes and, past 10,000, sorts them all on every write (44 % of its CPU during
        # a 2,000-photo import; 2.3 -> 3.6 images/s without). A single local server has no
        # failover for a retry to ride out, so nothing is lost. A real MongoDB replica set
        # keeps its default (MONGODB_URI is the operator's, from the Gallery's Secret).
        MONGODB_URI=mongo.uri + "?retryWrites=false",
        MONGODB_DATABASE=DATABASE,
        S3_ENDPOINT=minio.url,
        S3_ACCESS_KEY=minio.access_key,
        S3_SECRET_KEY=minio.secret_key,
        S3_BUCKET=BUCKET,
        S3_REGION=minio.region,
        SECRET_KEY=persistent_secret(run_dir / "secret_key"),
        ADMIN_USERNAME=ADMIN_USERNAME,
        ADMIN_PASSWORD=persistent_secret(run_dir / "admin_password", 12),
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        WORKER_METRICS_PORT=str(WORKER_METRICS_PORT),
        PYTHONUNBUFFERED="1",
    )
    return env


class Stack:
    """Everything `make run` started, stopped in reverse order."""

    def __init__(self) -> None:
        self.mongo: MongoServer | None = None
        self.minio: MinioServer | None = None
        self.apps: list[ManagedProcess] = []

    def start(self) -> dict[str, str]:
        mongo_port = MONGO_PORT if port_is_free(MONGO_PORT) else free_port()
        if mongo_port != MONGO_PORT:
            print(f"port {MONGO_PORT} is taken; the MongoDB-wire server uses {mongo_port}")
        for port, what in (
            (MINIO_PORT, "MinIO"),
            (WEB_PORT, "web"),
            (WORKER_METRICS_PORT, "worker metrics"),
        ):
            if not port_is_free(port):
                raise SystemExit(f"port {port} ({what}) is already in use; stop whatever holds it")
        print("starting the MongoDB-wire server (SecantusDB) ...")
        self.mongo = MongoServer(RUN_DIR / "mongo", mongo_port, LOG_DIR / "mongo.log")
        self.mongo.start()
        print("starting MinIO ...")
        self.minio = MinioServer(
            RUN_DIR / "minio",
            MINIO_PORT,
            LOG_DIR / "minio.log",
            secret_key=persistent_secret(RUN_DIR / "minio_secret", 18),
        )
        self.minio.start()
        client = self.minio.client()
        if not client.bucket_exists(BUCKET):
            client.make_bucket(BUCKET)
        env = app_env(self.mongo, self.minio)
        print("starting the web tier (gunicorn) and one worker ...")
        web = ManagedProcess("web", web_argv(WEB_PORT), LOG_DIR / "web.log", env=env, cwd=REPO)
        # Only gunicorn's workers share a multiprocess metrics dir; the worker serves
        # its own registry (given the dir it would also export the web tier's files).
        worker_env = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        worker = ManagedProcess(
            "worker", worker_argv(), LOG_DIR / "worker.log", env=worker_env, cwd=REPO
        )
        self.apps = [web.start(), worker.start()]
        web.wait_ready(lambda: http_responds(f"http://127.0.0.1:{WEB_PORT}/"), 90, "serving :5000")
        return env

    def first_dead(self) -> ManagedProcess | None:
        for proc in self.apps:
            if not proc.running():
                return proc
        for service in (self.mongo, self.minio):
            if (
                service is not None
                and service.process is not None
                and not service.process.running()
            ):
                return service.process
        return None

    def stop(self) -> None:
        for proc in reversed(self.apps):
            proc.stop()
        self.apps = []
        for service in (self.minio, self.mongo):
            if service is not None:
                service.stop()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    stack = Stack()
    # SIGTERM behaves like Ctrl-C, also during start-up: the finally below stops
    # whatever had been started by then.
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        env = stack.start()
        print(
            f"\nPicSource is running at http://127.0.0.1:{WEB_PORT}\n"
            f"  sign in as {env['ADMIN_USERNAME']} with password {env['ADMIN_PASSWORD']}"
            f"  (kept in {RUN_DIR / 'admin_password'})\n"
            f"  MongoDB: {env['MONGODB_URI']}  MinIO: {env['S3_ENDPOINT']}  "
            f"worker metrics: http://127.0.0.1:{WORKER_METRICS_PORT}/metrics\n"
            f"  logs: {LOG_DIR}/*.log\n"
            "Press Ctrl-C to stop everything.",
            flush=True,
        )
        while True:
            dead = stack.first_dead()
            if dead is not None:
                print(
                    f"\n{dead.name} stopped unexpectedly; log {dead.log_path}:\n"
                    f"{log_tail(dead.log_path)}",
                    file=sys.stderr,
                )
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    except (MissingToolError, StartupError) as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        # A second Ctrl-C must not interrupt the clean-up and orphan processes.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("\nstopping ...", flush=True)
        stack.stop()
        print("stopped.")


if __name__ == "__main__":
    sys.exit(main())
