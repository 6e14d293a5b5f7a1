"""Poison jobs and outages with a real worker process: what counts as an attempt.

A process that dies while it analyses an image (the OOM killer, a segfault in a
decoder) cannot report anything; its claims still count, so after WORKER_MAX_ATTEMPTS
the job is dead-lettered and the image shows why. An S3 outage is not the image's fault:
it spends no attempt, and the image is analysed once S3 is back, with nobody's help.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from worker_services import NO_MODELS, WorkerProcess, seed_image

from picsource_core.config import StorageSettings
from picsource_core.mongo import IMAGES, JOBS
from picsource_core.queue import JobQueue
from picsource_core.storage import ObjectStore
from tests.harness.services import MinioServer, MongoServer
from tests.support.env import service_env
from tests.support.images import large_jpeg, photo_jpeg
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


def _job(db: Any, image_id: ObjectId) -> dict[str, Any]:
    return db[JOBS].find_one({"image_id": image_id}) or {}


class OomKiller:
    """SIGKILLs the analysis process holding the image's lease, as the kernel's OOM killer
    would: the pid is the last part of the lease owner (``<worker id>-<slot>-<pid>``)."""

    def __init__(self, db: Any, image_id: ObjectId) -> None:
        self.db, self.image_id = db, image_id
        self.killed: list[str] = []

    def strike(self) -> dict[str, Any]:
        job = _job(self.db, self.image_id)
        owner = str(job.get("lease_owner") or "")
        if job.get("state") == "running" and owner and owner not in self.killed:
            self.killed.append(owner)
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(owner.rsplit("-", 1)[1]), signal.SIGKILL)
        return job


def test_a_job_whose_process_keeps_dying_is_dead_lettered_with_the_reason(
    mongo_db: Any, object_store: ObjectStore, core_env: dict[str, str], tmp_path: Path
) -> None:
    # OCR on a 16-megapixel photo takes seconds: each claim is killed mid-analysis
    image = seed_image(mongo_db, object_store, large_jpeg("astronaut", (4000, 4000)))
    dying = {"WORKER_LEASE_SECONDS": "2", "WORKER_MAX_ATTEMPTS": "2", "WORKER_OCR": "true",
             "WORKER_LABELS": "false", "WORKER_SAFETY": "false", "WORKER_FACES": "false"}  # fmt: skip
    killer = OomKiller(mongo_db, image)
    with WorkerProcess(core_env, tmp_path, "dying", **dying) as worker:
        wait_until(lambda: killer.strike().get("state") == "failed", 120,
                   f"the job to be dead-lettered\n{worker.log()}", interval=0.02)  # fmt: skip
        wait_until(lambda: worker.sample("picsource_worker_jobs_total", result="failed") == 1, 15, worker.log())
        assert worker.get("/healthz")[0] == 200
    reason = "the worker died while processing it (lease expired 2 times)"
    job = _job(mongo_db, image)
    assert len(killer.killed) == 2 and job["attempts"] == 2 and job["last_error"] == reason
    doc = mongo_db[IMAGES].find_one({"_id": image})
    assert doc["status"] == "failed" and doc["analysis_error"] == reason

    assert JobQueue(mongo_db).retry(job["_id"])  # what the admin page does
    with WorkerProcess(core_env, tmp_path, "healthy", **NO_MODELS) as worker:
        wait_until(lambda: _job(mongo_db, image).get("state") == "done", 60, worker.log())
    assert mongo_db[IMAGES].find_one({"_id": image})["status"] == "ready"


def test_an_s3_outage_spends_no_attempt_and_the_image_is_analysed_after_recovery(
    mongo_server: MongoServer, mongo_db: Any, own_minio: MinioServer, tmp_path: Path
) -> None:
    own_minio.client().make_bucket("outage")
    env = {**service_env(mongo_server.uri, mongo_db.name, own_minio, "outage"), "S3_TIMEOUT_SECONDS": "2"}
    store = ObjectStore(StorageSettings(endpoint=own_minio.url, access_key=own_minio.access_key,
                                        secret_key=own_minio.secret_key, bucket="outage",
                                        region=own_minio.region))  # fmt: skip
    image = seed_image(mongo_db, store, photo_jpeg("rocket"), enqueue=False)
    retries = {"WORKER_MAX_ATTEMPTS": "2", "WORKER_RETRY_BACKOFF_SECONDS": "0.1", **NO_MODELS}
    with WorkerProcess(env, tmp_path, "patient", **retries) as worker:
        assert own_minio.process is not None
        own_minio.process.stop()
        JobQueue(mongo_db).enqueue(image)
        # far more failed tries than WORKER_MAX_ATTEMPTS, none of them spent
        wait_until(lambda: _job(mongo_db, image).get("infra_failures", 0) >= 4, 60, worker.log())
        job = _job(mongo_db, image)
        assert job["state"] in ("pending", "running") and job["attempts"] <= 1, job
        assert mongo_db[IMAGES].find_one({"_id": image})["status"] in ("pending", "processing")
        own_minio.start()  # same port, same data
        # the backoff doubles, so the wait after recovery is about as long as the outage was
        wait_until(lambda: _job(mongo_db, image).get("state") == "done", 120, worker.log())
        assert worker.sample("picsource_worker_jobs_total", result="deferred") >= 4
        assert worker.sample("picsource_worker_jobs_total", result="failed") == 0
    job = _job(mongo_db, image)
    assert job["attempts"] == 1 and job["infra_failures"] == 0
    assert mongo_db[IMAGES].find_one({"_id": image})["status"] == "ready"
