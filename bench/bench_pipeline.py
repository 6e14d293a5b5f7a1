"""Full analysis pipeline throughput and memory on 12-megapixel JPEGs with 2 processes,
side by side with `vipsthumbnail` making the two thumbnails alone, in the same run.

Runs `analyse()` exactly as a worker process does (decode, EXIF, thumbnails, colours,
hashes, labels, faces, safety, OCR, caption), then the text vector of semantic search from
its fields as the job does (picsource_worker.embed, step "text"), in two processes forked
from a forkserver that loaded the models once (as the worker's supervisor does,
picsource_worker.preload), pulling files from a shared queue. A quarter of the corpus
carries printed text (worker_corpus). Rounds alternate between vipsthumbnail (1280+256,
bench_thumbnails) and our pipeline with OCR, so load from other processes hits both; the
best round of each counts. Prints images/s and the ratio to vipsthumbnail (goal >= 1.0 with
OCR and the text vector), each process's peak RSS (goal <= 350 MB) and its PSS (shared
model pages split between the processes), the mean time per step, and how soon a process
is ready after its start: forked with the models (goal <= 1 s) against spawned, loading
them. Object-storage and MongoDB I/O are not included: they overlap with other jobs' CPU
work in a real worker.
Run: `.venv/bin/python bench/bench_pipeline.py` (BENCH_IMAGES=24, BENCH_ROUNDS=2).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent / p) for p in ("core", "worker")]
sys.path.insert(0, str(BENCH))

import bench_thumbnails  # noqa: E402
from bench_thumbnails import bench_vips  # noqa: E402
from worker_corpus import corpus  # noqa: E402

from picsource_worker.pipeline.thumbnails import METHOD, QUALITY  # noqa: E402

PROCESSES = 2
SIZES = (1280, 256)
#: vipsthumbnail encodes with the WebP quality and effort our thumbnails use, whatever they
#: are set to: a lower effort on one side only would not be a fair comparison.
bench_thumbnails.VIPS_OPTIONS = f"[Q={QUALITY},effort={METHOD},strip]"


def _context() -> Any:
    """Forkserver that loaded every model (bench/pipeline_preload.py), like the worker's,
    started with the allocator the worker would choose (WORKER_ALLOCATOR, default auto:
    jemalloc where found; picsource_worker.allocator) and one BLAS thread, as the
    supervisor starts its own (picsource_core.blas_threads). Only the forkserver gets it: the
    environment is restored afterwards, so vipsthumbnail runs with the system's malloc.
    It finds its modules through PYTHONPATH (Python 3.11's forkserver ignores sys.path)."""
    from multiprocessing import forkserver

    from picsource_core import blas_threads
    from picsource_worker.allocator import Allocator

    path = [str(BENCH), str(BENCH.parent / "core"), str(BENCH.parent / "worker")]
    os.environ["PYTHONPATH"] = os.pathsep.join([*path, os.environ.get("PYTHONPATH", "")])
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["pipeline_preload"])
    saved = dict(os.environ)
    Allocator.from_env(os.environ).apply()
    blas_threads.apply()
    try:
        forkserver.ensure_running()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return ctx


def allocator_line() -> str:
    """Which malloc the analysis processes use, for the figures' header."""
    from picsource_worker.allocator import Allocator

    allocator = Allocator.from_env(os.environ)
    return f"analysis processes allocate with {allocator.describe({**os.environ, **allocator.environment(os.environ)})}"


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
    from picsource_worker.preload import warm_up

    options = AnalysisOptions(ocr=ocr)
    warm_up(options, PROCESSES)  # what the worker's runner does first (allocator included)
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
    results.put((os.getpid(), count, _memory_mb(), steps, errors, cpu))


def _memory_mb() -> tuple[float, float]:
    """(peak RSS, PSS now). Peak RSS from VmHWM, not getrusage's ru_maxrss: Linux keeps
    that across execve. PSS counts pages shared with the siblings and the forkserver (the
    model weights) by their share: what this process really adds."""
    status = Path("/proc/self/status").read_text().splitlines()
    peak = next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0)
    if not peak:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rollup = Path("/proc/self/smaps_rollup").read_text().splitlines()
    pss = next((int(line.split()[1]) for line in rollup if line.startswith("Pss:")), 0)
    return peak / 1024, pss / 1024


def run(paths: list[Path], ocr: bool) -> dict[str, Any]:
    ctx = _context()
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
        "rss": [report[2][0] for report in reports],
        "pss": [report[2][1] for report in reports],
        "steps_ms": {s: t / len(paths) * 1000 for s, t in steps.items()},
        "errors": errors,
    }


def _ready(done: Any) -> None:
    """An analysis process's start-up: have every model (picsource_worker.preload)."""
    from picsource_worker.pipeline import AnalysisOptions
    from picsource_worker.preload import warm_up

    _inherited, loaded_here = warm_up(AnalysisOptions(), PROCESSES)
    done.put(loaded_here)


def ready_after_start(ctx: Any) -> tuple[float, list[str]]:
    """Seconds from asking for a process until it has its models, and what it loaded."""
    done = ctx.Queue()
    started = time.perf_counter()
    proc = ctx.Process(target=_ready, args=(done,))
    proc.start()
    loaded_here = done.get()
    seconds = time.perf_counter() - started
    proc.join()
    return seconds, loaded_here


def _cycle(slot: int, paths: list[str], counts: Any) -> None:
    """One analysis process of the crash run: ready its models, then analyse forever."""
    from picsource_worker.pipeline import AnalysisOptions
    from picsource_worker.preload import warm_up

    options = AnalysisOptions()
    warm_up(options, PROCESSES)  # inherited when forked from the forkserver, else loaded
    for path in itertools.cycle(paths):
        _analyse(path, options)
        counts[slot] += 1  # this slot's own counter: no lock a killed process could hold


def under_crashes(paths: list[Path], ctx: Any, seconds: float, every: float) -> float:
    """Images/s while one process is killed every ``every`` seconds (in turn) and started
    again at once, as the supervisor restarts a crashed one; its image in flight is lost."""
    counts = ctx.Array("i", PROCESSES, lock=False)

    def start(slot: int) -> Any:
        proc = ctx.Process(
            target=_cycle, args=(slot, [str(p) for p in paths[slot::PROCESSES]], counts)
        )
        proc.start()
        return proc

    procs = [start(slot) for slot in range(PROCESSES)]
    started = time.perf_counter()
    next_crash, victim = started + every, 0
    while (now := time.perf_counter()) < started + seconds:
        if now >= next_crash:
            procs[victim].kill()
            procs[victim].join()
            procs[victim] = start(victim)
            victim, next_crash = (victim + 1) % PROCESSES, next_crash + every
        time.sleep(0.05)
    done = sum(counts[:])
    for proc in procs:
        proc.kill()
        proc.join()
    return done / seconds


def main() -> int:
    count = int(os.environ.get("BENCH_IMAGES", "24"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "2"))
    paths = corpus(count)
    print(f"corpus: {count} JPEGs of 12 MP (a quarter with printed text); {PROCESSES} processes "
          f"forked with the models loaded; best of {rounds} rounds")  # fmt: skip
    print(f"{allocator_line()}; WebP q{QUALITY} effort {METHOD} on both sides")
    bench_vips(paths, (256,))  # warm the page cache
    ctx = _context()
    ready_after_start(ctx)  # starts the forkserver (it loads the models once)
    loads = [os.getloadavg()[0]]
    vips: list[float] = []
    vips_cpu: list[float] = []
    ours = []
    for _ in range(rounds):  # interleaved, so load from other processes hits both sides
        wall, cpu = bench_vips(paths, SIZES)
        vips.append(count / wall)
        vips_cpu.append(cpu / count * 1000)
        ours.append(run(paths, ocr=True))
        loads.append(os.getloadavg()[0])
    without = run(paths, ocr=False)
    best = max(ours, key=lambda r: r["images_per_s"])
    print(f"load average (1 min) during the run: {min(loads):.2f} to {max(loads):.2f} "
          f"on {os.cpu_count()} CPUs")  # fmt: skip
    print(f"\nvipsthumbnail (1280+256) alone: {max(vips):.2f} images/s, "
          f"CPU per image {min(vips_cpu):.0f} ms")  # fmt: skip
    for label, result in (("with OCR and the text vector", best), ("without OCR", without)):
        ratio = result["images_per_s"] / max(vips)
        goal = "  (goal >= 1.0x)" if result is best else ""
        print(f"\nfull pipeline {label}: {result['images_per_s']:.2f} images/s = "
              f"{ratio:.2f}x vipsthumbnail{goal}")  # fmt: skip
        projected = PROCESSES * 1000 / result["cpu_ms"]
        print(f"  CPU per image: {result['cpu_ms']:.0f} ms = {min(vips_cpu) / result['cpu_ms']:.2f}x "
              f"vipsthumbnail's -> {projected:.2f} images/s on {PROCESSES} idle cores")  # fmt: skip
        rss = ", ".join(f"{r:.0f}" for r in result["rss"])
        pss = ", ".join(f"{r:.0f}" for r in result["pss"])
        print(f"  peak RSS per process: {rss} MB (goal <= 350); PSS {pss} MB")
        steps = ", ".join(f"{s} {ms:.0f}" for s, ms in result["steps_ms"].items())
        print(f"  mean ms per image by step: {steps}")
        if result["errors"]:
            print(f"  step errors: {result['errors']}")
    forked, inherited_none = ready_after_start(ctx)
    spawned, loaded = ready_after_start(multiprocessing.get_context("spawn"))
    print(f"\nready after start: forked from the forkserver {forked:.2f} s (goal <= 1; loaded "
          f"{', '.join(inherited_none) or 'nothing'}); spawned {spawned:.2f} s (loaded "
          f"{', '.join(loaded)})")  # fmt: skip
    seconds = float(os.environ.get("BENCH_CRASH_SECONDS", "30"))
    if seconds > 0:
        forked = under_crashes(paths, ctx, seconds, every=5.0)
        spawned = under_crashes(paths, multiprocessing.get_context("spawn"), seconds, every=5.0)
        print(f"with OCR, one process killed every 5 s for {seconds:g} s: forked {forked:.2f} "
              f"images/s, spawned (models loaded at each start) {spawned:.2f} images/s; "
              f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
