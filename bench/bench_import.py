"""End-to-end import: `picsource import` of a generated photo library into the `make run` stack.

Issue #17's figure: how long from `picsource import PATH --wait` until every photo is fully
analysed (OCR and the text vector included), on this machine, and what the queue and
the web tier cost on top of the pure analysis pipeline. Everything is real and started
exactly as `make run` starts it (tests/harness/run.py: SecantusDB, MinIO, the web tier
under gunicorn, one worker with WORKER_CONCURRENCY = the CPUs), in a temporary folder.

The library: camera-like JPEGs (``--megapixels``, default 3) from scikit-image's sample
photos, each cropped, flipped, tinted and noised differently (so no two share bytes or
pHash), a quarter of them carrying printed text (signs, notes: work for OCR), with EXIF
DateTimeOriginal spread over ten years. Generated once into bench/out/import-<n>-<mp>mp/.

Printed, all from the same run (figures mean little on a busy machine; the load average
is printed first):
* upload rate (files/s, MB/s) and the importer's own summary;
* time until every image is ``ready`` (goal: 10,000 in <= 30 min on 2 cores);
* the pure pipeline rate on a sample of the same files (bench_pipeline.run, with OCR,
  2 processes) and end-to-end / pipeline (goal >= 0.8);
* vipsthumbnail (1280+256) on the same sample, so the figure reads on other machines;
* peak RSS of the web tier (all gunicorn processes) and of the worker (supervisor + slots).

Run: `.venv/bin/python bench/bench_import.py [--images 10000] [--megapixels 3] [--jobs 4]`
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / p) for p in ("core", "web", "worker")] + [str(REPO), str(REPO / "bench")]

import numpy as np  # noqa: E402
from bench_pipeline import run as pipeline_run  # noqa: E402
from bench_thumbnails import bench_vips  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402
from skimage import data  # noqa: E402

from picsource_core.config import MongoSettings  # noqa: E402
from picsource_core.mongo import IMAGES, JOBS, connect, ensure_indexes  # noqa: E402
from picsource_core.queue import PENDING, RUNNING  # noqa: E402
from tests.harness.procs import ManagedProcess, free_port, http_responds  # noqa: E402
from tests.harness.run import app_env, web_argv, worker_argv  # noqa: E402
from tests.harness.services import MinioServer, MongoServer  # noqa: E402

OUT = REPO / "bench" / "out"
PHOTOS = ("coffee", "chelsea", "astronaut", "rocket", "cat", "hubble_deep_field", "colorwheel")
TEXTS = ("OPEN 9-5 MON-SAT", "PLATFORM 4 TO LONDON", "NO PARKING", "Milk eggs bread coffee",
         "EXIT", "Happy Birthday Anna", "SALE 50% OFF", "Gate B12 Departures")
SAMPLE = 24  # files of the pipeline and vipsthumbnail comparisons
CORPUS_VERSION = 2


@functools.lru_cache(maxsize=len(PHOTOS))
def _base_photo(name: str) -> Image.Image:
    """A sample photo, read from skimage's files once per process (~0.1-0.4 s each)."""
    return Image.fromarray(getattr(data, name)()).convert("RGB")


def _photo(i: int, megapixels: float, rng: random.Random) -> bytes:
    base = _base_photo(PHOTOS[i % len(PHOTOS)])
    w, h = base.size
    crop = rng.uniform(0.6, 1.0)
    cw, ch = int(w * crop), int(h * crop)
    x, y = rng.randrange(w - cw + 1), rng.randrange(h - ch + 1)
    picture = base.crop((x, y, x + cw, y + ch))
    if rng.random() < 0.5:
        picture = picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    size = (width, width * 3 // 4) if rng.random() < 0.8 else (width * 3 // 4, width)
    picture = picture.resize(size, Image.Resampling.BILINEAR)
    # float32 throughout (float64 made generating a 3 MP photo cost ~0.5 s of CPU).
    pixels = np.asarray(picture, dtype=np.float32)
    pixels *= np.array([rng.uniform(0.8, 1.2) for _ in range(3)], dtype=np.float32)
    pixels += np.random.default_rng(i).integers(-7, 8, pixels.shape, dtype=np.int8)  # sensor noise, sd ~4.3
    picture = Image.fromarray(np.clip(pixels, 0, 255, out=pixels).astype(np.uint8))
    if i % 4 == 0:  # a quarter carry printed text
        draw = ImageDraw.Draw(picture)
        font = ImageFont.load_default(size=max(24, size[1] // 14))
        top = rng.randrange(size[1] // 2)
        draw.rectangle((size[0] // 10, top, size[0] * 9 // 10, top + size[1] // 5), fill=(245, 245, 240))
        draw.text((size[0] // 8, top + size[1] // 30), rng.choice(TEXTS), fill=(20, 20, 20), font=font)
    exif = Image.Exif()
    taken = datetime(2016, 1, 1) + timedelta(seconds=rng.randrange(10 * 365 * 86400))
    exif[0x8769] = {0x9003: taken.strftime("%Y:%m:%d %H:%M:%S")}  # Exif IFD: DateTimeOriginal
    exif[0x010F], exif[0x0110] = "PicSource", "Bench Camera"
    buf = io.BytesIO()
    picture.save(buf, "JPEG", quality=88, exif=exif)
    return buf.getvalue()


def library(count: int, megapixels: float) -> Path:
    """The folder of `count` photos (nested by year-ish folders), generating missing ones
    on every CPU (each photo depends only on its index, so the folder is the same however
    it was made)."""
    root = OUT / f"import-{count}-{megapixels:g}mp-v{CORPUS_VERSION}"
    missing = [i for i in range(count) if not _photo_path(root, i).exists()]
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(_write_photo, [(root, i, megapixels) for i in missing], chunksize=16))
    return root


def _photo_path(root: Path, i: int) -> Path:
    return root / f"{2016 + i % 10}" / f"IMG_{i:05d}.jpg"


def _write_photo(job: tuple[Path, int, float]) -> None:
    root, i, megapixels = job
    path = _photo_path(root, i)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")  # an interrupted run leaves no half-written JPEG
    partial.write_bytes(_photo(i, megapixels, random.Random(i)))
    partial.rename(path)


class PeakRss(threading.Thread):
    """Samples the summed RSS of each process tree every half second; keeps the peaks."""

    def __init__(self, roots: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.roots, self.peaks = roots, dict.fromkeys(roots, 0.0)
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            for name, pid in self.roots.items():
                self.peaks[name] = max(self.peaks[name], _tree_rss_mb(pid))


def _tree_rss_mb(root: int) -> float:
    children: dict[int, list[int]] = {}
    rss: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            rss[int(entry.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0.0)
        stack.extend(children.get(pid, []))
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--megapixels", type=float, default=3.0)
    parser.add_argument("--jobs", type=int, default=4, help="the importer's concurrent uploads")
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds to wait for analysis")
    args = parser.parse_args()
    print(f"load average before the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    started = time.perf_counter()
    root = library(args.images, args.megapixels)
    files = sorted(root.rglob("*.jpg"))[: args.images]
    size_mb = sum(p.stat().st_size for p in files) / 2**20
    print(f"library: {len(files):,} JPEGs of {args.megapixels:g} MP, {size_mb:,.0f} MB "
          f"({time.perf_counter() - started:.0f}s to generate or find)", flush=True)

    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    mongo, minio = MongoServer(work / "mongo"), MinioServer(work / "minio")
    procs: list[ManagedProcess] = []
    try:
        mongo.start()
        minio.start()
        minio.client().make_bucket("picsource")
        env = app_env(mongo, minio, run_dir=work)
        env.update(LOG_LEVEL="warning", S3_BUCKET="picsource")
        db = connect(MongoSettings(uri=mongo.uri, database=env["MONGODB_DATABASE"], timeout_ms=30_000))
        ensure_indexes(db)
        from picsource_web.services.tokens import TokenService
        from picsource_web.services.users import UserService

        user = UserService(db).create("importer", "a long bench passphrase")
        token, _ = TokenService(db).create(user.id, "bench import")
        port = free_port()
        web = ManagedProcess("web", web_argv(port), work / "web.log", env=env, cwd=REPO).start()
        worker_env = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        worker_env["WORKER_METRICS_PORT"] = str(free_port())
        worker = ManagedProcess("worker", worker_argv(), work / "worker.log", env=worker_env, cwd=REPO).start()
        procs = [web, worker]
        base = f"http://127.0.0.1:{port}"
        web.wait_ready(lambda: http_responds(f"{base}/readyz"), 90, "serving")
        rss = PeakRss({"web": web.pid, "worker": worker.pid})
        rss.start()

        began = time.perf_counter()
        importer = subprocess.Popen(
            [sys.executable, "-m", "picsource_web.importer", "import", str(root), "--url", base,
             "--jobs", str(args.jobs)],
            env={**env, "PICSOURCE_TOKEN": token}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output, _ = importer.communicate(timeout=args.timeout)
        uploaded = time.perf_counter() - began
        print("importer summary:\n  " + "\n  ".join(output.strip().splitlines()[-6:]), flush=True)
        images = db[IMAGES]
        while time.perf_counter() - began < args.timeout:
            # Unsettled jobs first, and only then every image: counting 10,000 image
            # documents each poll would load the server under test. Even the jobs' count
            # reads every pending job on SecantusDB (~0.2 s of its CPU with 10,000 queued;
            # a find_one costs the same there), so a poll waits 20 times as long as the last
            # one took, like the worker's queue statistics, and never loads it by more.
            polled = time.perf_counter()
            if db[JOBS].count_documents({"state": {"$in": [PENDING, RUNNING]}}) == 0 and \
                    images.count_documents({"status": {"$nin": ["ready", "failed"]}}) == 0:
                break
            time.sleep(max(5.0, 20 * (time.perf_counter() - polled)))
        done = time.perf_counter() - began
        rss.stopping.set()
        total = images.count_documents({})
        failed = images.count_documents({"status": "failed"})
        with_text = images.count_documents({"has_text": True})
        vectors = images.count_documents({"text_vector": {"$ne": None}})
    finally:
        for proc in reversed(procs):
            proc.stop()
        minio.stop()
        mongo.stop()

    print(f"\nupload: {len(files):,} files in {uploaded:.0f}s = {len(files) / uploaded:.1f} files/s, "
          f"{size_mb / uploaded:.1f} MB/s (importer exit {importer.returncode})")
    end_to_end = total / done
    print(f"every image ready: {total:,} images ({failed} failed, {with_text:,} with text, "
          f"{vectors:,} text vectors) in {done / 60:.1f} min = {end_to_end:.2f} images/s "
          f"(goal: 10,000 in <= 30 min)")
    slots = env.get("WORKER_CONCURRENCY") or os.cpu_count()
    print(f"peak RSS: web {rss.peaks['web']:.0f} MB (all gunicorn processes), "
          f"worker {rss.peaks['worker']:.0f} MB (supervisor + {slots} slots)")
    sample = files[:SAMPLE]
    pipeline = pipeline_run(sample, ocr=True)["images_per_s"]
    wall, _cpu = bench_vips(sample, (1280, 256))
    vips = len(sample) / wall
    print(f"same files, 2 processes: pure pipeline (OCR + text vector) {pipeline:.2f} images/s, "
          f"vipsthumbnail 1280+256 {vips:.2f} images/s")
    print(f"end to end / pipeline: {end_to_end / pipeline:.2f}x (goal >= 0.8); "
          f"end to end / vipsthumbnail: {end_to_end / vips:.2f}x")
    return 0 if importer.returncode == 0 and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
