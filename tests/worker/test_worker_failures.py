"""Which failures are the image's fault (they spend attempts) and which are an outage's (they wait)."""

from __future__ import annotations

import pytest
import urllib3
from minio.error import InvalidResponseError, S3Error, ServerError
from pymongo.errors import (
    AutoReconnect,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from picsource_core.storage import StorageError
from picsource_worker.job import PermanentJobError, is_infrastructure_error


def s3_error(code: str, status: int) -> S3Error:
    response = urllib3.HTTPResponse(body=b"", status=status)
    return S3Error(response, code, "message", "/bucket/key", "request", "host")


def chained(outer: Exception, inner: Exception) -> Exception:
    try:
        try:
            raise inner
        except Exception as exc:
            raise outer from exc
    except Exception as exc:  # noqa: BLE001 - the chained exception is the value under test
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize("exc", [
    AutoReconnect("connection closed"),
    ServerSelectionTimeoutError("no servers"),
    NetworkTimeout("timed out"),
    s3_error("ServiceUnavailable", 503),
    s3_error("InternalError", 500),
    s3_error("SlowDown", 503),
    s3_error("XMinioServerNotInitialized", 503),
    ServerError("bad gateway", 502),
    InvalidResponseError(502, "text/html", "<html>bad gateway</html>"),
    urllib3.exceptions.MaxRetryError(None, "/bucket/key", urllib3.exceptions.NewConnectionError(None, "refused")),  # type: ignore[arg-type]
    urllib3.exceptions.ReadTimeoutError(None, "/bucket/key", "read timed out"),  # type: ignore[arg-type]
    urllib3.exceptions.ProtocolError("connection aborted"),
    ConnectionRefusedError(111, "refused"),
    TimeoutError("timed out"),
    StorageError("EndpointUnreachable", "object storage unreachable"),
    StorageError("Unavailable", "object storage failed moments ago (circuit open)"),
    chained(RuntimeError("writing thumbnails"), AutoReconnect("primary stepped down")),
], ids=repr)
def test_outages_are_infrastructure(exc: Exception) -> None:
    assert is_infrastructure_error(exc)


@pytest.mark.parametrize("exc", [
    s3_error("NoSuchBucket", 404),
    s3_error("AccessDenied", 403),
    s3_error("NoSuchKey", 404),
    OperationFailure("document too large"),
    OSError("image file is truncated"),  # what Pillow raises for a broken file
    ValueError("bad quantisation table"),
    MemoryError(),
    PermanentJobError("not an image"),
    StorageError("BucketMissing", "bucket 'x' does not exist"),
], ids=repr)
def test_bad_images_and_bad_configuration_are_not(exc: Exception) -> None:
    assert not is_infrastructure_error(exc)
