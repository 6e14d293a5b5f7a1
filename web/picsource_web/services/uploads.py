"""Uploads: validate, de-duplicate, check quota, store the object, then the document, then enqueue.

Atomic from the user's view: the object is written first (invisible without a document),
with its location-free copy when the file names a place (picsource_core.location); the
document makes the image exist; if the document write or the enqueue fails, what was
written is removed again and the user gets an error. A crash between the two steps leaves
only an object without a document, which ``sweep_orphans`` removes later.

Quotas: per user (QUOTA_IMAGES, QUOTA_BYTES, summed over the owner's images) and for the
whole gallery (GALLERY_QUOTA_BYTES). The gallery's total is a running counter kept by
core's ImageDocuments (picsource_core.usage): a cheap read refuses an upload that cannot
fit before its bytes are stored, and the insert itself reserves the bytes atomically, so
two parallel uploads can never together pass the cap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.errors import DuplicateKeyError, PyMongoError

from picsource_core.images import new_image_doc
from picsource_core.location import REMOVED, save_location_free_copy
from picsource_core.mongo import Document
from picsource_core.queue import utcnow
from picsource_core.storage import IMAGE_ROOTS, image_id_of_key, location_free_key, original_key
from picsource_core.usage import StorageFull
from picsource_web.services.errors import ServiceError, Unavailable
from picsource_web.services.images import ImageRepository, new_share_token
from picsource_web.services.metadata import ImageMetadata, safe_filename
from picsource_web.services.users import User, parse_object_id
from picsource_web.services.validation import UploadRejected, content_digest, validate_image
from picsource_web.settings import Settings

log = logging.getLogger(__name__)


class QuotaExceeded(UploadRejected):
    pass


@dataclass(frozen=True)
class UploadResult:
    """The image an upload stored (``doc``, as written) or the owner's existing copy of it."""

    image_id: ObjectId
    duplicate: bool
    doc: Document | None = None


def check_quota(settings: Settings, usage: tuple[int, int], new_bytes: int) -> None:
    """Pure quota rule: raise QuotaExceeded (reason quota_images / quota_bytes) with a clear message."""
    count, used = usage
    if settings.quota_images is not None and count + 1 > settings.quota_images:
        raise QuotaExceeded(
            403, "quota_images",
            f"Upload limit reached: your quota is {settings.quota_images} images and you have {count}. "
            "Delete some images to upload more.",
        )
    if settings.quota_bytes is not None and used + new_bytes > settings.quota_bytes:
        raise QuotaExceeded(
            403, "quota_bytes",
            f"Storage quota reached: this file needs {new_bytes:,} bytes but only "
            f"{max(0, settings.quota_bytes - used):,} of your {settings.quota_bytes:,} bytes are left.",
        )


def gallery_full(new_bytes: int, used: int, cap: int) -> QuotaExceeded:
    """507: the gallery as a whole has no room (not this user's fault, nor theirs to fix alone)."""
    left = max(0, cap - used)
    return QuotaExceeded(
        507, "quota_gallery_bytes",
        f"This gallery's storage is full: this file needs {new_bytes:,} bytes but only {left:,} "
        f"of the gallery's {cap:,} bytes are left. Delete some images or ask an administrator for more space.",
    )


def check_gallery_quota(settings: Settings, used: int, new_bytes: int) -> None:
    """Pure rule for GALLERY_QUOTA_BYTES: raise QuotaExceeded (507) when ``new_bytes`` more
    would pass it; ``used`` is the gallery's running total."""
    cap = settings.gallery_quota_bytes
    if cap is not None and used + new_bytes > cap:
        raise gallery_full(new_bytes, used, cap)


class UploadService:
    def __init__(self, settings: Settings, repo: ImageRepository,
                 share_token_factory: Callable[[], str] = new_share_token) -> None:
        self.settings = settings
        self.repo = repo
        self.store = repo.store
        self.share_token_factory = share_token_factory

    def upload(self, owner: User, data: bytes, filename: str | None, meta: ImageMetadata) -> UploadResult:
        # A duplicate is found by hash before anything is decoded.
        sha256 = content_digest(data, max_bytes=self.settings.max_upload_bytes)
        quotas = self.settings.quota_images is not None or self.settings.quota_bytes is not None
        if quotas:  # one pass over the owner's images answers both questions
            usage, existing_id = self.repo.usage_and_duplicate(owner.id, sha256)
        else:
            existing = self.repo.find_duplicate(owner.id, sha256)
            existing_id = None if existing is None else existing["_id"]
        if existing_id is not None:
            return UploadResult(image_id=existing_id, duplicate=True)
        info = validate_image(data, max_bytes=self.settings.max_upload_bytes,
                              max_pixels=self.settings.max_image_pixels, sha256=sha256)
        if quotas:
            check_quota(self.settings, usage, info.size_bytes)
        if self.settings.gallery_quota_bytes is not None:  # before the bytes go to storage
            check_gallery_quota(self.settings, self.repo.docs.usage.current().bytes, info.size_bytes)

        image_id = ObjectId()
        key = original_key(owner.id, image_id)
        keys = [key]
        try:
            self.store.put_bytes(key, data, info.content_type)
            location = save_location_free_copy(self.store, image_id, data, info.format, info.content_type)
            if location == REMOVED:
                keys.append(location_free_key(image_id))
        except Exception as err:  # noqa: BLE001 - any storage failure is a 503 to the user
            log.error("storing original %s failed: %s", key, err)
            self._remove_objects([key, location_free_key(image_id)])
            raise Unavailable("storage", "Object storage is unavailable; the image was not saved. "
                              "Please try again in a moment.") from err

        doc = new_image_doc(
            image_id=image_id, owner_id=owner.id, title=meta.title, description=meta.description,
            tags=meta.tags, visibility=meta.visibility, share_token=self.share_token_factory(),
            sha256=info.sha256, size=info.size_bytes, width=info.width, height=info.height,
            image_format=info.format, content_type=info.content_type, original_key=key,
            filename=safe_filename(filename), location=location,
        )
        try:
            self.repo.docs.insert(doc, gallery_cap=self.settings.gallery_quota_bytes)
        except StorageFull as full:  # a parallel upload took the room since the check above
            self._remove_objects(keys)
            raise gallery_full(full.size, full.used, full.cap) from None
        except DuplicateKeyError as err:
            self._remove_objects(keys)
            # The same bytes uploaded concurrently by the same user: the other request won.
            winner = self.repo.find_duplicate(owner.id, info.sha256)
            if winner is not None:
                return UploadResult(image_id=winner["_id"], duplicate=True)
            raise Unavailable("mongo", "The image could not be saved; please try again.") from err
        except PyMongoError as err:
            self._remove_objects(keys)
            raise Unavailable("mongo", "The database is unavailable; the image was not saved. "
                              "Please try again in a moment.") from err

        if quotas:
            self._recheck_quota(owner, image_id, keys, info.size_bytes)
        try:
            self.repo.queue.enqueue(image_id)
        except PyMongoError as err:
            self._remove_document(image_id)
            self._remove_objects(keys)
            raise Unavailable("mongo", "The database is unavailable; the image was not saved. "
                              "Please try again in a moment.") from err
        return UploadResult(image_id=image_id, duplicate=False, doc=doc)

    def _recheck_quota(self, owner: User, image_id: ObjectId, keys: list[str], size: int) -> None:
        """Close the race between two uploads that both passed the first check (the upload
        page sends files in parallel): count only images up to this one, so the earlier
        upload keeps its place and the later one is rolled back."""
        count, used = self.repo.usage(owner.id, up_to=image_id)
        try:
            check_quota(self.settings, (count - 1, used - size), size)
        except QuotaExceeded:
            self._remove_document(image_id)
            self._remove_objects(keys)
            raise

    def _remove_objects(self, keys: list[str]) -> None:
        """Undo what a failed upload stored (the original and its location-free copy)."""
        for key in keys:
            try:
                self.store.delete(key)
            except Exception:  # noqa: BLE001 - the orphan sweep removes it later
                log.warning("could not remove %s after a failed upload; left for the orphan sweep", key)

    def _remove_document(self, image_id: ObjectId) -> None:
        """Roll back an inserted document; a listing may have been cached with it meanwhile."""
        try:
            self.repo.docs.remove(image_id)
        except PyMongoError:
            log.warning("could not remove image document %s after a failed enqueue", image_id)


@dataclass(frozen=True)
class SweepResult:
    scanned: int
    removed: list[str]


def sweep_orphans(repo: ImageRepository, older_than: timedelta,
                  now: datetime | None = None) -> SweepResult:
    """Remove originals and thumbnails whose image document does not exist.

    Only objects older than ``older_than`` are touched, so an upload in flight (object
    written, document not yet) is never mistaken for an orphan.
    """
    cutoff = (now or utcnow()) - older_than
    candidates: dict[ObjectId, list[str]] = {}
    scanned = 0
    for prefix in IMAGE_ROOTS:
        for key, modified in repo.store.list_objects(prefix):
            scanned += 1
            image_id = parse_object_id(image_id_of_key(key))
            if image_id is None or not isinstance(modified, datetime) or modified > cutoff:
                continue
            candidates.setdefault(image_id, []).append(key)
    removed: list[str] = []
    ids = list(candidates)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        alive = {d["_id"] for d in repo.docs.find({"_id": {"$in": chunk}}, {"_id": 1})}
        for image_id in chunk:
            if image_id in alive:
                continue
            for key in candidates[image_id]:
                repo.store.delete(key)
                removed.append(key)
    if removed:
        log.info("orphan sweep removed %d objects", len(removed))
    return SweepResult(scanned=scanned, removed=removed)


__all__ = ["ServiceError", "UploadRejected", "QuotaExceeded", "UploadResult", "UploadService",
           "check_quota", "check_gallery_quota", "gallery_full", "sweep_orphans", "SweepResult"]
