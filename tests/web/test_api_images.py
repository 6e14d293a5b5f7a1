"""The JSON API end to end against real SecantusDB and MinIO: every endpoint, token and
session auth, problem+json shapes, pagination and the upload/patch/delete life cycle."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from bson import ObjectId
from flask import Flask

from picsource_core.queue import JobQueue
from tests.support import images as samples
from tests.support.clock import FakeClock
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, assert_problem, token_for


@pytest.fixture
def api(app: Flask, alice: WebClient) -> ApiClient:
    return ApiClient(app, token_for(app, "alice"))


@pytest.fixture
def api_bob(app: Flask, bob: WebClient) -> ApiClient:
    return ApiClient(app, token_for(app, "bob"))


def test_upload_get_patch_delete_life_cycle(app: Flask, api: ApiClient) -> None:
    svc = app_services(app)
    created = api.upload_one(samples.jpeg(), "sunset.jpg", title="Sunset", description="Red sky",
                             tags="Beach, holiday", visibility="public")
    image_id = created["id"]
    assert created["title"] == "Sunset" and created["tags"] == ["beach", "holiday"]
    assert created["visibility"] == "public" and created["status"] == "pending"
    assert created["is_owner"] is True and created["share_url"]
    assert created["urls"]["original"].startswith(svc.settings.storage.endpoint)
    doc = svc.db.images.find_one({"_id": ObjectId(image_id)})
    assert doc is not None and svc.store.exists(doc["original_key"])
    assert JobQueue(svc.db).stats().pending == 1

    got = api.get(f"/api/v1/images/{image_id}")
    assert got.status_code == 200 and got.get_json()["title"] == "Sunset"
    status = api.get(f"/api/v1/images/{image_id}/analysis").get_json()
    assert status["status"] == "pending" and status["id"] == image_id

    patched = api.patch(f"/api/v1/images/{image_id}", {"title": "Dusk", "tags": ["Sea"]})
    assert patched.status_code == 200, patched.get_data(as_text=True)
    body = patched.get_json()
    assert (body["title"], body["tags"], body["description"]) == ("Dusk", ["sea"], "Red sky")
    found = api.get("/api/v1/images", query_string={"q": "dusk"}).get_json()["items"]
    assert [item["id"] for item in found] == [image_id]

    assert api.delete(f"/api/v1/images/{image_id}").status_code == 204  # to the trash
    trashed = api.get(f"/api/v1/images/{image_id}").get_json()
    assert trashed["trashed_at"] and api.get("/api/v1/images").get_json()["items"] == []
    assert svc.db.images.count_documents({}) == 1 and svc.store.exists(doc["original_key"])
    assert api.delete(f"/api/v1/images/{image_id}?permanent=true").status_code == 204  # for good
    assert svc.db.images.count_documents({}) == 0
    assert list(svc.store.list_keys("")) == []
    assert JobQueue(svc.db).stats().pending == 0
    assert_problem(api.get(f"/api/v1/images/{image_id}"), 404, "not_found")
    assert_problem(api.delete(f"/api/v1/images/{image_id}"), 404, "not_found")


def test_upload_many_files_in_one_request(app: Flask, api: ApiClient) -> None:
    response = api.upload((samples.noisy_jpeg(1), "one.jpg"), (samples.png(), "two.png"),
                          tags="pair")
    assert response.status_code == 201, response.get_data(as_text=True)
    images = response.get_json()["images"]
    assert len(images) == 2 and {i["content_type"] for i in images} == {"image/jpeg", "image/png"}
    assert response.headers["Location"] == f"/api/v1/images/{images[0]['id']}"
    assert app_services(app).db.images.count_documents({"tags": "pair"}) == 2


def test_duplicate_upload_stores_nothing_new(app: Flask, api: ApiClient) -> None:
    first = api.upload_one(samples.jpeg())
    again = assert_problem(api.upload((samples.jpeg(), "copy.jpg")), 409, "duplicate")
    assert again["existing_id"] == first["id"]
    assert app_services(app).db.images.count_documents({}) == 1
    mixed = api.upload((samples.jpeg(), "copy.jpg"), (samples.png(), "new.png"))
    assert mixed.status_code == 201
    assert [d["existing_id"] for d in mixed.get_json()["duplicates"]] == [first["id"]]
    assert app_services(app).db.images.count_documents({}) == 2


def test_list_paginates_with_opaque_cursor_and_sorts(api: ApiClient) -> None:
    ids = [api.upload_one(samples.noisy_jpeg(seed), f"{seed}.jpg")["id"] for seed in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/images", query_string=params).get_json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor not in ids
    assert seen == list(reversed(ids))
    oldest = api.get("/api/v1/images", query_string={"sort": "oldest", "limit": "3"}).get_json()
    assert [i["id"] for i in oldest["items"]] == ids[:3]


def test_filters_tag_colour_text_and_dates(app: Flask, api: ApiClient) -> None:
    red = api.upload_one(samples.jpeg((220, 20, 20)), tags="car")["id"]
    blue = api.upload_one(samples.png((20, 20, 220)), tags="sky")["id"]
    db = app_services(app).db
    db.images.update_one({"_id": ObjectId(red)}, {"$set": {"colour_families": ["red"], "has_text": True}})
    db.images.update_one({"_id": ObjectId(blue)}, {"$set": {"colour_families": ["blue"]}})

    def ids(**params: str) -> list[str]:
        response = api.get("/api/v1/images", query_string=params)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [item["id"] for item in response.get_json()["items"]]

    assert ids(tag="car") == [red]
    assert ids(colour="blue") == [blue]
    assert ids(has_text="yes") == [red]
    assert ids(has_text="no") == [blue]
    assert set(ids(**{"from": "2000-01-01", "to": "2099-12-31"})) == {red, blue}
    assert ids(**{"to": "2001-01-01"}) == []


def test_me_and_index_and_token_auth(app: Flask, api: ApiClient) -> None:
    me = api.get("/api/v1/me")
    assert me.status_code == 200 and me.get_json()["username"] == "alice"
    assert me.get_json()["auth"] == "token"
    index = app.test_client().get("/api/v1/").get_json()
    assert index["openapi"] == "/api/v1/openapi.json"
    anonymous = app.test_client()
    assert_problem(anonymous.get("/api/v1/me"), 401, "unauthorized")
    bad = ApiClient(app, "psk_not-a-real-token")
    body = assert_problem(bad.get("/api/v1/images"), 401, "unauthorized")
    assert "token" in body["detail"]
    basic = anonymous.get("/api/v1/me", headers={"Authorization": "Basic YWxpY2U6eA=="})
    assert_problem(basic, 401, "unauthorized")


def test_revoked_token_is_refused(app: Flask, api: ApiClient) -> None:
    svc = app_services(app)
    user = svc.users.by_username("alice")
    assert user is not None
    for token in svc.tokens.list(user.id):
        svc.tokens.revoke(user.id, str(token.id))
    assert_problem(api.get("/api/v1/me"), 401, "unauthorized")


def test_invalid_tokens_are_rate_limited(app: Flask) -> None:
    """LOGIN_RATE_LIMIT's free refusals, then a wait (test_web_login_throttle.py has the rest)."""
    app_services(app).limiter.clock = FakeClock()  # the wait must not run out mid-test
    bad = ApiClient(app, "psk_guess")
    limit = app_services(app).settings.login_rate_limit.attempts
    for _ in range(limit):
        assert_problem(bad.get("/api/v1/images"), 401, "unauthorized")
    response = bad.get("/api/v1/images")
    assert_problem(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0


def test_session_auth_needs_csrf_for_writes(app: Flask, alice: WebClient) -> None:
    image_id = alice.upload_id(samples.jpeg())
    client = alice.client
    me = client.get("/api/v1/me").get_json()
    assert me["auth"] == "session"
    assert_problem(client.patch(f"/api/v1/images/{image_id}", json={"title": "x"}), 400, "csrf_failed")
    assert_problem(client.delete(f"/api/v1/images/{image_id}"), 400, "csrf_failed")
    headers = {"X-CSRF-Token": alice.csrf()}
    ok = client.patch(f"/api/v1/images/{image_id}", json={"title": "x"}, headers=headers)
    assert ok.status_code == 200 and ok.get_json()["title"] == "x"
    assert client.delete(f"/api/v1/images/{image_id}", headers=headers).status_code == 204


def test_anonymous_writes_are_unauthorized_not_csrf(app: Flask) -> None:
    client = app.test_client()
    form = {"file": (io.BytesIO(samples.jpeg()), "a.jpg")}
    assert_problem(client.post("/api/v1/images", data=form, content_type="multipart/form-data"),
                   401, "unauthorized")
    assert app_services(app).db.images.count_documents({}) == 0


def test_token_requests_are_exempt_from_csrf(api: ApiClient) -> None:
    image_id = api.upload_one(samples.jpeg())["id"]
    assert api.patch(f"/api/v1/images/{image_id}", {"visibility": "unlisted"}).status_code == 200


def test_quota_exceeded_is_a_clear_problem(make_app: Callable[..., Flask],
                                           web_client: Callable[..., WebClient]) -> None:
    app = make_app(quota_images=2)
    user = web_client(app)
    assert user.signup("carol").status_code == 302
    api = ApiClient(app, token_for(app, "carol"))
    api.upload_one(samples.noisy_jpeg(1))
    body = assert_problem(api.upload((samples.noisy_jpeg(2), "b.jpg"), (samples.noisy_jpeg(3), "c.jpg")),
                          403, "quota_exceeded")
    assert "2" in body["detail"]
    assert app_services(app).db.images.count_documents({}) == 1
    api.upload_one(samples.noisy_jpeg(2))
    assert_problem(api.upload((samples.noisy_jpeg(4), "d.jpg")), 403, "quota_exceeded")


def test_analysis_shows_results_but_gps_only_to_owner(app: Flask, api: ApiClient,
                                                       api_bob: ApiClient) -> None:
    image_id = api.upload_one(samples.jpeg(), visibility="public")["id"]
    app_services(app).db.images.update_one({"_id": ObjectId(image_id)}, {"$set": {
        "status": "ready", "analysis": {"caption": "a red square", "phash": "abc",
                                        "labels": [{"label": "square", "score": 0.9}],
                                        "exif": {"camera_make": "Canon", "latitude": 1.5,
                                                 "longitude": 2.5}}}})
    mine = api.get(f"/api/v1/images/{image_id}/analysis").get_json()
    theirs = api_bob.get(f"/api/v1/images/{image_id}/analysis").get_json()
    assert mine["status"] == "ready" and mine["result"]["caption"] == "a red square"
    assert mine["result"]["exif"]["latitude"] == 1.5
    assert "latitude" not in theirs["result"]["exif"] and theirs["result"]["exif"]["camera_make"] == "Canon"
    assert "phash" not in mine["result"]
    assert api_bob.get(f"/api/v1/images/{image_id}").get_json()["share_url"] is None
