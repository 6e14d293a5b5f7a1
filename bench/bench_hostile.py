"""Hostile bodies (issue #14 item 1): web worker peak RSS under parallel 100 MB anonymous POSTs.

The web tier runs under gunicorn exactly as in the tests (gunicorn_conf.py), against a
real SecantusDB and MinIO started by the test harness. ``--posts`` clients at once each
send a ``--megabytes`` multipart body from a generator over a raw socket (the body never
exists in this process either) to one of /nope, /upload, /api/v1/images and /login,
without signing in, and stop sending as soon as the server answers. Each worker's peak
RSS (VmHWM in /proc/<pid>/status) is read after warm-up and after the attack.

Goal: no worker grows by more than 20 MB.

Run:  .venv/bin/python bench/bench_hostile.py [--posts 20] [--megabytes 100] [--workers N]
      (WEB_THREADS=1 in the environment: sync workers instead of the default gthread x4)
Prints one line per worker and a summary (and writes bench/out/bench_hostile.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / p) for p in ("core", "web")] + [str(REPO)]

from tests.harness.procs import free_port  # noqa: E402
from tests.harness.services import MinioServer, MongoServer  # noqa: E402
from tests.support.env import web_env_for  # noqa: E402
from tests.support.gunicorn import stop_gunicorn  # noqa: E402
from tests.support.hostile import gunicorn_on, hostile_post, peak_rss_kib, worker_pids  # noqa: E402
from tests.support.waiting import wait_serving  # noqa: E402

OUT = REPO / "bench" / "out"
PATHS = ("/nope", "/upload", "/api/v1/images", "/login")
GOAL_MB = 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    (workdir / "prom").mkdir()
    mongo, minio = MongoServer(workdir / "mongo"), MinioServer(workdir / "minio")
    proc: subprocess.Popen[str] | None = None
    try:
        print("starting SecantusDB and MinIO ...", flush=True)
        mongo.start()
        minio.start()
        minio.client().make_bucket("hostile")
        port = free_port()
        proc = gunicorn_on(web_env_for(mongo.uri, "hostile", minio, "hostile"), port,
                           args.workers, workdir)
        wait_serving(f"http://127.0.0.1:{port}/healthz", proc)
        for _ in range(4 * args.workers):  # warm every worker on every path
            for path in PATHS:
                hostile_post(port, path, 64 * 1024)
        workers = worker_pids(proc.pid)
        before = {pid: peak_rss_kib(pid) for pid in workers}

        results: list[tuple[str, bool, int, int, float]] = []
        lock = threading.Lock()

        def attack(index: int) -> None:
            path, chunked = PATHS[index % len(PATHS)], index % 3 == 2
            status, sent, seconds = hostile_post(port, path, args.megabytes * 1024 * 1024,
                                                 chunked=chunked, timeout=120)
            with lock:
                results.append((path, chunked, status, sent, seconds))

        started = time.perf_counter()
        threads = [threading.Thread(target=attack, args=(i,)) for i in range(args.posts)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        after = {pid: peak_rss_kib(pid) for pid in workers}
        replaced = sorted(set(worker_pids(proc.pid)) - set(workers))

        threads_per_worker = int(os.environ.get("WEB_THREADS", "4"))
        kind = f"gthread x{threads_per_worker}" if threads_per_worker > 1 else "sync"
        print(f"\n{args.posts} parallel anonymous {args.megabytes} MB POSTs, gunicorn workers="
              f"{len(workers)} ({kind}), {wall:.1f}s wall")
        statuses: dict[str, int] = {}
        for path, chunked, status, _sent, _seconds in results:
            key = f"{path}{' chunked' if chunked else ''} -> {status}"
            statuses[key] = statuses.get(key, 0) + 1
        for key, count in sorted(statuses.items()):
            print(f"  {count:3d} x {key}")
        slowest = max(r[4] for r in results)
        sent_mb = sum(r[3] for r in results) / 1024 / 1024
        print(f"  slowest answer {slowest:.2f}s; bytes the clients got to send: {sent_mb:,.0f} MB "
              f"of {args.posts * args.megabytes:,} MB")
        growth = {pid: (after[pid] - before[pid]) / 1024 for pid in workers}
        for pid in workers:
            print(f"  worker {pid}: peak RSS {before[pid] / 1024:.0f} MB -> {after[pid] / 1024:.0f} MB "
                  f"(+{growth[pid]:.1f} MB)")
        worst = max(growth.values())
        verdict = "OK" if worst <= GOAL_MB and not replaced else "OVER GOAL"
        print(f"worst worker growth: +{worst:.1f} MB (goal <= {GOAL_MB} MB){'; workers replaced: ' + str(replaced) if replaced else ''} -> {verdict}")
        OUT.mkdir(exist_ok=True)
        report: dict[str, Any] = {
            "posts": args.posts, "megabytes": args.megabytes, "workers": len(workers),
            "wall_seconds": round(wall, 2), "slowest_answer_seconds": round(slowest, 2),
            "statuses": statuses, "sent_mb": round(sent_mb, 1),
            "peak_rss_mb": {str(p): [round(before[p] / 1024, 1), round(after[p] / 1024, 1)] for p in workers},
            "worst_growth_mb": round(worst, 1), "replaced_workers": replaced,
        }
        (OUT / "bench_hostile.json").write_text(json.dumps(report, indent=2) + "\n")
        return 0 if verdict == "OK" else 1
    finally:
        if proc is not None:
            stop_gunicorn(proc)
        minio.stop()
        mongo.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
