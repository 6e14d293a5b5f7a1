"""The alert rules: valid for promtool, and every alert unit-tested both ways.

The rules file is the one source for the chart's PrometheusRule and the plain rules
ConfigMap in manifests/observability, so checking it here checks all three.
"""

from __future__ import annotations

import yaml

from tests.observability.promtool import ALERT_TESTS_FILE, REPO, RULES_FILE, run_promtool

REQUIRED_ALERTS = {
    "PicSourceQueueBacklogGrowing",
    "PicSourceAnalysisFailureRatioHigh",
    "PicSourceWebErrorRatioHigh",
    "PicSourceGalleryNotReady",
    "PicSourceOperatorDown",
    "PicSourceOperatorNoLeader",
    "PicSourceGalleryBackupTooOld",
}


def _alerts() -> dict[str, dict]:
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def test_promtool_check_rules() -> None:
    copy = REPO / "manifests" / "observability" / "prometheus-rules.yaml"
    result = run_promtool("check", "rules", str(RULES_FILE), str(copy))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(f"SUCCESS: {len(_alerts())} rules found") == 2


def test_promtool_test_rules() -> None:
    result = run_promtool("test", "rules", str(ALERT_TESTS_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_required_alerts_exist_with_severity_and_help() -> None:
    alerts = _alerts()
    assert set(alerts) == REQUIRED_ALERTS
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        assert rule.get("for"), f"{name} would fire on a single bad scrape"


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    tests = yaml.safe_load(ALERT_TESTS_FILE.read_text())["tests"]
    cases = [case for t in tests for case in t.get("alert_rule_test", [])]
    for alert in _alerts():
        mine = [c for c in cases if c["alertname"] == alert]
        assert any(c["exp_alerts"] for c in mine), f"no test where {alert} fires"
        assert any(not c["exp_alerts"] for c in mine), f"no test where {alert} stays silent"
