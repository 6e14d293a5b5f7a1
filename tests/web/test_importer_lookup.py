"""POST /api/v1/images/lookup: which of these SHA-256s the caller already has (the
importer's resume), against real SecantusDB and MinIO. Only the caller's own images are
ever reported; bad input is a 400 naming the item, never a 500."""

from __future__ import annotations

import hashlib

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from tests.support import images as samples
from tests.web.api_support import ApiClient, assert_problem, token_for


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def api(app: Flask, alice: object) -> ApiClient:
    return ApiClient(app, token_for(app, "alice"))


@pytest.fixture
def api_bob(app: Flask, bob: object) -> ApiClient:
    return ApiClient(app, token_for(app, "bob"))


def _lookup(api: ApiClient, body: object) -> TestResponse:
    """POST ``body`` as JSON (a str is sent as it is, as application/json)."""
    if isinstance(body, str):
        return api.client.post("/api/v1/images/lookup", data=body, headers=api.headers,
                               content_type="application/json")
    return api.client.post("/api/v1/images/lookup", json=body, headers=api.headers)


def test_lookup_reports_own_images_only(api: ApiClient, api_bob: ApiClient) -> None:
    mine, shared, bobs = samples.noisy_jpeg(1), samples.noisy_jpeg(2), samples.noisy_jpeg(3)
    mine_id = api.upload_one(mine)["id"]
    shared_alice = api.upload_one(shared)["id"]
    shared_bob = api_bob.upload_one(shared)["id"]
    api_bob.upload_one(bobs, visibility="public")  # public, still not alice's to be told
    nobody = "0" * 64
    asked = [_sha(mine), _sha(shared), _sha(bobs), nobody]

    response = _lookup(api, {"sha256": asked})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["found"] == {_sha(mine): mine_id, _sha(shared): shared_alice}
    assert body["missing"] == [_sha(bobs), nobody]

    bob_body = _lookup(api_bob, {"sha256": asked}).get_json()
    assert bob_body["found"] == {_sha(shared): shared_bob, _sha(bobs): bob_body["found"][_sha(bobs)]}
    assert _sha(mine) in bob_body["missing"]


def test_lookup_normalises_case_and_repeats(api: ApiClient) -> None:
    data = samples.noisy_jpeg(4)
    image_id = api.upload_one(data)["id"]
    upper = _sha(data).upper()
    body = _lookup(api, {"sha256": [upper, _sha(data), "A" * 64]}).get_json()
    assert body == {"found": {_sha(data): image_id}, "missing": ["a" * 64]}
    assert _lookup(api, {"sha256": []}).get_json() == {"found": {}, "missing": []}


def test_lookup_accepts_1000_and_refuses_1001(api: ApiClient) -> None:
    hashes = [f"{i:064x}" for i in range(1001)]
    ok = _lookup(api, {"sha256": hashes[:1000]})
    assert ok.status_code == 200 and len(ok.get_json()["missing"]) == 1000
    body = assert_problem(_lookup(api, {"sha256": hashes}), 400, "validation_error")
    assert "1000" in body["detail"] and body["errors"][0]["field"] == "sha256"


@pytest.mark.parametrize(("payload", "field"), [
    ({"sha256": ["a" * 64, "xyz"]}, "sha256[1]"),
    ({"sha256": ["a" * 64, "g" * 64]}, "sha256[1]"),
    ({"sha256": ["a" * 63]}, "sha256[0]"),
    ({"sha256": [7]}, "sha256[0]"),
    ({"sha256": "a" * 64}, "sha256"),
    ({"hashes": ["a" * 64]}, "sha256"),
    ({"sha256": [], "extra": 1}, "extra"),
    (["a" * 64], "sha256"),
    ("null", "sha256"),
    ('{"sha256": [', "sha256"),
])
def test_lookup_bad_input_is_400_naming_it(api: ApiClient, payload: object, field: str) -> None:
    body = assert_problem(_lookup(api, payload), 400, "validation_error")
    assert body["errors"][0]["field"] == field, body


def test_lookup_needs_json_and_credentials(app: Flask, api: ApiClient) -> None:
    not_json = api.client.post("/api/v1/images/lookup", data="sha256=" + "a" * 64,
                               headers=api.headers, content_type="application/x-www-form-urlencoded")
    assert_problem(not_json, 415, "unsupported_media_type")
    anonymous = app.test_client().post("/api/v1/images/lookup", json={"sha256": ["a" * 64]})
    assert_problem(anonymous, 401, "unauthorized")
