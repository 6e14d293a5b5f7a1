"""Settings from the environment; a bad value stops the worker with one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from picsource_core.config import ConfigurationError
from picsource_worker.settings import DEFAULT_MAX_JOBS_PER_PROCESS, Settings, available_cpus
from tests.support.env import REPO, python_path

BASE = {"S3_ACCESS_KEY": "k", "S3_SECRET_KEY": "s"}


def test_defaults() -> None:
    settings = Settings.from_env({**BASE, "HOSTNAME": "pod-1"})
    assert settings.concurrency == available_cpus()
    assert settings.metrics_port == 9101 and settings.ocr and settings.faces
    assert settings.worker_id == "pod-1"
    options = settings.analysis_options()
    assert options.ocr and options.labels and set(options.thumbnail_sizes) == {256, 1280}
    assert settings.safety_threshold == options.safety_threshold == 0.8  # the CRD's default


def test_values_are_read() -> None:
    settings = Settings.from_env({
        **BASE, "WORKER_CONCURRENCY": "3", "WORKER_LEASE_SECONDS": "5", "WORKER_OCR": "false",
        "WORKER_FACES": "no", "WORKER_GRACE_SECONDS": "2.5", "WORKER_MAX_ATTEMPTS": "7",
        "WORKER_METRICS_PORT": "9200", "WORKER_POLL_SECONDS": "0.5",
        "WORKER_SAFETY_THRESHOLD": "0.35",
    })  # fmt: skip
    assert (settings.concurrency, settings.lease_seconds, settings.grace_seconds) == (3, 5.0, 2.5)
    assert (settings.max_attempts, settings.metrics_port, settings.poll_seconds) == (7, 9200, 0.5)
    assert not settings.ocr and not settings.faces
    assert not settings.analysis_options().ocr
    assert settings.analysis_options().safety_threshold == 0.35


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WORKER_CONCURRENCY", "many"), ("WORKER_CONCURRENCY", "0"), ("WORKER_OCR", "maybe"),
        ("WORKER_LEASE_SECONDS", "-1"), ("WORKER_METRICS_PORT", "70000"),
        ("WORKER_MAX_ATTEMPTS", "1.5"), ("S3_ENDPOINT", "not a url"),
        ("WORKER_SAFETY_THRESHOLD", "1.5"), ("WORKER_SAFETY_THRESHOLD", "-0.1"),
        ("WORKER_SAFETY_THRESHOLD", "high"), ("WORKER_SAFETY_THRESHOLD", "nan"),
        ("WORKER_MAX_JOBS_PER_PROCESS", "-1"), ("WORKER_MAX_JOBS_PER_PROCESS", "2.5"),
        ("WORKER_MAX_JOBS_PER_PROCESS", "often"), ("WORKER_MAX_JOBS_PER_PROCESS", "10000000"),
        ("WORKER_ALLOCATOR", "tcmalloc"), ("WORKER_JEMALLOC_PATH", "/nowhere/libjemalloc.so.2"),
    ],
)  # fmt: skip
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({**BASE, name: value})


def test_missing_credentials_name_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="S3_ACCESS_KEY"):
        Settings.from_env({})


@pytest.mark.parametrize(("name", "value"), [("WORKER_CONCURRENCY", "lots"), ("WORKER_MAX_JOBS_PER_PROCESS", "-3"),
                                            ("WORKER_ALLOCATOR", "tcmalloc")])  # fmt: skip
def test_bad_configuration_exits_2_with_one_line(name: str, value: str) -> None:
    env = {**os.environ, **BASE, "PYTHONPATH": python_path(), name: value}
    result = subprocess.run(
        [sys.executable, "-m", "picsource_worker"], env=env, cwd=REPO,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0], lines


def test_available_cpus_respects_a_cgroup_quota(tmp_path: Path) -> None:
    cores = os.cpu_count() or 1
    assert available_cpus(tmp_path) == cores  # no cgroup files: the CPU count
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert available_cpus(tmp_path) == cores
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # half a CPU still gets one process
    assert available_cpus(tmp_path) == 1
    (tmp_path / "cpu.max").write_text(f"{cores * 300000} 100000\n")  # more than the node has
    assert available_cpus(tmp_path) == cores
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert available_cpus(v1) == 1


def test_pixel_budget_follows_the_web_tier_unless_set_for_the_worker() -> None:
    assert Settings.from_env(BASE).max_pixels == 50_000_000
    assert Settings.from_env({**BASE, "MAX_IMAGE_PIXELS": "80000000"}).max_pixels == 80_000_000
    both = {**BASE, "MAX_IMAGE_PIXELS": "80000000", "WORKER_MAX_PIXELS": "1000"}
    assert Settings.from_env(both).analysis_options().max_pixels == 1000


def test_processes_are_recycled_after_a_bounded_number_of_jobs_unless_zero() -> None:
    assert Settings.from_env(BASE).max_jobs_per_process == DEFAULT_MAX_JOBS_PER_PROCESS > 0
    assert Settings.from_env({**BASE, "WORKER_MAX_JOBS_PER_PROCESS": "2"}).max_jobs_per_process == 2
    assert Settings.from_env({**BASE, "WORKER_MAX_JOBS_PER_PROCESS": "0"}).max_jobs_per_process == 0

