"""Schemathesis over the whole /api/v1 surface with many examples (#14 item 4).

The same plan as tests/web/test_api_fuzz.py (tests/support/fuzz.py: every operation,
positive and negative data, as the owner of a real image with a write token, a read-only
token and a session cookie without the CSRF header, and anonymously; derandomized), with ``--examples`` per operation, mode and caller instead of the test's
25. Real SecantusDB and MinIO from the test harness; the app in process (WSGI).

Run:  .venv/bin/python bench/bench_fuzz.py [--examples 200]
Prints the cases run, the answers per status, the server errors and any failed check.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / p) for p in ("core", "web")] + [str(REPO)]

from picsource_web.app import create_app  # noqa: E402
from picsource_web.settings import Settings  # noqa: E402
from tests.harness.services import MinioServer, MongoServer  # noqa: E402
from tests.support.env import web_env_for  # noqa: E402
from tests.support.fuzz import callers_for, run_fuzz  # noqa: E402
from tests.support.web import WebClient  # noqa: E402


def run(tmp: Path, examples: int) -> int:
    mongo, minio = MongoServer(tmp / "mongo"), MinioServer(tmp / "minio")
    mongo.start()
    minio.start()
    try:
        minio.client().make_bucket("fuzz")
        env = {**web_env_for(mongo.uri, "fuzz", minio, "fuzz"), "LOG_LEVEL": "critical"}
        app = create_app(Settings.from_env(env))
        app.config["TESTING"] = True
        browser = WebClient(app)
        browser.signup("fuzzer")
        callers, image_id = callers_for(app, browser)
        started = time.perf_counter()
        report = run_fuzz(app, callers, examples=examples, image_id=image_id)
        seconds = time.perf_counter() - started
    finally:
        minio.stop()
        mongo.stop()
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(report.statuses.items()))
    print(f"schemathesis {examples} examples per operation, mode and caller: "
          f"{report.cases} cases in {seconds:.1f} s")
    print(f"  answers by status: {statuses}")
    print(f"  server errors (5xx): {report.server_errors}")
    print(f"  failed checks: {len(report.failures)}")
    for line in report.failures[:20]:
        print(f"    {line}")
    # Nothing to negate: operations without parameters, or whose only one (the id) is pinned.
    print(f"  plans with no case to generate: {len(report.skipped)} (negative data for "
          "operations without parameters, or with the image id pinned)")
    return 1 if report.server_errors or report.failures else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200,
                        help="examples per operation, generation mode and caller (default 200)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-fuzz-") as tmp:
        sys.exit(run(Path(tmp), args.examples))


if __name__ == "__main__":
    main()
