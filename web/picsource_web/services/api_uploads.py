"""Batch uploads for the JSON API: several files in one request, all or nothing.

Why a separate module: ``UploadService.upload`` handles one file atomically. An API
client sending five files expects one answer, so the batch is validated completely
(format, size, pixels, quota) before anything is stored, and if storing a later file
fails the images this request created are removed again. Nothing here duplicates the
single-file rules: validation, quota and storage all come from ``uploads``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from picsource_web.services.errors import ServiceError
from picsource_web.services.metadata import ImageMetadata, safe_filename
from picsource_web.services.uploads import (
    UploadResult,
    UploadService,
    check_gallery_quota,
    check_quota,
)
from picsource_web.services.users import User
from picsource_web.services.validation import content_digest, validate_image

log = logging.getLogger(__name__)

MAX_FILES = 20


@dataclass(frozen=True)
class IncomingFile:
    filename: str
    data: bytes


class FileRejected(ServiceError):
    """One file of a batch was refused; keeps the service reason and names the file."""

    def __init__(self, err: ServiceError, filename: str, index: int) -> None:
        name = safe_filename(filename) or f"file #{index + 1}"
        super().__init__(err.status, err.reason, f"{name}: {err.message}")
        self.filename = name
        self.index = index


def upload_batch(service: UploadService, owner: User, files: Sequence[IncomingFile],
                 meta: ImageMetadata) -> list[tuple[IncomingFile, UploadResult]]:
    """Store every file or none; raises ServiceError / FileRejected naming the bad file."""
    if not files:
        raise ServiceError(400, "no_file", "Send at least one file in the 'file' field.")
    if len(files) > MAX_FILES:
        raise ServiceError(400, "too_many_files", f"At most {MAX_FILES} files per request.")
    if len(files) > 1:
        _precheck(service, owner, files)
    done: list[tuple[IncomingFile, UploadResult]] = []
    for index, item in enumerate(files):
        try:
            done.append((item, service.upload(owner, item.data, item.filename, meta)))
        except ServiceError as err:
            _roll_back(service, owner, done)
            raise (FileRejected(err, item.filename, index) if len(files) > 1 else err) from None
        except Exception:
            _roll_back(service, owner, done)
            raise
    return done


def _precheck(service: UploadService, owner: User, files: Sequence[IncomingFile]) -> None:
    """Validate every file and the quota for the whole batch before storing anything."""
    settings = service.settings
    new_count, new_bytes, seen = 0, 0, set()
    for index, item in enumerate(files):
        try:
            sha256 = content_digest(item.data, max_bytes=settings.max_upload_bytes)
            if sha256 in seen or service.repo.find_duplicate(owner.id, sha256):
                continue  # found by hash: never decoded
            info = validate_image(item.data, max_bytes=settings.max_upload_bytes,
                                  max_pixels=settings.max_image_pixels, sha256=sha256)
        except ServiceError as err:
            raise FileRejected(err, item.filename, index) from None
        seen.add(sha256)
        new_count, new_bytes = new_count + 1, new_bytes + info.size_bytes
    if new_count and (settings.quota_images is not None or settings.quota_bytes is not None):
        count, used = service.repo.usage(owner.id)
        # check_quota checks count + 1 and used + bytes: fold the batch into one "file".
        check_quota(settings, (count + new_count - 1, used), new_bytes)
    if new_count and settings.gallery_quota_bytes is not None:
        check_gallery_quota(settings, service.repo.docs.usage.current().bytes, new_bytes)


def _roll_back(service: UploadService, owner: User,
               done: list[tuple[IncomingFile, UploadResult]]) -> None:
    for _, result in done:
        if result.doc is None:  # a duplicate: the owner's earlier copy stays
            continue
        try:
            service.repo.purge(result.doc)
        except Exception:  # noqa: BLE001 - the orphan sweep removes leftovers
            log.warning("could not roll back image %s of a failed batch", result.image_id,
                        exc_info=True)
