"""Fixtures of the browser tests: the web tier under gunicorn, and Debian's Chromium."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.procs import ManagedProcess, free_port, http_responds
from tests.harness.run import python_path, web_argv
from tests.harness.tools import REPO
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture
def web_url(core_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """The web tier under gunicorn (2 workers) on a free port, as `make run` starts it."""
    port = free_port()
    env = dict(os.environ)
    env.update(core_env)
    env.update(
        PYTHONPATH=python_path(), SECRET_KEY="e2e-" + "s" * 40, WEB_WORKERS="2",
        PROMETHEUS_MULTIPROC_DIR=tempfile.mkdtemp(prefix="prom-", dir=tmp_path),
        LOG_LEVEL="warning", PYTHONUNBUFFERED="1",
    )
    web = ManagedProcess("web", web_argv(port), tmp_path / "web.log", env=env, cwd=REPO).start()
    try:
        web.wait_ready(lambda: http_responds(f"http://127.0.0.1:{port}/readyz"), 60, "serving")
        yield f"http://127.0.0.1:{port}"
    finally:
        web.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is required: apt-get install chromium"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
