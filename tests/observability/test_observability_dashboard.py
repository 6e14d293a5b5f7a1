"""The Grafana dashboard: the panels the issue asks for, only metric names the components
export, and PromQL that a real Prometheus accepts.

The query check runs Debian's Prometheus (no targets needed): every panel expression and
every alert expression goes through /api/v1/query, so a typo in PromQL fails here rather
than as an empty panel in someone's Grafana.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.observability.prometheus import PrometheusServer
from tests.observability.promtool import REPO, RULES_FILE

DASHBOARD = REPO / "charts" / "picsource" / "files" / "grafana-dashboard.json"

# What the components export (issue 6 lists them; web, worker and operator implement them).
KNOWN_METRICS = {
    "picsource_web_requests_total",
    "picsource_web_request_duration_seconds_bucket",
    "picsource_web_uploads_total",
    "picsource_web_upload_bytes_total",
    "picsource_web_upload_rejections_total",
    "picsource_web_listing_pages_total",
    "picsource_worker_jobs_total",
    "picsource_worker_step_duration_seconds_bucket",
    "picsource_queue_pending_jobs",
    "picsource_queue_oldest_pending_age_seconds",
    "picsource_worker_leases_expired_total",
    "picsource_worker_process_recycles_total",
    "picsource_worker_busy_slots",
    "picsource_operator_reconciles_total",
    "picsource_operator_reconcile_duration_seconds_bucket",
    "picsource_operator_galleries",
    "picsource_operator_drift_corrections_total",
    "picsource_operator_autoscaler_decisions_total",
    "picsource_operator_web_autoscaler_decisions_total",
    "picsource_operator_gallery_ready",
    "picsource_operator_workers_desired",
    "picsource_operator_workers_ready",
    "picsource_operator_leader",
    "picsource_operator_gallery_last_backup_timestamp_seconds",
    "up",
}
REQUIRED_PANELS = {
    "Upload rate",
    "Request latency p50 by route",
    "Request latency p99 by route",
    "5xx ratio",
    "Queue backlog",
    "Oldest pending job age",
    "Analysis throughput",
    "Step duration p50",
    "Step duration p99",
    "Desired vs ready workers",
    "Reconcile rate",
    "Reconcile errors",
    "Reconcile duration",
    "Galleries by phase",
    "Time since last backup",
}
PROMQL_WORDS = {
    "sum", "max", "by", "rate", "increase", "histogram_quantile", "le", "route", "step",
    "namespace", "name", "reason", "result", "status", "phase", "deriv", "absent", "and",
    "or", "without", "job", "instance", "source", "time",
}  # fmt: skip


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _panels() -> list[dict]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def _expressions() -> list[str]:
    return [t["expr"] for p in _panels() for t in p["targets"]]


def _alert_expressions() -> list[str]:
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    return [r["expr"] for g in groups for r in g["rules"]]


def _metric_names(expr: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_strings)
    words = set(re.findall(r"[a-zA-Z_][a-zA-Z0-9_]*", without_ranges))
    return {w for w in words if w not in PROMQL_WORDS}


def test_dashboard_has_the_required_panels_each_with_a_query() -> None:
    titles = {p["title"] for p in _panels()}
    assert REQUIRED_PANELS <= titles, REQUIRED_PANELS - titles
    for panel in _panels():
        assert panel["targets"] and panel["description"], panel["title"]


def test_dashboard_layout_and_identity() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "picsource-overview"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "namespace"}
    for panel in _panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_dashboard_and_alerts_use_only_exported_metric_names() -> None:
    for expr in _expressions() + _alert_expressions():
        unknown = _metric_names(expr) - KNOWN_METRICS
        assert not unknown, f"{expr}: {unknown}"
    used = set().union(*map(_metric_names, _expressions()))
    assert KNOWN_METRICS - used == set(), "metrics with no panel"


@pytest.mark.slow
def test_every_query_is_valid_promql_for_a_real_prometheus(tmp_path: Path) -> None:
    with PrometheusServer(tmp_path, rule_files=[RULES_FILE]) as prom:
        for expr in _expressions() + _alert_expressions():
            prom.query(expr.replace("$namespace", ".*"))  # raises with Prometheus' error
        loaded = prom.api("rules")["groups"]
        alerts = {r["name"] for g in loaded for r in g["rules"]}
        assert len(alerts) == len(_alert_expressions())
        with pytest.raises(AssertionError, match="parse error"):
            prom.query("sum(rate(picsource_web_requests_total[5m])")
