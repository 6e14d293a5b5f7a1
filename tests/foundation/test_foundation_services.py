"""The MongoDB-wire and MinIO fixtures are real servers with isolated state per test."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from typing import Any

import pymongo
import pytest
from pymongo.errors import DuplicateKeyError

from tests.harness import procs
from tests.harness.services import MinioServer, MongoServer


def test_mongo_insert_find_and_unique_index(mongo_db: Any) -> None:
    mongo_db.items.create_index("slug", unique=True)
    mongo_db.items.insert_one({"slug": "a", "n": 1})
    mongo_db.items.insert_one({"slug": "b", "n": 2})
    with pytest.raises(DuplicateKeyError):
        mongo_db.items.insert_one({"slug": "a", "n": 3})
    found = [d["n"] for d in mongo_db.items.find({}, {"_id": 0}).sort("n", pymongo.ASCENDING)]
    assert found == [1, 2]


def test_mongo_transaction_commit_and_abort(mongo_db: Any) -> None:
    client = mongo_db.client
    mongo_db.create_collection("ledger")
    with client.start_session() as session:
        with session.start_transaction():
            mongo_db.ledger.insert_one({"k": "kept"}, session=session)
        with session.start_transaction():
            mongo_db.ledger.insert_one({"k": "dropped"}, session=session)
            session.abort_transaction()
    assert [d["k"] for d in mongo_db.ledger.find()] == ["kept"]


def test_each_test_gets_a_fresh_database(mongo_db: Any) -> None:
    assert mongo_db.name.startswith("test_")
    assert mongo_db.list_collection_names() == []


def test_minio_bucket_put_get(minio_server: Any, bucket: str) -> None:
    import io

    client = minio_server.client()
    payload = b"\x89PNG not really" * 100
    client.put_object(bucket, "a/b.bin", io.BytesIO(payload), len(payload))
    assert client.get_object(bucket, "a/b.bin").read() == payload
    assert [o.object_name for o in client.list_objects(bucket, recursive=True)] == ["a/b.bin"]


def test_object_store_fixture_uses_core(object_store: Any, bucket: str) -> None:
    assert object_store.bucket == bucket
    object_store.put_bytes("k1", b"hello")
    assert object_store.get_bytes("k1") == b"hello"


def test_core_env_points_at_fresh_db_and_bucket(core_env: dict[str, str], mongo_db: Any,
                                                bucket: str) -> None:  # fmt: skip
    assert core_env["MONGODB_DATABASE"] == mongo_db.name
    assert core_env["S3_BUCKET"] == bucket
    code = (
        "import os, pymongo; c = pymongo.MongoClient(os.environ['MONGODB_URI']);"
        "c[os.environ['MONGODB_DATABASE']].seen.insert_one({'from': 'child'})"
    )
    subprocess.run([sys.executable, "-c", code], env=core_env, check=True, timeout=60)
    assert mongo_db.seen.find_one()["from"] == "child"


def test_stopped_server_leaves_no_process(tmp_path: Any) -> None:
    server = MongoServer(tmp_path)
    server.start()
    pid = server.pid
    assert pid is not None
    server.stop()
    assert not _alive(pid)


def test_free_ports_lie_below_the_range_client_sockets_take_theirs_from() -> None:
    """A client connection's local port comes from the ephemeral range: a port picked
    there could be taken by any connection before the server binds it (seen under a
    load bench). Picked below it, only a server can take it; none is handed out twice."""
    low, _high = procs._ephemeral_range()
    ports = [procs.free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(procs.PICK_FLOOR <= port < min(low, procs.PICK_CEILING) for port in ports)
    for port in ports[:5]:
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))


def test_the_pick_range_ends_where_the_ephemeral_range_starts() -> None:
    assert procs.pick_range((32768, 60999)) == range(procs.PICK_FLOOR, procs.PICK_CEILING)
    assert procs.pick_range((25000, 60999)) == range(procs.PICK_FLOOR, 25000)
    assert procs.pick_range((procs.PICK_FLOOR + 999, 60999)) == range(0)  # too little room
    assert procs.pick_range((1024, 65535)) == range(0)


def test_a_port_taken_before_the_bind_is_retried_on_another(tmp_path: Any) -> None:
    """free_port() cannot reserve a port; losing that race must not fail a session."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        server = MinioServer(tmp_path)
        server.port = taken  # as if another process bound it after free_port() chose it
        server.start()
        try:
            assert server.port != taken
            assert "already in use" in server.log_path.read_text()
            assert server.client().bucket_exists("absent-bucket") is False
        finally:
            server.stop()


def test_servers_die_with_a_killed_parent(tmp_path: Any) -> None:
    """Even a SIGKILLed test session (no finalizers) must not orphan its servers."""
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from tests.harness.services import MinioServer\n"
        "s = MinioServer(Path(sys.argv[1])).start()\n"
        "print(s.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert parent.stdout is not None
    server_pid = int(parent.stdout.readline())
    assert _alive(server_pid)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 15
    while _alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(server_pid)


def _alive(pid: int) -> bool:
    from tests.harness.procs import pid_alive

    return pid_alive(pid)
