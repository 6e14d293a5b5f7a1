"""Semantic search benchmark: text queries against 100,000 images with text vectors, for
one user's own images and for the public scope, under gunicorn, loaded with wrk.

Goal (#13): semantic query p99 <= 50 ms at >= 300 requests/s with 100k images for one
user and for the public scope; also the memory a web process needs at 100k vectors.

The bench user owns every seeded image and all are public, so both scopes hold --images
vectors. The vectors are synthetic but realistic: SEED_TEXTS distinct image texts built
from the bench vocabulary are embedded with the real model, and each image takes one of
them plus a little noise (packed as the worker packs them). Queries are human-like
phrases from the same vocabulary, sent to GET /search?q=...&scope=... (the search page,
48 tiles; the JSON API ranks the same way but signs three URLs per item):

- "popular": QUERIES phrases over and over, as a gallery's common searches: after the
  first round each is served from the ranked-list cache (services/semantic.py) until a
  write renews the stamp.
- "zipf": a realistic mix, ZIPF_QUERIES distinct phrases drawn with Zipf-distributed
  frequencies (exponent ZIPF_S): a few are asked very often, most rarely, so some requests
  rank a list that is not cached yet in that worker.
- "distinct": every request a phrase not asked before (the warm-up uses other phrases
  than the measured run): each one is embedded, scanned and read back; the cold path,
  bounded by the CPU of the embedding and the scan.

Before the load, in process: the time to build a 100k scope from MongoDB (what a change
costs the next query), its memory, the time of one query's scan, and how often the
sign-bit prefilter keeps the exact nearest 20 (recall against a full scan). Always: the
worker's cost per image for its text vector (one document's text embedded on one core).

Run:  .venv/bin/python bench/bench_semantic.py [--images 100000] [--duration 15]
      [--connections 16] [--workers N] [--warmup-rounds 12] [--kinds popular,zipf,distinct]
      [--rate 300]   (open loop at 300 requests/s with vegeta instead of wrk: bench/open_loop.py)
(LISTING_CACHE_ENTRIES and the other web settings pass through from the environment.)
Prints the figures and writes bench/out/bench_semantic.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / p) for p in ("core", "web")] + [str(REPO), str(REPO / "bench")]

import numpy as np  # noqa: E402
from bench_web import LABELS, WORDS, fake_image, run_wrk, sign_in, wait_idle  # noqa: E402
from open_loop import run_vegeta  # noqa: E402

from picsource_core.config import MongoSettings  # noqa: E402
from picsource_core.image_documents import TEXT_MODEL  # noqa: E402
from picsource_core.mongo import IMAGES, connect, ensure_indexes  # noqa: E402
from picsource_core.text_embedding import TEXT_MODEL_ID, TEXT_VECTOR, encoder, pack  # noqa: E402
from tests.harness.procs import ManagedProcess, free_port, http_responds  # noqa: E402
from tests.harness.run import python_path, web_argv  # noqa: E402
from tests.harness.services import MinioServer, MongoServer  # noqa: E402

OUT = REPO / "bench" / "out"
BUCKET, DATABASE = "bench", "bench"
USERNAME, PASSWORD = "bencher", "a long bench passphrase"
SEED_VERSION = 2  # bump when seed() or the model id changes
SEED_TEXTS = 2000
QUERIES = 20
ZIPF_QUERIES = 300
ZIPF_S = 1.1
ZIPF_REQUESTS = 50_000  # the length of the sampled sequence wrk walks through
DISTINCT = 20_000
#: Cold searches timed in process (each scope).
COLD_SAMPLES = 10
NOISE = 0.35  # per-image spread around its text (cosine to it about 0.9)


def phrases(rng: random.Random, n: int) -> list[str]:
    """Human-like search phrases from the bench vocabulary, without repeats."""
    forms = ("{a}", "{a} {b}", "{a} near the {b}", "a {l}", "{l} at the {a}", "{a} and {b} at night",
             "my {a} in the {b}", "{a} {b} and a {c}", "a {l} with {a} and {c}")
    seen: dict[str, None] = {}
    while len(seen) < n:
        seen.setdefault(rng.choice(forms).format(a=rng.choice(WORDS), b=rng.choice(WORDS), c=rng.choice(WORDS),
                                                 l=rng.choice(LABELS)), None)
    return list(seen)


def seed(db: Any, owner: Any, total: int) -> float:
    """``total`` public images of ``owner``, each with a packed text vector."""
    rng = random.Random(42)
    texts = [f"{rng.choice(WORDS)} {rng.choice(WORDS)}. a {rng.choice(LABELS)} with a {rng.choice(WORDS)}. "
             f"{', '.join(rng.sample(WORDS, 2))}" for _ in range(SEED_TEXTS)]
    began = time.perf_counter()
    bases = encoder().embed(texts)
    print(f"  embedded {SEED_TEXTS} seed texts in {time.perf_counter() - began:.0f}s", flush=True)
    noise = np.random.default_rng(42)
    start = datetime.now(UTC) - timedelta(days=3 * 365)
    step = timedelta(days=3 * 365) / total
    docs = []
    for i in range(total):
        doc = fake_image(rng, owner, start + step * i, public=True)
        vector = bases[rng.randrange(SEED_TEXTS)] + noise.standard_normal(384).astype(np.float32) * NOISE / 19.6
        doc[TEXT_VECTOR] = pack(vector)
        doc[TEXT_MODEL] = TEXT_MODEL_ID
        docs.append(doc)
        if len(docs) == 1000:
            db[IMAGES].insert_many(docs, ordered=False)
            docs = []
            if (i + 1) % 20_000 == 0:
                print(f"  seeded {i + 1:,} images ({time.perf_counter() - began:.0f}s)", flush=True)
    if docs:
        db[IMAGES].insert_many(docs, ordered=False)
    return time.perf_counter() - began


def in_process(db: Any, user: Any, popular: list[str], distinct: list[str]) -> dict[str, float]:
    """Scope build time and memory, scan time, prefilter recall, query embedding time, and
    whole cold searches (nothing cached) with the time their words' scan takes."""
    from picsource_core.queue import JobQueue
    from picsource_web.services.images import ImageRepository
    from picsource_web.services.query import build_filter, parse_query
    from picsource_web.services.users import Viewer
    from picsource_web.services.vector_index import build_scope

    repo = ImageRepository(db, None, JobQueue(db))  # type: ignore[arg-type]
    began = time.perf_counter()
    scope = build_scope("bench", repo.listings.text_vectors({"owner_id": user.id, "trashed_at": None}))
    build_s = time.perf_counter() - began
    enc = encoder(threads=1)
    embed_ms, scan_ms, recalls = [], [], []
    exact_matrix = scope.raw.astype(np.float32) * scope.inverse_norms[:, None]
    for text in popular:
        t0 = time.perf_counter()
        q = enc.embed([text])[0]
        t1 = time.perf_counter()
        scope.nearest(q, 1000, 0.3)
        t2 = time.perf_counter()
        embed_ms.append((t1 - t0) * 1000)
        scan_ms.append((t2 - t1) * 1000)
        exact = np.argsort(-(exact_matrix @ q))[:20]
        got = {i for i, _ in scope.nearest(q, 20, -1.0)}
        recalls.append(len(got & {scope.id_at(i) for i in exact}) / 20)
    figures = {"vectors": float(len(scope)), "scope_build_s": build_s, "scope_mb": scope.nbytes / 1e6,
               "embed_p50_ms": statistics.median(embed_ms), "scan_p50_ms": statistics.median(scan_ms),
               "scan_p99_ms": float(np.percentile(scan_ms, 99)),
               "prefilter_recall_at_20": statistics.mean(recalls)}
    who = Viewer(user)
    for scope_name in ("mine", "public"):
        whole, words = [], []
        for text in distinct[:COLD_SAMPLES]:
            query = parse_query({"q": text, "scope": scope_name}, who)
            t0 = time.perf_counter()
            repo.scanner.newest(repo.docs, build_filter(query, who), 50, {"_id": 1})
            t1 = time.perf_counter()
            repo.listings.list_page(query, who)
            t2 = time.perf_counter()
            words.append((t1 - t0) * 1000)
            whole.append((t2 - t1) * 1000)
        figures[f"cold_{scope_name}_p50_ms"] = statistics.median(whole)
        figures[f"cold_{scope_name}_p99_ms"] = float(np.percentile(whole, 99))
        figures[f"cold_{scope_name}_words_scan_p50_ms"] = statistics.median(words)
    return figures


def embedding_cost(owner: Any, samples: int = 100) -> dict[str, float]:
    """The worker's cost per image for its text vector: one document's text (document_text,
    as picsource_worker/embed.py builds it, of documents shaped like the seeded ones)
    embedded at a time, one thread."""
    from picsource_core.text_embedding import document_text

    enc = encoder(threads=1)
    rng = random.Random(3)
    texts = [document_text(fake_image(rng, owner, datetime.now(UTC), public=True)) for _ in range(samples)]
    enc.embed(texts[:1])
    times, cpu = [], time.process_time()
    for text in texts:
        began = time.perf_counter()
        enc.embed([text])
        times.append((time.perf_counter() - began) * 1000)
    return {"embed_per_image_p50_ms": statistics.median(times),
            "embed_per_image_cpu_ms": (time.process_time() - cpu) * 1000 / len(texts)}


def zipf_sequence(rng: random.Random, texts: list[str], n: int) -> list[str]:
    """``n`` draws from ``texts`` with Zipf-distributed frequencies (rank r weighs r^-ZIPF_S)."""
    return rng.choices(texts, weights=[rank ** -ZIPF_S for rank in range(1, len(texts) + 1)], k=n)


def print_in_process(inproc: dict[str, float]) -> None:
    print(f"\nin process: {inproc['vectors']:,.0f} vectors, scope built from MongoDB in "
          f"{inproc['scope_build_s']:.1f} s, {inproc['scope_mb']:.1f} MB; query embedding p50 "
          f"{inproc['embed_p50_ms']:.1f} ms; scan p50 {inproc['scan_p50_ms']:.1f} ms, p99 "
          f"{inproc['scan_p99_ms']:.1f} ms; prefilter recall@20 {inproc['prefilter_recall_at_20']:.3f}")
    for name in ("mine", "public"):
        print(f"  cold search ({name}, nothing cached): p50 {inproc[f'cold_{name}_p50_ms']:.0f} ms, p99 "
              f"{inproc[f'cold_{name}_p99_ms']:.0f} ms; of which the scan for its words alone p50 "
              f"{inproc[f'cold_{name}_words_scan_p50_ms']:.0f} ms", flush=True)


def lua_script(path: Path, urls: list[str], cookie: str | None) -> Path:
    """A wrk script sending ``urls`` in turn (each thread from its own offset)."""
    body = ",\n".join(json.dumps(u) for u in urls)
    header = f'wrk.headers["Cookie"] = {json.dumps(cookie)}\n' if cookie else ""
    path.write_text(header + "local paths = {\n" + body + "\n}\nlocal i = 0\n"
                    "function setup(thread) thread:set('offset', math.random(#paths)) end\n"
                    "function init(args) i = tonumber(offset) or 0 end\n"
                    "function request() i = i % #paths + 1\n"
                    "  return wrk.format('GET', paths[i]) end\n")
    return path


def statuses(base: str, urls: list[str], cookie: str | None, seconds: float = 3.0) -> dict[int, int]:
    """Status codes of ``urls`` requested by 8 threads for ``seconds`` (what wrk's
    "Non-2xx" count hides)."""
    import collections
    import threading

    import requests

    counts: collections.Counter[int] = collections.Counter()
    stop = time.monotonic() + seconds

    def client(start: int) -> None:
        session = requests.Session()
        i = start
        while time.monotonic() < stop:
            response = session.get(base + urls[i % len(urls)], headers={"Cookie": cookie} if cookie else {},
                                   timeout=30)
            counts[response.status_code] += 1
            i += 1

    threads = [threading.Thread(target=client, args=(n * 7,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return dict(counts)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pages_from_database(base: str) -> float:
    """How many listing pages the web workers have read from the database so far (not
    served from their caches): the picsource_web_listing_pages_total counter, summed."""
    import requests

    text = requests.get(f"{base}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith('picsource_web_listing_pages_total{source="database"'))


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


def warm_every_worker(base: str, cookie: str, master: int, texts: list[str], seconds: float = 300.0) -> None:
    """Searches of both scopes, several at once, until every gunicorn worker holds the model
    and both scopes (its RSS near the largest worker's, and every answer ranked by meaning):
    the figures under load are of warm workers. A worker's first search of a large scope
    starts reading it whole, and is answered by words alone until that read lands
    (services/vector_index.py, COLD_WAIT_SECONDS); under load, that read in a cold worker
    slows the database for everyone, which is not what the steady state costs."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    sequence = itertools.count()

    def probe(n: int) -> int:
        scope, jar = ("mine", cookie) if n % 2 == 0 else ("public", None)
        # A page size no probe asked for before: a page another worker ranked (the pod's
        # shared cache) would not show whether this one holds the scope's vectors.
        limit = 20 + next(sequence) % 80
        answer = requests.get(f"{base}/search?q={quote(texts[n % len(texts)])}&scope={scope}&limit={limit}",
                              timeout=600, headers={"Cookie": jar} if jar else {})
        # A page ranked by words alone (the scope's vectors still being read) says no "by meaning".
        return answer.status_code if "by meaning" in answer.text else -1

    began, codes = time.perf_counter(), [0]
    while time.perf_counter() - began < seconds:
        sizes = [rss_mb(pid) for pid in worker_pids(master)]
        if set(codes) == {200} and sizes and min(sizes) > 0.85 * max(sizes):
            break
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(probe, range(16)))
        wait_idle(base)
        if set(codes) != {200}:
            time.sleep(1)  # reads under way: let them work
    print(f"workers warmed in {time.perf_counter() - began:.0f} s (last probes {sorted(set(codes))}): RSS "
          f"{sorted(round(rss_mb(pid)) for pid in worker_pids(master))} MB", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--warmup-rounds", type=int, default=12, help="at most this many 10 s "
                        "rounds of the popular queries before measuring them")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="measure open-loop at this many requests/s with vegeta "
                        "(bench/open_loop.py) instead of wrk at saturation")
    parser.add_argument("--kinds", default="popular,zipf,distinct",
                        help="which query mixes to measure, comma-separated (default: all three)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is required: apt-get install wrk", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="bench-semantic-"))
    db_dir = OUT / f"semantic-db-{args.images}-v{SEED_VERSION}"
    seeded = (db_dir / "seeded").exists()
    if not seeded:
        shutil.rmtree(db_dir, ignore_errors=True)
    mongo, minio, web = MongoServer(db_dir), MinioServer(workdir / "minio"), None
    mongo.config_toml = '[storage]\ncache_size = "4G"\n[oplog]\nmax_entries = 5000000\n'
    rng = random.Random(7)
    everything = phrases(rng, QUERIES + ZIPF_QUERIES + DISTINCT)
    popular, zipf_texts = everything[:QUERIES], everything[QUERIES:QUERIES + ZIPF_QUERIES]
    distinct = everything[QUERIES + ZIPF_QUERIES:]
    zipf = zipf_sequence(rng, zipf_texts, ZIPF_REQUESTS)
    try:
        print("starting SecantusDB and MinIO ...", flush=True)
        mongo.start()
        minio.start()
        minio.client().make_bucket(BUCKET)
        db = connect(MongoSettings(uri=mongo.uri, database=DATABASE, timeout_ms=120_000))
        ensure_indexes(db)
        from picsource_web.services.users import UserService

        if seeded:
            user = UserService(db).authenticate(USERNAME, PASSWORD)
            assert user is not None, f"{db_dir} has no bench user; delete it to reseed"
            print(f"reusing {db[IMAGES].estimated_document_count():,} documents in {db_dir}")
        else:
            user = UserService(db).create(USERNAME, PASSWORD)
            print(f"seeding {args.images:,} images with text vectors ...", flush=True)
            seconds = seed(db, user.id, args.images)
            (db_dir / "seeded").write_text(f"{seconds:.0f}s\n")
            print(f"  {args.images:,} documents in {seconds:.0f}s", flush=True)
        cost = embedding_cost(user.id)
        print(f"worker cost per image for its text vector: p50 {cost['embed_per_image_p50_ms']:.1f} ms, "
              f"{cost['embed_per_image_cpu_ms']:.1f} ms CPU (one thread)", flush=True)
        if os.environ.get("BENCH_SKIP_IN_PROCESS"):
            inproc = {}
        else:
            inproc = in_process(db, user, popular, distinct[-100:])
            print_in_process(inproc)
        inproc.update(cost)


        port = free_port()
        env = dict(os.environ)
        env.update(
            PYTHONPATH=python_path(), MONGODB_URI=mongo.uri, MONGODB_DATABASE=DATABASE,
            S3_ENDPOINT=minio.url, S3_ACCESS_KEY=minio.access_key, S3_SECRET_KEY=minio.secret_key,
            S3_BUCKET=BUCKET, S3_REGION=minio.region, SECRET_KEY="bench-" + "k" * 40,
            WEB_WORKERS=str(args.workers), LOG_LEVEL="warning", PROMETHEUS_MULTIPROC_DIR=str(workdir / "prom"),
        )
        (workdir / "prom").mkdir()
        web = ManagedProcess("web", web_argv(port), workdir / "web.log", env=env, cwd=REPO).start()
        base = f"http://127.0.0.1:{port}"
        web.wait_ready(lambda: http_responds(f"{base}/readyz"), 90, "serving")
        cookie = sign_in(base)
        import requests

        for jar in (cookie, None):  # the first search of a worker starts reading the scope's vectors
            for _attempt in range(3):  # a read past VECTOR_READ_SECONDS answers 503: try again
                began = time.perf_counter()
                probe = requests.get(f"{base}/search?q={quote(popular[0])}&scope={'mine' if jar else 'public'}",
                                     timeout=600, headers={"Cookie": jar} if jar else {})
                how = "ranked by meaning" if "by meaning" in probe.text else "by words alone, vectors being read"
                print(f"first search ({'mine' if jar else 'public'}): {probe.status_code} in "
                      f"{time.perf_counter() - began:.1f} s ({how})", flush=True)
                if probe.status_code == 200:
                    break
                wait_idle(base)
                time.sleep(6)  # the circuit the failure opened closes after 5 s
        warm_every_worker(base, cookie, web.pid, popular)
        rss_before = {pid: rss_mb(pid) for pid in worker_pids(web.pid)}
        results: dict[str, dict[str, float]] = {}
        load = (f"vegeta at {args.rate:g} req/s (open loop)" if args.rate
                else f"wrk -t2 -c{args.connections}")
        print(f"\n{load} -d{args.duration}s, gunicorn workers={args.workers}, "
              f"{args.images:,} images, cpus={os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, "
              f"LISTING_CACHE_ENTRIES={os.environ.get('LISTING_CACHE_ENTRIES', 'default')}")
        rss_scopes: dict[str, list[float]] = {}
        half = len(distinct) // 2
        for scope, jar in (("mine", cookie), ("public", None)):
            # Each scope asks ever-new queries the other scope never asked (no cached vector).
            fresh = distinct[:half] if scope == "mine" else distinct[half:]
            for kind, texts, warm_texts in (("popular", popular, popular), ("zipf", zipf, zipf),
                                            ("distinct", fresh[half // 4:], fresh[:half // 4])):
                if kind not in args.kinds.split(","):
                    continue
                urls = [f"/search?q={quote(t)}&scope={scope}" for t in texts]
                script = lua_script(workdir / f"{scope}-{kind}.lua", urls, jar)
                warm_script = lua_script(workdir / f"{scope}-{kind}-warm.lua",
                                         [f"/search?q={quote(t)}&scope={scope}" for t in warm_texts], jar)
                name = f"{scope} scope, {kind} queries"
                wait_idle(base)
                # Warm-up: the scope and the model in every worker; for repeating queries,
                # rounds until every worker has ranked most of them (a round's p50 is then fast).
                for _ in range(args.warmup_rounds if kind != "distinct" else 1):
                    warm = run_wrk(base, jar, 10, args.connections, script=warm_script)
                    if kind != "distinct" and warm["p50_ms"] < 20:
                        break
                wait_idle(base)
                if os.environ.get("BENCH_STATUSES"):
                    print("  statuses", statuses(base, urls, jar), flush=True)
                read_before = pages_from_database(base)
                results[name] = stats = (
                    run_vegeta([base + u for u in urls], jar, args.duration, args.rate) if args.rate
                    else run_wrk(base, jar, args.duration, args.connections, script=script))
                # Pages no worker had cached (each one a ranking, a page read and its tiles).
                stats["pages_from_database"] = pages_from_database(base) - read_before
                flag = " NON-2xx!" if stats["non_2xx"] else ""
                print(f"  {name:34s} p50 {stats['p50_ms']:7.2f} ms  p99 {stats['p99_ms']:7.2f} ms  "
                      f"{stats['rps']:8.1f} req/s  ({stats['requests']:.0f} requests, "
                      f"{stats['pages_from_database']:.0f} read from the database, load "
                      f"{os.getloadavg()[0]:.1f}){flag}", flush=True)
            rss_scopes[scope] = [rss_mb(pid) for pid in worker_pids(web.pid)]
            print(f"  web worker RSS after the {scope} scope: {sorted(round(v) for v in rss_scopes[scope])} MB",
                  flush=True)
        rss_after = {pid: rss_mb(pid) for pid in worker_pids(web.pid)}
        print(f"\nweb worker RSS: before {sorted(round(v) for v in rss_before.values())} MB, after "
              f"{sorted(round(v) for v in rss_after.values())} MB (two {args.images:,}-image scopes with their "
              "words, and the model loaded)")
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "bench_semantic.json").write_text(json.dumps(
            {"images": args.images, "workers": args.workers, "connections": args.connections,
             "rate": args.rate, "duration_s": args.duration, "in_process": inproc, "results": results,
             "rss_mb_before": list(rss_before.values()), "rss_mb_after": list(rss_after.values()),
             "rss_mb_after_scope": rss_scopes, "load_average_1min_end": os.getloadavg()[0]}, indent=2))
        return 0
    finally:
        if web is not None:
            web.stop()
            log = (workdir / "web.log").read_text(errors="replace").splitlines()
            print("web.log (last 30 lines):", *log[-30:], sep="\n  ")
        minio.stop()
        mongo.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
