"""The web tier under gunicorn, started exactly as the image starts it, for tests that need
real worker processes (multiprocess metrics, memory under hostile bodies, bad config)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.support.env import REPO, python_path


def start_gunicorn(env: dict[str, str], *, stdout: int = subprocess.PIPE) -> subprocess.Popen[str]:
    """gunicorn with the web tier's config; ``env`` on top of this process's environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(REPO / "web/picsource_web/gunicorn_conf.py"),
         "picsource_web.app:create_app()"],
        env={**os.environ, **env, "PYTHONPATH": python_path()}, cwd=str(REPO),
        stdout=stdout, stderr=subprocess.PIPE, text=True,
    )


def stop_gunicorn(proc: subprocess.Popen[str]) -> None:
    """SIGTERM (a graceful stop), SIGKILL after 30 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
