"""Latency at a fixed request rate (open loop), beside wrk's latency at saturation.

wrk keeps ``-c`` connections busy: it finds the highest rate the server sustains, and its
p99 then measures the queue those connections build (about connections / throughput),
not what a user waits at a given load. The goals of the web benches read "p99 <= 50 ms at
>= 300 requests/s", which is a statement about the server *at* 300 requests/s: vegeta
sends requests on a fixed schedule whether or not earlier ones have answered, so a slow
response delays nobody's send time and is counted in full (no coordinated omission).

vegeta is built from the Go module proxy by `make tools` (.ci/tools.sh). bench_web.py and
bench_semantic.py measure with it instead of wrk when ``--rate`` is given; without it they
report wrk's figures at saturation, as before.

Two settings come from measurement. Each request goes on a connection of its own
(``-keepalive=false``): gunicorn's sync workers (WEB_THREADS=1) close every connection
after its response, and vegeta reusing pooled connections against them queued requests
behind closing sockets (p50 215 ms at 300/s where wrk -c4 measured 7 ms at 509/s); a new
connection per request is the costlier case for the server, so it flatters nothing.
Response bodies are not kept (``-max-body=0``): vegeta gob-encodes what it keeps into its
results, which for 127 KB pages cost it ~0.4 of this machine's two cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from tests.harness.tools import binary

#: Bounds vegeta's senders: past this many requests in flight it stops keeping the rate
#: rather than opening connections without end (the achieved rate then shows it).
MAX_IN_FLIGHT = 64


def targets_text(urls: list[str], cookie: str | None) -> str:
    """vegeta's http target format: one GET per URL, sent in turn."""
    header = f"Cookie: {cookie}\n" if cookie else ""
    return "".join(f"GET {url}\n{header}\n" for url in urls)


def run_vegeta(urls: list[str], cookie: str | None, duration: int, rate: float) -> dict[str, float]:
    """Send ``urls`` in turn at ``rate`` requests/s for ``duration`` s; the same keys as
    bench_web.run_wrk (p50/p90/p99 in ms, achieved req/s, non-2xx, timeouts, requests)."""
    exe = str(binary("vegeta"))  # MissingToolError names the install command
    with tempfile.TemporaryDirectory(prefix="vegeta-") as tmp:
        targets = Path(tmp) / "targets.txt"
        targets.write_text(targets_text(urls, cookie))
        attack = subprocess.run(
            [exe, "attack", f"-targets={targets}", f"-rate={rate:g}/1s", f"-duration={duration}s",
             "-timeout=10s", f"-max-workers={MAX_IN_FLIGHT}", "-workers=8", "-keepalive=false", "-max-body=0"],
            capture_output=True, check=True)
        report = subprocess.run([exe, "report", "-type=json"], input=attack.stdout,
                                capture_output=True, check=True)
        keep_results(exe, attack.stdout)
    return summarise(json.loads(report.stdout))


def keep_results(exe: str, results: bytes) -> None:
    """With BENCH_RESULTS_DIR set, every request of the run as CSV (vegeta's columns: start
    in ns since the epoch, status, latency in ns, ..., URL): when the slow ones came, and
    which pages they were."""
    folder = os.environ.get("BENCH_RESULTS_DIR")
    if not folder:
        return
    os.makedirs(folder, exist_ok=True)
    csv = subprocess.run([exe, "encode", "--to", "csv"], input=results, capture_output=True, check=True)
    (Path(folder) / f"vegeta-{time.strftime('%H%M%S')}.csv").write_bytes(csv.stdout)


def summarise(report: dict) -> dict[str, float]:
    """bench figures from vegeta's JSON report (latencies in nanoseconds)."""
    latencies = report.get("latencies", {})
    codes = {str(k): int(v) for k, v in (report.get("status_codes") or {}).items()}
    requests = float(report.get("requests", 0))
    ok = sum(n for code, n in codes.items() if code.startswith(("2", "3")))
    timeouts = sum(1 for e in report.get("errors") or [] if "timeout" in e.lower())
    return {
        "p50_ms": latencies.get("50th", 0) / 1e6, "p90_ms": latencies.get("90th", 0) / 1e6,
        "p99_ms": latencies.get("99th", 0) / 1e6, "max_ms": latencies.get("max", 0) / 1e6,
        "rps": float(report.get("throughput", 0.0)), "requested_rps": float(report.get("rate", 0.0)),
        "non_2xx": requests - ok, "timeouts": float(timeouts), "requests": requests,
    }
