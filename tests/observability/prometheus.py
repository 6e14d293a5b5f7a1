"""A real Prometheus (Debian's binary) for tests: scrape given targets, answer PromQL.

Why: the observability promise is "these series exist with sane values in Prometheus",
which only a real scrape proves. The server runs on a free loopback port with a
generated config and a throwaway TSDB, scrapes every second, and is stopped afterwards.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.harness.procs import LOOPBACK, ManagedProcess, free_port

INSTALL_HINT = "make tools (installs Debian's prometheus package)"


def scrape_config(
    targets: Mapping[str, Sequence[str]],
    rule_files: Sequence[Path] = (),
    interval: str = "1s",
) -> dict[str, Any]:
    """A prometheus.yml: one job per entry of `targets` (job name -> host:port list)."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [
            {
                "job_name": job,
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "static_configs": [{"targets": list(hosts)}],
            }
            for job, hosts in targets.items()
        ],
    }


class PrometheusServer:
    """`with PrometheusServer(tmp, {"picsource-web": ["127.0.0.1:9101"]}) as prom: ...`"""

    def __init__(
        self,
        workdir: Path,
        targets: Mapping[str, Sequence[str]] | None = None,
        rule_files: Sequence[Path] = (),
    ) -> None:
        exe = shutil.which("prometheus")
        assert exe, f"prometheus is not installed: run `{INSTALL_HINT}`"
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        config = workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(scrape_config(targets or {}, rule_files)))
        self.process = ManagedProcess(
            "prometheus",
            [
                exe,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address={LOOPBACK}:{self.port}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ],
            workdir / "prometheus.log",
        )

    def __enter__(self) -> PrometheusServer:
        self.process.start()
        try:
            self.process.wait_ready(self._ready, 60, "ready")
        except BaseException:
            self.process.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stop()

    def _ready(self) -> bool:
        return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; returns `data`, raises AssertionError with Prometheus' error."""
        response = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = response.json()
        assert body.get("status") == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; the result vector (each item has `metric` and `value`)."""
        data = self.api("query", query=expr)
        return list(data["result"]) if data["resultType"] == "vector" else [data]

    def value(self, expr: str) -> float | None:
        """The single value of a query that returns one series, None when it returns none."""
        result = self.query(expr)
        assert len(result) <= 1, f"{expr} returned {len(result)} series: {result}"
        return float(result[0]["value"][1]) if result else None

    def series_names(self, match: str = '{__name__=~".+"}') -> set[str]:
        return {s["__name__"] for s in self.api("series", **{"match[]": match})}

    def targets(self) -> list[dict[str, Any]]:
        return list(self.api("targets")["activeTargets"])

    def wait_targets_up(self, timeout: float = 30) -> None:
        """Until every configured target has been scraped successfully at least once."""
        deadline = time.monotonic() + timeout
        while True:
            targets = self.targets()
            if targets and all(t["health"] == "up" for t in targets):
                return
            if time.monotonic() > deadline:
                summary = [(t["labels"].get("job"), t["scrapeUrl"], t["health"], t["lastError"])
                           for t in targets]
                raise AssertionError(f"targets not up after {timeout}s: {summary}")
            time.sleep(0.5)

    def wait_for(self, expr: str, timeout: float = 30) -> list[dict[str, Any]]:
        """Until `expr` returns at least one series; that result."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{expr} returned nothing for {timeout}s")
            time.sleep(0.5)
