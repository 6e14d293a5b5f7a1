"""The chart's app-users step (#14 item 13) against real MinIO and a real MongoDB-wire server
with authentication on: the users it creates can do what a gallery does with its own bucket
and database, and nothing with anybody else's."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pymongo
import pytest
from minio import Minio, MinioAdmin
from minio.credentials import StaticProvider
from minio.error import MinioAdminException, S3Error
from pymongo.errors import ConnectionFailure, OperationFailure

from picsource_core.config import ConfigurationError, StorageSettings
from picsource_core.mongo import ensure_indexes, ping
from picsource_core.storage import ObjectStore
from picsource_operator import bootstrap
from tests.harness.services import MinioServer, MongoServer
from tests.support.clock import FakeClock

ROOT_PASSWORD = "root-pass-" + uuid.uuid4().hex[:8]


@pytest.fixture
def auth_mongo(own_mongo: MongoServer) -> Iterator[MongoServer]:
    """SecantusDB restarted with --auth after its root user was created (it has no
    localhost exception: users are provisioned first, then auth is switched on)."""
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(own_mongo.uri)
    client.admin.command("createUser", "root", pwd=ROOT_PASSWORD, roles=[{"role": "root", "db": "admin"}])
    client.close()
    assert own_mongo.process is not None
    own_mongo.process.stop()
    own_mongo.config_toml = "[server]\nauth = true\n"
    own_mongo.start()
    yield own_mongo


def client(uri: str) -> pymongo.MongoClient[dict[str, Any]]:
    return pymongo.MongoClient(uri, serverSelectionTimeoutMS=3000)


def environ(minio: MinioServer, mongo: MongoServer, access: str, bucket: str, password: str = "app-pass-1234"
            ) -> dict[str, str]:
    return {
        "MINIO_ENDPOINT": minio.url, "MINIO_ROOT_USER": minio.access_key, "MINIO_ROOT_PASSWORD": minio.secret_key,
        "MINIO_APP_ACCESS_KEY": access, "MINIO_APP_SECRET_KEY": "app-secret-" + password, "MINIO_APP_BUCKET": bucket,
        "MONGODB_ROOT_URI": f"mongodb://root:{ROOT_PASSWORD}@{mongo.host}:{mongo.port}/?authSource=admin",
        "MONGODB_APP_USERNAME": "gallery", "MONGODB_APP_PASSWORD": password, "MONGODB_APP_DATABASE": "photos",
        "BOOTSTRAP_WAIT_SECONDS": "10",
    }


def app_uri(mongo: MongoServer, password: str) -> str:
    return f"mongodb://gallery:{password}@{mongo.host}:{mongo.port}/photos?authSource=photos"


def test_app_users_reach_their_own_bucket_and_database_only(minio_server: MinioServer,
                                                           auth_mongo: MongoServer) -> None:
    access, bucket, other = f"gal-{uuid.uuid4().hex[:8]}", f"app-{uuid.uuid4().hex[:8]}", f"oth-{uuid.uuid4().hex[:8]}"
    root = minio_server.client()
    root.make_bucket(other)
    try:
        done = bootstrap.run(environ(minio_server, auth_mongo, access, bucket))
        assert len(done) == 2 and f"bucket {bucket!r} only" in done[0]

        # MinIO: what the operator and the pods do with their bucket works...
        store = ObjectStore(StorageSettings(endpoint=minio_server.url, access_key=access,
                                            secret_key="app-secret-app-pass-1234", bucket=bucket))
        store.ensure_bucket(encrypt=False)
        store.ping()
        app = Minio(minio_server.endpoint, access_key=access, secret_key="app-secret-app-pass-1234", secure=False)
        app.put_object(bucket, "a.jpg", io.BytesIO(b"x"), 1)
        assert app.get_object(bucket, "a.jpg").read() == b"x"
        # ...and nothing else: another bucket, creating buckets, the admin API.
        for attempt in (lambda: app.list_objects(other).__next__(), lambda: app.make_bucket(f"{bucket}-x"),
                        lambda: app.put_object(other, "b", io.BytesIO(b"y"), 1)):
            with pytest.raises(S3Error) as denied:
                attempt()
            assert denied.value.code == "AccessDenied"
        admin = MinioAdmin(endpoint=minio_server.endpoint, secure=False,
                           credentials=StaticProvider(access, "app-secret-app-pass-1234"))
        with pytest.raises(MinioAdminException):
            admin.user_list()

        # MongoDB: the gallery's own database works (indexes, drop under reclaim Delete)...
        gallery = client(app_uri(auth_mongo, "app-pass-1234"))
        db = gallery["photos"]
        ping(db)
        ensure_indexes(db)
        db["images"].insert_one({"_id": 1})
        assert db["images"].find_one({"_id": 1}) == {"_id": 1}
        # ...any other database, or managing users, is refused.
        with pytest.raises(OperationFailure) as refused:
            gallery["other"]["x"].insert_one({"_id": 1})
        assert refused.value.code == 13
        with pytest.raises(OperationFailure):
            db.command("createUser", "sneaky", pwd="sneaky-pass", roles=[{"role": "root", "db": "admin"}])
        gallery.drop_database("photos")
        gallery.close()

        # Idempotent: a second run with a new password resets it (an upgrade that changed it).
        bootstrap.run(environ(minio_server, auth_mongo, access, bucket, password="second-pass-99"))
        with pytest.raises(OperationFailure) as stale:
            client(app_uri(auth_mongo, "app-pass-1234"))["photos"].command("ping")
        assert stale.value.code == 18
        ping(client(app_uri(auth_mongo, "second-pass-99"))["photos"])
        Minio(minio_server.endpoint, access_key=access, secret_key="app-secret-second-pass-99",
              secure=False).bucket_exists(bucket)
    finally:
        for name in (bucket, other):
            for obj in root.list_objects(name, recursive=True) if root.bucket_exists(name) else []:
                root.remove_object(name, obj.object_name)
            if root.bucket_exists(name):
                root.remove_bucket(name)


def test_only_configured_services_are_bootstrapped_and_bad_config_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="MINIO_APP_ACCESS_KEY"):
        bootstrap.run({})
    with pytest.raises(ConfigurationError, match="MONGODB_ROOT_URI"):
        bootstrap.run({"MONGODB_APP_USERNAME": "g", "MONGODB_ROOT_URI": "postgres://x"})
    with pytest.raises(ConfigurationError, match="MINIO_APP_BUCKET"):
        bootstrap.run({"MINIO_APP_ACCESS_KEY": "g", "MINIO_ENDPOINT": "http://m:9000", "MINIO_ROOT_USER": "r",
                       "MINIO_ROOT_PASSWORD": "p", "MINIO_APP_SECRET_KEY": "s"})


def test_a_server_still_starting_is_waited_for_and_a_refusal_is_not() -> None:
    clock = FakeClock()
    calls: list[int] = []

    def starting() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionFailure("connection refused")
        return "up"

    def sleep(seconds: float) -> None:
        clock.now += seconds

    assert bootstrap.retrying(starting, "MongoDB", 60, sleep, clock) == "up" and len(calls) == 3
    with pytest.raises(ConnectionFailure):  # gives up after the wait
        bootstrap.retrying(lambda: (_ for _ in ()).throw(ConnectionFailure("down")), "MongoDB", 10, sleep, clock)
    refused: list[int] = []

    def wrong_password() -> None:
        refused.append(1)
        raise OperationFailure("Authentication failed.", code=18)

    with pytest.raises(OperationFailure):
        bootstrap.retrying(wrong_password, "MongoDB", 60, sleep, clock)
    assert len(refused) == 1
    assert bootstrap.not_up_yet(MinioAdminException("503", "initialising"))
    assert not bootstrap.not_up_yet(MinioAdminException("403", "denied"))
