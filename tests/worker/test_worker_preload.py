"""Models load once, in the supervisor's forkserver: every analysis process, the first ones
and one the supervisor restarts after a crash, starts with them and loads none itself."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

from worker_services import WorkerProcess, seed_image

from picsource_core.mongo import IMAGES
from picsource_core.storage import ObjectStore
from picsource_worker.models.runtime import threads_per_process
from tests.support.images import encode, photo, sign
from tests.support.waiting import wait_until

MODELS = {"WORKER_LABELS": "true", "WORKER_FACES": "true", "WORKER_OCR": "true",
          "WORKER_SAFETY": "true", "WORKER_TEXT_EMBEDDING": "true"}  # fmt: skip
READY = re.compile(r"worker\[(\d)\] models ready: inherited (.*); loaded here (.*)")


def _readies(worker: WorkerProcess) -> list[tuple[str, str, str]]:
    return READY.findall(worker.log_path.read_text(errors="replace"))


def _child_pid(worker: WorkerProcess, slot: int) -> int:
    started = re.findall(rf"started analysis process {slot} \(pid (\d+)\)", worker.log_path.read_text())
    return int(started[-1])


def test_a_restarted_analysis_process_inherits_the_models_and_reads_text(
    mongo_db: Any, object_store: ObjectStore, core_env: dict[str, str], tmp_path: Path
) -> None:
    with WorkerProcess(core_env, tmp_path, WORKER_CONCURRENCY="2", **MODELS) as worker:
        wait_until(lambda: len(_readies(worker)) == 2, 120, worker.log())
        os.kill(_child_pid(worker, 0), signal.SIGKILL)  # a crash
        wait_until(lambda: len(_readies(worker)) == 3, 60, worker.log())
        picture = photo("coffee").resize((2400, 1600))
        picture.paste(sign("GRAND OPENING"), (700, 600))
        image = seed_image(mongo_db, object_store, encode(picture, "JPEG", quality=90))
        wait_until(lambda: mongo_db[IMAGES].find_one({"_id": image})["status"] == "ready", 60, worker.log())
    readies = _readies(worker)
    assert [slot for slot, _, _ in readies][-1] == "0"  # the restarted one
    for _slot, inherited, loaded_here in readies:
        assert loaded_here == "none"
        assert set(inherited.split(", ")) == {"classifier", "faces", "ocr", "safety", "text"}
    doc = mongo_db[IMAGES].find_one({"_id": image})
    assert "GRAND OPENING" in doc["analysis"]["ocr_text"]
    assert doc["analysis"]["step_errors"] == {}


def test_each_process_gets_its_share_of_the_cpus() -> None:
    assert threads_per_process(cpus=2, processes=2) == 1
    assert threads_per_process(cpus=8, processes=2) == 4
    assert threads_per_process(cpus=2, processes=4) == 1
    assert threads_per_process(cpus=1, processes=0) == 1
