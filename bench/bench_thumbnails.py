"""Thumbnail throughput: our path (Pillow draft-mode decode, one decode for both WebP sizes)
against libvips' `vipsthumbnail` on the same 12-megapixel JPEGs, both with 2 processes.

Both sides write 1280 px and 256 px WebP (quality 80, effort/method 2, no metadata).
vipsthumbnail makes one size per run, so it runs twice per file (as a deployment using
it would); the 1280-only figure is printed too, for a like-for-like single size.
Goal: ours >= 1.5x libvips' images/s. Run: `.venv/bin/python bench/bench_thumbnails.py`.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / p) for p in ("core", "worker")]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from worker_corpus import OUT, corpus  # noqa: E402

PROCESSES = 2
SIZES = (1280, 256)
VIPS_OPTIONS = "[Q=80,effort=2,strip]"


def _ours(path: str) -> float:
    """Thumbnail one file like the worker does; returns the CPU seconds it took."""
    from picsource_worker.pipeline.decode import decode
    from picsource_worker.pipeline.thumbnails import make_thumbnails

    cpu = time.process_time()
    thumbs = make_thumbnails(decode(Path(path).read_bytes()).image, SIZES)
    target = OUT / "ours"
    for t in thumbs:
        (target / f"{Path(path).stem}_{t.size}.webp").write_bytes(t.data)
    return time.process_time() - cpu


def _warm(_: int) -> int:
    from picsource_worker.pipeline import decode, thumbnails  # noqa: F401

    return 0


def bench_ours(paths: list[Path]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) for the whole corpus."""
    (OUT / "ours").mkdir(parents=True, exist_ok=True)
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        pool.map(_warm, range(PROCESSES * 2))
        started = time.perf_counter()
        cpu = pool.map(_ours, [str(p) for p in paths], chunksize=1)
        return time.perf_counter() - started, sum(cpu)


def bench_vips(paths: list[Path], sizes: tuple[int, ...]) -> tuple[float, float]:
    exe = shutil.which("vipsthumbnail")
    if exe is None:
        sys.exit("vipsthumbnail is not installed: apt-get install libvips-tools (make tools)")
    target = OUT / "vips"
    target.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "VIPS_CONCURRENCY": "1"}
    halves = [paths[i::PROCESSES] for i in range(PROCESSES)]

    def run(half: list[Path]) -> None:
        for size in sizes:  # one run per size over this process's share of the files
            out = f"{target}/%s_{size}.webp{VIPS_OPTIONS}"
            subprocess.run([exe, "-s", str(size), "-o", out, *map(str, half)], env=env, check=True)

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with ThreadPoolExecutor(PROCESSES) as pool:
        list(pool.map(run, halves))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    count = int(os.environ.get("BENCH_IMAGES", "24"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    paths = corpus(count)
    print(f"corpus: {count} JPEGs of 12 MP in {paths[0].parent}")
    print(f"parallelism: {PROCESSES} processes each; sizes {SIZES} WebP q80; best of {rounds}")
    print(f"load average before the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs "
          "(figures are only meaningful on an otherwise idle machine)")  # fmt: skip
    bench_vips(paths, (256,))  # warm the page cache
    runs: dict[str, list[tuple[float, float]]] = {"ours": [], "vips": [], "vips1280": []}
    for _ in range(rounds):  # interleaved, so load from other processes hits all sides
        runs["ours"].append(bench_ours(paths))
        runs["vips"].append(bench_vips(paths, SIZES))
        runs["vips1280"].append(bench_vips(paths, (1280,)))
    best = {name: min(r[0] for r in results) for name, results in runs.items()}
    cpu = {name: min(r[1] for r in results) for name, results in runs.items()}
    rows = [
        ("ours (1280+256, one decode)", "ours"),
        ("vipsthumbnail (1280+256)", "vips"),
        ("vipsthumbnail (1280 only)", "vips1280"),
    ]
    print(f"{'':30}{'images/s':>10}{'CPU ms/image':>14}")
    for label, name in rows:
        print(f"{label:30}{count / best[name]:10.2f}{cpu[name] / count * 1000:14.1f}")
    print(
        f"ratio ours/vips, images/s (both sizes):  {best['vips'] / best['ours']:.2f}x  (goal >= 1.5x)"
    )
    print(f"ratio ours/vips, CPU per image:          {cpu['vips'] / cpu['ours']:.2f}x")
    print(f"ratio ours/vips (1280 only), images/s:   {best['vips1280'] / best['ours']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
