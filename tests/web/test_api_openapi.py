"""The OpenAPI document matches the routes: every /api/v1 rule and method is documented,
and every documented path and method exists."""

from __future__ import annotations

import re

from flask import Flask

from picsource_web.api.openapi import API_PREFIX, documented_operations

_IGNORED = {"HEAD", "OPTIONS"}


def _openapi_path(rule: str) -> str:
    """/api/v1/images/<image_id> -> /api/v1/images/{image_id} (converters dropped)."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def routed_operations(app: Flask) -> set[tuple[str, str]]:
    return {
        (_openapi_path(rule.rule), method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(API_PREFIX + "/")
        for method in (rule.methods or set()) - _IGNORED
    }


def test_every_route_is_documented_and_every_documented_route_exists(app: Flask) -> None:
    routed, documented = routed_operations(app), documented_operations()
    assert routed, "no /api/v1 routes found"
    assert routed - documented == set(), "routes missing from openapi.json"
    assert documented - routed == set(), "documented operations without a route"


def test_served_document_is_openapi_3_1_with_resolvable_refs(app: Flask) -> None:
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc = response.get_json()
    assert doc["openapi"].startswith("3.1")
    schemas = doc["components"]["schemas"]
    refs = set(re.findall(r'"\$ref":\s*"#/components/schemas/([A-Za-z]+)"', response.get_data(as_text=True)))
    assert refs and refs <= schemas.keys()
    for path, item in doc["paths"].items():
        params = {p["name"] for p in item.get("parameters", [])}
        assert set(re.findall(r"{([^}]+)}", path)) == params, path
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert operation["operationId"] and operation["responses"], (path, method)
            for status in operation["responses"]:
                assert re.fullmatch(r"[1-5]\d\d", status), (path, method, status)


def test_problem_codes_in_document_cover_what_the_api_sends(app: Flask) -> None:
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    codes = set(doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"])
    assert {"unsupported_media_type", "payload_too_large", "image_too_large", "not_found",
            "validation_error", "quota_exceeded", "duplicate", "unauthorized", "csrf_failed",
            "rate_limited", "service_unavailable"} <= codes


def test_documented_session_cookie_is_the_one_the_app_sets(app: Flask) -> None:
    """The document named the cookie 'session'; a client following it was never signed in."""
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    session_scheme = doc["components"]["securitySchemes"]["session"]
    assert (session_scheme["in"], session_scheme["name"]) == ("cookie", app.config["SESSION_COOKIE_NAME"])


def test_operations_that_need_credentials_do_not_offer_anonymous_access(app: Flask) -> None:
    """The document allowed anonymous callers ({} in security) on every operation, though
    upload, edit, delete and /me answer 401 without credentials."""
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    anonymous = {}
    for item in doc["paths"].values():
        for method, operation in item.items():
            if method != "parameters":
                anonymous[operation["operationId"]] = {} in operation.get("security", doc["security"])
    assert {name for name, allowed in anonymous.items() if not allowed} >= {
        "uploadImages", "updateImage", "deleteImage", "whoAmI"}
    assert {name for name, allowed in anonymous.items() if allowed} >= {
        "apiIndex", "openapi", "listImages", "getImage", "getAnalysis"}
