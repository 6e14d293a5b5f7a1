"""MongoDB round trips per user action: an upload, an edit, a delete and one analysis job.

Every command pymongo sends is counted by a command listener (heartbeats are not
commands), so the figures are exact, not timed. Each action runs against real
SecantusDB and MinIO servers started by the test harness, through the real HTTP API
of the web tier (Flask's test client) and the worker's real job function. Model steps
are switched off in the worker: they add no database traffic.

Run:  .venv/bin/python bench/bench_round_trips.py [--quota on|off] [--public]
Prints one line per action: the number of commands and which ones.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / p) for p in ("core", "web", "worker")] + [str(REPO)]

from PIL import Image  # noqa: E402
from pymongo import monitoring  # noqa: E402


class CommandCounter(monitoring.CommandListener):
    """Counts the commands sent while ``recording`` is on, by name and collection."""

    def __init__(self) -> None:
        self.recording = False
        self.seen: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.recording:
            target = event.command.get(event.command_name)
            self.seen.append(f"{event.command_name}:{target}" if isinstance(target, str) else event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    @contextmanager
    def measure(self) -> Iterator[list[str]]:
        self.seen = []
        self.recording = True
        try:
            yield self.seen
        finally:
            self.recording = False


COUNTER = CommandCounter()
monitoring.register(COUNTER)  # before any client exists: listeners bind at client creation

from bson import ObjectId  # noqa: E402

from picsource_core.config import MongoSettings  # noqa: E402
from picsource_core.mongo import connect  # noqa: E402
from picsource_core.queue import JobQueue  # noqa: E402
from picsource_core.storage import ObjectStore  # noqa: E402
from picsource_web.app import create_app  # noqa: E402
from picsource_web.context import EXTENSION  # noqa: E402
from picsource_web.settings import Settings  # noqa: E402
from picsource_worker.job import JobContext, JobState, run_job  # noqa: E402
from picsource_worker.pipeline.analyse import AnalysisOptions  # noqa: E402
from tests.harness.services import MinioServer, MongoServer  # noqa: E402


def photo(seed: int) -> bytes:
    """A small JPEG of noise: each seed gives other bytes and another pHash, so no upload is
    a duplicate or a near-duplicate (the common case)."""
    image = Image.frombytes("RGB", (96, 64), random.Random(seed).randbytes(96 * 64 * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def report(action: str, commands: list[str]) -> None:
    detail = ", ".join(f"{name}×{n}" if n > 1 else name for name, n in Counter(commands).items())
    print(f"{action:<28} {len(commands):>3} round trips  ({detail})")


def run(quota: bool, visibility: str, tmp: Path) -> None:
    mongo = MongoServer(tmp / "mongo")
    minio = MinioServer(tmp / "minio")
    mongo.start()
    minio.start()
    try:
        minio.client().make_bucket("bench")
        env = {
            "SECRET_KEY": "bench-secret-bench-secret-bench-secret", "MONGODB_URI": mongo.uri,
            "MONGODB_DATABASE": "rt", "S3_ENDPOINT": minio.url, "S3_ACCESS_KEY": minio.access_key,
            "S3_SECRET_KEY": minio.secret_key, "S3_BUCKET": "bench", "S3_REGION": minio.region,
            "LOG_LEVEL": "warning",
        }
        if quota:
            env.update(QUOTA_IMAGES="1000", QUOTA_BYTES="1GB")
        app = create_app(Settings.from_env(env))
        svc = app.extensions[EXTENSION]
        user = svc.users.create("bencher", "a long bench passphrase")
        token, _ = svc.tokens.create(user.id, "bench")
        client = app.test_client()
        auth = {"Authorization": f"Bearer {token}"}

        def upload(seed: int) -> str:
            form = {"file": [(io.BytesIO(photo(seed)), f"{seed}.jpg")], "visibility": visibility}
            response = client.post("/api/v1/images", data=form, headers=auth, content_type="multipart/form-data")
            assert response.status_code == 201, response.get_data(as_text=True)
            return str(response.get_json()["images"][0]["id"])

        upload(0)  # warm: indexes, the first stamp documents
        with COUNTER.measure() as seen:
            image_id = upload(1)
        report("upload", seen)
        with COUNTER.measure() as seen:
            response = client.patch(f"/api/v1/images/{image_id}", json={"title": "renamed"}, headers=auth)
            assert response.status_code == 200, response.get_data(as_text=True)
        report("edit title", seen)
        with COUNTER.measure() as seen:
            client.get("/api/v1/images", headers=auth)
        report("list (cache off)", seen)

        db = connect(MongoSettings(uri=mongo.uri, database="rt", timeout_ms=5000), app_name="bench-worker")
        queue = JobQueue(db)
        ctx = JobContext(db=db, store=ObjectStore(svc.store.settings), queue=queue,
                         options=AnalysisOptions(labels=False, faces=False, ocr=False, safety=False),
                         max_attempts=3)
        for _ in range(2):  # the warm-up image's job first
            with COUNTER.measure() as seen:
                job = queue.claim("bench", 60)
                assert job is not None
                outcome = run_job(ctx, job, JobState())
        assert outcome == "done", outcome
        report("analysis job (claim..done)", seen)
        with COUNTER.measure() as seen:
            response = client.delete(f"/api/v1/images/{image_id}", headers=auth)
            assert response.status_code == 204, response.get_data(as_text=True)
        report("delete", seen)
        assert ObjectId.is_valid(image_id)
    finally:
        minio.stop()
        mongo.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quota", choices=("on", "off"), default="on")
    parser.add_argument("--public", action="store_true", help="upload public images (touches the public stamp too)")
    args = parser.parse_args(argv)
    print(f"quota {args.quota}, visibility {'public' if args.public else 'private'}")
    with tempfile.TemporaryDirectory(prefix="picsource-rt-") as tmp:
        run(args.quota == "on", "public" if args.public else "private", Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

