"""Gunicorn configuration for the web tier.

Run: ``gunicorn -c web/picsource_web/gunicorn_conf.py 'picsource_web.app:create_app()'``.
No ``preload_app``: each worker imports the app and creates its MongoClient after the
fork (MongoClient is not fork-safe). Prometheus multiprocess mode needs a directory
shared by the workers, emptied at start and told when a worker dies.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import shutil
import tempfile
from typing import Any


def available_cpus() -> int:
    """CPUs this container may use: the affinity mask capped by a cgroup v2 CPU quota,
    so a pod limited to 1 CPU on a 64-core node does not start 128 workers."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = multiprocessing.cpu_count()
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


bind = os.environ.get("WEB_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("WEB_WORKERS", str(2 * available_cpus())))
threads = int(os.environ.get("WEB_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
preload_app = False
accesslog = None  # the app logs each request as JSON with its request id
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Only trust X-Forwarded-* from these addresses (the ingress / Service proxy).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
worker_tmp_dir = os.environ.get("WEB_WORKER_TMP_DIR") or None

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="picsource-prom-")


def on_starting(server: Any) -> None:
    """Check the configuration once in the master (one line naming the variable, then exit)
    and empty the multiprocess directory: stale files from a previous run would be summed."""
    from picsource_web.settings import load_settings  # light: no clients, no metrics

    load_settings()  # raises SystemExit(2) after printing the problem
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        full = os.path.join(path, name)
        if os.path.isdir(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            os.unlink(full)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
