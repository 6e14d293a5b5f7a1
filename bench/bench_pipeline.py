"""Full analysis pipeline throughput and memory on 12-megapixel JPEGs with 2 processes.

Runs `analyse()` exactly as a worker process does (decode, EXIF, thumbnails, colours,
hashes, labels, faces, safety, caption), then the text vector of semantic search from its
fields as the job does (picsource_worker.embed, step "text"), first without OCR and then
with it, in two
spawned processes that each load the models once, pulling files from a shared queue.
Prints images/s (goal >= 8 without OCR on 2 cores), the max resident set size of each
process (goal <= 400 MB) and the mean time per step. Object-storage and MongoDB I/O are
not included: they overlap with other jobs' CPU work in a real worker.
Run: `.venv/bin/python bench/bench_pipeline.py` (BENCH_IMAGES=24 by default).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / p) for p in ("core", "worker")]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from worker_corpus import corpus  # noqa: E402

PROCESSES = 2


def _analyse(path: str, options: Any) -> Any:
    """What one job computes: the analysis, then the text vector of its fields (job.py)."""
    from picsource_worker.embed import add_text_fields
    from picsource_worker.pipeline import analyse
    from picsource_worker.results import analysis_fields

    result = analyse(Path(path).read_bytes(), options)
    if options.text_embedding and result.ok:
        add_text_fields({"_id": path, "title": Path(path).stem}, analysis_fields(result, {}),
                        result.durations.update)  # fmt: skip
    return result


def _worker(ocr: bool, tasks: Any, results: Any, ready: Any, go: Any) -> None:
    from picsource_worker.pipeline import AnalysisOptions

    options = AnalysisOptions(ocr=ocr)
    _analyse(tasks.get(), options)  # load every model before the clock starts
    ready.release()
    go.wait()
    steps: dict[str, float] = {}
    errors: dict[str, str] = {}
    count = 0
    cpu = time.process_time()
    while (path := tasks.get()) is not None:
        result = _analyse(path, options)
        count += 1
        errors.update(result.step_errors)
        for step, seconds in result.durations.items():
            steps[step] = steps.get(step, 0.0) + seconds
    cpu = time.process_time() - cpu
    rss_mb = _peak_rss_mb()
    results.put((os.getpid(), count, rss_mb, steps, errors, cpu))


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not getrusage's ru_maxrss: Linux keeps
    that across execve, so a spawned child reported its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(paths: list[Path], ocr: bool) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    ready, go = ctx.Semaphore(0), ctx.Event()
    procs = [ctx.Process(target=_worker, args=(ocr, tasks, results, ready, go))
             for _ in range(PROCESSES)]  # fmt: skip
    for proc in procs:
        proc.start()
        tasks.put(str(paths[0]))
    for _ in procs:
        ready.acquire()
    for path in paths:
        tasks.put(str(path))
    for _ in procs:
        tasks.put(None)
    started = time.perf_counter()
    go.set()
    reports = [results.get() for _ in procs]
    wall = time.perf_counter() - started
    for proc in procs:
        proc.join()
    steps: dict[str, float] = {}
    for report in reports:
        for step, seconds in report[3].items():
            steps[step] = steps.get(step, 0.0) + seconds
    errors = {k: v for report in reports for k, v in report[4].items()}
    return {
        "images_per_s": len(paths) / wall,
        "cpu_ms": sum(report[5] for report in reports) / len(paths) * 1000,
        "rss": [report[2] for report in reports],
        "steps_ms": {s: t / len(paths) * 1000 for s, t in steps.items()},
        "errors": errors,
    }


def main() -> int:
    count = int(os.environ.get("BENCH_IMAGES", "24"))
    paths = corpus(count)
    print(f"corpus: {count} JPEGs of 12 MP; {PROCESSES} processes (spawned, models loaded once)")
    print(f"load average before the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs "
          "(figures are only meaningful on an otherwise idle machine)")  # fmt: skip
    for ocr in (False, True):
        result = run(paths, ocr)
        label = "with OCR" if ocr else "without OCR"
        rss = ", ".join(f"{r:.0f}" for r in result["rss"])
        goal = "  (goal >= 8)" if not ocr else ""
        print(f"\nfull pipeline {label}: {result['images_per_s']:.2f} images/s{goal}")
        projected = PROCESSES * 1000 / result["cpu_ms"]
        print(f"  CPU per image: {result['cpu_ms']:.0f} ms -> {projected:.2f} images/s "
              f"on {PROCESSES} otherwise idle cores")  # fmt: skip
        print(f"  max RSS per process: {rss} MB  (goal <= 400)")
        steps = ", ".join(f"{s} {ms:.0f}" for s, ms in result["steps_ms"].items())
        print(f"  mean ms per image by step: {steps}")
        if result["errors"]:
            print(f"  step errors: {result['errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
