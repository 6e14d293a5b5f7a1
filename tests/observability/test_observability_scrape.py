"""End to end: a real Prometheus scrapes the running web tier, worker and operator.

The stack runs as real processes on loopback (gunicorn, `python -m picsource_worker`,
`kopf run`) against the real MongoDB-wire server, MinIO and control plane; images are
uploaded through the web tier like a person would; Prometheus (Debian's binary, 1 s
scrape interval) must then hold the key series with sane values, and every /metrics text
must pass `promtool check metrics`.
"""

from __future__ import annotations

import base64
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.harness.cluster import Cluster
from tests.harness.procs import ManagedProcess, free_port, http_responds
from tests.harness.run import web_argv, worker_argv
from tests.observability.prometheus import PrometheusServer
from tests.observability.promtool import REPO, check_metrics
from tests.support.env import python_path
from tests.support.images import jpeg
from tests.support.kubectl import KubectlRunner, wait_established

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

CRD = REPO / "charts" / "picsource" / "crds" / "galleries.picsource.io.yaml"
UPLOADS = 3


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token"\s+value="([^"]+)"', html)
    assert match, "no csrf_token field in the page"
    return match.group(1)


class Stack:
    """web + worker + operator as processes; `targets` maps Prometheus job -> host:port."""

    def __init__(self, workdir: Path, env: dict[str, str], cluster: Cluster, namespace: str):
        self.web_port, self.worker_port = free_port(), free_port()
        self.operator_port, self.health_port = free_port(), free_port()
        base = {**os.environ, **env, "PYTHONPATH": python_path(), "PYTHONUNBUFFERED": "1",
                "SECRET_KEY": "observability-test-secret-key-0123456789"}  # fmt: skip
        multiproc = workdir / "web-metrics"
        multiproc.mkdir()
        web_env = {**base, "PROMETHEUS_MULTIPROC_DIR": str(multiproc), "WEB_WORKERS": "2",
                   "SIGNUP": "open"}  # fmt: skip
        worker_env = {**base, "WORKER_METRICS_PORT": str(self.worker_port),
                      "WORKER_CONCURRENCY": "1", "WORKER_POLL_SECONDS": "0.2",
                      "WORKER_OCR": "false", "WORKER_FACES": "false"}  # fmt: skip
        operator_env = {**base, "KUBECONFIG": str(cluster.kubeconfig),
                        "PICSOURCE_OPERATOR_METRICS_PORT": str(self.operator_port)}  # fmt: skip
        operator_argv = [sys.executable, "-m", "kopf", "run", "-m", "picsource_operator.main",
                         "--namespace", namespace, "--standalone",
                         f"--liveness=http://127.0.0.1:{self.health_port}/healthz"]  # fmt: skip
        self.web = ManagedProcess("web", web_argv(self.web_port), workdir / "web.log",
                                  env=web_env, cwd=REPO)  # fmt: skip
        self.worker = ManagedProcess("worker", worker_argv(), workdir / "worker.log",
                                     env=worker_env, cwd=REPO)  # fmt: skip
        self.operator = ManagedProcess("operator", operator_argv, workdir / "operator.log",
                                       env=operator_env, cwd=REPO)  # fmt: skip
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.targets = {
            "picsource-web": [f"127.0.0.1:{self.web_port}"],
            "picsource-worker": [f"127.0.0.1:{self.worker_port}"],
            "picsource-operator": [f"127.0.0.1:{self.operator_port}"],
        }

    def start(self) -> None:
        for proc in (self.web, self.worker, self.operator):
            proc.start()
        self.web.wait_ready(lambda: http_responds(f"{self.url}/healthz"), 90, "serving")
        self.worker.wait_ready(
            lambda: http_responds(f"http://127.0.0.1:{self.worker_port}/metrics"), 90, "serving /metrics")
        self.operator.wait_ready(
            lambda: http_responds(f"http://127.0.0.1:{self.health_port}/healthz"), 90, "alive")

    def stop(self) -> None:
        for proc in (self.operator, self.worker, self.web):
            proc.stop()

    def metrics_texts(self) -> dict[str, str]:
        return {job: requests.get(f"http://{hosts[0]}/metrics", timeout=10).text
                for job, hosts in self.targets.items()}  # fmt: skip


@pytest.fixture
def stack(tmp_path: Path, core_env: dict[str, str], cluster: Cluster, namespace: str,
          kubectl: KubectlRunner) -> Iterator[Stack]:  # fmt: skip
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    wait_established(kubectl, "galleries.picsource.io")
    running = Stack(tmp_path, core_env, cluster, namespace)
    try:
        running.start()
        _declare_gallery(kubectl, namespace, core_env)
        yield running
    finally:
        running.stop()


def _declare_gallery(kubectl: KubectlRunner, namespace: str, env: dict[str, str]) -> None:
    """A Gallery bound to the test MinIO and database, so the operator has work to report."""
    def secret(name: str, data: dict[str, str]) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}  # fmt: skip

    gallery = {
        "apiVersion": "picsource.io/v1alpha1", "kind": "Gallery", "metadata": {"name": "observed"},
        "spec": {
            "storage": {"endpoint": env["S3_ENDPOINT"], "bucket": env["S3_BUCKET"],
                        "credentialsSecretRef": {"name": "observed-s3"}, "createBucket": False},
            "database": {"uriSecretRef": {"name": "observed-mongo"},
                         "name": env["MONGODB_DATABASE"]},
        },
    }  # fmt: skip
    docs = [
        secret("observed-s3", {"accessKey": env["S3_ACCESS_KEY"], "secretKey": env["S3_SECRET_KEY"]}),
        secret("observed-mongo", {"uri": env["MONGODB_URI"]}),
        gallery,
    ]
    kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(docs))


def _upload_through_the_web(url: str) -> None:
    """Sign up, upload UPLOADS images and one fake JPEG the web tier must refuse."""
    session = requests.Session()
    signup = session.get(f"{url}/signup", timeout=10)
    password = "observe-Prometheus-42!"
    response = session.post(f"{url}/signup", timeout=10, data={
        "csrf_token": _csrf(signup.text), "username": "observer", "password": password,
        "password2": password})  # fmt: skip
    assert response.status_code < 400, response.text[:500]
    for seed in range(UPLOADS):
        image = jpeg(((seed * 70) % 256, (seed * 30) % 256, 120), (96, 64), quality=85)
        page = session.get(f"{url}/upload", timeout=10)
        response = session.post(f"{url}/upload", timeout=30,
                                data={"csrf_token": _csrf(page.text), "title": f"image {seed}"},
                                files={"file": (f"img{seed}.jpg", image, "image/jpeg")})  # fmt: skip
        assert response.status_code < 400, response.text[:500]
    page = session.get(f"{url}/upload", timeout=10)
    refused = session.post(f"{url}/upload", timeout=30, data={"csrf_token": _csrf(page.text)},
                           files={"file": ("fake.jpg", b"not an image" * 50, "image/jpeg")})  # fmt: skip
    assert 400 <= refused.status_code < 500


def test_prometheus_scrapes_key_series_from_the_running_stack(stack: Stack, tmp_path: Path) -> None:
    with PrometheusServer(tmp_path / "prometheus", stack.targets) as prom:
        prom.wait_targets_up(60)
        _upload_through_the_web(stack.url)

        # Web tier.
        prom.wait_for(f"sum(picsource_web_uploads_total) >= {UPLOADS}", 60)
        assert prom.value("sum(picsource_web_uploads_total)") == UPLOADS
        assert prom.value("sum(picsource_web_upload_bytes_total)") > UPLOADS * 500  # type: ignore[operator]
        prom.wait_for("sum(picsource_web_upload_rejections_total) >= 1", 30)
        posts = prom.query('picsource_web_requests_total{route="/upload", method="POST"}')
        assert {s["metric"]["status"][0] for s in posts} >= {"3", "4"}
        prom.wait_for("picsource_web_request_duration_seconds_bucket", 10)
        p99 = prom.value("histogram_quantile(0.99, sum by (le) "
                         "(picsource_web_request_duration_seconds_bucket))")  # fmt: skip
        assert p99 is not None and 0 < p99 < 10

        # Worker: every upload analysed, the queue drained.
        prom.wait_for(f"sum(picsource_worker_jobs_total) >= {UPLOADS}", 120)
        assert prom.value('sum(picsource_worker_jobs_total{result="failed"})') in (None, 0.0)
        prom.wait_for("max(picsource_queue_pending_jobs) == 0", 60)
        assert prom.value("max(picsource_queue_oldest_pending_age_seconds)") is not None
        steps = prom.query("count by (step) (picsource_worker_step_duration_seconds_bucket)")
        assert len(steps) >= 3, steps

        # Operator: it reconciled the Gallery and reports it.
        prom.wait_for("sum(picsource_operator_reconciles_total) > 0", 60)
        prom.wait_for('picsource_operator_gallery_ready{name="observed"}', 60)
        prom.wait_for("sum(picsource_operator_galleries) >= 1", 30)
        assert prom.value('up{job="picsource-operator"}') == 1

    for job, text in stack.metrics_texts().items():
        assert check_metrics(text) == [], job
