"""Shared fixtures: real servers started once per session, clean state per test.

Why: integration tests must talk to the genuine MongoDB wire protocol (SecantusDB),
genuine S3 (MinIO) and a genuine Kubernetes control plane, yet stay fast on two cores.
Each server starts lazily, only when some test asks for it, and lives for the session;
each test gets its own database, bucket or namespace, removed afterwards.

A missing component FAILS the test with the command that installs it; nothing is
skipped, so a green run means every component really ran.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import hostcheck
from tests.harness.cluster import Cluster
from tests.harness.kubeapi import wait_until
from tests.harness.procs import StartupError
from tests.harness.realnode import RealCluster
from tests.harness.services import MinioServer, MongoServer
from tests.harness.tools import MissingToolError, binary
from tests.support.commands import run_checked
from tests.support.env import service_env
from tests.support.kubectl import KubectlRunner

_STARTUP_ERRORS = (MissingToolError, StartupError, TimeoutError)


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def _start_or_fail(what: str, start: Callable[[], object]) -> None:
    """Run start(); a missing binary or failed start FAILS the test (never skips)."""
    try:
        start()
        return
    except _STARTUP_ERRORS as exc:
        problem = f"{what} could not start: {exc}"
    pytest.fail(problem, pytrace=False)  # outside `except`: no chained traceback noise


# --- servers (session) ------------------------------------------------------------------
@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    """SecantusDB on a free loopback port; `.uri` is a plain mongodb:// URI."""
    server = MongoServer(tmp_path_factory.mktemp("mongo"))
    _start_or_fail("MongoDB-wire server", server.start)
    yield server
    server.stop()


@pytest.fixture
def own_mongo(tmp_path: Path) -> Iterator[MongoServer]:
    """A MongoDB-wire server of the test's own, which it may stop, freeze or restart."""
    with MongoServer(tmp_path / "own-mongo") as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def own_minio(tmp_path: Path) -> Iterator[MinioServer]:
    """A MinIO of the test's own, which it may stop, freeze or restart."""
    with MinioServer(tmp_path / "own-minio") as server:
        yield server  # type: ignore[misc]


@pytest.fixture(scope="session")
def minio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    """MinIO on a free loopback port: `.url`, `.endpoint`, `.access_key`, `.secret_key`."""
    server = MinioServer(tmp_path_factory.mktemp("minio"))
    _start_or_fail("MinIO", server.start)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """etcd + kube-apiserver + controller-manager + scheduler + kwok (one fake Node).

    `.kubeconfig` is an admin kubeconfig path, `.server` the https URL.
    """
    control_plane = Cluster(tmp_path_factory.mktemp("cluster"))
    _start_or_fail("test control plane", control_plane.up)
    yield control_plane
    # Stop everything but keep logs and PKI in pytest's tmp dir (kept for the last
    # few sessions) for post-mortems.
    control_plane.stop_processes()


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCluster]:
    """A real node: containerd, kubelet, kube-proxy, CoreDNS in a network namespace.

    `.kubeconfig`/`.api()` reach its API server through a 127.0.0.1 relay; clients of
    pods and Services run inside the namespace (`.call(fn)`, `.exec_argv(argv)`). The
    teardown fails the session if anything is left on the host (hostcheck.py).
    """
    node = RealCluster(tmp_path_factory.mktemp("realnode"))
    before = hostcheck.snapshot()
    _start_or_fail("real node", node.up)
    yield node
    node.stop()
    left = hostcheck.leftovers(before, hostcheck.snapshot(), node.state_dir, node.name)
    assert not left, "the real node left things on the host:\n" + "\n".join(left)


@pytest.fixture(scope="session")
def kubectl(cluster: Cluster) -> KubectlRunner:
    """kubectl(*args, stdin=None, check=True, timeout=60) against the test cluster.

    Returns the CompletedProcess (text mode); with check=True a non-zero exit fails
    the test showing stdout and stderr.
    """
    _start_or_fail("kubectl", lambda: binary("kubectl"))
    exe = str(binary("kubectl"))

    def run(
        *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        argv = [exe, f"--kubeconfig={cluster.kubeconfig}", *args]
        return run_checked(argv, stdin=stdin, check=check, timeout=timeout, shown=" ".join(args))

    return run


# --- per-test state ---------------------------------------------------------------------
@pytest.fixture(scope="session")
def _mongo_client(mongo_server: MongoServer) -> Iterator[Any]:
    import pymongo

    client: Any = pymongo.MongoClient(mongo_server.uri, serverSelectionTimeoutMS=5000)
    yield client
    client.close()


@pytest.fixture
def mongo_db(_mongo_client: Any) -> Iterator[Any]:
    """A pymongo Database with a fresh name, dropped after the test."""
    name = _unique("test_")
    yield _mongo_client[name]
    _mongo_client.drop_database(name)


@pytest.fixture
def bucket(minio_server: MinioServer) -> Iterator[str]:
    """A fresh, empty bucket name; emptied and removed after the test."""
    from minio.deleteobjects import DeleteObject

    client = minio_server.client()
    name = _unique("test-")
    client.make_bucket(name)
    yield name
    objects = client.list_objects(name, recursive=True)
    errors = list(client.remove_objects(name, (DeleteObject(o.object_name) for o in objects)))
    assert not errors, f"could not empty bucket {name}: {errors}"
    client.remove_bucket(name)


@pytest.fixture
def object_store(minio_server: MinioServer, bucket: str) -> Any:
    """picsource_core.storage.ObjectStore bound to the fresh bucket."""
    from picsource_core.config import StorageSettings
    from picsource_core.storage import ObjectStore

    return ObjectStore(
        StorageSettings(
            endpoint=minio_server.url,
            access_key=minio_server.access_key,
            secret_key=minio_server.secret_key,
            bucket=bucket,
            region=minio_server.region,
        )
    )


@pytest.fixture
def core_env(mongo_server: MongoServer, minio_server: MinioServer, mongo_db: Any,
             bucket: str) -> dict[str, str]:  # fmt: skip
    """MONGODB_*/S3_* variables for the fresh database and bucket (for subprocesses)."""
    return service_env(mongo_server.uri, mongo_db.name, minio_server, bucket)


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace whose default ServiceAccount exists; deleted after the test."""
    api = cluster.api()
    name = _unique("t-")
    api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": name}})  # fmt: skip
    wait_until(
        lambda: api.get(f"/api/v1/namespaces/{name}/serviceaccounts/default") is not None,
        60,
        f"the default ServiceAccount in namespace {name}",
    )
    yield name
    api.delete(f"/api/v1/namespaces/{name}")
