"""Request-body and query-string checks specific to the API (pure functions).

Why stricter than the HTML forms: a typo in a script's parameter name (``colour`` vs
``color`` is accepted, ``tags=`` on a list call is not) should fail loudly with a 400
naming the parameter, instead of silently returning unfiltered results. The values
themselves are parsed by ``services.query`` and ``services.metadata``, shared with HTML.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from picsource_core.mongo import Document
from picsource_web.api.problems import Problem
from picsource_web.services.metadata import ImageMetadata, parse_metadata

LIST_PARAMS = frozenset({"q", "tag", "colour", "color", "from", "to", "has_text", "sort",
                         "scope", "cursor", "limit"})
PATCH_FIELDS = ("title", "description", "tags", "visibility")


def check_known_params(names: Iterable[str], allowed: frozenset[str]) -> None:
    unknown = sorted(set(names) - allowed)
    if unknown:
        raise Problem("validation_error", f"Unknown query parameter(s): {', '.join(unknown)}. "
                      f"Accepted: {', '.join(sorted(allowed))}.",
                      extra={"errors": [{"parameter": name, "problem": "unknown"} for name in unknown]})


def _field_problem(name: str, problem: str) -> Problem:
    return Problem("validation_error", f"{name}: {problem}",
                   extra={"errors": [{"field": name, "problem": problem}]})


def patch_metadata(doc: Document, body: Any) -> ImageMetadata:
    """The image's metadata with the JSON patch applied; 400 naming the bad field."""
    if not isinstance(body, dict):
        raise Problem("validation_error", "The body must be a JSON object such as "
                      '{"title": "Sunset", "tags": ["beach"]}.')
    unknown = sorted(set(body) - set(PATCH_FIELDS))
    if unknown:
        raise _field_problem(unknown[0], f"unknown field; accepted: {', '.join(PATCH_FIELDS)}")
    if not body:
        raise Problem("validation_error", f"Send at least one of: {', '.join(PATCH_FIELDS)}.")
    for name in ("title", "description", "visibility"):
        if name in body and not isinstance(body[name], str):
            raise _field_problem(name, "must be a string")
    tags = body.get("tags", doc.get("tags") or [])
    if isinstance(tags, list):
        if not all(isinstance(tag, str) for tag in tags):
            raise _field_problem("tags", "must be a list of strings")
    elif not isinstance(tags, str):
        raise _field_problem("tags", "must be a list of strings or a comma-separated string")
    return parse_metadata(
        body.get("title", doc.get("title") or ""),
        body.get("description", doc.get("description") or ""),
        tags,
        body.get("visibility", doc.get("visibility")),
    )
