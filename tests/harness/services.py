"""The MongoDB-wire server (SecantusDB) and MinIO as real processes on loopback.

Why: integration tests and `make run` need genuine servers speaking the real protocols,
each on its own port with its own data dir, so parallel runs never collide. Both
classes are context managers; `stop()` terminates the whole process tree.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import urllib.request
from pathlib import Path

from tests.harness.procs import (
    LOOPBACK,
    ManagedProcess,
    StartupError,
    free_port,
    port_accepts,
    port_taken,
)
from tests.harness.tools import binary


class _Service:
    """Shared start/stop plumbing: data dir, log file, process, context manager."""

    name = "service"
    ready_timeout = 60.0

    def __init__(
        self, data_dir: Path | None = None, port: int | None = None, log_path: Path | None = None
    ) -> None:
        self._own_tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._own_tmp = tempfile.TemporaryDirectory(prefix=f"picsource-{self.name}-")
            data_dir = Path(self._own_tmp.name)
        self.base_dir = Path(data_dir)
        self._picked_ports = port is None
        self.port = port or free_port()
        self.host = LOOPBACK
        self.log_path = log_path or self.base_dir / f"{self.name}.log"
        self.process: ManagedProcess | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def is_ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> _Service:
        for attempt in (1, 2):
            self.base_dir.mkdir(parents=True, exist_ok=True)
            self.process = ManagedProcess(
                self.name, self.argv(), self.log_path, env=self.env(), cwd=self.base_dir
            ).start()
            try:
                self.process.wait_ready(self.is_ready, self.ready_timeout)
                return self
            except StartupError as exc:
                self.process.stop()
                self.process = None
                # Another process may take a free port between our probe and the bind.
                if attempt == 1 and self._picked_ports and port_taken(exc):
                    self._pick_ports()
                    continue
                self.stop()
                raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def _pick_ports(self) -> None:
        self.port = free_port()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
        if self._own_tmp is not None:
            self._own_tmp.cleanup()
            self._own_tmp = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.running() else None

    def __enter__(self) -> _Service:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MongoServer(_Service):
    """SecantusDB 0.7 (`secantusd-py`): MongoDB wire protocol over WiredTiger.

    It advertises itself as the primary of a one-node replica set, so pymongo
    transactions and change streams work with a plain `mongodb://host:port/` URI.
    """

    name = "mongo"
    #: TOML written to the server's config file (empty: SecantusDB's defaults). The
    #: benchmark raises the cache and oplog cap for its 100,000-document database.
    config_toml = ""

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.port}/"

    def argv(self) -> list[str]:
        # An explicit empty --config stops auto-discovery of ./secantusd.toml,
        # ~/.secantus/ or /etc/secantus/ files that could change behaviour.
        config = self.base_dir / "secantusd.toml"
        config.write_text(self.config_toml)
        return [
            str(binary("secantusd")),
            "--config", str(config),
            "--host", self.host,
            "--port", str(self.port),
            "--storage-path", str(self.base_dir / "data"),
            "--log-level", "WARNING",
        ]  # fmt: skip

    def is_ready(self) -> bool:
        if not port_accepts(self.port):
            return False
        import pymongo  # the venv has it; imported late so tools-only use stays light

        client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
            self.uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000
        )
        try:
            client.admin.command("ping")
            return True
        finally:
            client.close()


class MinioServer(_Service):
    """MinIO single-drive server with fixed root credentials, console disabled."""

    name = "minio"

    def __init__(
        self,
        data_dir: Path | None = None,
        port: int | None = None,
        log_path: Path | None = None,
        access_key: str = "picsource",
        secret_key: str | None = None,
        region: str = "us-east-1",
    ) -> None:
        super().__init__(data_dir, port, log_path)
        self.access_key = access_key
        self.secret_key = secret_key or secrets.token_urlsafe(18)
        self.region = region
        self.console_port = free_port()

    def _pick_ports(self) -> None:
        super()._pick_ports()
        self.console_port = free_port()

    @property
    def endpoint(self) -> str:
        """host:port, as the `minio` SDK's Minio() constructor wants it."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """http://host:port, the form S3_ENDPOINT takes."""
        return f"http://{self.endpoint}"

    def argv(self) -> list[str]:
        return [
            str(binary("minio")),
            "server",
            "--quiet",
            "--address", self.endpoint,
            "--console-address", f"{self.host}:{self.console_port}",
            str(self.base_dir / "data"),
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            MINIO_ROOT_USER=self.access_key,
            MINIO_ROOT_PASSWORD=self.secret_key,
            MINIO_REGION=self.region,
            MINIO_BROWSER="off",
            MINIO_UPDATE="off",
            MINIO_CI_CD="1",
            HOME=str(self.base_dir),  # minio writes ~/.minio otherwise
        )
        return env

    def is_ready(self) -> bool:
        # /live answers 200 while the object layer is still starting, and S3 calls made
        # then get 503 (a test's first bucket creation would fail); /cluster waits for it.
        url = f"{self.url}/minio/health/cluster"
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)

    def client(self):  # type: ignore[no-untyped-def]
        """A `minio.Minio` client with the root credentials."""
        from minio import Minio

        return Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            region=self.region,
        )
