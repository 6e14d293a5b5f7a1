"""The listing cache: pages are reused while nothing changed, and every kind of write,
on any replica or by the worker, shows on the very next request.

The LRU/time-limit tests are pure; the rest run two real apps (two "replicas", each with
its own in-process cache) against one SecantusDB and MinIO.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import bson
import pytest
from bson import ObjectId
from bson.codec_options import CodecOptions
from flask import Flask
from prometheus_client import REGISTRY

from picsource_core import stamps
from picsource_core.image_documents import ImageDocuments
from picsource_core.images import HIDDEN_FROM_PUBLIC
from picsource_core.mongo import IMAGES, USERS
from picsource_web.services.listing_cache import ListingCache
from picsource_web.services.packed_docs import PackedDocs
from picsource_web.services.query import ImageQuery
from picsource_web.services.users import Viewer
from picsource_web.settings import Settings
from tests.support import images as samples
from tests.support.clock import FakeClock
from tests.support.waiting import wait_until
from tests.support.web import WebClient, app_services
from tests.web.web_support import finish_analysis, tile_ids

_THUMB = re.compile(r'<img class="relative w-full h-full object-cover" src="([^"]+)"')


# --- the cache itself (pure) -----------------------------------------------------------
def test_cache_evicts_least_recently_used() -> None:
    cache: ListingCache[str] = ListingCache(entries=2, seconds=60)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # "a" is now the most recent
    cache.put("c", "C")
    assert cache.get("b") is None and cache.get("a") == "A" and cache.get("c") == "C"
    assert len(cache) == 2


def test_cache_entries_expire_after_their_time_limit() -> None:
    clock = FakeClock()
    cache: ListingCache[str] = ListingCache(entries=8, seconds=30, clock=clock)
    cache.put("k", "v")
    clock.now += 29.9
    assert cache.get("k") == "v"
    clock.now += 0.2
    assert cache.get("k") is None
    assert cache.get_or_build("k", lambda: "rebuilt") == "rebuilt" and cache.get("k") == "rebuilt"


def held_build(value: str) -> tuple[Callable[[], str], threading.Event, threading.Event]:
    """A build that says it started, then returns ``value`` once released (10 s at most)."""
    started, release = threading.Event(), threading.Event()

    def build() -> str:
        started.set()
        release.wait(10)
        return value

    return build, started, release


def test_entries_built_together_pass_their_time_one_by_one() -> None:
    """With ``spread``, each entry lives between (1 - spread) and 1 times the limit, so a
    pod's first pages are not all built again in the same second (a burst that held
    SecantusDB for ~0.75 s under bench_semantic's load)."""
    clock = FakeClock()
    cache: ListingCache[int] = ListingCache(entries=1000, seconds=60, clock=clock, spread=0.25)
    for n in range(1000):
        cache.put(n, n)
    expiries = sorted(expires for expires, _value in cache._data.values())
    assert clock.now + 45 <= expiries[0] and expiries[-1] <= clock.now + 60
    assert expiries[-1] - expiries[0] > 14  # spread over the quarter, not bunched
    clock.now += 52.5
    assert 300 < sum(cache.get(n) is not None for n in range(1000)) < 700
    together: ListingCache[int] = ListingCache(entries=10, seconds=60, clock=clock)
    for n in range(10):
        together.put(n, n)
    assert len({expires for expires, _value in together._data.values()}) == 1  # without it


def test_an_expired_entry_serves_the_other_threads_while_one_rebuilds_it() -> None:
    """Past its time, an entry is built again by one thread; the others get the previous
    content meanwhile instead of queueing behind the build (a key never built still makes
    them wait for the one build)."""
    clock = FakeClock()
    cache: ListingCache[str] = ListingCache(entries=8, seconds=30, clock=clock)
    cache.put("k", "old")
    clock.now += 31
    slow_build, started, release = held_build("new")
    with ThreadPoolExecutor(2) as pool:
        builder = pool.submit(cache.get_or_build, "k", slow_build)
        assert started.wait(10)
        assert cache.get_or_build("k", lambda: "never built") == "old" and cache.stale_hits == 1
        release.set()
        assert builder.result(10) == "new"
    assert cache.get_or_build("k", lambda: "never built") == "new"


def test_an_expired_entry_answers_the_request_that_found_it_and_is_built_again_after() -> None:
    """With ``rebuild_after``, no request waits for an entry past its time: the one that
    found it gets it at once, and the build runs on a thread of its own."""
    clock = FakeClock()
    cache: ListingCache[str] = ListingCache(entries=8, seconds=30, clock=clock, rebuild_after=True)
    cache.put("k", "old")
    clock.now += 31
    slow_build, started, release = held_build("new")
    assert cache.get_or_build("k", slow_build) == "old"  # answered while the build waits
    assert started.wait(10) and cache.stale_hits == 1
    assert cache.get_or_build("k", lambda: "never built") == "old"  # one build at a time
    release.set()
    wait_until(lambda: cache.get("k") == "new", 10, "the entry built again", interval=0.01)


def test_a_value_the_builder_says_not_to_keep_answers_its_request_and_is_not_stored() -> None:
    """``keep``: a search ranked with vectors older than its stamp answers, is not cached."""
    clock = FakeClock()
    cache: ListingCache[str] = ListingCache(entries=8, seconds=30, clock=clock, rebuild_after=True)
    kept = lambda value: not value.startswith("unkept")  # noqa: E731
    assert cache.get_or_build("k", lambda: "unkept 1", keep=kept) == "unkept 1"
    assert cache.get("k") is None
    assert cache.get_or_build("k", lambda: "kept", keep=kept) == "kept" and cache.get("k") == "kept"
    clock.now += 31  # past its time: answered, and the build on its own thread is not kept
    assert cache.get_or_build("k", lambda: "unkept 2", keep=kept) == "kept"
    wait_until(lambda: not cache._building, 10, "the build after answering", interval=0.01)
    assert cache.get("k") is None  # still the old entry, past its time: answers once more
    assert cache.get_or_build("k", lambda: "kept 2", keep=kept) == "kept"
    wait_until(lambda: cache.get("k") == "kept 2", 10, "the kept build", interval=0.01)


def test_with_every_spare_thread_building_an_entry_past_its_time_answers_and_waits_its_turn() -> None:
    """A wave of entries falling due never makes their requests build them, nor crowds
    the database with builds: at most BACKGROUND_BUILDS run, a later request starts the next."""
    clock = FakeClock()
    cache: ListingCache[str] = ListingCache(entries=8, seconds=30, clock=clock, rebuild_after=True,
                                            background_builds=1)
    cache.put("a", "old a")
    cache.put("b", "old b")
    clock.now += 31
    slow_build, started, release = held_build("new a")
    assert cache.get_or_build("a", slow_build) == "old a"
    assert started.wait(10)
    builds: list[str] = []
    assert cache.get_or_build("b", lambda: builds.append("b") or "new b") == "old b"  # no thread spare
    assert builds == [] and cache.stale_hits == 2
    release.set()
    wait_until(lambda: cache.get("a") == "new a", 10, "a built", interval=0.01)
    assert cache.get_or_build("b", lambda: builds.append("b") or "new b") == "old b"  # its turn now
    wait_until(lambda: cache.get("b") == "new b", 10, "b built", interval=0.01)
    assert builds == ["b"]


def test_an_entry_more_than_one_time_limit_late_is_built_by_the_request() -> None:
    clock = FakeClock()
    cache: ListingCache[str] = ListingCache(entries=8, seconds=30, clock=clock, rebuild_after=True)
    cache.put("k", "old")
    clock.now += 61
    assert cache.get_or_build("k", lambda: "new") == "new" and cache.stale_hits == 0


def test_when_no_thread_can_be_started_the_request_builds_the_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(thread: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    clock = FakeClock()
    cache: ListingCache[str] = ListingCache(entries=8, seconds=30, clock=clock, rebuild_after=True)
    cache.put("k", "old")
    clock.now += 31
    monkeypatch.setattr(threading.Thread, "start", refuse)
    assert cache.get_or_build("k", lambda: "new") == "new" and cache.stale_hits == 0
    assert cache.get_or_build("k", lambda: "never built") == "new"


def test_a_failed_build_after_answering_leaves_the_entry_for_the_next_request(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    cache: ListingCache[str] = ListingCache(entries=8, seconds=30, clock=clock, rebuild_after=True)
    cache.put("k", "old")
    clock.now += 31
    failed = threading.Event()

    def broken() -> str:
        failed.set()
        raise RuntimeError("database went away")

    assert cache.get_or_build("k", broken) == "old"
    assert failed.wait(10)
    wait_until(lambda: "building a cached listing again failed" in caplog.text, 10, "the failure logged",
               interval=0.01)
    # the thread lets go of the key once it logged; then a request builds the entry again
    wait_until(lambda: cache.get_or_build("k", lambda: "new") == "new", 10, "the entry built again",
               interval=0.01)
    assert cache.get("k") == "new"


@pytest.mark.parametrize(("entries", "seconds"), [(0, 60), (512, 0)])
def test_cache_can_be_turned_off(entries: int, seconds: int) -> None:
    cache: ListingCache[str] = ListingCache(entries=entries, seconds=seconds)
    built: list[int] = []
    for _ in range(3):
        assert cache.get_or_build("k", lambda: str(built.append(1) or len(built))) == str(len(built))
    assert built == [1, 1, 1] and not cache.enabled


@pytest.mark.parametrize(("name", "value"), [
    ("LISTING_CACHE_SECONDS", "-1"), ("LISTING_CACHE_SECONDS", "soon"),
    ("LISTING_CACHE_ENTRIES", "many"), ("LISTING_CACHE_ENTRIES", "1000001"),
])
def test_bad_cache_settings_name_the_variable(web_env: dict[str, str], name: str, value: str) -> None:
    from picsource_core.config import ConfigurationError

    with pytest.raises(ConfigurationError) as err:
        Settings.from_env({**web_env, name: value})
    assert err.value.name == name


# --- against real servers --------------------------------------------------------------
@pytest.fixture
def replica(make_app: Callable[..., Flask]) -> Flask:
    """A second app on the same database and bucket: another web replica."""
    return make_app()


def signed_in(client: WebClient, username: str) -> WebClient:
    assert client.login(username).status_code == 302
    return client


def test_repeated_grid_is_served_from_cache(app: Flask, alice: WebClient) -> None:
    def listed(source: str) -> float:
        return REGISTRY.get_sample_value("picsource_web_listing_pages_total", {"source": source}) or 0.0

    first = alice.upload_id(samples.noisy_jpeg(1))
    cache = app_services(app).images.listings.cache
    queried = listed("database")
    assert tile_ids(alice.get("/").get_data(as_text=True)) == [first]
    hits, cached = cache.hits, listed("cache")
    assert tile_ids(alice.get("/").get_data(as_text=True)) == [first]
    assert cache.hits == hits + 1 and listed("cache") == cached + 1 and listed("database") == queried + 1
    assert alice.get("/api/v1/images").get_json()["items"][0]["id"] == first  # its own entry
    assert alice.get("/api/v1/images").get_json()["items"][0]["id"] == first
    assert listed("cache") == cached + 2 and listed("database") == queried + 2
    second = alice.upload_id(samples.noisy_jpeg(2))  # the upload renews alice's stamp
    assert tile_ids(alice.get("/").get_data(as_text=True)) == [second, first]


def test_a_grids_tiles_past_their_time_answer_and_are_rendered_again_after_the_request(
        app: Flask, alice: WebClient) -> None:
    """The tiles are rendered again on a thread of their own, in a copy of the request's
    context (url_for, the templates and the signed URLs work there too)."""
    first = alice.upload_id(samples.noisy_jpeg(1))
    html = alice.get("/").get_data(as_text=True)
    fragments = app_services(app).fragments.cache
    (key,) = [k for k in fragments._data if k[0] == "grid" and k[3] == "gallery.index"]
    _expires, packed = fragments._data[key]
    fragments._data[key] = (time.monotonic() - 1, packed)  # a second past its time
    stale = fragments.stale_hits
    assert tile_ids(alice.get("/").get_data(as_text=True)) == tile_ids(html) == [first]
    assert fragments.stale_hits == stale + 1
    wait_until(lambda: fragments._data[key][0] > time.monotonic(), 10, "the tiles rendered again")
    assert tile_ids(alice.get("/").get_data(as_text=True)) == [first]


def test_a_cached_page_is_kept_packed_and_each_reader_gets_documents_of_its_own(app: Flask,
                                                                               alice: WebClient) -> None:
    """The cache holds a page's documents as BSON (services/packed_docs.py): no dicts for
    the garbage collector to walk, and a reader that changes its documents (a view adding a
    field) changes nobody else's. They read back as stored: ids, tz-aware datetimes, nesting."""
    first = ObjectId(alice.upload_id(samples.noisy_jpeg(1)))
    images = app_services(app).images
    viewer = Viewer(app_services(app).users.by_username("alice"))
    query = ImageQuery(scope="mine", limit=10)
    built = images.listings.list_page(query, viewer)
    held = [page.items for _expires, page in images.listings.cache._data.values()]
    assert held and all(isinstance(items, PackedDocs) for items in held)
    assert any(len(items) and items[0]["_id"] == first for items in held)
    one, two = images.listings.list_page(query, viewer), images.listings.list_page(query, viewer)
    assert one.cached and two.cached and len(one.items) == 1
    one.items[0]["title"] = "changed by one reader"
    assert two.items[0]["title"] != "changed by one reader"
    assert list(two.items) == list(built.items) and two.items[0]["_id"] == first
    assert two.items[0]["created_at"].tzinfo is not None


def test_packed_documents_round_trip_and_decode_only_when_read() -> None:
    codec = CodecOptions(tz_aware=True, tzinfo=UTC)
    docs = [{"_id": ObjectId(), "at": datetime(2026, 1, 2, tzinfo=UTC), "analysis": {"palette": [{"hex": "#fff"}]}},
            {"_id": ObjectId(), "tags": ["a", "b"], "none": None}]
    packed = PackedDocs.pack(docs, codec)
    assert len(packed) == 2 and packed._docs is None  # counted without decoding
    assert list(packed) == docs and packed[1]["tags"] == ["a", "b"] and packed[:1] == docs[:1]
    copy = packed.fresh()
    assert copy._docs is None and copy == packed and copy[0] is not packed[0]
    assert len(PackedDocs.pack([], codec)) == 0 and list(PackedDocs.pack([], codec)) == []


def test_a_page_of_tile_documents_is_held_compressed() -> None:
    """48 tile-like documents (the same fields, different values) are kept in well under
    half of their BSON: what lets a process cache many pages (services/packed_docs.py)."""
    codec = CodecOptions(tz_aware=True, tzinfo=UTC)
    docs = [{"_id": ObjectId(), "title": f"Holiday photo {n}", "status": "ready", "visibility": "public",
             "thumbnails": {"256": f"thumbnails/{n:024x}/256.webp", "1280": f"thumbnails/{n:024x}/1280.webp"},
             "analysis": {"dominant_hex": "#a0b0c0", "caption": f"a dog on a beach, photo {n}"},
             "taken_at": datetime(2026, 1, 1 + n % 28, tzinfo=UTC)} for n in range(48)]
    packed = PackedDocs.pack(docs, codec)
    assert packed.nbytes * 2 < sum(len(bson.encode(d, codec_options=codec)) for d in docs)
    assert list(packed) == docs


def test_threads_missing_the_same_page_wait_for_one_build(app: Flask, alice: WebClient) -> None:
    """After an edit retires the grid page, a process's threads (gthread) that all ask for it
    build it once; the others wait for that build instead of each reading the database."""
    alice.upload_id(samples.noisy_jpeg(1))
    images = app_services(app).images
    viewer = Viewer(app_services(app).users.by_username("alice"))
    query = ImageQuery(scope="mine", limit=10)
    read = images.listings._query_page
    builds: list[int] = []

    def slow_read(*args: Any, **kwargs: Any) -> Any:
        builds.append(1)
        time.sleep(0.3)  # long enough for every thread to arrive while it is built
        return read(*args, **kwargs)

    images.listings._query_page = slow_read  # type: ignore[method-assign]
    start = threading.Barrier(4)

    def ask() -> list[Any]:
        start.wait()
        return [d["_id"] for d in images.listings.list_page(query, viewer).items]

    with ThreadPoolExecutor(4) as pool:
        pages = list(pool.map(lambda _: ask(), range(4)))
    assert len(builds) == 1 and len(pages[0]) == 1 and all(page == pages[0] for page in pages)


def test_write_on_one_replica_shows_on_the_other_at_once(app: Flask, replica: Flask, alice: WebClient,
                                                         web_client: Callable[..., WebClient]) -> None:
    image_id = alice.upload_id(samples.noisy_jpeg(1), title="Harbour at dawn", visibility="public")
    other = signed_in(web_client(replica), "alice")
    anonymous = web_client(replica)
    assert tile_ids(other.get("/").get_data(as_text=True)) == [image_id]  # cached on the replica
    assert tile_ids(anonymous.get("/public").get_data(as_text=True)) == [image_id]
    assert tile_ids(other.get("/search?q=harbour").get_data(as_text=True)) == [image_id]

    edit = alice.post(f"/images/{image_id}/edit", {"title": "Quay at dusk", "visibility": "private"})
    assert edit.status_code == 302
    assert tile_ids(other.get("/search?q=harbour").get_data(as_text=True)) == []
    assert tile_ids(other.get("/search?q=quay").get_data(as_text=True)) == [image_id]
    assert tile_ids(anonymous.get("/public").get_data(as_text=True)) == []  # no longer public
    assert "Quay at dusk" in other.get("/").get_data(as_text=True)

    assert alice.post(f"/images/{image_id}/delete").status_code == 302
    assert tile_ids(other.get("/").get_data(as_text=True)) == []


def test_rotated_share_link_shows_in_the_cached_api_list(app: Flask, replica: Flask, alice: WebClient,
                                                        web_client: Callable[..., WebClient]) -> None:
    """The API list shows the owner each image's share link; rotating it retires the page."""
    alice.upload_id(samples.noisy_jpeg(1), visibility="unlisted")
    other = signed_in(web_client(replica), "alice")
    before = other.get("/api/v1/images").get_json()["items"][0]
    assert other.get("/api/v1/images").get_json()["items"][0]["share_url"] == before["share_url"]  # cached
    assert alice.post(f"/images/{before['id']}/share-link").status_code == 302
    after = other.get("/api/v1/images").get_json()["items"][0]
    assert after["share_url"] and after["share_url"] != before["share_url"]


def test_worker_writes_show_at_once(app: Flask, replica: Flask, alice: WebClient,
                                    web_client: Callable[..., WebClient]) -> None:
    """Status changes and analysis results come from the worker through core's writes."""
    svc = app_services(app)
    image_id = alice.upload_id(samples.jpeg(), visibility="public")
    other = signed_in(web_client(replica), "alice")
    assert "Analysing" in other.get("/").get_data(as_text=True)
    finish_analysis(svc, image_id, caption="A red square", families=["red"])
    html = other.get("/").get_data(as_text=True)
    assert 'alt="A red square"' in html and "Analysing" not in html
    assert tile_ids(other.get("/search?colour=red").get_data(as_text=True)) == [image_id]

    ImageDocuments(svc.db).mark_failed(ObjectId(image_id), "decoder exploded")
    assert "analysis failed" in other.get("/").get_data(as_text=True)
    ImageDocuments(svc.db).mark_pending(ObjectId(image_id))
    assert "analysis failed" not in other.get("/").get_data(as_text=True)

    anonymous = web_client(replica)
    assert tile_ids(anonymous.get("/public").get_data(as_text=True)) == [image_id]
    ImageDocuments(svc.db).apply_analysis(ObjectId(image_id), {HIDDEN_FROM_PUBLIC: True})  # the safety flag
    assert tile_ids(anonymous.get("/public").get_data(as_text=True)) == []
    assert tile_ids(other.get("/").get_data(as_text=True)) == [image_id]  # the owner still sees it


def test_cached_pages_never_cross_users(app: Flask, alice: WebClient, bob: WebClient) -> None:
    mine = alice.upload_id(samples.noisy_jpeg(1), tags="shared")
    theirs = bob.upload_id(samples.noisy_jpeg(2), tags="shared")
    for _ in range(2):  # the second round is served from the cache
        assert tile_ids(alice.get("/").get_data(as_text=True)) == [mine]
        assert tile_ids(bob.get("/").get_data(as_text=True)) == [theirs]
        assert tile_ids(alice.get("/search?tag=shared").get_data(as_text=True)) == [mine]
        assert tile_ids(bob.get("/search?tag=shared").get_data(as_text=True)) == [theirs]
        assert tile_ids(alice.get("/public").get_data(as_text=True)) == []


def test_rolled_back_upload_retires_a_page_cached_meanwhile(make_app: Callable[..., Flask],
                                                            web_client: Callable[..., WebClient]) -> None:
    """Between an upload's insert and its rollback (quota race, failed enqueue) another
    request may cache a page showing the image; the rollback renews the stamp again."""
    app = make_app()
    client = web_client(app)
    assert client.signup("carol").status_code == 302
    image_id = client.upload_id(samples.noisy_jpeg(1))
    assert tile_ids(client.get("/").get_data(as_text=True)) == [image_id]  # cached with it
    svc = app_services(app)
    doc = svc.db[IMAGES].find_one({"_id": ObjectId(image_id)})
    assert doc is not None
    before = svc.db[USERS].find_one({"_id": doc["owner_id"]})
    svc.uploads._remove_document(ObjectId(image_id))  # noqa: SLF001 - the rollback path itself
    after = svc.db[USERS].find_one({"_id": doc["owner_id"]})
    assert before is not None and after is not None
    assert stamps.owner_stamp(after) not in (stamps.owner_stamp(before), stamps.UNSET)
    assert tile_ids(client.get("/").get_data(as_text=True)) == []


def test_tile_urls_follow_the_signing_window(app: Flask, alice: WebClient) -> None:
    """Cached tiles carry presigned URLs, so the cache is keyed by the signing window."""
    svc = app_services(app)
    image_id = alice.upload_id(samples.jpeg())
    finish_analysis(svc, image_id)
    clock = FakeClock()
    clock.now = 1_800_000_000.0
    svc.media = replace(svc.media, clock=clock)
    first = _THUMB.findall(alice.get("/").get_data(as_text=True))
    assert first == _THUMB.findall(alice.get("/").get_data(as_text=True))
    clock.now += svc.settings.presign_seconds  # two windows later
    later = _THUMB.findall(alice.get("/").get_data(as_text=True))
    assert len(first) == len(later) == 1 and first != later
    assert "X-Amz-Date=20270115T" in first[0]  # signed at the window start, from the clock


def test_cache_off_still_lists_correctly(make_app: Callable[..., Flask],
                                         web_client: Callable[..., WebClient]) -> None:
    app = make_app(listing_cache_seconds=0)
    client = web_client(app)
    assert client.signup("dave").status_code == 302
    image_id = client.upload_id(samples.noisy_jpeg(1))
    assert tile_ids(client.get("/").get_data(as_text=True)) == [image_id]
    assert app_services(app).images.listings.cache.hits == 0 and len(app_services(app).images.listings.cache) == 0
