"""Schemathesis over the /api/v1 OpenAPI document, in process (#14 item 4).

Why one runner for the test and the bench: tests/web/test_api_fuzz.py runs it with a few
examples per operation and asserts no failure; bench/bench_fuzz.py runs it with many and
prints the counts. Both must fuzz the same thing, so the plan lives here once.

The plan: the schema is loaded from the app itself (``/api/v1/openapi.json`` through WSGI,
so the document served is the one checked). Every operation is run with data that fits
the document (positive) and data that breaks it (negative), as the signed-in owner of a
real image with a write token, with a read-only token and with a session cookie but no
CSRF header, and anonymously (``callers_for``); operations on one image also run
with that image's id pinned, so handlers get past the 404. ``deleteImage`` runs last, so
the image lives while the others use it. Hypothesis is derandomized (the same cases on
every run of the same code), has no deadline and no example database, so CI sees the same
run every time. The cases do change with the code: Hypothesis mixes in constants it finds
in the loaded project modules. Every failure line therefore carries a curl command that
replays the request as sent.

Each response goes through ``CHECKS``: no 5xx, a documented status code and content
type, a body that validates against the documented schema, and (for operations without
a body) a parameter the document calls invalid refused with a 4xx. A caller without
credentials must get a 401 from every operation the document secures.
"""

from __future__ import annotations

import io
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
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import images
from tests.support.web import WebClient, app_services

OPENAPI_PATH = "/api/v1/openapi.json"


def parameters_are_parsed_strictly(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schemathesis' negative_data_rejection, for operations without a body: a query or
    path value the document calls invalid is refused (4xx), never quietly accepted. Bodies
    are left out on purpose: titles, descriptions and tags have control characters and
    surrounding blanks removed before their length is checked (services/metadata.py), so a
    201-character title that loses one is accepted, and that is the documented behaviour."""
    if case.operation.method.upper() != "GET":
        return None
    return negative_data_rejection(ctx, response, case)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, parameters_are_parsed_strictly]
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
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)  # a Cookie header would be dropped

    @property
    def anonymous(self) -> bool:
        return not self.headers and not self.cookies


def callers_for(app: Flask, browser: WebClient) -> tuple[list[Caller], str]:
    """Who calls, as the signed-in ``browser``'s user, and the id of an image of theirs.

    The owner with a write token (uploads the image); the owner's read-only token (writes:
    403); the owner's session cookie without the X-CSRF-Token header (writes: 400
    csrf_failed); and nobody at all."""
    svc = app_services(app)
    user = svc.users.by_username(browser.username or "")
    assert user is not None, "sign the browser up first"
    write, _ = svc.tokens.create(user.id, "fuzz")
    read, _ = svc.tokens.create(user.id, "fuzz (read-only)", scope="read")
    owner = {"Authorization": f"Bearer {write}"}
    response = app.test_client().post(
        "/api/v1/images", headers=owner, content_type="multipart/form-data",
        data={"file": (io.BytesIO(images.noisy_jpeg(1)), "a.jpg"), "tags": "beach"})
    assert response.status_code == 201, response.get_data(as_text=True)
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    cookie = browser.client.get_cookie(cookie_name)
    assert cookie is not None, f"the browser has no {cookie_name} cookie"
    callers = [Caller("owner", owner), Caller("read-only token", {"Authorization": f"Bearer {read}"}),
               Caller("session without CSRF header", cookies={cookie_name: cookie.value}),
               Caller("anonymous")]
    return callers, str(response.get_json()["images"][0]["id"])


def load_schema(app: Flask) -> Any:
    """The OpenAPI document as the app serves it, bound to the app (requests go through WSGI).
    Schemathesis would make up credentials where the document requires some; here only the
    caller's own are sent, so "anonymous" means no credentials at all."""
    schema = schemathesis.openapi.from_wsgi(OPENAPI_PATH, app)
    schema.config.generation.update(with_security_parameters=False)
    return schema


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


def _needs_credentials(operation: Any) -> bool:
    """Whether the document leaves anonymous access ({} in security) out for the operation."""
    security = operation.definition.raw.get("security", operation.schema.raw_schema.get("security"))
    return {} not in (security or [{}])


def _anonymous_refusal(label: str, case: Any, response: Any) -> list[str]:
    """An operation that needs credentials answers 401 to a caller without any (or 404 when
    the path itself was made invalid: no route, so no operation, was reached)."""
    path_negated = case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH)
    if response.status_code == 401 or (path_negated and response.status_code == 404):
        return []
    return [f"{label}: answered {response.status_code} to a caller without credentials, "
            f"where the document requires some | {case.as_curl_command()}"]


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
        report.cases += 1
        try:
            response = case.call(headers=dict(caller.headers), cookies=dict(caller.cookies))
        except Exception as err:  # an exception Flask did not turn into a response: a 500
            report.statuses[500] += 1
            report.failures.append(f"{label}: unhandled {err!r} | {case.as_curl_command()}")
            return
        report.statuses[response.status_code] += 1
        report.by_plan.setdefault(label, Counter())[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=dict(caller.headers))
        except FailureGroup as group:
            report.failures.extend(_failure_lines(label, case, response, group))
        if caller.anonymous and _needs_credentials(operation):
            report.failures.extend(_anonymous_refusal(label, case, response))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # schemathesis' notes on unusual schemas, not failures
        try:
            run()
        except Unsatisfiable:
            report.skipped.append(f"{label}: no case could be generated")
