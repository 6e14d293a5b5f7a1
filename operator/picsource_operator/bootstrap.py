"""Application users for the chart's bundled MongoDB and MinIO (#14 item 13).

Why: a gallery that holds root credentials can read, change or drop every database and
bucket on the server, so one compromised web pod would own them all. The chart's
post-install/post-upgrade Job runs ``python -m picsource_operator.bootstrap`` (the operator
image: Python, the minio SDK and pymongo are already there) with the root credentials,
which only this Job mounts, and makes the application users the Gallery's Secrets name
exist with exactly these rights:

* MinIO: user ``MINIO_APP_ACCESS_KEY`` with policy ``picsource-<bucket>``: every S3 action
  on that bucket and its objects (the operator creates it, sets SSE, and removes it under
  ``reclaimPolicy: Delete``), nothing on any other bucket and no admin API;
* MongoDB: user ``MONGODB_APP_USERNAME``, defined in the gallery database, with
  ``readWrite`` and ``dbAdmin`` on that database only (collections, indexes, and
  ``dropDatabase`` for ``reclaimPolicy: Delete``); no other database, no user admin.

Idempotent: run again (every upgrade), it resets each password and right to what the
Secrets say. A service whose variables are absent is skipped. The servers may still be
starting, so connection errors are retried for ``BOOTSTRAP_WAIT_SECONDS``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from minio import MinioAdmin
from minio.credentials import StaticProvider
from minio.error import MinioAdminException
from pymongo import MongoClient
from pymongo.errors import ConnectionFailure, OperationFailure
from urllib3.exceptions import HTTPError

from picsource_core.config import ConfigurationError, Env

log = logging.getLogger("picsource.bootstrap")
T = TypeVar("T")
USER_EXISTS = 51003  # MongoDB's "User ... already exists"
APP_ROLES = ("readWrite", "dbAdmin")


@dataclass(frozen=True)
class MinioUser:
    endpoint: str  # http(s)://host:port
    root_user: str
    root_password: str
    access_key: str
    secret_key: str
    bucket: str


@dataclass(frozen=True)
class MongoUser:
    root_uri: str
    username: str
    password: str
    database: str


def bucket_policy(bucket: str) -> dict[str, Any]:
    """Every S3 action on one bucket and its objects, and nothing else."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["s3:*"],
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}


def policy_name(bucket: str) -> str:
    return f"picsource-{bucket}"


def ensure_minio_user(spec: MinioUser) -> None:
    """The app user exists with `spec.secret_key` and only the bucket's policy attached."""
    parts = urlsplit(spec.endpoint)
    admin = MinioAdmin(endpoint=parts.netloc, secure=parts.scheme == "https",
                       credentials=StaticProvider(spec.root_user, spec.root_password))
    name = policy_name(spec.bucket)
    admin.policy_add(name, policy=bucket_policy(spec.bucket))
    admin.user_add(spec.access_key, spec.secret_key)
    admin.policy_set(name, user=spec.access_key)  # replaces whatever was attached before


def ensure_mongo_user(spec: MongoUser) -> None:
    """The app user exists in the gallery database with `spec.password` and only its roles."""
    client: MongoClient[dict[str, Any]] = MongoClient(spec.root_uri, serverSelectionTimeoutMS=5000)
    try:
        db = client[spec.database]
        roles = [{"role": role, "db": spec.database} for role in APP_ROLES]
        try:
            db.command("createUser", spec.username, pwd=spec.password, roles=roles)
        except OperationFailure as err:
            if err.code != USER_EXISTS:
                raise
            db.command("updateUser", spec.username, pwd=spec.password, roles=roles)
    finally:
        client.close()


def minio_from_env(env: Env) -> MinioUser | None:
    if env.optional_str("MINIO_APP_ACCESS_KEY") is None:
        return None
    return MinioUser(endpoint=env.url("MINIO_ENDPOINT"), root_user=env.str("MINIO_ROOT_USER"),
                     root_password=env.str("MINIO_ROOT_PASSWORD"),
                     access_key=env.str("MINIO_APP_ACCESS_KEY"), secret_key=env.str("MINIO_APP_SECRET_KEY"),
                     bucket=env.str("MINIO_APP_BUCKET"))


def mongo_from_env(env: Env) -> MongoUser | None:
    if env.optional_str("MONGODB_APP_USERNAME") is None:
        return None
    uri = env.str("MONGODB_ROOT_URI")
    if not uri.startswith("mongodb://"):
        raise ConfigurationError("MONGODB_ROOT_URI", "must be a mongodb:// URI")
    return MongoUser(root_uri=uri, username=env.str("MONGODB_APP_USERNAME"),
                     password=env.str("MONGODB_APP_PASSWORD"), database=env.str("MONGODB_APP_DATABASE"))


def not_up_yet(err: Exception) -> bool:
    """Errors of a server that is still starting: refused or dropped connections, and
    MinIO's 503 while it initialises. A refusal (bad root credentials, a rejected
    policy) is not one of them."""
    if isinstance(err, MinioAdminException):
        return str(err).startswith("admin request failed; Status: 5")
    return isinstance(err, ConnectionFailure | OSError | HTTPError)


def retrying(step: Callable[[], T], what: str, wait_seconds: float,
             sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> T:
    """Run `step`, retrying while the server is not up yet, for up to `wait_seconds`."""
    deadline = clock() + wait_seconds
    while True:
        try:
            return step()
        except Exception as err:
            if not not_up_yet(err) or clock() >= deadline:
                raise
            log.info("%s: not reachable yet (%s), retrying", what, err)
            sleep(2.0)


def run(environ: Mapping[str, str], *, sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Bootstrap every configured service; returns what was done (for the Job's log)."""
    env = Env(environ)
    wait = env.float("BOOTSTRAP_WAIT_SECONDS", 300.0, minimum=0)
    minio, mongo = minio_from_env(env), mongo_from_env(env)
    if minio is None and mongo is None:
        raise ConfigurationError("MINIO_APP_ACCESS_KEY", "or MONGODB_APP_USERNAME must be set")
    done: list[str] = []
    if minio is not None:
        retrying(lambda: ensure_minio_user(minio), "MinIO", wait, sleep)
        done.append(f"MinIO user {minio.access_key!r}: policy {policy_name(minio.bucket)!r} "
                    f"(bucket {minio.bucket!r} only)")
    if mongo is not None:
        retrying(lambda: ensure_mongo_user(mongo), "MongoDB", wait, sleep)
        done.append(f"MongoDB user {mongo.username!r}: {', '.join(APP_ROLES)} on {mongo.database!r} only")
    return done


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        for line in run(os.environ):
            log.info("%s", line)
    except ConfigurationError as err:
        log.error("%s", err)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
