"""The worker's analysis processes use one BLAS thread each (picsource_core.blas_threads):
the supervisor sets the variable before its forkserver starts, so the forkserver loads
numpy with it and every analysis process forked from it inherits it."""

from __future__ import annotations

import re
from pathlib import Path

from worker_services import NO_MODELS, WorkerProcess

from tests.support.waiting import wait_until


def _environ(pid: str) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").partition("=")[::2] for item in raw if b"=" in item)


def test_analysis_processes_start_with_one_blas_thread(core_env: dict[str, str], tmp_path: Path) -> None:
    worker = WorkerProcess({**core_env, **NO_MODELS}, tmp_path, "blas")
    worker.env.pop("OPENBLAS_NUM_THREADS", None)  # not from the test's own environment
    with worker:
        pids = lambda: re.findall(r"started analysis process \d+ \(pid (\d+)\)", worker.log())  # noqa: E731
        wait_until(pids, 30, worker.log())
        analysis = _environ(pids()[0])
        assert worker.proc is not None
        supervisor = _environ(str(worker.proc.pid))
    assert analysis.get("OPENBLAS_NUM_THREADS") == "1"
    assert "OPENBLAS_NUM_THREADS" not in supervisor  # set by the supervisor itself, not given to it
