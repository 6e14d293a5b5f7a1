"""Verifying (and reclaiming) a Gallery's storage and database bindings.

Every failure becomes a Condition with a precise reason (SecretMissing,
InvalidCredentials, BucketForbidden, BucketMissing, EndpointUnreachable,
DatabaseUnreachable, ...) instead of an exception: a bad binding is a state to
report and retry, never a reason for the operator to crash.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from minio.error import S3Error
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import ConfigurationError as MongoConfigurationError
from pymongo.errors import InvalidURI, OperationFailure, PyMongoError

from picsource_core.config import MongoSettings, StorageSettings
from picsource_core.mongo import Document, connect, ensure_indexes, ping
from picsource_core.queue import JobQueue
from picsource_core.storage import ObjectStore, StorageError
from picsource_operator import egress
from picsource_operator.conditions import DATABASE_BOUND, FALSE, STORAGE_BOUND, TRUE, Condition
from picsource_operator.credentials import SecretReader
from picsource_operator.errors import BindingError
from picsource_operator.kube import Kube, KubeError
from picsource_operator.spec import Gallery

__all__ = ["BindingError", "SecretReader", "backlog", "check_database", "check_storage", "reclaim",
           "resolve_egress"]
log = logging.getLogger(__name__)

MONGO_TIMEOUT_MS = 3000
S3_TIMEOUT_SECONDS = 5.0


def object_store(secrets: SecretReader, g: Gallery, *, last_known: bool = False) -> ObjectStore:
    s = g.storage
    settings = StorageSettings(
        endpoint=s.endpoint,
        access_key=secrets.value(g.namespace, s.credentials_secret, s.access_key_key, last_known=last_known),
        secret_key=secrets.value(g.namespace, s.credentials_secret, s.secret_key_key, last_known=last_known),
        bucket=s.bucket, region=s.region, timeout_seconds=S3_TIMEOUT_SECONDS,
    )
    return ObjectStore(settings)


def check_storage(secrets: SecretReader, g: Gallery) -> Condition:
    """StorageBound: credentials readable, endpoint answers, bucket exists (created if asked)."""
    try:
        store = object_store(secrets, g)
        created = False
        if g.storage.create_bucket:
            created = store.ensure_bucket(encrypt=g.storage.encryption)
        store.ping()
        encryption = store.encryption()
    except BindingError as err:
        return Condition(STORAGE_BOUND, FALSE, err.reason, err.message)
    except StorageError as err:
        if err.reason == "BucketForbidden":
            err = _refine_forbidden(store, err)
        message = str(err)
        if err.reason == "BucketMissing":
            message = f"bucket {g.storage.bucket!r} does not exist and createBucket is false"
        return Condition(STORAGE_BOUND, FALSE, err.reason, f"{message} ({g.storage.endpoint})")
    except Exception as err:  # never let a surprise from the SDK crash a reconcile
        return Condition(STORAGE_BOUND, FALSE, "StorageError", f"{type(err).__name__}: {err}")
    verb = "created" if created else "found"
    return Condition(STORAGE_BOUND, TRUE, "BucketReady",
                     f"bucket {g.storage.bucket!r} {verb} at {g.storage.endpoint}; "
                     f"server-side encryption {encryption}")


def _refine_forbidden(store: ObjectStore, err: StorageError) -> StorageError:
    """Tell bad credentials from a missing permission.

    A HEAD on the bucket answers a bare 403 either way; listing buckets returns an
    error body whose code says whether the signature or key was wrong.
    """
    try:
        store.client.list_buckets()
    except S3Error as listing:
        if listing.code in {"InvalidAccessKeyId", "SignatureDoesNotMatch"}:
            return StorageError("InvalidCredentials",
                                f"object storage rejected the credentials ({listing.code})")
    except Exception:
        pass
    return err


class MongoClients:
    """One MongoClient per URI for the whole operator (each client owns monitor threads)."""

    def __init__(self) -> None:
        self._clients: dict[str, MongoClient[Document]] = {}
        self._lock = threading.Lock()

    def database(self, uri: str, name: str) -> Database[Document]:
        with self._lock:
            client = self._clients.get(uri)
            if client is None:
                db = connect(MongoSettings(uri=uri, database=name, timeout_ms=MONGO_TIMEOUT_MS),
                             app_name="picsource-operator")
                self._clients[uri] = db.client
                return db
            return client[name]

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


@dataclass(frozen=True)
class DatabaseBinding:
    condition: Condition
    db: Database[Document] | None = None
    uri: str = ""


def database_uri(secrets: SecretReader, g: Gallery, *, last_known: bool = False) -> str:
    return secrets.value(g.namespace, g.database.uri_secret, g.database.uri_key, last_known=last_known)


def gallery_database(secrets: SecretReader, g: Gallery, clients: MongoClients, uri: str | None = None,
                     *, last_known: bool = False) -> Database[Document]:
    uri = uri if uri is not None else database_uri(secrets, g, last_known=last_known)
    if not uri.startswith(("mongodb://", "mongodb+srv://")):
        raise BindingError("InvalidURI", f"the value of Secret {g.database.uri_secret!r} key "
                                         f"{g.database.uri_key!r} is not a mongodb:// URI")
    try:
        return clients.database(uri, g.database.name)
    except (InvalidURI, MongoConfigurationError) as err:
        raise BindingError("InvalidURI", f"invalid MongoDB URI: {err}") from err


def check_database(secrets: SecretReader, g: Gallery, clients: MongoClients) -> DatabaseBinding:
    """DatabaseBound: URI readable, server answers, indexes exist. The URI read is kept even
    when the check fails: egress is pinned from its hosts either way."""
    uri = ""
    try:
        uri = database_uri(secrets, g)
        db = gallery_database(secrets, g, clients, uri)
        ping(db)
        ensure_indexes(db)
    except BindingError as err:
        return DatabaseBinding(Condition(DATABASE_BOUND, FALSE, err.reason, err.message), uri=uri)
    except OperationFailure as err:
        reason = "InvalidCredentials" if err.code in (13, 18) else "DatabaseError"
        return DatabaseBinding(Condition(DATABASE_BOUND, FALSE, reason, f"MongoDB refused: {err}"), uri=uri)
    except PyMongoError as err:
        return DatabaseBinding(Condition(DATABASE_BOUND, FALSE, "DatabaseUnreachable",
                                         f"MongoDB unreachable: {str(err)[:300]}"), uri=uri)
    except Exception as err:
        return DatabaseBinding(Condition(DATABASE_BOUND, FALSE, "DatabaseError", f"{type(err).__name__}: {err}"),
                               uri=uri)
    return DatabaseBinding(
        Condition(DATABASE_BOUND, TRUE, "DatabaseReady", f"database {g.database.name!r} reachable, indexes ensured"),
        db, uri,
    )


def read_services(kube: Kube, refs: list[egress.ServiceRef]) -> dict[egress.ServiceRef, dict[str, Any] | None]:
    """Each Service the endpoints may name (None: it does not exist). One that cannot be read
    (API error) is left out, so its endpoint is reported as not pinned and retried later."""
    found: dict[egress.ServiceRef, dict[str, Any] | None] = {}
    for ref in refs:
        try:
            found[ref] = kube.get("Service", ref.namespace, ref.name)
        except KubeError as err:
            log.warning("cannot read Service %s for egress pinning: %s", ref, err)
    return found


def resolve_egress(kube: Kube, g: Gallery, uri: str) -> egress.Egress:
    """Where the pods may connect: the storage endpoint and the database URI's hosts, with
    the Services they name read from the API (``uri`` empty: not readable yet)."""
    database = egress.database_endpoints(uri) if uri else None
    endpoints = [egress.storage_endpoint(g), *(database or [])]
    return egress.plan(g, database, read_services(kube, egress.service_refs(endpoints, g.namespace)))


def backlog(db: Database[Document]) -> int:
    """Unfinished analysis jobs (pending + running) in the gallery's queue."""
    return JobQueue(db).stats().backlog


def reclaim(secrets: SecretReader, g: Gallery, clients: MongoClients, *, last_known: bool = False) -> None:
    """reclaimPolicy Delete: remove every object and the bucket, drop the database.

    Raises BindingError on any failure so the caller reports it and retries.
    `last_known`: use remembered credentials when the Secrets are gone (namespace teardown).
    """
    try:
        object_store(secrets, g, last_known=last_known).remove_bucket()
    except StorageError as err:
        raise BindingError(f"Reclaim{err.reason}", f"could not delete bucket {g.storage.bucket!r}: {err}") from err
    except BindingError:
        raise
    except Exception as err:
        raise BindingError("ReclaimStorageFailed", f"could not delete bucket {g.storage.bucket!r}: {err}") from err
    try:
        db = gallery_database(secrets, g, clients, last_known=last_known)
        db.client.drop_database(g.database.name)
    except BindingError:
        raise
    except PyMongoError as err:
        raise BindingError("ReclaimDatabaseFailed", f"could not drop database {g.database.name!r}: {err}") from err
