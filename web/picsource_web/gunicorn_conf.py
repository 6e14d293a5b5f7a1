"""Gunicorn configuration for the web tier.

Run: ``gunicorn -c web/picsource_web/gunicorn_conf.py 'picsource_web.app:create_app()'``.
No ``preload_app``: each worker imports the app and creates its MongoClient after the
fork (MongoClient is not fork-safe). Prometheus multiprocess mode needs a directory
shared by the workers, emptied at start and told when a worker dies.

Workers default to two per CPU the container may use (its cgroup CPU limit, not the
node's cores), each with WEB_THREADS (4) threads: gthread, because with sync workers a
frozen backing service held every worker for one timeout each and everything queued
behind them (bench/bench_frozen.py --load: /readyz 3-4 s and p99 2.5 s for requests that
did not need the service; with 4 threads 1.8 s and 59 ms). Full image decodes still take
turns per process (picsource_web.services.validation.DECODE_SLOTS), so memory stays bounded. Everything gunicorn writes goes to the temporary directory, the one
writable place under the chart's read-only root filesystem (an emptyDir on /tmp): the
control socket (gunicorn 25.1+ puts it in $XDG_RUNTIME_DIR or ~/.gunicorn otherwise, and
the image's user has no home), the workers' heartbeat files and the directory in which
the workers share the listing pages and tiles they cache (LISTING_SHARED_DIR,
services/shared_cache.py). Each worker uses one BLAS thread (picsource_core.blas_threads).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from picsource_core import blas_threads
from picsource_core.cpus import available_cpus

# Before any worker imports numpy: parallelism comes from the workers (core/blas_threads.py).
blas_threads.apply()


def binds(environ: Mapping[str, str]) -> list[str]:
    """WEB_BIND, plus the same host on WEB_INTERNAL_PORT (/metrics, /readyz) when set."""
    public = environ.get("WEB_BIND") or "127.0.0.1:5000"
    internal = (environ.get("WEB_INTERNAL_PORT") or "").strip()
    if not internal or internal == "0":
        return [public]
    host = public.rsplit(":", 1)[0] if ":" in public else public
    return [public, f"{host}:{internal}"]


bind = binds(os.environ)
workers = int(os.environ.get("WEB_WORKERS", str(2 * available_cpus())))
threads = int(os.environ.get("WEB_THREADS", "4"))
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
worker_tmp_dir = os.environ.get("WEB_WORKER_TMP_DIR") or tempfile.gettempdir()
# gunicornc -s <this path> talks to it.
control_socket = os.environ.get("WEB_CONTROL_SOCKET") or os.path.join(tempfile.gettempdir(),
                                                                      "picsource-web-gunicorn.ctl")

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="picsource-prom-")
#: Made by the master at start (and removed at exit) unless the operator named one.
_OWN_SHARED_DIR = not os.environ.get("LISTING_SHARED_DIR")


def _empty(path: str) -> None:
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        full = os.path.join(path, name)
        if os.path.isdir(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            os.unlink(full)


def on_starting(server: Any) -> None:
    """Check the configuration once in the master (one line naming the variable, then exit)
    and empty the multiprocess directory (stale files from a previous run would be summed)
    and the shared listing cache's (a previous run's entries would only take room)."""
    from picsource_web.settings import load_settings  # light: no clients, no metrics

    if _OWN_SHARED_DIR:  # before the workers fork: they inherit the variable
        os.environ["LISTING_SHARED_DIR"] = tempfile.mkdtemp(prefix="picsource-listings-")
    try:
        load_settings()  # raises SystemExit(2) after printing the problem
    except SystemExit:
        on_exit(server)
        raise
    from picsource_web.services.shared_cache import clear

    _empty(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    clear(Path(os.environ["LISTING_SHARED_DIR"]))


def on_exit(server: Any) -> None:
    if _OWN_SHARED_DIR and os.environ.get("LISTING_SHARED_DIR"):
        shutil.rmtree(os.environ["LISTING_SHARED_DIR"], ignore_errors=True)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


#: How long a thread holds the GIL while another waits for it (Python's default: 5 ms).
#: A worker's threads share one GIL: behind a request that computes (a search nothing has
#: cached: 20 ms of ranking, reading and rendering), a cached page waited up to 5 ms at
#: every point where it handed the GIL back (each socket read and write), tens of ms in
#: all. Shorter turns cost a little throughput in switches and bound that wait.
GIL_SWITCH_SECONDS = 0.001


def post_worker_init(worker: Any) -> None:
    """Move what the worker holds once its app is built (modules, the app, its clients:
    about 47k objects) out of the garbage collector's sight: they live as long as the
    process, and every full collection walked them again while the requests of that
    process waited (see also services/vector_index.py, which keeps its ids as bytes).
    Then shorten the GIL's turns (GIL_SWITCH_SECONDS)."""
    import gc
    import sys

    gc.collect()
    gc.freeze()
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
