"""``picsource import`` against the real stack: the app served over HTTP on a loopback port
(tests/support/http_server.py) on SecantusDB and MinIO, a generated folder tree of a few
hundred small files (nested folders, duplicates, broken files, non-images, sidecars).

The command runs in-process through ``cli.run`` (the console script's body) with its own
stdout/stderr, so the exit code, the summary and the messages are what a shell sees.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from PIL import Image

from picsource_web.app import create_app
from picsource_web.importer import cli
from picsource_web.services.album_input import parse_album_fields
from picsource_web.settings import Settings
from tests.harness.procs import free_port
from tests.support import images as samples
from tests.support.env import python_path, web_env_for
from tests.support.http_server import AppServer
from tests.support.waiting import wait_until
from tests.support.web import WebClient, app_services
from tests.web.api_support import token_for

XMP = b"""<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Harbour at dawn</rdf:li></rdf:Alt></dc:title>
<dc:description><rdf:Alt><rdf:li xml:lang="x-default">Boats leaving</rdf:li></rdf:Alt></dc:description>
<dc:subject><rdf:Bag><rdf:li>Sea</rdf:li><rdf:li>boats</rdf:li></rdf:Bag></dc:subject>
</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>"""
HOSTILE_XMP = (b'<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa">]>'
               b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>')


@dataclass(frozen=True)
class Tree:
    root: Path
    unique: int  # distinct supported images (Trash included)
    trash: int  # of which under Trash/
    copies: int  # extra copies of images already in the tree
    broken: int  # look like images, the server cannot decode them
    unsupported: int  # not images (or empty, or text named .jpg)


def _small(seed: int, fmt: str) -> bytes:
    """A tiny image whose bytes differ per seed (0 < seed < 256)."""
    if fmt == "JPEG":
        return samples.noisy_jpeg(seed, (16, 12))
    image = Image.new("RGB", (8, 8), (seed, 255 - seed, (seed * 37) % 256))
    return samples.encode(image, fmt)


def build_tree(root: Path, *, jpegs: int = 150, others: int = 20, trash: int = 10,
               copies: int = 25, broken: int = 5, extras: bool = True) -> Tree:
    """Photos by year/month, a Trash folder, copies, truncated JPEGs, non-images, and
    (with ``extras``) a Takeout JSON, an XMP and a hostile XMP sidecar."""
    written: list[tuple[Path, bytes]] = []
    seed = 0

    def put(rel: str, data: bytes) -> Path:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append((path, data))
        return path

    for i in range(jpegs):
        seed += 1
        put(f"{2019 + i % 3}/{1 + i % 12:02d}/day{i % 5}/img_{i:03d}.jpg", _small(seed, "JPEG"))
    for fmt, ext in (("PNG", "png"), ("GIF", "gif"), ("WEBP", "webp")):
        for i in range(others):
            seed += 1
            put(f"scans/{ext}/s_{i:02d}.{ext}", _small(seed, fmt))
    for i in range(trash):
        seed += 1
        put(f"Trash/old_{i}.jpg", _small(seed, "JPEG"))
    unique = len(written)
    if extras:
        put("takeout/photo.jpg", _small(seed + 1, "JPEG"))
        put("takeout/photo.jpg.json", b'{"title": "Takeout title", "description": "From Google"}')
        put("lightroom/shot.jpg", _small(seed + 2, "JPEG"))
        put("lightroom/shot.xmp", XMP)
        put("lightroom/evil.jpg", _small(seed + 3, "JPEG"))
        put("lightroom/evil.jpg.xmp", HOSTILE_XMP)
        unique += 3
    images = [(path, data) for path, data in written if path.suffix not in (".json", ".xmp")]
    assert len({data for _, data in images}) == unique == len(images)
    for i in range(copies):
        (root / "copies").mkdir(exist_ok=True)
        shutil.copyfile(images[i][0], root / "copies" / f"copy_{i}.jpeg")
    for i in range(broken):
        data = samples.noisy_jpeg(i + 1, (256, 256))
        put(f"broken/cut_{i}.jpg", data[: len(data) // 2])
    unsupported = 0
    if extras:
        for rel, data in (("notes/readme.txt", b"hello\n"), ("notes/logo.svg", samples.SVG),
                          ("notes/fake.jpg", samples.TEXT_AS_JPG), ("notes/empty.jpg", b""),
                          ("notes/data.csv", b"a,b\n"), ("notes/stray.json", b"{}"),
                          ("notes/orphan.xmp", XMP)):
            put(rel, data)
            unsupported += 1
    return Tree(root, unique, trash, copies, broken, unsupported)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    return build_tree(tmp_path_factory.mktemp("library"))


@pytest.fixture
def server(app: Flask) -> Iterator[AppServer]:
    with AppServer(app) as running:
        yield running


@pytest.fixture
def token(app: Flask, alice: WebClient, monkeypatch: pytest.MonkeyPatch) -> str:
    plain = token_for(app, "alice")
    monkeypatch.setenv("PICSOURCE_TOKEN", plain)
    monkeypatch.delenv("PICSOURCE_URL", raising=False)
    return plain


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    def count(self, label: str) -> int:
        """The number on the summary line starting with ``label:``."""
        for line in self.out.splitlines():
            if line.startswith(label + ":"):
                return int(line.split(":", 1)[1].split()[0])
        raise AssertionError(f"no {label!r} line in the summary:\n{self.out}")


def run_import(*args: str) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(["import", *args], out=out, err=err, stdin=io.StringIO())
    return Outcome(code, out.getvalue(), err.getvalue())


def _images(app: Flask) -> list[dict[str, Any]]:
    return list(app_services(app).db.images.find({}, {"title": 1, "description": 1, "tags": 1,
                                                      "visibility": 1, "filename": 1}))


def test_import_counts_sidecars_then_resume_uploads_nothing(app: Flask, server: AppServer,
                                                            token: str, tree: Tree) -> None:
    first = run_import(str(tree.root), "--url", server.url, "--tags", "import,family",
                       "--visibility", "unlisted", "--jobs", "4")
    assert first.code == cli.EXIT_FAILED, first.err  # the broken files failed
    assert (first.count("uploaded"), first.count("duplicates"), first.count("skipped (unsupported)"),
            first.count("failed")) == (tree.unique, tree.copies, tree.unsupported, tree.broken), first.out
    assert first.out.count("corrupt_image") == tree.broken
    assert "evil.jpg.xmp: refused: contains a DOCTYPE" in first.out
    docs = _images(app)
    assert len(docs) == tree.unique
    assert {doc["visibility"] for doc in docs} == {"unlisted"}
    by_title = {doc["title"]: doc for doc in docs}
    assert by_title["Takeout title"]["description"] == "From Google"
    shot = by_title["Harbour at dawn"]
    assert shot["description"] == "Boats leaving"
    assert shot["tags"] == ["import", "family", "sea", "boats"]

    again = run_import(str(tree.root), "--url", server.url)
    assert (again.count("uploaded"), again.count("duplicates"), again.count("failed")) == (
        0, tree.unique + tree.copies, tree.broken), again.out
    assert len(_images(app)) == tree.unique


def test_dry_run_uploads_nothing_and_exclude_leaves_files_out(app: Flask, server: AppServer,
                                                              token: str, tree: Tree) -> None:
    dry = run_import(str(tree.root), "--url", server.url, "--dry-run")
    assert dry.code == cli.EXIT_OK, dry.err
    assert dry.count("would upload") == tree.unique + tree.broken
    assert dry.count("duplicates") == tree.copies
    assert "dry run" in dry.err

    excluded = run_import(str(tree.root), "--url", server.url, "--dry-run",
                          "--exclude", "Trash", "--exclude", "*.gif", "--exclude", "notes/*")
    others = 20  # the gifs (build_tree's default)
    assert excluded.count("would upload") == tree.unique + tree.broken - tree.trash - others
    assert excluded.count("excluded") == tree.trash + others + tree.unsupported
    assert excluded.count("skipped (unsupported)") == 0
    assert _images(app) == []


def test_bad_token_is_exit_3_with_a_message(server: AppServer, token: str, tree: Tree,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICSOURCE_TOKEN", "psk_not-a-real-token")
    result = run_import(str(tree.root / "takeout"), "--url", server.url)
    assert result.code == cli.EXIT_UNREACHABLE
    assert "refused the API token (401" in result.err and "PICSOURCE_TOKEN" in result.err


def test_unreachable_server_is_exit_3(token: str, tree: Tree) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_import(str(tree.root / "takeout"), "--url", url, "--max-backoff", "0.2")
    assert result.code == cli.EXIT_UNREACHABLE
    assert f"{url} is not answering" in result.err and "retrying in" in result.err


@pytest.mark.parametrize(("args", "message"), [
    (["--url", "ftp://example.org"], "http:// or https://"),
    (["--jobs", "0", "--url", "http://127.0.0.1:1"], "between 1 and 32"),
    (["--albums", "Holidays", "--url", "http://127.0.0.1:1"], "unrecognized arguments"),
])
def test_usage_errors_are_exit_2(tree: Tree, token: str, args: list[str], message: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    result = run_import(str(tree.root / "takeout"), *args)
    assert result.code == cli.EXIT_USAGE
    assert message in result.err + capsys.readouterr().err


def test_missing_token_or_path_is_exit_2(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PICSOURCE_TOKEN", raising=False)
    no_token = run_import(str(tree.root), "--url", "http://127.0.0.1:1")
    assert no_token.code == cli.EXIT_USAGE and "PICSOURCE_TOKEN" in no_token.err
    monkeypatch.setenv("PICSOURCE_TOKEN", "psk_x")
    no_path = run_import(str(tree.root / "nope"), "--url", "http://127.0.0.1:1")
    assert no_path.code == cli.EXIT_USAGE and "no such file or folder" in no_path.err


def _in_thread(target: Callable[[], Outcome]) -> tuple[threading.Thread, list[Outcome]]:
    result: list[Outcome] = []
    thread = threading.Thread(target=lambda: result.append(target()), daemon=True)
    thread.start()
    return thread, result


def test_web_outage_mid_import_is_retried_until_every_file_is_uploaded(
        app: Flask, server: AppServer, token: str, tmp_path: Path) -> None:
    small = build_tree(tmp_path / "lib", jpegs=160, others=0, trash=0, copies=0, broken=0,
                       extras=False)
    err = io.StringIO()
    docs = app_services(app).db.images

    def importer() -> Outcome:
        out = io.StringIO()
        code = cli.run(["import", str(small.root), "--url", server.url, "--jobs", "2",
                        "--max-backoff", "0.5", "--retry-for", "120"],
                       out=out, err=err, stdin=io.StringIO())
        return Outcome(code, out.getvalue(), err.getvalue())

    thread, result = _in_thread(importer)
    wait_until(lambda: docs.count_documents({}) >= 10, 60, "the first uploads")
    server.stop()
    wait_until(lambda: "retrying in" in err.getvalue(), 60, "the importer to retry")
    assert thread.is_alive()
    server.start()
    thread.join(timeout=120)
    assert result, "the importer did not finish after the server came back"
    outcome = result[0]
    assert outcome.code == cli.EXIT_OK, outcome.out + outcome.err
    assert (outcome.count("uploaded"), outcome.count("failed")) == (small.unique, 0)
    assert docs.count_documents({}) == small.unique


def test_wait_follows_analysis_until_ready_or_failed(app: Flask, server: AppServer, token: str,
                                                     tree: Tree) -> None:
    docs = app_services(app).db.images
    err = io.StringIO()

    def importer() -> Outcome:
        out = io.StringIO()
        code = cli.run(["import", str(tree.root / "lightroom"), "--url", server.url, "--wait",
                        "--wait-timeout", "120"], out=out, err=err, stdin=io.StringIO())
        return Outcome(code, out.getvalue(), err.getvalue())

    thread, result = _in_thread(importer)
    wait_until(lambda: "analysis: 0/2 finished" in err.getvalue(), 60, "the importer to wait")
    # What a worker does when it finishes (the worker itself is tested in tests/worker).
    docs.update_one({"title": "Harbour at dawn"}, {"$set": {"status": "ready"}})
    docs.update_one({"title": {"$ne": "Harbour at dawn"}},
                    {"$set": {"status": "failed", "analysis_error": "decoder exploded"}})
    thread.join(timeout=60)
    outcome = result[0]
    assert outcome.code == cli.EXIT_FAILED
    assert "analysis: 1 ready, 1 failed, 0 not finished" in outcome.out
    assert "analysis failed evil.jpg" in outcome.out.replace("lightroom/", "")
    assert "decoder exploded" in outcome.out


def test_wait_timeout_reports_unfinished_analysis(server: AppServer, token: str, tree: Tree) -> None:
    result = run_import(str(tree.root / "takeout"), "--url", server.url, "--wait",
                        "--wait-timeout", "0")
    assert result.code == cli.EXIT_FAILED
    assert "analysis: 0 ready, 0 failed, 1 not finished" in result.out


def test_storage_outage_mid_import_503s_are_retried_until_every_file_is_uploaded(
        mongo_server: Any, mongo_db: Any, own_minio: Any, web_client: Callable[..., WebClient],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own_minio.client().make_bucket("outage")
    app = create_app(Settings.from_env(web_env_for(mongo_server.uri, mongo_db.name, own_minio,
                                                   "outage")))
    assert web_client(app).signup("olga").status_code == 302
    monkeypatch.setenv("PICSOURCE_TOKEN", token_for(app, "olga"))
    small = build_tree(tmp_path / "lib", jpegs=120, others=0, trash=0, copies=0, broken=0,
                       extras=False)
    docs = app_services(app).db.images
    err = io.StringIO()
    with AppServer(app) as server:
        def importer() -> Outcome:
            out = io.StringIO()
            code = cli.run(["import", str(small.root), "--url", server.url, "--jobs", "2",
                            "--max-backoff", "1", "--retry-for", "120"],
                           out=out, err=err, stdin=io.StringIO())
            return Outcome(code, out.getvalue(), err.getvalue())

        thread, result = _in_thread(importer)
        wait_until(lambda: docs.count_documents({}) >= 10, 60, "the first uploads")
        own_minio.process.stop()
        wait_until(lambda: "HTTP 503" in err.getvalue(), 60, "a 503 the importer retries")
        assert thread.is_alive()
        own_minio.start()
        thread.join(timeout=120)
    assert result, "the importer did not finish after storage came back"
    outcome = result[0]
    assert outcome.code == cli.EXIT_OK, outcome.out + outcome.err
    assert (outcome.count("uploaded"), outcome.count("failed")) == (small.unique, 0)
    assert docs.count_documents({}) == small.unique


def test_the_module_command_exits_3_when_unreachable(tree: Tree) -> None:
    """The same exit code from a real process, as a shell script sees it."""
    url = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.run(
        [sys.executable, "-m", "picsource_web.importer", "import", str(tree.root / "takeout"),
         "--url", url, "--max-backoff", "0.2"],
        env={**os.environ, "PYTHONPATH": python_path(), "PICSOURCE_TOKEN": "psk_x"},
        capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 3, proc.stderr
    assert "is not answering" in proc.stderr and "uploaded: 0" in proc.stdout


def test_read_only_token_is_exit_3_and_uploads_nothing(app: Flask, server: AppServer, token: str,
                                                       tree: Tree,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    svc = app_services(app)
    user = svc.users.by_username("alice")
    assert user is not None
    read_only, _ = svc.tokens.create(user.id, "read only", scope="read")
    monkeypatch.setenv("PICSOURCE_TOKEN", read_only)
    result = run_import(str(tree.root / "takeout"), "--url", server.url)
    assert result.code == cli.EXIT_UNREACHABLE
    assert "read-only" in result.err and _images(app) == []


# --- --album NAME ------------------------------------------------------------------------------
def _albums(app: Flask) -> list[dict[str, Any]]:
    return list(app_services(app).db.albums.find({}, {"title": 1}))


def _members(app: Flask, album_id: Any) -> set[Any]:
    return {m["image_id"] for m in app_services(app).db.album_images.find({"album_id": album_id})}


def test_album_is_made_once_and_a_resumed_import_adds_what_an_earlier_run_uploaded(
        app: Flask, server: AppServer, token: str, tmp_path: Path) -> None:
    small = build_tree(tmp_path / "lib", jpegs=12, others=2, trash=1, copies=2, broken=1, extras=False)
    # An earlier run without --album uploaded a part of the library (say it was interrupted).
    part = run_import(str(small.root / "Trash"), "--url", server.url)
    assert part.count("uploaded") == small.trash

    dry = run_import(str(small.root), "--url", server.url, "--album", "  Summer   2024 ", "--dry-run")
    assert 'album "Summer 2024": would be created' in dry.out and _albums(app) == []

    first = run_import(str(small.root), "--url", server.url, "--album", "  Summer   2024 ")
    assert first.code == cli.EXIT_FAILED  # the broken file
    albums = _albums(app)
    assert [a["title"] for a in albums] == ["Summer 2024"]
    stored = {doc["_id"] for doc in _images(app)}
    assert len(stored) == small.unique and _members(app, albums[0]["_id"]) == stored
    assert f'album "Summer 2024" (created): {small.unique} added, 0 already in it' in first.out

    again = run_import(str(small.root), "--url", server.url, "--album", "Summer 2024")
    assert f'album "Summer 2024": 0 added, {small.unique} already in it' in again.out
    assert len(_albums(app)) == 1 and _members(app, albums[0]["_id"]) == stored


def test_an_ambiguous_album_name_stops_before_any_upload(app: Flask, server: AppServer, token: str,
                                                         alice: WebClient, tmp_path: Path) -> None:
    svc = app_services(app)
    user = svc.users.by_username("alice")
    assert user is not None
    for _ in range(2):
        svc.albums.create(user.id, parse_album_fields({"title": "Trips"}, today=date.today(), partial=False))
    small = build_tree(tmp_path / "lib", jpegs=3, others=0, trash=0, copies=0, broken=0, extras=False)
    outcome = run_import(str(small.root), "--url", server.url, "--album", "Trips")
    assert outcome.code == cli.EXIT_USAGE
    assert '2 of your albums are titled "Trips"' in outcome.err and _images(app) == []
    blank = run_import(str(small.root), "--url", server.url, "--album", "   ")
    assert blank.code == cli.EXIT_USAGE and "--album needs a name" in blank.err
    too_long = run_import(str(small.root), "--url", server.url, "--album", "x" * 5000)
    assert too_long.code == cli.EXIT_USAGE and "cannot be created" in too_long.err
    assert _images(app) == []
