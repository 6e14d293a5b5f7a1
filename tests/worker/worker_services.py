"""Helpers for worker tests against real MongoDB-wire and MinIO servers.

`seed_image` stores an original and its document the way the web tier does, and
enqueues its job; `WorkerProcess` runs `python -m picsource_worker` as a real process
group (its own session, so a test can SIGKILL or SIGTERM the whole worker).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from bson import ObjectId

from picsource_core import images
from picsource_core.mongo import IMAGES, ensure_indexes
from picsource_core.queue import JobQueue
from picsource_core.storage import ObjectStore, original_key
from tests.harness.procs import free_port
from tests.support.env import REPO, python_path
from tests.support.waiting import wait_until

NO_MODELS = {"WORKER_LABELS": "false", "WORKER_FACES": "false", "WORKER_OCR": "false",
             "WORKER_SAFETY": "false", "WORKER_TEXT_EMBEDDING": "false"}  # fmt: skip


def seed_image(db: Any, store: ObjectStore, data: bytes, owner_id: ObjectId | None = None,
               *, enqueue: bool = True, title: str = "") -> ObjectId:  # fmt: skip
    """Store `data` as an uploaded original with a pending document and a queued job."""
    ensure_indexes(db)
    owner = owner_id or ObjectId()
    image_id = ObjectId()
    key = original_key(owner, image_id)
    store.put_bytes(key, data, "application/octet-stream")
    doc = images.new_image_doc(
        image_id=image_id, owner_id=owner, title=title, description="", tags=[],
        visibility=images.PRIVATE, share_token=secrets.token_urlsafe(12),
        sha256=hashlib.sha256(data + image_id.binary).hexdigest(), size=len(data), width=0,
        height=0, image_format="", content_type="image/jpeg", original_key=key,
    )  # fmt: skip
    db[IMAGES].insert_one(doc)
    if enqueue:
        JobQueue(db).enqueue(image_id)
    return image_id


class WorkerProcess:
    """`python -m picsource_worker` with the given environment, in its own session."""

    def __init__(self, env: dict[str, str], log_dir: Path, name: str = "worker", **worker: str):
        self.metrics_port = free_port()
        self.env = {
            **os.environ, **env, "PYTHONPATH": python_path(), "WORKER_CONCURRENCY": "1",
            "WORKER_POLL_SECONDS": "0.2", "WORKER_METRICS_PORT": str(self.metrics_port),
            "WORKER_ID": name, **worker,
        }  # fmt: skip
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "picsource_worker"], env=self.env, cwd=REPO,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        wait_until(self._metrics_up, 60, f"worker metrics on port {self.metrics_port}\n{self.log()}")
        return self

    def _metrics_up(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
        try:
            self.get("/healthz")
            return True
        except OSError:
            return False

    def get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.metrics_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def metrics(self) -> str:
        return self.get("/metrics")[1]

    def sample(self, name: str, **labels: str) -> float:
        """Value of one sample in /metrics (0 when absent)."""
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in self.metrics().splitlines():
            if line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            sample_name, _, rest = key.partition("{")
            found = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
            if sample_name == name and found == want:
                return float(value)
        return 0.0

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def kill_group(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
