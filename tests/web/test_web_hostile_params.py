"""Hostile query strings on every listing, HTML and API alike (#14 item 4): never a 5xx;
a bad number, date, choice or cursor is a 400 that names the parameter."""

from __future__ import annotations

import itertools

from flask import Flask

from tests.support.web import WebClient
from tests.web.api_support import ApiClient, token_for

HOSTILE = ["²", "١٢", "ａ", "1e3", "-1", "0", "99999999999999999999", " ", "\x00", "%", "😀",
           "1969-12-31", "0001-01-01", "2107-01-01", "9999-12-31", "2024-02-30", "x" * 5000,
           "zzzzzzzzzzzzzzzzzzzzzzzz", "AAAAAAAAAAAAAAAAAAAAAAAA", "[]", "../"]
PARAMS = ["q", "tag", "colour", "from", "to", "has_text", "sort", "scope", "cursor", "limit"]
LISTINGS = ["/api/v1/images", "/search", "/", "/public"]


def test_no_hostile_value_of_any_listing_parameter_is_a_server_error(app: Flask, alice: WebClient) -> None:
    api = ApiClient(app, token_for(app, "alice"))
    errors = []
    for name, value, url in itertools.product(PARAMS, HOSTILE, LISTINGS):
        response = (api if url.startswith("/api/") else alice).get(url, query_string={name: value})
        if response.status_code >= 500:
            errors.append((url, name, value[:12], response.status_code))
        elif response.status_code == 400 and url.startswith("/api/"):
            assert name in response.get_json()["detail"], (name, value[:12], response.get_json())
    assert errors == []


def test_a_page_size_in_other_digits_is_refused_by_name(app: Flask, alice: WebClient) -> None:
    api = ApiClient(app, token_for(app, "alice"))
    for value in ("²", "١٢", "12 ", "+5"):
        response = api.get("/api/v1/images", query_string={"limit": value})
        if value.strip() == "12":
            assert response.status_code == 200  # surrounding blanks are trimmed
            continue
        assert response.status_code == 400, value
        assert "limit must be a whole number" in response.get_json()["detail"]
    assert api.get("/api/v1/images", query_string={"limit": "12"}).status_code == 200
