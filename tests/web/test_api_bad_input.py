"""Bad input to the API: every case gets a clear 4xx problem and nothing is stored.

"Nothing stored" is checked in both places an upload could leave a trace: no image
document and no job in MongoDB, and no object in the MinIO bucket.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, assert_problem, token_for

LIMIT = 300_000


@pytest.fixture
def small_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(max_upload_bytes=LIMIT)


@pytest.fixture
def api(small_app: Flask, web_client: Callable[..., WebClient]) -> Iterator[ApiClient]:
    user = web_client(small_app)
    assert user.signup("mallory").status_code == 302
    yield ApiClient(small_app, token_for(small_app, "mallory"))


def assert_nothing_stored(app: Flask) -> None:
    svc = app_services(app)
    assert svc.db.images.count_documents({}) == 0
    assert svc.db.jobs.count_documents({}) == 0
    assert list(svc.store.list_keys("")) == []


BAD_FILES = [
    pytest.param(b"", "empty.jpg", 400, "empty_file", id="zero-bytes"),
    pytest.param(samples.truncated_jpeg(), "cut.jpg", 422, "corrupt_image", id="truncated-jpeg"),
    pytest.param(samples.png_bomb(), "bomb.png", 422, "image_too_large", id="png-bomb-20000x20000"),
    pytest.param(samples.TEXT_AS_JPG, "notes.jpg", 415, "unsupported_media_type", id="text-named-jpg"),
    pytest.param(samples.SVG, "vector.svg", 415, "unsupported_media_type", id="svg"),
    pytest.param(samples.oversize(LIMIT), "huge.jpg", 413, "payload_too_large", id="oversize"),
]


@pytest.mark.parametrize(("data", "name", "status", "code"), BAD_FILES)
def test_bad_files_are_refused_and_nothing_is_stored(small_app: Flask, api: ApiClient, data: bytes,
                                                     name: str, status: int, code: str) -> None:
    body = assert_problem(api.upload((data, name)), status, code)
    if code == "unsupported_media_type":
        assert "JPEG" in body["detail"] and "PNG" in body["detail"], "names the accepted formats"
    assert_nothing_stored(small_app)


@pytest.mark.parametrize(("data", "name", "status", "code"), BAD_FILES)
def test_one_bad_file_in_a_batch_stores_none(small_app: Flask, api: ApiClient, data: bytes,
                                             name: str, status: int, code: str) -> None:
    body = assert_problem(api.upload((samples.jpeg(), "good.jpg"), (data, name)), status, code)
    assert name in body["detail"], "the problem names the refused file"
    assert_nothing_stored(small_app)


def test_request_over_the_body_limit_is_413(small_app: Flask, api: ApiClient) -> None:
    limit = small_app.config["MAX_CONTENT_LENGTH"]
    response = api.upload((b"\xff\xd8" + b"\x00" * (limit + 10), "giant.jpg"))
    assert_problem(response, 413, "payload_too_large")
    assert_nothing_stored(small_app)


def test_not_multipart_is_415(small_app: Flask, api: ApiClient) -> None:
    response = api.client.post("/api/v1/images", data=samples.jpeg(), headers=api.headers,
                               content_type="image/jpeg")
    assert_problem(response, 415, "unsupported_media_type")
    assert_problem(api.upload(), 400, "validation_error")
    assert_nothing_stored(small_app)


@pytest.mark.parametrize(("fields", "fragment"), [
    ({"title": "x" * 201}, "title"),
    ({"description": "d" * 5001}, "description"),
    ({"tags": "t" * 65}, "Tags"),
    ({"tags": ",".join(f"tag{i}" for i in range(31))}, "tags"),
    ({"visibility": "secret"}, "Visibility"),
])
def test_bad_metadata_is_400_and_nothing_is_stored(small_app: Flask, api: ApiClient,
                                                   fields: dict[str, str], fragment: str) -> None:
    body = assert_problem(api.upload((samples.jpeg(), "a.jpg"), **fields), 400, "validation_error")
    assert fragment in body["detail"]
    assert_nothing_stored(small_app)


def test_unicode_title_and_tags_round_trip(api: ApiClient) -> None:
    title = "Zürich 🌄 — «naïve» 東京 שלום"
    created = api.upload_one(samples.jpeg(), title=title, tags="Café, 東京, émoji 🌄",
                             description="line one\nline two")
    got = api.get(f"/api/v1/images/{created['id']}").get_json()
    assert got["title"] == title and got["description"] == "line one\nline two"
    assert got["tags"] == ["cafe", "東京", "emoji 🌄"]
    assert [i["id"] for i in api.get("/api/v1/images", query_string={"q": "zurich"}).get_json()["items"]] \
        == [created["id"]]
    assert [i["id"] for i in api.get("/api/v1/images", query_string={"tag": "Café"}).get_json()["items"]] \
        == [created["id"]]


def test_control_characters_are_dropped_from_titles(api: ApiClient) -> None:
    created = api.upload_one(samples.jpeg(), title="bad\x00ti\u202etle\x07")
    assert created["title"] == "badtitle"


@pytest.mark.parametrize("filename", ["../../../etc/passwd.jpg", "..\\..\\boot.ini.jpg",
                                      "/absolute/path.jpg", "....//x.jpg", "%2e%2e%2fenc.jpg"])
def test_path_traversal_filenames_cannot_choose_storage_keys(small_app: Flask, api: ApiClient,
                                                             filename: str) -> None:
    created = api.upload_one(samples.jpeg(), filename)
    svc = app_services(small_app)
    doc = svc.db.images.find_one({})
    assert doc is not None
    keys = list(svc.store.list_keys(""))
    assert keys == [f"originals/{doc['owner_id']}/{created['id']}"]
    assert "/" not in doc["filename"] and "\\" not in doc["filename"]
    assert not doc["filename"].startswith(".")


@pytest.mark.parametrize("params", [
    {"cursor": "garbage!!"},
    {"cursor": "AAAA"},
    {"cursor": "x" * 5000},
    {"cursor": "ZmFrZWN1cnNvcg=="},
    {"colour": "chartreuse"},
    {"from": "2024-13-40"},
    {"to": "yesterday"},
    {"from": "9999-12-31"},
    {"from": "1825-12-31"},  # before photography (dates taken reach back to 1826)
    {"from": "2024-05-02", "to": "2024-05-01"},
    {"sort": "sideways"},
    {"limit": "0"},
    {"limit": "1000"},
    {"limit": "-5"},
    {"limit": "abc"},
    {"has_text": "maybe"},
    {"scope": "everyone"},
    {"q": "word " * 80},
    {"q": " ".join(f"w{i}" for i in range(13))},
    {"tags": "car"},
    {"owner_id": "x"},
])
def test_malformed_filters_and_cursors_are_400(api: ApiClient, params: dict[str, str]) -> None:
    body = assert_problem(api.get("/api/v1/images", query_string=params), 400, "validation_error")
    assert body["detail"]


@pytest.mark.parametrize("image_id", ["nope", "0" * 23, "g" * 24, "../../etc/passwd",
                                      "%00", "6" * 25])
def test_malformed_ids_are_404(api: ApiClient, image_id: str) -> None:
    for url in (f"/api/v1/images/{image_id}", f"/api/v1/images/{image_id}/analysis"):
        assert_problem(api.get(url), 404, "not_found")
    assert_problem(api.patch(f"/api/v1/images/{image_id}", {"title": "x"}), 404, "not_found")
    assert_problem(api.delete(f"/api/v1/images/{image_id}"), 404, "not_found")


@pytest.mark.parametrize(("body", "status", "code"), [
    ([1, 2], 400, "validation_error"),
    ({}, 400, "validation_error"),
    ({"owner_id": "me"}, 400, "validation_error"),
    ({"title": 5}, 400, "validation_error"),
    ({"tags": [1]}, 400, "validation_error"),
    ({"tags": {"a": 1}}, 400, "validation_error"),
    ({"visibility": "secret"}, 400, "validation_error"),
    ({"title": "x" * 201}, 400, "validation_error"),
])
def test_bad_patch_bodies_change_nothing(small_app: Flask, api: ApiClient, body: object,
                                         status: int, code: str) -> None:
    image_id = api.upload_one(samples.jpeg(), title="kept")["id"]
    assert_problem(api.patch(f"/api/v1/images/{image_id}", body), status, code)
    raw = api.client.patch(f"/api/v1/images/{image_id}", data="{not json", headers=api.headers,
                           content_type="application/json")
    assert_problem(raw, 400, "validation_error")
    form = api.client.patch(f"/api/v1/images/{image_id}", data={"title": "x"}, headers=api.headers)
    assert_problem(form, 415, "unsupported_media_type")
    stored = app_services(small_app).db.images.find_one({})
    assert stored is not None and stored["title"] == "kept"


def test_unknown_route_and_method_are_problems(api: ApiClient) -> None:
    assert_problem(api.get("/api/v1/nothing-here"), 404, "not_found")
    response = api.client.put("/api/v1/images", headers=api.headers, data=io.BytesIO(b"x"))
    assert_problem(response, 405, "method_not_allowed")
