"""The `check_metrics` helper other components use on their /metrics output."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from tests.observability.promtool import check_metrics


def test_a_well_named_exposition_is_clean() -> None:
    registry = CollectorRegistry()
    Counter("picsource_example_uploads", "Uploads accepted.", registry=registry).inc()
    Histogram("picsource_example_request_duration_seconds", "Request duration.",
              ["route"], registry=registry).labels(route="/").observe(0.2)  # fmt: skip
    assert check_metrics(generate_latest(registry)) == []


def test_lint_problems_are_reported() -> None:
    text = (
        "# HELP picsource_example_uploads Uploads.\n"
        "# TYPE picsource_example_uploads counter\n"
        "picsource_example_uploads 3\n"
        "# HELP picsource_example_latency_milliseconds Latency.\n"
        "# TYPE picsource_example_latency_milliseconds gauge\n"
        "picsource_example_latency_milliseconds 12\n"
    )
    problems = "\n".join(check_metrics(text))
    assert 'counter metrics should have "_total" suffix' in problems
    assert "use base unit" in problems


def test_unparsable_text_is_reported() -> None:
    assert check_metrics("this is { not metrics\n")
