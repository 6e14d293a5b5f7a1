"""Peak RSS and throughput of one long-lived analysis process, with and without recycling
it after N jobs (WORKER_MAX_JOBS_PER_PROCESS; picsource_worker.recycle), side by side.

bench_pipeline's processes analyse ~12 images each; a worker's analyse thousands, and
their heap fragments (picsource_worker.recycle). Here one
slot analyses the corpus BENCH_PASSES times over, as one worker slot does under a long
import: once in a single process, once in a chain of processes each forked from the
forkserver that loaded the models (bench_pipeline's) and retired after N jobs, the fork
and each process's warm-up (picsource_worker.preload.warm_up, as the worker's runner does)
inside the timed span. Rounds alternate between the two, so load from other processes hits
both; the best round of each counts. Prints images/s, CPU ms per image (the processes'
own CPU: what recycling costs, less sensitive to a busy machine than wall time), the
highest peak RSS of any process (goal <= 350 MB), forks, the machine's 1-minute load, what
a new process costs (warm-up CPU, its first image against its second), and for the process
never recycled its peak RSS so far after n images (where the peak is set).
Run: `.venv/bin/python bench/bench_recycle.py` (BENCH_IMAGES=24, BENCH_PASSES=3,
BENCH_ROUNDS=2, BENCH_MAX_JOBS=50: several comma-separated values are each measured).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_pipeline import PROCESSES, _analyse, _context, _memory_mb, allocator_line  # noqa: E402
from worker_corpus import corpus  # noqa: E402


def _slot(tasks: Any, results: Any, limit: int) -> None:
    """One analysis process: up to ``limit`` images (0: until the queue's end), then report."""
    from picsource_worker.pipeline import AnalysisOptions
    from picsource_worker.preload import warm_up

    cpu = time.process_time()
    options = AnalysisOptions()
    warm_up(options, PROCESSES)  # what each new analysis process does before its first job
    warm = time.process_time() - cpu
    peaks: list[float] = []  # peak RSS so far after each image
    firsts: list[float] = []  # CPU seconds of the first two images
    while not limit or len(peaks) < limit:
        path = tasks.get()
        if path is None:
            break
        started = time.process_time()
        _analyse(path, options)
        peaks.append(_memory_mb()[0])
        if len(firsts) < 2:
            firsts.append(time.process_time() - started)
    results.put((len(peaks), peaks, time.process_time() - cpu, warm, firsts))


def run(ctx: Any, paths: list[Path], passes: int, limit: int) -> dict[str, float]:
    """One slot through ``passes`` times the corpus, one process per ``limit`` jobs."""
    tasks, results = ctx.Queue(), ctx.Queue()
    total = len(paths) * passes
    for _ in range(passes):
        for path in paths:
            tasks.put(str(path))
    tasks.put(None)
    done, reports = 0, []
    started = time.perf_counter()
    while done < total:
        proc = ctx.Process(target=_slot, args=(tasks, results, limit))
        proc.start()
        reports.append(results.get())
        proc.join()
        done += reports[-1][0]
    wall = time.perf_counter() - started
    return {
        "images_per_s": total / wall, "cpu_ms": sum(r[2] for r in reports) / total * 1000,
        "rss": max(max(r[1]) for r in reports), "forks": len(reports), "peaks": reports[0][1],
        "warm_ms": min(r[3] for r in reports) * 1000,
        "first_ms": min(r[4][0] for r in reports) * 1000,
        "second_ms": min((r[4][1] for r in reports if len(r[4]) > 1), default=0.0) * 1000,
    }  # fmt: skip


def main() -> int:
    count = int(os.environ.get("BENCH_IMAGES", "24"))
    passes = int(os.environ.get("BENCH_PASSES", "3"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "2"))
    limits = [int(v) for v in os.environ.get("BENCH_MAX_JOBS", "50").split(",")]
    paths = corpus(count)
    print(f"corpus: {count} JPEGs of 12 MP (a quarter with printed text), {passes} passes = "
          f"{count * passes} images through one slot; best of {rounds} rounds; with OCR and "
          f"the text vector", flush=True)  # fmt: skip
    print(allocator_line(), flush=True)
    ctx = _context()
    run(ctx, paths[:1], 1, 0)  # starts the forkserver (it loads the models once)
    loads = [os.getloadavg()[0]]
    found: dict[int, list[dict[str, float]]] = {limit: [] for limit in [0, *limits]}
    for _ in range(rounds):  # interleaved, so load from other processes hits every side
        for limit in found:
            found[limit].append(result := run(ctx, paths, passes, limit))
            loads.append(os.getloadavg()[0])
            print(f"  every {limit or 'never'}: {result['images_per_s']:.2f} images/s, "
                  f"{result['cpu_ms']:.0f} ms CPU, {result['rss']:.0f} MB (load {loads[-1]:.2f})",
                  flush=True)  # fmt: skip
    print(f"load average (1 min) during the run: {min(loads):.2f} to {max(loads):.2f} "
          f"on {os.cpu_count()} CPUs")  # fmt: skip
    base = max(found[0], key=lambda r: r["images_per_s"])
    base_cpu = min(r["cpu_ms"] for r in found[0])
    for limit, results in found.items():
        best = max(results, key=lambda r: r["images_per_s"])
        cpu = min(r["cpu_ms"] for r in results)
        peak = max(r["rss"] for r in results)
        label = "never recycled" if not limit else f"recycled every {limit} jobs"
        print(f"\n{label}: {best['images_per_s']:.2f} images/s "
              f"({best['images_per_s'] / base['images_per_s']:.3f}x), CPU {cpu:.0f} ms per image "
              f"({cpu / base_cpu:.3f}x), {best['forks']:.0f} process(es)")  # fmt: skip
        rss = ", ".join(f"{r['rss']:.0f}" for r in results)
        print(f"  highest peak RSS of a process: {peak:.0f} MB (goal <= 350; by round: {rss})")
        print(f"  a new process: warm-up {min(r['warm_ms'] for r in results):.0f} ms CPU, first image "
              f"{min(r['first_ms'] for r in results):.0f} ms, second {min(r['second_ms'] for r in results):.0f}")
        if not limit:
            curve = max(results, key=lambda r: len(r["peaks"]))["peaks"]
            marks = [n for n in (1, 2, 4, 8, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128) if n <= len(curve)]
            print("  peak RSS so far after n images: "
                  + ", ".join(f"{n}: {max(r['peaks'][n - 1] for r in results):.0f}" for n in marks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
