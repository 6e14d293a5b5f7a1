"""The web tier as it runs in a pod: internal-only /metrics and /readyz, gunicorn's own
files under a read-only root, and the worker count from the container's CPU limit.

Each test runs the real app under a real gunicorn against the session's SecantusDB and
MinIO, configured through the environment exactly as the operator configures a pod.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.harness.procs import free_port
from tests.support.env import REPO, python_path
from tests.support.waiting import wait_serving

pytestmark = pytest.mark.slow


class Gunicorn:
    def __init__(self, env: dict[str, str], cwd: Path, cgroup: Path | None = None) -> None:
        full = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
        full.update(env, PYTHONPATH=python_path("core", "web"))

        def enter_cgroup() -> None:  # in the child, before exec: as a container runtime does
            if cgroup is not None:
                (cgroup / "cgroup.procs").write_text(str(os.getpid()))

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(REPO / "web/picsource_web/gunicorn_conf.py"),
             "picsource_web.app:create_app()"],
            env=full, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=enter_cgroup if cgroup is not None else None)
        self.stderr = ""

    def workers(self) -> int:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return len(path.read_text().split())

    def wait_serving(self, url: str) -> None:
        wait_serving(url, self.proc)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, self.stderr = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, self.stderr = self.proc.communicate()


@pytest.fixture
def pod_like(web_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[Gunicorn, str, str, Path]]:
    """gunicorn with the operator's pod settings; HOME cannot hold a directory (as `/` on
    a read-only root) and TMPDIR plays the pod's /tmp emptyDir."""
    public, internal = free_port(), free_port()
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**web_env, "WEB_BIND": f"127.0.0.1:{public}", "WEB_INTERNAL_PORT": str(internal),
           "WEB_WORKERS": "1", "HOME": str(blocked), "TMPDIR": str(tmp),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus")}
    server = Gunicorn(env, tmp_path)
    try:
        server.wait_serving(f"http://127.0.0.1:{public}/healthz")
        yield server, f"http://127.0.0.1:{public}", f"http://127.0.0.1:{internal}", tmp
    finally:
        server.stop()


def test_metrics_and_readiness_only_on_the_internal_port(pod_like: tuple[Gunicorn, str, str, Path]) -> None:
    _, public, internal, _ = pod_like
    assert requests.get(f"{public}/public", timeout=30).status_code == 200
    assert requests.get(f"{public}/metrics", timeout=30).status_code == 404
    assert requests.get(f"{public}/readyz", timeout=30).status_code == 404
    # A Host header naming the internal port changes nothing: the socket decides.
    spoofed = requests.get(f"{public}/metrics", headers={"Host": f"127.0.0.1:{internal.rsplit(':', 1)[1]}"},
                           timeout=30)
    assert spoofed.status_code == 404
    assert requests.get(f"{internal}/readyz", timeout=30).json()["status"] == "ok"
    metrics = requests.get(f"{internal}/metrics", timeout=30)
    assert metrics.status_code == 200 and "picsource_web_requests_total" in metrics.text
    assert requests.get(f"{internal}/healthz", timeout=30).status_code == 200


def test_gunicorn_writes_only_to_the_temporary_directory(pod_like: tuple[Gunicorn, str, str, Path]) -> None:
    server, public, _, tmp = pod_like
    socket_path = tmp / "picsource-web-gunicorn.ctl"
    deadline = time.monotonic() + 10
    while not socket_path.exists():
        assert time.monotonic() < deadline, f"no control socket in {tmp}: {sorted(os.listdir(tmp))}"
        time.sleep(0.1)
    assert requests.get(f"{public}/healthz", timeout=30).status_code == 200
    server.stop()
    assert server.proc.returncode == 0
    assert "control" not in server.stderr.lower(), server.stderr[-2000:]  # "Control server error"


@pytest.fixture
def half_cpu_cgroup() -> Iterator[Path]:
    """A cgroup v1 CPU controller group limited to half a CPU (skipped where there is none)."""
    cpu = Path("/sys/fs/cgroup/cpu")
    if not (cpu / "cpu.cfs_quota_us").exists() or not os.access(cpu, os.W_OK):
        pytest.skip("needs a writable cgroup v1 cpu controller (this machine: cgroup v1, root)")
    group = cpu / f"picsource-test-{os.getpid()}-{time.monotonic_ns()}"
    group.mkdir()
    try:
        (group / "cpu.cfs_quota_us").write_text("50000")
        (group / "cpu.cfs_period_us").write_text("100000")
        yield group
    finally:
        for pid in (group / "cgroup.procs").read_text().split():  # leftovers go back to the root
            with contextlib.suppress(OSError):
                (cpu / "cgroup.procs").write_text(pid)
        group.rmdir()


def test_worker_count_follows_the_cpu_limit_not_the_cores(web_env: dict[str, str], tmp_path: Path,
                                                          half_cpu_cgroup: Path) -> None:
    """Half a CPU on a machine with more cores: one CPU's worth, two workers."""
    port = free_port()
    env = {**web_env, "WEB_BIND": f"127.0.0.1:{port}", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    env.pop("WEB_WORKERS", None)
    server = Gunicorn(env, tmp_path, cgroup=half_cpu_cgroup)
    try:
        server.wait_serving(f"http://127.0.0.1:{port}/healthz")
        deadline = time.monotonic() + 10
        while server.workers() < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # a third worker would have been forked by now
        assert server.workers() == 2, f"{server.workers()} workers on {os.cpu_count()} cores"
    finally:
        server.stop()
