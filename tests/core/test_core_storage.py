"""The object store against a real MinIO server."""

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from minio.sseconfig import Rule, SSEConfig

from picsource_core.config import StorageSettings
from picsource_core.storage import ObjectStore, StorageError, original_key, thumbnail_key
from tests.harness.services import MinioServer


def test_round_trip_list_and_delete_prefix(object_store: ObjectStore) -> None:
    object_store.put_bytes(original_key("u1", "i1"), b"original", "image/jpeg")
    object_store.put_bytes(thumbnail_key("i1", 256), b"small", "image/webp")
    object_store.put_bytes(thumbnail_key("i1", 1280), b"large", "image/webp")
    assert object_store.get_bytes("originals/u1/i1") == b"original"
    assert object_store.exists("thumbnails/i1/256.webp")
    assert sorted(object_store.list_keys("thumbnails/i1/")) == ["thumbnails/i1/1280.webp", "thumbnails/i1/256.webp"]
    size, etag, content_type = object_store.stat("thumbnails/i1/256.webp")
    assert (size, content_type) == (5, "image/webp") and etag
    assert object_store.delete_prefix("thumbnails/i1/") == 2
    assert not object_store.exists("thumbnails/i1/256.webp")
    assert object_store.exists("originals/u1/i1")


def test_presigned_url_serves_the_private_object(object_store: ObjectStore) -> None:
    import urllib.request

    object_store.put_bytes("originals/u/x", b"hello", "text/plain")
    url = object_store.presigned_get("originals/u/x", 60)
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback MinIO)
        assert response.read() == b"hello"
    bare = url.split("?", 1)[0]
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(bare, timeout=5)  # noqa: S310
    assert err.value.code == 403  # the bucket stays private


def test_ping_reports_reasons(minio_server, bucket: str) -> None:  # type: ignore[no-untyped-def]
    good = StorageSettings(endpoint=minio_server.url, access_key=minio_server.access_key,
                           secret_key=minio_server.secret_key, bucket=bucket)
    ObjectStore(good).ping()
    missing = StorageSettings(endpoint=good.endpoint, access_key=good.access_key,
                              secret_key=good.secret_key, bucket="no-such-bucket-here")
    with pytest.raises(StorageError) as err:
        ObjectStore(missing).ping()
    assert err.value.reason == "BucketMissing"
    wrong = StorageSettings(endpoint=good.endpoint, access_key=good.access_key,
                            secret_key="not-the-secret", bucket=bucket)
    with pytest.raises(StorageError) as err:
        ObjectStore(wrong).ping()
    assert err.value.reason == "InvalidCredentials"
    closed = StorageSettings(endpoint="http://127.0.0.1:1", access_key="a", secret_key="b",
                             bucket=bucket, timeout_seconds=1)
    with pytest.raises(StorageError) as err:
        ObjectStore(closed).ping()
    assert err.value.reason == "EndpointUnreachable"


def test_ensure_bucket_creates_once_and_remove_bucket_empties_it(minio_server) -> None:  # type: ignore[no-untyped-def]
    settings = StorageSettings(endpoint=minio_server.url, access_key=minio_server.access_key,
                               secret_key=minio_server.secret_key, bucket="created-by-test")
    store = ObjectStore(settings)
    assert store.ensure_bucket(encrypt=True) is True
    assert store.ensure_bucket() is False
    store.put_bytes("a/b", b"x")
    store.remove_bucket()
    with pytest.raises(StorageError) as err:
        store.ping()
    assert err.value.reason == "BucketMissing"


class KmsMinio(MinioServer):
    """MinIO with a static KMS key, so SSE-S3 really works and can be observed."""

    def env(self) -> dict[str, str]:
        return {**super().env(), "MINIO_KMS_SECRET_KEY": "picsource-test:" + base64.b64encode(os.urandom(32)).decode()}


@pytest.fixture
def kms_minio(tmp_path: Path) -> Iterator[KmsMinio]:
    with KmsMinio(tmp_path / "kms-minio") as server:
        yield server  # type: ignore[misc]


def _store(server: MinioServer, bucket: str) -> ObjectStore:
    return ObjectStore(StorageSettings(endpoint=server.url, access_key=server.access_key,
                                       secret_key=server.secret_key, bucket=bucket))


def test_encryption_is_set_only_on_buckets_we_create_and_never_overwritten(kms_minio: KmsMinio) -> None:
    created = _store(kms_minio, "made-by-picsource")
    assert created.ensure_bucket(encrypt=True) is True
    assert created.encryption() == "on"

    kms_minio.client().make_bucket("admins-plain")  # an admin's bucket without encryption
    plain = _store(kms_minio, "admins-plain")
    assert plain.ensure_bucket(encrypt=True) is False
    assert plain.encryption() == "off"  # left as the admin made it

    admin = kms_minio.client()
    admin.make_bucket("admins-sealed")
    admin.set_bucket_encryption("admins-sealed", SSEConfig(Rule.new_sse_s3_rule()))
    sealed = _store(kms_minio, "admins-sealed")
    assert sealed.ensure_bucket(encrypt=False) is False
    assert sealed.encryption() == "on"


def test_a_store_without_kms_reports_encryption_off(minio_server: MinioServer) -> None:
    store = _store(minio_server, "no-kms-here")
    assert store.ensure_bucket(encrypt=True) is True  # asked for, refused by the store: still usable
    assert store.encryption() == "off"
    store.remove_bucket()
