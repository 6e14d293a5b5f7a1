"""What the web autoscaler's load reports cost: per request, per report, per operator tick.

1. A request's cost: the same WSGI app called directly and through LoadMiddleware (the meter's
   two locked updates plus the closing wrapper), and the meter's started/finished pair alone.
2. A report: one upsert into web_load on a real SecantusDB, as each web process writes it
   every WEB_LOAD_REPORT_SECONDS.
3. The operator's read: WebLoadReports.total() over P live reports (P processes, e.g.
   P/2 pods of 2 gunicorn workers), as the operator runs it every 5 s per Gallery.

Run:  .venv/bin/python bench/bench_web_load.py [--requests 20000] [--reports 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / p) for p in ("core", "web")] + [str(REPO)]

from flask import Flask  # noqa: E402
from werkzeug.test import EnvironBuilder  # noqa: E402

from picsource_core.config import MongoSettings  # noqa: E402
from picsource_core.mongo import connect, ensure_indexes  # noqa: E402
from picsource_core.web_load import LoadSample, WebLoadReports  # noqa: E402
from picsource_web.load import LoadMeter, LoadMiddleware  # noqa: E402
from tests.harness.services import MongoServer  # noqa: E402


def per_call_us(calls: list[Callable[[], object]], n: int, rounds: int = 9) -> list[float]:
    """For each call, the median over interleaved rounds of the mean time of one call, in
    microseconds (interleaved, so the other tenants' load on the machine hits all alike)."""
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for call, out in zip(calls, times, strict=True):
            started = time.perf_counter()
            for _ in range(n):
                call()
            out.append((time.perf_counter() - started) / n * 1e6)
    return [statistics.median(t) for t in times]


def request_cost(n: int) -> None:
    app = Flask(__name__)
    app.add_url_rule("/x", "x", lambda: "ok")
    environ = EnvironBuilder(path="/x").get_environ()
    plain = app.wsgi_app
    meter = LoadMeter()
    measured = LoadMiddleware(plain, meter)

    def call(wsgi: Callable[..., object]) -> Callable[[], object]:
        def once() -> object:
            body = wsgi(dict(environ), lambda status, headers, exc_info=None: None)
            b"".join(body)  # type: ignore[call-overload]
            close = getattr(body, "close", None)
            if close:
                close()
            return body
        return once

    base, wrapped = per_call_us([call(plain), call(measured)], n)
    (pair,) = per_call_us([lambda: (meter.started(), meter.finished())], n * 5, rounds=5)
    print(f"request through Flask: {base:.1f} us plain, {wrapped:.1f} us with LoadMiddleware "
          f"(+{wrapped - base:.1f} us); meter started+finished alone {pair:.2f} us")


def report_costs(reports_n: int, tmp: Path) -> None:
    mongo = MongoServer(tmp / "mongo")
    mongo.start()
    try:
        db = connect(MongoSettings(uri=mongo.uri, database="load"))
        ensure_indexes(db)
        reports = WebLoadReports(db)
        sample = LoadSample(busy=1.5, in_flight=2, completed=40, seconds=5.0)
        now = datetime.now(UTC)
        writes = []
        for i in range(reports_n):
            started = time.perf_counter()
            reports.report(f"pod-{i % 8}/{i % 2}", f"pod-{i % 8}", sample, now=now, ttl_seconds=15)
            writes.append((time.perf_counter() - started) * 1000)
        writes.sort()
        print(f"one report (upsert) on SecantusDB: median {statistics.median(writes):.2f} ms, "
              f"p99 {writes[int(len(writes) * 0.99) - 1]:.2f} ms over {reports_n}")
        for processes in (2, 16, 100, 400):
            db.web_load.delete_many({})
            for i in range(processes):
                reports.report(f"pod-{i // 2}/{i % 2}", f"pod-{i // 2}", sample, now=now, ttl_seconds=600)
            reads = []
            for _ in range(50):
                started = time.perf_counter()
                total = reports.total(now)
                reads.append((time.perf_counter() - started) * 1000)
            assert total.processes == processes
            print(f"operator read of {processes:>3} live reports ({total.pods} pods): "
                  f"median {statistics.median(reads):.2f} ms")
        db.client.close()
    finally:
        mongo.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000, help="calls per timing round")
    parser.add_argument("--reports", type=int, default=200, help="report upserts to time")
    args = parser.parse_args(argv)
    request_cost(args.requests)
    with tempfile.TemporaryDirectory(prefix="picsource-load-") as tmp:
        report_costs(args.reports, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
