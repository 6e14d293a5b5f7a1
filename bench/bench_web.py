"""Web-tier benchmark: the gallery grid (48 images), a keyword search, the timeline and an
album page with 100,000 image documents, under gunicorn, loaded with wrk; /healthz of the
same app is the ceiling.

Goals (issue "Web tier"; #12 for the timeline and album pages): each p99 <= 50 ms and
>= 300 requests/s on a 2-core machine. The main grid is the timeline: sorted by date
taken (70% of the seeded photos carry an EXIF date up to two years before their upload,
so that order is not the upload order); the rows add a jump into the middle of it
(``?month=``), the upload order (``?by=added``), and an album of ALBUM_SIZE of the bench
user's images by date taken and by date added. Everything is real: SecantusDB and MinIO started by the test harness,
the web tier started exactly as `make run` starts it (tests/harness/run.py web_argv).

Pages are served from the listing cache while nothing changed (services/listing_cache.py);
the "while editing" rows keep an editor changing one of the bench user's images
``--edits`` times a second through the real edit form, so each edit retires the cached
pages on every worker and the figures include the rebuilds. ``--cache off`` measures
every request against the database (LISTING_CACHE_SECONDS=0). ``--scan index`` or
``--scan windowed`` forces how listing pages are read (LISTING_SCAN; services/scan.py),
so the two readers can be compared on the same data. ``--rate 300`` measures every row
open-loop at 300 requests/s with vegeta instead (bench/open_loop.py): the latency at the
goal's load rather than at saturation.

Run:  .venv/bin/python bench/bench_web.py [--images 100000] [--duration 15] [--connections 16]
      [--workers N] [--cache on|off] [--scan auto|index|windowed] [--edits 1] [--explain]
      [--rate 300]
      [--only timeline,album]
Prints one line per endpoint: p50, p99 and requests/s (and writes bench/out/bench_web.json).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / p) for p in ("core", "web")] + [str(REPO)]

from bson import ObjectId  # noqa: E402
from open_loop import run_vegeta  # noqa: E402

from picsource_core.albums import ADDED_SEQ, AlbumDocuments, date_taken  # noqa: E402
from picsource_core.config import MongoSettings  # noqa: E402
from picsource_core.images import new_image_doc  # noqa: E402
from picsource_core.mongo import ALBUM_IMAGES, ALBUMS, IMAGES, connect, ensure_indexes  # noqa: E402
from picsource_core.search import COLOUR_FAMILIES, image_search_tokens  # noqa: E402
from picsource_core.storage import original_key, thumbnail_key  # noqa: E402
from picsource_core.timeline import TIMELINE, read_oldest, record_oldest, timeline_key  # noqa: E402
from tests.harness.procs import ManagedProcess, free_port, http_responds  # noqa: E402
from tests.harness.run import python_path, web_argv  # noqa: E402
from tests.harness.services import MinioServer, MongoServer  # noqa: E402

OUT = REPO / "bench" / "out"
BUCKET = "bench"
DATABASE = "bench"
USERNAME, PASSWORD = "bencher", "a long bench passphrase"
KEYWORD = "beach"
SEED_VERSION = 2  # bump when seed() changes, so a cached database is rebuilt
#: The bench user's album: this many of their images (of ~40% of --images).
ALBUM_SIZE = 20_000
ALBUM_TITLE = "Bench album"
WORDS = ("beach sunset mountain forest city street portrait dog cat car boat bridge river "
         "lake snow desert garden flower market night concert museum train harbour castle "
         "tree sky cloud road bicycle coffee food kitchen window door wall painting").split()
LABELS = ("seashore", "lakeside", "alp", "valley", "sandbar", "golden retriever", "tabby",
          "sports car", "speedboat", "suspension bridge", "volcano", "daisy", "street sign")
_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


#: Warm-up: 2-second rounds, at most this many, until one's p99 is under WARMED_P99_MS.
WARMUP_ROUNDS = 5
WARMED_P99_MS = 100.0


# --- seeding ---------------------------------------------------------------------------
def fake_image(rng: random.Random, owner: ObjectId, when: datetime, public: bool) -> dict[str, Any]:
    image_id = ObjectId.from_datetime(when)
    # from_datetime zeroes the random part; make ids unique while keeping time order.
    image_id = ObjectId(image_id.binary[:4] + rng.randbytes(8))
    words = rng.sample(WORDS, 3)
    tags = rng.sample(WORDS, rng.randint(0, 3))
    labels = [{"label": lbl, "score": round(rng.random(), 4)} for lbl in rng.sample(LABELS, 3)]
    families = rng.sample(COLOUR_FAMILIES, 2)
    palette = [{"hex": f"#{rng.randrange(1 << 24):06x}", "share": 0.2, "name": "colour",
                "family": fam} for fam in families]
    doc = new_image_doc(
        image_id=image_id, owner_id=owner, title=" ".join(words).capitalize(),
        description=f"A photo of a {words[0]} near the {words[1]}.", tags=tags,
        visibility="public" if public else rng.choice(("private", "unlisted")),
        share_token=rng.randbytes(18).hex(), sha256=rng.randbytes(32).hex(),
        size=rng.randint(200_000, 6_000_000), width=4000, height=3000, image_format="JPEG",
        content_type="image/jpeg", original_key=original_key(owner, image_id),
        filename=f"IMG_{rng.randint(1000, 9999)}.jpg", now=when,
    )
    has_text = rng.random() < 0.15
    doc.update(
        status="ready", colour_families=families, has_text=has_text, analysed_at=when,
        thumbnails={str(s): {"key": thumbnail_key(image_id, s), "width": s, "height": s * 3 // 4,
                             "bytes": 20_000} for s in (256, 1280)},
        analysis={"format": "JPEG", "width": 4000, "height": 3000, "palette": palette,
                  "labels": labels, "caption": f"a {labels[0]['label']} with a {words[2]}",
                  "ocr_text": "OPEN 9-5" if has_text else "", "phash": rng.randbytes(8).hex(),
                  "dhash": rng.randbytes(8).hex(), "faces": rng.randint(0, 3), "exif": {
                      "camera_make": "Canon", "camera_model": "EOS R6", "f_number": 2.8}},
    )
    doc["search_tokens"] = image_search_tokens(doc)
    if rng.random() < 0.7:  # EXIF names a capture time, up to two years before the upload
        doc["taken_at"] = when - timedelta(seconds=rng.randrange(2 * 365 * 86_400))
        doc[TIMELINE] = timeline_key(image_id, doc["taken_at"])
    return doc


def seed_album(db: Any, owner: ObjectId, images: list[dict[str, Any]]) -> None:
    """The bench user's album holding ``images``, written in the shape picsource_core.albums
    writes (an album page is one sorted read of its memberships, then the images)."""
    now = datetime.now(UTC)
    album_id = ObjectId()
    db[ALBUMS].insert_one({"_id": album_id, "owner_id": owner, "title": ALBUM_TITLE, "description": "",
                           "visibility": "private", "allow_download": False, "share_expires_at": None,
                           "cover_image_id": None, "share_token": album_id.binary.hex(),
                           "created_at": now, "updated_at": now, ADDED_SEQ: len(images)})
    for start in range(0, len(images), 1000):  # added in one burst, as a bulk add does
        db[ALBUM_IMAGES].insert_many([
            {"album_id": album_id, "image_id": doc["_id"], "owner_id": owner, "hidden": False,
             "added_at": now, "seq": start + n, "taken_at": date_taken(doc)}
            for n, doc in enumerate(images[start:start + 1000])], ordered=False)


def seed(db: Any, bench_user: ObjectId, total: int, batch: int = 1000) -> float:
    """`total` images: 40% owned by the bench user, the rest by 50 others; ~30% public;
    ~5% carry the keyword. Returns seconds taken."""
    rng = random.Random(42)
    others = [ObjectId() for _ in range(50)]
    start = datetime.now(UTC) - timedelta(days=3 * 365)
    step = timedelta(days=3 * 365) / total
    began = time.perf_counter()
    docs: list[dict[str, Any]] = []
    album: list[dict[str, Any]] = []
    oldest: dict[ObjectId, ObjectId] = {}  # what the write path records for the month menu
    for i in range(total):
        owner = bench_user if rng.random() < 0.4 else rng.choice(others)
        doc = fake_image(rng, owner, start + step * i, public=rng.random() < 0.3)
        oldest[owner] = min(oldest.get(owner, doc[TIMELINE]), doc[TIMELINE])
        if owner == bench_user and len(album) < ALBUM_SIZE and rng.random() < 0.6:
            album.append({"_id": doc["_id"], "taken_at": doc["taken_at"], "created_at": doc["created_at"]})
        if rng.random() < 0.05 and KEYWORD not in doc["search_tokens"]:
            doc["tags"].append(KEYWORD)
            doc["search_tokens"] = image_search_tokens(doc)
        docs.append(doc)
        if len(docs) == batch:
            db[IMAGES].insert_many(docs, ordered=False)
            docs = []
            if (i + 1) % 20_000 == 0:
                print(f"  seeded {i + 1:,} images ({time.perf_counter() - began:.0f}s)", flush=True)
    if docs:
        db[IMAGES].insert_many(docs, ordered=False)
    seed_album(db, bench_user, album)
    for owner, key in oldest.items():
        record_oldest(db, owner, key)
    return time.perf_counter() - began


# --- load ------------------------------------------------------------------------------
def sign_in(base: str) -> str:
    """A session cookie for the bench user, obtained through the real login form."""
    import requests

    session = requests.Session()
    page = session.get(f"{base}/login", timeout=10)
    match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert match, "no CSRF token on /login"
    response = session.post(f"{base}/login", data={"username": USERNAME, "password": PASSWORD,
                                                   "csrf_token": match.group(1)},
                            allow_redirects=False, timeout=10)
    assert response.status_code == 302, f"sign-in failed: {response.status_code}"
    # Follow the redirect as a browser does: the first page puts a CSRF token in the new
    # session and sends the cookie again. With the cookie from the login response alone,
    # every request of the load would carry a session without it, and every response
    # would sign and send a new cookie (measured: ~5 % of a cached page's CPU).
    assert session.get(f"{base}/", timeout=60).status_code == 200
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies)


class Editor(threading.Thread):
    """Edits one of the bench user's images ``rate`` times a second through the edit form
    (title alternates), as a user tidying their gallery while others browse."""

    def __init__(self, base: str, cookie: str, image_ids: list[str], rate: float) -> None:
        super().__init__(daemon=True)
        self.base, self.cookie, self.image_ids, self.rate = base, cookie, image_ids, rate
        self.done = threading.Event()
        self.edits = 0
        self.failures = 0

    def run(self) -> None:
        import requests

        session = requests.Session()
        session.headers["Cookie"] = self.cookie
        page = session.get(f"{self.base}/upload", timeout=10).text
        match = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert match, "no CSRF token on /upload"
        rng = random.Random(7)
        while not self.done.wait(1 / self.rate):
            image_id = rng.choice(self.image_ids)
            response = session.post(f"{self.base}/images/{image_id}/edit", allow_redirects=False, data={
                "csrf_token": match.group(1), "title": f"Edited {self.edits} {KEYWORD}",
                "description": "edited while the benchmark runs", "tags": KEYWORD,
                "visibility": "public"}, timeout=30)
            self.edits += 1
            self.failures += response.status_code != 302


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    assert match, text
    return float(match.group(1)) * _UNIT[match.group(2)]


def run_wrk(url: str, cookie: str | None, duration: int, connections: int,
            script: Path | None = None) -> dict[str, float]:
    """wrk's figures for ``url`` (with a Lua ``script``: the requests it makes, e.g. a list
    of URLs in turn, bench_semantic.py)."""
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if script is not None:
        argv += ["-s", str(script)]
    if cookie:
        argv += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(argv + [url], capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", out, re.M))  # "2.3s " has a space
    if "99" not in latency:  # no request completed (all timed out)
        print(out, file=sys.stderr)
        nan = float("nan")
        return {"p50_ms": nan, "p90_ms": nan, "p99_ms": nan, "rps": 0.0, "non_2xx": 0.0,
                "timeouts": float("nan"), "requests": 0.0}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    timeouts = re.search(r"Socket errors: .*timeout (\d+)", out)
    requests = re.search(r"(\d+) requests in", out)
    return {
        "p50_ms": _ms(latency["50"]), "p90_ms": _ms(latency["90"]), "p99_ms": _ms(latency["99"]),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "timeouts": float(timeouts.group(1)) if timeouts else 0.0,
        "requests": float(requests.group(1)) if requests else 0.0,
    }


def wait_idle(base: str, limit: float = 180.0) -> None:
    """Wait until /healthz answers quickly again: requests wrk gave up on are still being
    served by the workers, and they must not be billed to the next endpoint."""
    import requests

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            requests.get(f"{base}/healthz", timeout=5)
            if time.perf_counter() - started < 0.05:
                return
        except requests.RequestException:
            pass
        time.sleep(1)


def _stages(node: Any) -> list[str]:
    if not isinstance(node, dict):
        return []
    label = str(node.get("stage", "?")) + (f"({node['indexName']})" if node.get("indexName") else "")
    children = [node.get("inputStage")] + list(node.get("inputStages") or [])
    return [label] + [s for child in children for s in _stages(child)]


def explain(db: Any, user_id: ObjectId) -> None:
    """Which index each page's query uses: the plain query build_filter makes, and the
    one-day window services/scan.py sends instead (driver equality + a range on the
    listing's key: the timeline for the grid and the public page, _id for a search)."""
    from picsource_core.timeline import key_at
    from picsource_web.services.query import build_filter, parse_query
    from picsource_web.services.scan import split_compound
    from picsource_web.services.users import User, Viewer

    viewer = Viewer(User(id=user_id, username=USERNAME, is_admin=False, created_at=datetime.now(UTC)))
    day_ago = datetime.now(UTC) - timedelta(days=1)
    for name, params in (("grid", {}), ("search", {"q": KEYWORD}), ("public", {"scope": "public"})):
        query = parse_query(params, viewer)
        flt = build_filter(query, viewer)
        driver, _rest, _lo, _hi = split_compound(flt, query.key)
        recent = key_at(day_ago) if query.key == TIMELINE else ObjectId.from_datetime(day_ago)
        window: dict[str, Any] = {**driver, query.key: {"$gte": recent}}
        for variant, shape in (("plain", flt), ("window", window)):
            started = time.perf_counter()
            plan = db[IMAGES].find(shape).sort(query.key, -1).limit(49).explain()
            took = (time.perf_counter() - started) * 1000
            stages = _stages(plan.get("queryPlanner", {}).get("winningPlan", {}))
            stats = plan.get("executionStats", {})
            print(f"  explain {name:6s} {variant:6s}: {' <- '.join(stages)}; docs examined "
                  f"{stats.get('totalDocsExamined')}, {took:.0f} ms", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--cache", choices=("on", "off"), default="on")
    parser.add_argument("--scan", choices=("auto", "index", "windowed"), default="auto")
    parser.add_argument("--edits", type=float, default=1.0,
                        help="edits per second during the 'while editing' rows (0: skip them)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="measure each row open-loop at this many requests/s with vegeta "
                        "(bench/open_loop.py) instead of wrk at saturation")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated words: run only the rows whose "
                        "name holds one of them (healthz always runs)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is required: apt-get install wrk", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="bench-web-"))
    # The seeded database is kept between runs (seeding 100k documents takes minutes).
    db_dir = OUT / f"web-db-{args.images}-v{SEED_VERSION}"
    seeded = (db_dir / "seeded").exists()
    if not seeded:
        shutil.rmtree(db_dir, ignore_errors=True)
    mongo, minio, web = MongoServer(db_dir), MinioServer(workdir / "minio"), None
    # SecantusDB's defaults (1 GB WiredTiger cache, oplog pruned past 100,000 entries)
    # stall seeding near 60,000 documents: the cache fills and every 1,000 inserts prune
    # the oplog by walking its deleted entries. A production MongoDB is sized the same way.
    mongo.config_toml = '[storage]\ncache_size = "4G"\n[oplog]\nmax_entries = 5000000\n'

    try:
        print("starting SecantusDB and MinIO ...", flush=True)
        mongo.start()
        minio.start()
        minio.client().make_bucket(BUCKET)
        # A long socket timeout: new indexes on a reused 100k-document database take minutes.
        db = connect(MongoSettings(uri=mongo.uri, database=DATABASE, timeout_ms=120_000))
        started = time.perf_counter()
        ensure_indexes(db)
        if time.perf_counter() - started > 5:
            print(f"  built new indexes in {time.perf_counter() - started:.0f}s", flush=True)
        from picsource_web.services.users import UserService

        if seeded:
            user = UserService(db).authenticate(USERNAME, PASSWORD)
            assert user is not None, f"{db_dir} has no bench user; delete it to reseed"
            print(f"reusing {db[IMAGES].estimated_document_count():,} documents in {db_dir}")
            if read_oldest(db, user.id) is None:  # seeded before seed() recorded it
                for row in db[IMAGES].aggregate([{"$group": {"_id": "$owner_id", "min": {"$min": f"${TIMELINE}"}}}]):
                    record_oldest(db, row["_id"], row["min"])
        else:
            user = UserService(db).create(USERNAME, PASSWORD)
            print(f"seeding {args.images:,} image documents ...", flush=True)
            seconds = seed(db, user.id, args.images)
            (db_dir / "seeded").write_text(f"{seconds:.0f}s\n")
            print(f"  {args.images:,} documents in {seconds:.0f}s", flush=True)
        if args.explain:
            explain(db, user.id)

        port = free_port()
        env = dict(os.environ)
        env.update(
            PYTHONPATH=python_path(), MONGODB_URI=mongo.uri, MONGODB_DATABASE=DATABASE,
            S3_ENDPOINT=minio.url, S3_ACCESS_KEY=minio.access_key, S3_SECRET_KEY=minio.secret_key,
            S3_BUCKET=BUCKET, S3_REGION=minio.region, SECRET_KEY="bench-" + "k" * 40,
            WEB_WORKERS=str(args.workers), LOG_LEVEL=os.environ.get("BENCH_WEB_LOG_LEVEL", "warning"),
            PROMETHEUS_MULTIPROC_DIR=str(workdir / "prom"),
        )
        if args.cache == "off":
            env["LISTING_CACHE_SECONDS"] = "0"
        env["LISTING_SCAN"] = args.scan
        (workdir / "prom").mkdir()
        web = ManagedProcess("web", web_argv(port), workdir / "web.log", env=env, cwd=REPO).start()
        base = f"http://127.0.0.1:{port}"
        web.wait_ready(lambda: http_responds(f"{base}/readyz"), 90, "serving")
        cookie = sign_in(base)
        album = db[ALBUMS].find_one({"owner_id": user.id, "title": ALBUM_TITLE})
        assert album is not None, f"{db_dir} has no bench album; delete it to reseed"
        if ADDED_SEQ not in album:  # seeded before memberships were numbered: what the app does once
            started = time.perf_counter()
            AlbumDocuments(db).numbered(album)
            print(f"  numbered the album's memberships in {time.perf_counter() - started:.0f}s", flush=True)
        members = db[ALBUM_IMAGES].count_documents({"album_id": album["_id"]})
        album_url = f"{base}/albums/{album['_id']}"
        targets = [("healthz (ceiling)", f"{base}/healthz", None, False),
                   ("grid / = timeline by date taken", f"{base}/", cookie, False),
                   ("timeline ?month= (a jump back a year)", f"{base}/?month={datetime.now(UTC).year - 1}-06",
                    cookie, False),
                   ("timeline ?by=added (upload order)", f"{base}/?by=added", cookie, False),
                   (f"album page ({members:,} images, taken)", album_url, cookie, False),
                   ("album page (sort=added)", f"{album_url}?sort=added", cookie, False),
                   (f"search ?q={KEYWORD} (signed in)", f"{base}/search?q={KEYWORD}", cookie, False),
                   ("public grid (anonymous)", f"{base}/public", None, False)]
        if args.edits > 0 and args.cache == "on":
            targets += [(f"grid while {args.edits:g} edit/s", f"{base}/", cookie, True),
                        (f"search while {args.edits:g} edit/s", f"{base}/search?q={KEYWORD}", cookie, True)]
            mine = [str(d["_id"]) for d in db[IMAGES].find({"owner_id": user.id}, {"_id": 1}).limit(200)]
        if args.only:
            words = [w.strip() for w in args.only.split(",") if w.strip()]
            targets = [t for t in targets if t[0].startswith("healthz") or any(w in t[0] for w in words)]
        results: dict[str, dict[str, float]] = {}
        load = (f"vegeta at {args.rate:g} req/s (open loop)" if args.rate
                else f"wrk -t2 -c{args.connections}")
        print(f"\n{load} -d{args.duration}s, gunicorn workers={args.workers}, "
              f"{args.images:,} images, listing cache {args.cache}, scan {args.scan}, cpus={os.cpu_count()}, "
              f"load average {os.getloadavg()[0]:.1f}")
        for name, url, jar, editing in targets:
            # Warm-up rounds until one runs without a slow tail: the first views build the
            # pages, and the first after a change to the album (the previous run's edits)
            # count its 20,000 memberships once (1.3 s of SecantusDB; picsource_core.albums).
            for _ in range(WARMUP_ROUNDS):
                wait_idle(base)
                if run_wrk(url, jar, 2, args.connections)["p99_ms"] < WARMED_P99_MS:
                    break
            wait_idle(base)
            editor = Editor(base, cookie, mine, args.edits) if editing else None
            if editor is not None:
                editor.start()
            results[name] = stats = (run_vegeta([url], jar, args.duration, args.rate) if args.rate
                                     else run_wrk(url, jar, args.duration, args.connections))
            flag = " NON-2xx!" if stats["non_2xx"] else ""
            flag += f" ({stats['timeouts']:.0f} timed out)" if stats["timeouts"] else ""
            if editor is not None:
                editor.done.set()
                editor.join(60)
                stats["edits"] = float(editor.edits)
                flag += f" ({editor.edits} edits" + (f", {editor.failures} failed)" if editor.failures else ")")
            print(f"  {name:40s} p50 {stats['p50_ms']:7.2f} ms  p99 {stats['p99_ms']:7.2f} ms  "
                  f"{stats['rps']:8.1f} req/s  ({stats['requests']:.0f} requests){flag}", flush=True)
        OUT.mkdir(parents=True, exist_ok=True)
        suffix = ("" if args.cache == "on" else "-nocache") + (f"-rate{args.rate:g}" if args.rate else "") + ("" if args.scan == "auto" else f"-{args.scan}")
        (OUT / f"bench_web{suffix}.json").write_text(json.dumps(
            {"images": args.images, "workers": args.workers, "connections": args.connections,
             "rate": args.rate,
             "cache": args.cache, "scan": args.scan, "edits_per_second": args.edits,
             "duration_s": args.duration, "results": results}, indent=2))
        return 0
    finally:
        if web is not None:
            web.stop()
        minio.stop()
        mongo.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
