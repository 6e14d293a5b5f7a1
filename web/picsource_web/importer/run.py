"""One import: walk → hash → ask the server what it has → upload the rest → (wait).

Why hash first: a re-run of an interrupted import must cost one lookup per thousand
files, not one upload each. The server answers for the caller's own images only
(POST /api/v1/images/lookup), and copies of the same bytes inside the tree are sent
once. Files are uploaded one per request, ``jobs`` at a time, so one bad file fails
alone with the server's reason. ``ImportAborted`` (bad token, server gone past the
retry budget) stops every thread and reaches the caller with what was done so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from picsource_web.importer.albums import add_all, resolve
from picsource_web.importer.client import Api, BadToken, ImportAborted, Unreachable, multipart
from picsource_web.importer.files import Candidate, classify, sha256_of, walk
from picsource_web.importer.progress import Progress, Tally
from picsource_web.importer.sidecars import (
    Sidecar,
    clean_tags,
    json_paths,
    read_sidecars,
    xmp_paths,
)

LOOKUP_BATCH = 1000  # the API's limit per lookup call (api/params.py LOOKUP_MAX_HASHES)
T = TypeVar("T")


@dataclass(frozen=True)
class Options:
    roots: list[Path]
    excludes: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    visibility: str | None = None
    dry_run: bool = False
    jobs: int = 4
    wait: bool = False
    wait_timeout: float = 600.0
    poll_interval: float = 2.0
    album: str | None = None


@dataclass
class Photo:
    candidate: Candidate
    sidecar: Sidecar
    sha256: str = ""


def collect(opts: Options, tally: Tally) -> list[Photo]:
    """The photos to consider; counts excluded and skipped files (sidecars are neither)."""
    photos: list[Photo] = []
    others: list[tuple[Candidate, str]] = []
    for candidate, is_excluded in walk(opts.roots, opts.excludes):
        if is_excluded:
            tally.excluded += 1
            continue
        reason = classify(candidate)
        if reason is None:
            photos.append(Photo(candidate, read_sidecars(candidate.path)))
        else:
            others.append((candidate, reason))
    sidecar_names = {path for photo in photos
                     for path in (*json_paths(photo.candidate.path), *xmp_paths(photo.candidate.path))}
    tally.skipped += [(c.rel, reason) for c, reason in others if c.path not in sidecar_names]
    for photo in photos:
        tally.warnings += [f"{photo.candidate.rel}: sidecar {w}" for w in photo.sidecar.warnings]
    return photos


def _in_pool(jobs: int, api: Api, items: Iterable[T], work: Callable[[T], None]) -> None:
    """Run ``work`` over ``items`` on ``jobs`` threads; the first ImportAborted stops the
    rest (queued items never start, running ones give up at their next retry)."""
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="picsource-import") as pool:
        futures = [pool.submit(work, item) for item in items]
        aborted: ImportAborted | None = None
        for future in futures:
            try:
                future.result()
            except ImportAborted as err:
                if aborted is None:
                    aborted = err
                    api.stopped.set()
                    for other in futures:
                        other.cancel()
            except CancelledError:  # only after an abort
                pass
            except KeyboardInterrupt:
                api.stopped.set()  # running requests stop retrying; queued ones never start
                for other in futures:
                    other.cancel()
                raise
        if aborted is not None:
            raise aborted


def hash_all(photos: list[Photo], api: Api, jobs: int, progress: Progress, tally: Tally) -> list[Photo]:
    """SHA-256 of every photo; a file that cannot be read fails alone."""
    progress.start("hashing", len(photos), sum(p.candidate.size for p in photos))
    unreadable: list[Photo] = []

    def one(photo: Photo) -> None:
        try:
            photo.sha256 = sha256_of(photo.candidate.path)
        except OSError as err:
            with progress.lock:
                tally.failed.append((photo.candidate.rel, f"cannot be read: {err.strerror or err}"))
                unreadable.append(photo)
        progress.advance(photo.candidate.size)

    _in_pool(jobs, api, photos, one)
    progress.finish()
    return [p for p in photos if p not in unreadable]


def missing_on_server(api: Api, photos: list[Photo], tally: Tally) -> tuple[list[Photo], dict[str, str]]:
    """The photos whose bytes neither the server (for this user) nor an earlier file of
    this tree already has (the others count as duplicates), and {sha256: image id} of
    those the server has."""
    first: dict[str, Photo] = {}
    for photo in photos:
        if photo.sha256 in first:
            tally.duplicates += 1
        else:
            first[photo.sha256] = photo
    hashes = list(first)
    have: dict[str, str] = {}
    for start in range(0, len(hashes), LOOKUP_BATCH):
        answer = api.post_json("/api/v1/images/lookup", {"sha256": hashes[start:start + LOOKUP_BATCH]})
        if answer.status == 403:
            raise BadToken(f"The server refused the lookup (403: {answer.detail}).")
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise Unreachable(f"The lookup failed ({answer.status}: {answer.detail}); is this "
                              "a PicSource server with POST /api/v1/images/lookup?")
        have.update(answer.body.get("found") or {})
    tally.duplicates += len(have)
    return [photo for sha, photo in first.items() if sha not in have], have


def upload_all(api: Api, photos: list[Photo], opts: Options, progress: Progress,
               tally: Tally, on_server: list[str] | None = None) -> list[tuple[str, str]]:
    """Upload each photo; returns (file, image id) of those the server stored. The ids of
    stored photos and of those the server already had go to ``on_server`` too."""
    stored: list[tuple[str, str]] = []
    progress.start("uploading", len(photos), sum(p.candidate.size for p in photos))

    def one(photo: Photo) -> None:
        rel = photo.candidate.rel
        outcome, detail = _upload(api, photo, opts)
        with progress.lock:
            if outcome == "uploaded":
                tally.uploaded += 1
                tally.uploaded_bytes += photo.candidate.size
                stored.append((rel, detail))
            elif outcome == "duplicate":
                tally.duplicates += 1
            if outcome in ("uploaded", "duplicate") and detail and on_server is not None:
                on_server.append(detail)
            elif outcome == "skipped":
                tally.skipped.append((rel, detail))
            else:
                tally.failed.append((rel, detail))
        progress.advance(photo.candidate.size)

    _in_pool(opts.jobs, api, photos, one)
    progress.finish()
    return stored


def _upload(api: Api, photo: Photo, opts: Options) -> tuple[str, str]:
    """(outcome, image id or reason) of one upload."""
    try:
        data = photo.candidate.path.read_bytes()
    except OSError as err:
        return "failed", f"cannot be read: {err.strerror or err}"
    fields = {"title": photo.sidecar.title, "description": photo.sidecar.description,
              "tags": ",".join(clean_tags([*opts.tags, *photo.sidecar.tags]))}
    if opts.visibility:
        fields["visibility"] = opts.visibility
    body, content_type = multipart({k: v for k, v in fields.items() if v},
                                   photo.candidate.path.name, data)
    answer = api.call("POST", "/api/v1/images", body=body, content_type=content_type)
    if answer.status == 201 and isinstance(answer.body, dict) and answer.body.get("images"):
        return "uploaded", str(answer.body["images"][0].get("id", ""))
    if answer.code == "duplicate":
        existing = str(answer.body.get("existing_id", "")) if isinstance(answer.body, dict) else ""
        # Lookup said missing: after a retried attempt, the bytes stored are that attempt's.
        return ("uploaded", existing) if answer.attempts > 1 else ("duplicate", existing)
    if answer.status == 403 and isinstance(answer.body, dict) and answer.body.get("reason") == "read_only_token":
        raise BadToken(f"The API token is read-only: {answer.detail}")
    if answer.status == 415:
        return "skipped", f"not accepted by the server: {answer.detail}"
    return "failed", f"{answer.status} {answer.code or 'error'}: {answer.detail}"


def wait_for_analysis(api: Api, stored: list[tuple[str, str]], opts: Options, progress: Progress,
                      tally: Tally, sleep: Callable[[float], None] = time.sleep) -> None:
    """Poll each stored image's analysis until ready/failed or ``wait_timeout``.

    The job queue is roughly first in, first out, so each round checks images in upload
    order and stops at the first unfinished one: about one request per finished image
    plus one per round, instead of one per image per round (10,000 images)."""
    pending = dict(stored)
    deadline = time.monotonic() + opts.wait_timeout
    reported = -1
    while pending:
        for rel, image_id in list(pending.items()):
            answer = api.get_json(f"/api/v1/images/{image_id}/analysis")
            status = answer.body.get("status") if isinstance(answer.body, dict) else None
            if status == "ready":
                tally.ready += 1
            elif status == "failed" or answer.status == 404:
                error = answer.body.get("error") if isinstance(answer.body, dict) else None
                tally.analysis_failed.append((rel, str(error or answer.detail)))
            else:
                break
            del pending[rel]
        done = len(stored) - len(pending)
        if done != reported:
            progress.message(f"analysis: {done}/{len(stored)} finished")
            reported = done
        if not pending or time.monotonic() + opts.poll_interval > deadline:
            break
        sleep(opts.poll_interval)
    tally.pending = len(pending)


def run_import(api: Api, opts: Options, progress: Progress, tally: Tally) -> None:
    """The whole import, filling ``tally``; raises ImportAborted (tally keeps the counts)."""
    if opts.album is not None:  # before anything is uploaded: a bad name stops here
        tally.album = resolve(api, opts.album, dry_run=opts.dry_run)
    photos = collect(opts, tally)
    photos = hash_all(photos, api, opts.jobs, progress, tally)
    missing, found = missing_on_server(api, photos, tally)
    if opts.dry_run:
        tally.would_upload = len(missing)
        return
    on_server = list(found.values())
    stored = upload_all(api, missing, opts, progress, tally, on_server)
    if tally.album is not None and on_server:
        add_all(api, tally.album, list(dict.fromkeys(on_server)))
    if opts.wait and stored:
        wait_for_analysis(api, stored, opts, progress, tally)
