"""Schemathesis over the /api/v1 OpenAPI document, in process (#14 item 4).

Why one runner for the test and the bench: tests/web/test_api_fuzz.py runs it with a few
examples per operation and asserts no failure; bench/bench_fuzz.py runs it with many and
prints the counts. Both must fuzz the same thing, so the plan lives here once.

The plan: the schema is loaded from the app itself (``/api/v1/openapi.json`` through WSGI,
so the document served is the one checked). Every operation is run with data that fits
the document (positive) and data that breaks it (negative), as the signed-in owner of a
real image (a bearer token) and as an anonymous caller; operations on one image also run
with that image's id pinned, so handlers get past the 404. ``deleteImage`` runs last, so
the image lives while the others use it. Hypothesis is derandomized (the same cases on
every run), has no deadline and no example database: CI sees the same run every time.

Each response goes through ``CHECKS``: no 5xx, a documented status code and content
type, and a body that validates against the documented schema.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

OPENAPI_PATH = "/api/v1/openapi.json"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
_LAST = ("deleteImage",)  # destroys the pinned image: after everything that uses it
_MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


@dataclass
class FuzzReport:
    """What a run did: cases sent, answers by status, and every check that failed."""

    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    by_plan: dict[str, Counter[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # plans with nothing to generate

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


@dataclass(frozen=True)
class Caller:
    name: str
    headers: Mapping[str, str]


def load_schema(app: Flask) -> Any:
    """The OpenAPI document as the app serves it, bound to the app (requests go through WSGI)."""
    return schemathesis.openapi.from_wsgi(OPENAPI_PATH, app)


def _operations(schema: Any) -> list[Any]:
    operations = [result.ok() for result in schema.get_all_operations()]
    return sorted(operations, key=lambda op: op.definition.raw.get("operationId") in _LAST)


def _plans(schema: Any, image_id: str | None) -> Iterator[tuple[str, Any, dict[str, str] | None]]:
    """(label, operation, pinned path parameters) for every operation and mode."""
    for operation in _operations(schema):
        has_id = any(p.name == "image_id" for p in operation.path_parameters)
        pins: list[dict[str, str] | None] = [None]
        if has_id and image_id is not None:
            pins.append({"image_id": image_id})
        for pin in pins:
            yield (f"{operation.label}{' [own image]' if pin else ''}", operation, pin)


def _failure_lines(label: str, case: Any, response: Any, group: FailureGroup) -> list[str]:
    """One line per failed check: what, the answer (status and start of body), and a curl."""
    answer = f"{response.status_code} {response.text[:200]!r}"
    curl = case.as_curl_command()
    return [f"{label}: {failure.title}: {failure.message.strip()[:300]} | got {answer} | {curl}"
            for failure in group.exceptions]


def run_fuzz(app: Flask, callers: list[Caller], *, examples: int, image_id: str | None = None,
             report: FuzzReport | None = None) -> FuzzReport:
    """Fuzz every documented operation; never raises on a failed check, records it instead."""
    report = report or FuzzReport()
    schema = load_schema(app)
    for label, operation, pin in _plans(schema, image_id):
        for mode in _MODES:
            for caller in callers:
                _run_one(report, f"{label} {mode.value} as {caller.name}", operation, mode, pin,
                         caller, examples)
    return report


def _run_one(report: FuzzReport, label: str, operation: Any, mode: GenerationMode,
             pin: dict[str, str] | None, caller: Caller, examples: int) -> None:
    try:
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=pin)
    except Exception as err:  # nothing to negate (an operation without parameters)
        report.skipped.append(f"{label}: {type(err).__name__}")
        return

    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: Any) -> None:
        response = case.call(headers=dict(caller.headers))
        report.cases += 1
        report.statuses[response.status_code] += 1
        report.by_plan.setdefault(label, Counter())[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=dict(caller.headers))
        except FailureGroup as group:
            report.failures.extend(_failure_lines(label, case, response, group))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # schemathesis' notes on unusual schemas, not failures
        try:
            run()
        except Unsatisfiable:
            report.skipped.append(f"{label}: no case could be generated")
