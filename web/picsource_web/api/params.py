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

LIST_PARAMS = frozenset({"q", "tag", "colour", "color", "from", "to", "has_text", "sort", "by",
                         "month", "scope", "cursor", "limit", "favourite", "archived"})
#: The trash lists like /images but only the caller's own: no scope, no marks.
TRASH_PARAMS = frozenset({"q", "tag", "colour", "color", "from", "to", "has_text", "sort", "by",
                          "month", "cursor", "limit"})
DELETE_PARAMS = frozenset({"permanent"})
METADATA_FIELDS = ("title", "description", "tags", "visibility")
#: The owner's marks (booleans), set by the same PATCH.
MARK_FIELDS = ("favourite", "archived")
PATCH_FIELDS = METADATA_FIELDS + MARK_FIELDS


def check_known_params(names: Iterable[str], allowed: frozenset[str]) -> None:
    unknown = sorted(set(names) - allowed)
    if unknown:
        raise Problem("validation_error", f"Unknown query parameter(s): {', '.join(unknown)}. "
                      f"Accepted: {', '.join(sorted(allowed))}.",
                      extra={"errors": [{"parameter": name, "problem": "unknown"} for name in unknown]})


def _field_problem(name: str, problem: str) -> Problem:
    return Problem("validation_error", f"{name}: {problem}",
                   extra={"errors": [{"field": name, "problem": problem}]})


def permanent_param(value: str | None) -> bool:
    """``permanent`` of a DELETE: true (for good) or false/absent (to the trash); else 400."""
    if value in (None, "", "false"):
        return False
    if value == "true":
        return True
    raise Problem("validation_error", "permanent must be true or false.",
                  extra={"errors": [{"parameter": "permanent", "problem": "must be true or false"}]})


def patch_marks(body: Any) -> dict[str, bool]:
    """The marks a (checked: see patch_metadata) patch body sets; 400 unless booleans."""
    marks = {name: body[name] for name in MARK_FIELDS if isinstance(body, dict) and name in body}
    for name, value in marks.items():
        if not isinstance(value, bool):
            raise _field_problem(name, "must be true or false")
    return marks


def patch_metadata(doc: Document, body: Any) -> ImageMetadata | None:
    """The image's metadata with the JSON patch applied (None when the patch sets only
    marks); 400 naming the bad field."""
    if not isinstance(body, dict):
        raise Problem("validation_error", "The body must be a JSON object such as "
                      '{"title": "Sunset", "tags": ["beach"]}.')
    unknown = sorted(set(body) - set(PATCH_FIELDS))
    if unknown:
        raise _field_problem(unknown[0], f"unknown field; accepted: {', '.join(PATCH_FIELDS)}")
    if not body:
        raise Problem("validation_error", f"Send at least one of: {', '.join(PATCH_FIELDS)}.")
    if not set(body) & set(METADATA_FIELDS):
        return None
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


#: At most this many hashes per lookup call: one bounded $in query, one small answer.
LOOKUP_MAX_HASHES = 1000
_HEX = frozenset("0123456789abcdef")


def lookup_hashes(body: Any) -> list[str]:
    """The ``sha256`` list of a lookup body, lower-cased and de-duplicated (order kept);
    400 naming the problem: not a list, more than LOOKUP_MAX_HASHES, or an item (by its
    index) that is not 64 hex digits."""
    if not isinstance(body, dict) or not isinstance(body.get("sha256"), list):
        raise Problem("validation_error", 'The body must be a JSON object such as '
                      '{"sha256": ["<64 hex digits>", ...]}.',
                      extra={"errors": [{"field": "sha256", "problem": "must be a list"}]})
    unknown = sorted(set(body) - {"sha256"})
    if unknown:
        raise _field_problem(unknown[0], "unknown field; accepted: sha256")
    items = body["sha256"]
    if len(items) > LOOKUP_MAX_HASHES:
        raise _field_problem("sha256", f"at most {LOOKUP_MAX_HASHES} hashes per call, "
                             f"got {len(items)}")
    hashes: dict[str, None] = {}
    for index, item in enumerate(items):
        value = item.lower() if isinstance(item, str) else None
        if value is None or len(value) != 64 or not _HEX.issuperset(value):
            shown = repr(item)[:80]
            raise _field_problem(f"sha256[{index}]",
                                 f"{shown} is not a SHA-256 (64 hexadecimal digits)")
        hashes[value] = None
    return list(hashes)
