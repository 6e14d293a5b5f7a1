"""S3-compatible object storage through the minio SDK, kept S3-generic.

Keys are derived from ids only (never from user-supplied file names), so a
path-traversal file name cannot influence where bytes land, and the worker can
overwrite derived objects idempotently.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TypeVar
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from minio.sseconfig import Rule, SSEConfig

from picsource_core.breaker import CircuitBreaker, CircuitOpen
from picsource_core.config import StorageSettings

T = TypeVar("T")

THUMBNAIL_SIZES = (256, 1280)


class StorageError(RuntimeError):
    """The object store refused or could not be reached; ``reason`` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


#: The key layout: ``originals/<owner id>/<image id>``,
#: ``thumbnails/<image id>/<size>.webp`` and ``without-location/<image id>`` (the
#: original with its location removed, for everyone but the owner: picsource_core.location).
#: Only this module spells it out.
ORIGINALS = "originals"
THUMBNAILS = "thumbnails"
WITHOUT_LOCATION = "without-location"
#: The top-level prefixes every image object lives under (for sweeps).
IMAGE_ROOTS = (f"{ORIGINALS}/", f"{THUMBNAILS}/", f"{WITHOUT_LOCATION}/")


def original_key(owner_id: object, image_id: object) -> str:
    return f"{ORIGINALS}/{owner_id}/{image_id}"


def thumbnails_prefix(image_id: object) -> str:
    """Every thumbnail of one image lives under this prefix."""
    return f"{THUMBNAILS}/{image_id}/"


def thumbnail_key(image_id: object, size: int) -> str:
    return f"{thumbnails_prefix(image_id)}{size}.webp"


def location_free_key(image_id: object) -> str:
    """The original without its location tags (only images that had some have one)."""
    return f"{WITHOUT_LOCATION}/{image_id}"


def image_prefixes(owner_id: object, image_id: object) -> list[str]:
    """Every key belonging to one image (for deletion)."""
    return [original_key(owner_id, image_id), thumbnails_prefix(image_id), location_free_key(image_id)]


def image_id_of_key(key: str) -> str | None:
    """The image id part of any image object's key; None for any other key."""
    parts = key.split("/")
    if parts[0] == ORIGINALS and len(parts) == 3:
        return parts[2]
    if parts[0] == THUMBNAILS and len(parts) == 3:
        return parts[1]
    if parts[0] == WITHOUT_LOCATION and len(parts) == 2:
        return parts[1]
    return None


class ObjectStore:
    """One bucket of one S3 endpoint. Create one per process (after a fork).

    Every call is bounded by S3_TIMEOUT_SECONDS: refused connections and 5xx answers are
    retried twice, but a read that timed out is not (a frozen store would otherwise cost
    three timeouts). With a ``breaker``, object calls fail fast with StorageError
    ``Unavailable`` for a few seconds after the store failed (picsource_core.breaker).
    """

    def __init__(self, settings: StorageSettings, breaker: CircuitBreaker | None = None) -> None:
        parts = urlsplit(settings.endpoint)
        timeout = urllib3.Timeout(connect=min(settings.timeout_seconds, 2.0), read=settings.timeout_seconds)
        http = urllib3.PoolManager(
            timeout=timeout,
            maxsize=16,
            retries=urllib3.Retry(total=2, read=0, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
        self.settings = settings
        self.bucket = settings.bucket
        self.breaker = breaker
        self.client = Minio(
            parts.netloc,
            access_key=settings.access_key,
            secret_key=settings.secret_key,
            secure=parts.scheme == "https",
            region=settings.region,
            http_client=http,
        )

    # --- bucket -----------------------------------------------------------------
    def ping(self) -> None:
        """Raise StorageError unless the endpoint answers and the bucket exists."""
        try:
            exists = self.client.bucket_exists(self.bucket)
        except S3Error as err:
            if err.code == "AccessDenied":
                # HEAD responses carry no error body, so a wrong secret looks like a
                # forbidden bucket; a GET tells the two apart.
                raise self._explain_denied() from err
            raise _classify(err) from err
        except Exception as err:  # urllib3 errors: refused, timeout, DNS
            raise StorageError("EndpointUnreachable", f"object storage unreachable: {err}") from err
        if not exists:
            raise StorageError("BucketMissing", f"bucket {self.bucket!r} does not exist")

    def _explain_denied(self) -> StorageError:
        try:
            next(iter(self.client.list_objects(self.bucket, prefix="", recursive=False)), None)
        except S3Error as err:
            return _classify(err)
        except Exception as err:
            return StorageError("EndpointUnreachable", f"object storage unreachable: {err}")
        return StorageError("BucketForbidden", "access to the bucket is forbidden")

    def ensure_bucket(self, *, encrypt: bool = False) -> bool:
        """Create the bucket (private) if missing; True when created.

        Server-side encryption (SSE-S3, best effort) is asked for only on a bucket created
        here: an existing bucket's encryption belongs to whoever made it and is never
        overwritten (``encryption()`` reports what it is)."""
        try:
            created = False
            if not self.client.bucket_exists(self.bucket):
                self.client.make_bucket(self.bucket, location=self.settings.region)
                created = True
            if encrypt and created:
                try:
                    self.client.set_bucket_encryption(self.bucket, SSEConfig(Rule.new_sse_s3_rule()))
                except S3Error as err:
                    # Stores without a KMS refuse SSE-S3; the bucket stays usable and private.
                    if err.code not in {"NotImplemented", "XMinioKMSNotConfigured", "XMinioAdminNoSuchConfigTarget"}:
                        raise
            return created
        except S3Error as err:
            raise _classify(err) from err
        except StorageError:
            raise
        except Exception as err:
            raise StorageError("EndpointUnreachable", f"object storage unreachable: {err}") from err

    def encryption(self) -> str:
        """Whether the bucket encrypts objects at rest: "on" (a default SSE rule), "off"
        (none), or "unknown" (the store cannot tell: no such API, or not allowed)."""
        try:
            config = self.client.get_bucket_encryption(self.bucket)
        except S3Error:
            return "unknown"
        return "on" if config is not None and config.rule is not None else "off"

    def remove_bucket(self) -> None:
        """Delete every object and then the bucket (reclaimPolicy Delete)."""
        try:
            if not self.client.bucket_exists(self.bucket):
                return
            self.delete_prefix("")
            self.client.remove_bucket(self.bucket)
        except S3Error as err:
            raise _classify(err) from err

    # --- objects ----------------------------------------------------------------
    def _guarded(self, call: Callable[[], T]) -> T:
        """Run one call to the store through the breaker (when there is one)."""
        if self.breaker is None:
            return call()
        try:
            self.breaker.check()
        except CircuitOpen as err:
            raise StorageError("Unavailable", str(err)) from err
        try:
            result = call()
        except S3Error as err:
            if is_server_side(err):
                self.breaker.failure()
            else:
                self.breaker.success()  # the store answered: "no such key" is an answer
            raise
        except (urllib3.exceptions.HTTPError, OSError):
            self.breaker.failure()
            raise
        self.breaker.success()
        return result

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream",
                  metadata: dict[str, str] | None = None) -> None:
        self._guarded(lambda: self.client.put_object(
            self.bucket, key, io.BytesIO(data), len(data), content_type=content_type,
            metadata=metadata,  # type: ignore[arg-type]
        ))

    def get_bytes(self, key: str) -> bytes:
        def read() -> bytes:
            response = self.client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return self._guarded(read)

    def exists(self, key: str) -> bool:
        try:
            self._guarded(lambda: self.client.stat_object(self.bucket, key))
            return True
        except S3Error as err:
            if err.code in {"NoSuchKey", "NoSuchObject", "NotFound"}:
                return False
            raise

    def stat(self, key: str) -> tuple[int, str, str]:
        """(size, etag, content type) of an object."""
        info = self._guarded(lambda: self.client.stat_object(self.bucket, key))
        return int(info.size or 0), str(info.etag or ""), str(info.content_type or "")

    def delete(self, key: str) -> None:
        self._guarded(lambda: self.client.remove_object(self.bucket, key))

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
            if obj.object_name is not None:
                yield obj.object_name

    def list_objects(self, prefix: str = "") -> Iterator[tuple[str, object]]:
        """(key, last_modified) pairs, for the orphan sweep."""
        for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
            if obj.object_name is not None:
                yield obj.object_name, obj.last_modified

    def delete_prefix(self, prefix: str) -> int:
        keys = [DeleteObject(k) for k in self.list_keys(prefix)]
        if not keys:
            return 0
        errors = list(self.client.remove_objects(self.bucket, keys))
        if errors:
            raise StorageError("DeleteFailed", f"could not delete {len(errors)} objects: {errors[0]}")
        return len(keys)

    def presigned_get(self, key: str, expires_seconds: int,
                      response_headers: dict[str, str] | None = None) -> str:
        return self.client.presigned_get_object(
            self.bucket, key, expires=timedelta(seconds=expires_seconds),
            response_headers=response_headers,  # type: ignore[arg-type]
        )


#: S3 error codes that say the store itself is failing or overloaded, not the request.
S3_SERVER_CODES = frozenset({
    "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout",
    "XMinioServerNotInitialized", "XMinioReadQuorum", "XMinioWriteQuorum",
})


def is_server_side(err: S3Error) -> bool:
    """Whether an S3 error says the store itself is failing (a 5xx), not the request."""
    status = getattr(err.response, "status", 0) or 0
    return status >= 500 or (err.code or "") in S3_SERVER_CODES


def _classify(err: S3Error) -> StorageError:
    code = err.code or ""
    if code in {"InvalidAccessKeyId", "SignatureDoesNotMatch"}:
        return StorageError("InvalidCredentials", f"object storage rejected the credentials ({code})")
    if code in {"AccessDenied", "AllAccessDisabled"}:
        return StorageError("BucketForbidden", f"access to the bucket is forbidden ({code})")
    if code == "NoSuchBucket":
        return StorageError("BucketMissing", "the bucket does not exist")
    return StorageError("StorageError", f"object storage error {code}: {err.message}")

