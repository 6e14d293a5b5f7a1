"""The environment variables PicSource's processes read, built in one place for tests.

``service_env`` points a process at a MongoDB-wire server and a MinIO bucket (what the
web tier and the worker share); ``web_env_for`` adds the web tier's own settings.
``python_path`` is the PYTHONPATH a subprocess needs to import the product packages.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PACKAGE_DIRS = ("core", "web", "worker", "operator")
SECRET = "test-secret-key-" + "x" * 32


def python_path(*dirs: str) -> str:
    """The folders holding the product packages (all four unless named) and the repository root."""
    return os.pathsep.join(str(REPO / d) for d in (*(dirs or PACKAGE_DIRS), "."))


def service_env(mongo_uri: str, database: str, minio: Any, bucket: str) -> dict[str, str]:
    """MONGODB_*/S3_* for one database and one bucket of the given MinIO server."""
    return {
        "MONGODB_URI": mongo_uri,
        "MONGODB_DATABASE": database,
        "S3_ENDPOINT": minio.url,
        "S3_ACCESS_KEY": minio.access_key,
        "S3_SECRET_KEY": minio.secret_key,
        "S3_BUCKET": bucket,
        "S3_REGION": minio.region,
    }


def web_env_for(mongo_uri: str, database: str, minio: Any, bucket: str) -> dict[str, str]:
    """The web tier's environment: ``service_env`` plus a secret, short timeouts, quiet logs."""
    return {
        "SECRET_KEY": SECRET,
        **service_env(mongo_uri, database, minio, bucket),
        "MONGODB_TIMEOUT_MS": "2000",
        "S3_TIMEOUT_SECONDS": "3",
        "LOGIN_RATE_LIMIT": "5/15m",
        # Tests sign many users up from one address; the throttle's own tests set theirs.
        "SIGNUP_RATE_LIMIT": "1000/1h",
        "SIGNUP_GLOBAL_RATE_LIMIT": "1000/1h",
        "PASSWORD_SCRYPT_N": "16384",  # fast hashing in tests; the default (2**17) is asserted
        "LOG_LEVEL": "warning",
        # No load-report thread per test app; tests/web/test_web_load.py starts its own.
        "WEB_LOAD_REPORT_SECONDS": "0",
    }
