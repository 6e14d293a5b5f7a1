"""The listing caches' level shared by a pod's gunicorn workers (services/shared_cache.py):
what one process builds, another reads instead of building it again; entries keep their
time limit and stamps; a broken or full directory only costs cache hits."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from prometheus_client import REGISTRY

from picsource_core.config import ConfigurationError
from picsource_web.services.listing_cache import ListingCache
from picsource_web.services.shared_cache import (
    PRUNE_EVERY,
    SharedEntries,
    SharedLevel,
    clear,
    same_bytes,
)
from picsource_web.settings import Settings
from tests.support import images as samples
from tests.support.clock import FakeClock
from tests.support.waiting import wait_until
from tests.support.web import WebClient, app_services
from tests.web.test_web_semantic import analysed
from tests.web.web_support import tile_ids


def level(entries: SharedEntries, namespace: str = "t") -> SharedLevel[bytes]:
    return SharedLevel(entries, namespace, same_bytes, same_bytes)


def test_an_entry_one_process_builds_is_read_by_another_instead_of_built(tmp_path: Path) -> None:
    """Two caches on one directory stand for two gunicorn workers."""
    one = ListingCache[bytes](8, 60, shared=level(SharedEntries(tmp_path, 1 << 20, 60)))
    two = ListingCache[bytes](8, 60, shared=level(SharedEntries(tmp_path, 1 << 20, 60)))
    builds: list[str] = []

    def build(name: str) -> Callable[[], bytes]:
        return lambda: builds.append(name) or b"page built by " + name.encode()

    assert one.get_or_build(("grid", "stamp-1", 1), build("one")) == b"page built by one"
    assert two.get_or_build(("grid", "stamp-1", 1), build("two")) == b"page built by one"
    assert builds == ["one"] and two.shared_hits == 1
    assert two.lookup(("grid", "stamp-1", 1)) == (b"page built by one", False)  # now its own
    # A renewed stamp is another key: built again, and shared again.
    assert two.get_or_build(("grid", "stamp-2", 1), build("two")) == b"page built by two"
    assert one.get(("grid", "stamp-2", 1)) == b"page built by two" and builds == ["one", "two"]


def test_a_rebuild_after_answering_takes_what_another_worker_built_meanwhile(tmp_path: Path) -> None:
    """When the signing window moves on, every worker's tiles fall due at once: the one
    that renders second finds the first's in the shared level instead of rendering."""
    wall, mono = FakeClock(1_000_000.0), FakeClock()
    entries = SharedEntries(tmp_path, 1 << 20, 60, clock=wall)
    one = ListingCache[bytes](8, 60, clock=mono, rebuild_after=True, shared=level(entries))
    one.put("k", b"old")
    wall.now += 61
    mono.now += 61  # past its time here and in the directory
    looks: list[str] = []
    real_get = entries.get

    def get(key: str) -> tuple[bytes, float] | None:
        looks.append(key)
        return None if len(looks) == 1 else real_get(key)  # the request looked before ...

    entries.get = get  # type: ignore[method-assign]
    other = SharedEntries(tmp_path, 1 << 20, 60, clock=wall)
    other.put(level(other).key("k"), b"built by the other worker")  # ... the other worker wrote
    builds: list[int] = []
    assert one.get_or_build("k", lambda: builds.append(1) or b"built here") == b"old"  # answered
    wait_until(lambda: not one._building, 10, "the build after answering", interval=0.01)
    assert builds == [] and one.get("k") == b"built by the other worker" and len(looks) == 2


def test_namespaces_keep_caches_apart_and_a_hash_collision_reads_as_a_miss(tmp_path: Path) -> None:
    entries = SharedEntries(tmp_path, 1 << 20, 60)
    level(entries, "pages").put("k", b"a page")
    assert level(entries, "tiles").get("k") is None
    assert level(entries, "pages").get("k") == (b"a page", pytest.approx(60, abs=1))
    level(entries, "pages").put("short", b"a page", 40)  # a spread time limit (listing_cache)
    assert level(entries, "pages").get("short") == (b"a page", pytest.approx(40, abs=1))
    # Another key's content under this key's file name (what a collision would look like).
    entries._path("pages:'short'").unlink()
    (file,) = tmp_path.iterdir()
    os.replace(file, entries._path("pages:'other'"))
    assert entries.get("pages:'other'") is None


def test_entries_expire_in_every_process_and_a_reader_keeps_only_the_time_left(tmp_path: Path) -> None:
    wall, mono = FakeClock(), FakeClock()
    writer = ListingCache[bytes](8, 60, clock=mono, shared=level(SharedEntries(tmp_path, 1 << 20, 60, clock=wall)))
    reader = ListingCache[bytes](8, 60, clock=mono, shared=level(SharedEntries(tmp_path, 1 << 20, 60, clock=wall)))
    writer.put("k", b"v")
    wall.now += 45
    mono.now += 45
    assert reader.get("k") == b"v"
    wall.now += 16
    mono.now += 16  # 61 s after it was built: expired here, though read 16 s ago
    assert reader.get("k") is None and writer.get("k") is None


def test_torn_or_foreign_files_and_a_missing_directory_are_misses_never_errors(tmp_path: Path) -> None:
    entries = SharedEntries(tmp_path / "shared", 1 << 20, 60)
    entries.put("k", b"v")  # the directory does not exist: the entry is lost, nothing raises
    assert entries.get("k") is None
    (tmp_path / "shared").mkdir()
    entries.put("k", b"v")
    (file,) = (tmp_path / "shared").iterdir()
    file.write_bytes(file.read_bytes()[:5])  # shorter than a header
    assert entries.get("k") is None

    def broken(_data: bytes) -> bytes:
        raise ValueError("not what this cache writes")

    entries.put("k", b"v")
    assert SharedLevel(entries, "", same_bytes, broken).get("k") is None


def test_the_directory_is_pruned_to_its_bound_oldest_first(tmp_path: Path) -> None:
    clock = FakeClock(1_000_000.0)
    entries = SharedEntries(tmp_path, max_bytes=40 * 1024, seconds=60, clock=clock)
    for n in range(PRUNE_EVERY):  # 64 entries of 1 KB: the 64th write prunes
        entries.put(f"k{n}", bytes(1024))
        os.utime(entries._path(f"k{n}"), (clock() + n, clock() + n))  # written in order
    total = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert total <= 30 * 1024
    assert entries.get(f"k{PRUNE_EVERY - 1}") is not None and entries.get("k0") is None
    # Past their time, entries go whatever the room; so do temporary files of dead writers.
    stray = tmp_path / "x.entry.123.456.tmp"
    stray.write_bytes(b"half")
    os.utime(stray, (0, 0))
    clock.now += 3600
    entries.prune()
    assert list(tmp_path.iterdir()) == []


def test_a_start_clears_only_the_entries_of_a_directory_the_operator_named(tmp_path: Path) -> None:
    """gunicorn's master clears a previous run's entries at start: in a directory an
    operator named, nothing else is touched."""
    entries = SharedEntries(tmp_path, 1 << 20, 60)
    entries.put("k", b"v")
    (tmp_path / "x.entry.12.34.tmp").write_bytes(b"half")
    (tmp_path / "notes.txt").write_text("theirs")
    (tmp_path / "sub").mkdir()
    assert clear(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "sub"]
    assert clear(tmp_path / "missing") == 0


def test_the_shared_directory_setting_names_the_variable(web_env: dict[str, str], tmp_path: Path) -> None:
    assert Settings.from_env(web_env).listing_shared_dir is None
    assert Settings.from_env({**web_env, "LISTING_SHARED_DIR": str(tmp_path)}).listing_shared_dir == str(tmp_path)
    for bad in (str(tmp_path / "missing"), str(tmp_path / "file")):
        (tmp_path / "file").write_text("")
        with pytest.raises(ConfigurationError) as err:
            Settings.from_env({**web_env, "LISTING_SHARED_DIR": bad})
        assert err.value.name == "LISTING_SHARED_DIR"
    with pytest.raises(ConfigurationError) as err:
        Settings.from_env({**web_env, "LISTING_SHARED_MB": "-1"})
    assert err.value.name == "LISTING_SHARED_MB"


# --- against real servers --------------------------------------------------------------
def listed(source: str) -> float:
    return REGISTRY.get_sample_value("picsource_web_listing_pages_total", {"source": source}) or 0.0


def test_a_search_one_worker_ranked_is_served_by_another_from_the_pod_level(
        make_app: Callable[..., Flask], tmp_path: Path) -> None:
    """Two apps on one database and one shared directory stand for a pod's two gunicorn
    workers: the second serves the first's page and tiles without ranking or reading."""
    one, two = make_app(listing_shared_dir=str(tmp_path)), make_app(listing_shared_dir=str(tmp_path))
    alice = WebClient(one)
    alice.signup("alice")
    svc = app_services(one)
    dog = analysed(svc, alice, 700, labels=["golden retriever", "seashore"], caption="A dog on a beach.")
    analysed(svc, alice, 701, labels=["consomme"], caption="A bowl of soup.")
    first = alice.get("/search?q=dog").get_data(as_text=True)
    assert tile_ids(first)[0] == dog
    other = WebClient(two)
    assert other.login("alice").status_code == 302
    database, shared = listed("database"), listed("shared")
    tiles = app_services(two).fragments.cache.shared_hits
    second = other.get("/search?q=dog").get_data(as_text=True)
    assert tile_ids(second) == tile_ids(first)
    assert listed("database") == database and listed("shared") == shared + 1
    assert app_services(two).fragments.cache.shared_hits == tiles + 1  # the tiles too
    # A write renews alice's stamp: the next search is built again, by whoever is asked.
    another = alice.upload_id(samples.noisy_jpeg(3), title="another dog")
    assert another in tile_ids(other.get("/search?q=dog").get_data(as_text=True))
    assert listed("database") == database + 1


def test_entries_of_one_viewer_never_answer_another(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    """Keys name the stamp of the scope they list (the viewer's own for "mine"), so
    another user on the other worker never gets them."""
    one, two = make_app(listing_shared_dir=str(tmp_path)), make_app(listing_shared_dir=str(tmp_path))
    alice, bob = WebClient(one), WebClient(two)
    alice.signup("alice")
    bob.signup("bob")
    private = alice.upload_id(samples.noisy_jpeg(1), title="secret", visibility="private")
    assert tile_ids(alice.get("/").get_data(as_text=True)) == [private]
    assert any(tmp_path.iterdir())  # alice's page and tiles are shared ...
    assert tile_ids(bob.get("/").get_data(as_text=True)) == []  # ... on the same path, not with bob
    assert tile_ids(bob.get("/public").get_data(as_text=True)) == []
