"""`make run` configuration: secrets are generated once and kept; the env is complete."""

from __future__ import annotations

import stat
from pathlib import Path

from picsource_core.config import MongoSettings, StorageSettings
from tests.harness.run import app_env, persistent_secret, web_argv
from tests.harness.services import MinioServer, MongoServer


def test_persistent_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    first = persistent_secret(path)
    assert len(first) >= 32
    assert persistent_secret(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert persistent_secret(tmp_path / "other") != first


def test_app_env_is_accepted_by_core_settings(tmp_path: Path) -> None:
    mongo = MongoServer(tmp_path / "m", port=27017)
    minio = MinioServer(tmp_path / "s", port=9000, secret_key="s3cret-s3cret")
    env = app_env(mongo, minio, run_dir=tmp_path)
    assert MongoSettings.from_env(env).database == "picsource"
    storage = StorageSettings.from_env(env)
    assert (storage.endpoint, storage.bucket, storage.secret_key) == (
        "http://127.0.0.1:9000", "picsource", "s3cret-s3cret")  # fmt: skip
    assert env["ADMIN_USERNAME"] == "admin" and len(env["ADMIN_PASSWORD"]) >= 12
    assert env["WORKER_METRICS_PORT"] == "9101"
    assert Path(env["PROMETHEUS_MULTIPROC_DIR"]).is_dir()


def test_web_is_bound_to_loopback_port() -> None:
    argv = web_argv(5000)
    assert argv[argv.index("--bind") + 1] == "127.0.0.1:5000"
    assert argv[-1] == "picsource_web.app:create_app()"
