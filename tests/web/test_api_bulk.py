"""Bulk actions (#12 item 4) through POST /api/v1/images/bulk, against real SecantusDB and MinIO.

One call names many of the caller's images and answers a result per image. A selection
that names anyone else's image, a missing one, an image in the trash (for anything but
trash/restore) or an edit past an image's limits is refused whole: nothing is written.
Every action is idempotent, so a retried call answers "unchanged" where it already applied.
"""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from flask import Flask

from picsource_core.mongo import IMAGES
from picsource_web.services.bulk import BULK_MAX_IDS
from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, assert_problem, token_for

BULK = "/api/v1/images/bulk"


@pytest.fixture
def api(app: Flask, alice: WebClient) -> ApiClient:
    return ApiClient(app, token_for(app, "alice"))


@pytest.fixture
def three(api: ApiClient) -> list[str]:
    """Alice's three private images, oldest first."""
    return [api.upload_one(samples.noisy_jpeg(40 + n), f"shot{n}.jpg", title=f"shot {n}")["id"]
            for n in range(3)]


def _docs(app: Flask, ids: list[str]) -> list[dict[str, Any]]:
    images = app_services(app).db[IMAGES]
    return [images.find_one({"_id": ObjectId(i)}) for i in ids]


def _results(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [(item["id"], item["result"]) for item in response.get_json()["results"]]


def test_favourite_many_is_one_call_with_a_result_each_and_a_retry_changes_nothing(
        app: Flask, api: ApiClient, three: list[str]) -> None:
    api.patch(f"/api/v1/images/{three[1]}", {"favourite": True})
    response = api.client.post(BULK, json={"action": "favourite", "ids": three}, headers=api.headers)
    assert _results(response) == [(three[0], "changed"), (three[1], "unchanged"), (three[2], "changed")]
    assert (response.get_json()["changed"], response.get_json()["unchanged"]) == (2, 1)
    assert [doc["favourite"] for doc in _docs(app, three)] == [True, True, True]
    again = api.client.post(BULK, json={"action": "favourite", "ids": three}, headers=api.headers)
    assert {result for _, result in _results(again)} == {"unchanged"}
    listed = api.get("/api/v1/images?favourite=yes").get_json()["items"]
    assert sorted(item["id"] for item in listed) == sorted(three)  # the listing cache saw each write


def test_trash_and_restore_many(app: Flask, api: ApiClient, three: list[str]) -> None:
    trashed = api.client.post(BULK, json={"action": "trash", "ids": three[:2]}, headers=api.headers)
    assert {result for _, result in _results(trashed)} == {"changed"}
    assert [item["id"] for item in api.get("/api/v1/images").get_json()["items"]] == [three[2]]
    assert sorted(i["id"] for i in api.get("/api/v1/trash").get_json()["items"]) == sorted(three[:2])
    back = api.client.post(BULK, json={"action": "restore", "ids": three}, headers=api.headers)
    assert _results(back) == [(three[0], "changed"), (three[1], "changed"), (three[2], "unchanged")]
    assert api.get("/api/v1/trash").get_json()["items"] == []


def test_visibility_and_tags_go_through_the_edit_path_search_tokens_included(
        app: Flask, api: ApiClient, three: list[str]) -> None:
    public = api.client.post(BULK, json={"action": "set_visibility", "ids": three[:2], "visibility": "public"},
                             headers=api.headers)
    assert {r for _, r in _results(public)} == {"changed"}
    anonymous = ApiClient(app, None)
    assert sorted(i["id"] for i in anonymous.get("/api/v1/images?scope=public").get_json()["items"]) == \
        sorted(three[:2])
    tagged = api.client.post(BULK, json={"action": "add_tags", "ids": three, "tags": ["Harbour", "dusk"]},
                             headers=api.headers)
    assert {r for _, r in _results(tagged)} == {"changed"}
    assert [doc["tags"] for doc in _docs(app, three)] == [["harbour", "dusk"]] * 3
    assert sorted(i["id"] for i in api.get("/api/v1/images?q=harbour").get_json()["items"]) == sorted(three)
    untagged = api.client.post(BULK, json={"action": "remove_tags", "ids": three[1:], "tags": ["harbour"]},
                               headers=api.headers)
    assert {r for _, r in _results(untagged)} == {"changed"}
    assert [i["id"] for i in api.get("/api/v1/images?q=harbour").get_json()["items"]] == [three[0]]
    assert [doc["title"] for doc in _docs(app, three)] == ["shot 0", "shot 1", "shot 2"]  # untouched


def test_a_selection_with_someone_else_s_image_is_refused_whole(
        app: Flask, api: ApiClient, bob: WebClient, three: list[str]) -> None:
    theirs = ApiClient(app, token_for(app, "bob")).upload_one(samples.noisy_jpeg(77), visibility="public")["id"]
    missing = str(ObjectId())
    for stranger in (theirs, missing):
        problem = assert_problem(api.client.post(BULK, json={"action": "favourite", "ids": [*three, stranger]},
                                                 headers=api.headers), 404, "not_found")
        assert stranger in problem["detail"] and "Nothing was changed" in problem["detail"]
    assert [doc.get("favourite", False) for doc in _docs(app, three)] == [False, False, False]
    assert not _docs(app, [theirs])[0].get("favourite")


def test_an_image_in_the_trash_blocks_other_actions_and_tag_limits_are_checked_first(
        app: Flask, api: ApiClient, three: list[str]) -> None:
    api.delete(f"/api/v1/images/{three[2]}")
    problem = assert_problem(api.client.post(BULK, json={"action": "archive", "ids": three}, headers=api.headers),
                             409, "conflict")
    assert problem["reason"] == "in_trash" and three[2] in problem["detail"]
    assert [doc.get("archived", False) for doc in _docs(app, three)] == [False, False, False]
    api.patch(f"/api/v1/images/{three[1]}", {"tags": [f"t{n}" for n in range(29)]})
    problem = assert_problem(api.client.post(BULK, json={"action": "add_tags", "ids": three[:2], "tags": ["a", "b"]},
                                             headers=api.headers), 400, "validation_error")
    assert problem["reason"] == "too_many_tags"
    assert _docs(app, three[:1])[0]["tags"] == []  # the first image was not tagged either


@pytest.mark.parametrize(("body", "reason"), [
    ({"action": "favourite", "ids": []}, "validation_error"),
    ({"action": "favourite", "ids": "abc"}, "validation_error"),
    ({"action": "favourite", "ids": ["not-an-id"]}, "validation_error"),
    ({"action": "favourite", "ids": [str(ObjectId()) for _ in range(BULK_MAX_IDS + 1)]}, "too_many_images"),
    ({"action": "paint", "ids": [str(ObjectId())]}, "validation_error"),
    ({"action": "favourite", "ids": [str(ObjectId())], "colour": "red"}, "validation_error"),
    ({"action": "set_visibility", "ids": [str(ObjectId())]}, "validation_error"),
    ({"action": "set_visibility", "ids": [str(ObjectId())], "visibility": "secret"}, "invalid_visibility"),
    ({"action": "add_tags", "ids": [str(ObjectId())], "tags": []}, "validation_error"),
    ({"action": "add_tags", "ids": [str(ObjectId())], "tags": ["   "]}, "validation_error"),
    ({"action": "favourite", "ids": [str(ObjectId())], "tags": ["x"]}, "validation_error"),
    (["favourite"], "validation_error"),
])
def test_bad_bodies_get_a_400_naming_the_problem(api: ApiClient, body: Any, reason: str) -> None:
    problem = assert_problem(api.client.post(BULK, json=body, headers=api.headers), 400, "validation_error")
    assert problem.get("reason", "validation_error") == reason


def test_who_may_call(app: Flask, alice: WebClient, three: list[str]) -> None:
    body = {"action": "favourite", "ids": three}
    assert_problem(ApiClient(app, None).client.post(BULK, json=body), 401, "unauthorized")
    svc = app_services(app)
    user = svc.users.by_username("alice")
    assert user is not None
    read_only, _ = svc.tokens.create(user.id, "viewer", scope="read")
    refused = assert_problem(app.test_client().post(BULK, json=body, headers={"Authorization": f"Bearer {read_only}"}),
                             403, "forbidden")
    assert refused["reason"] == "read_only_token"
    no_csrf = alice.client.post(BULK, json=body)
    assert no_csrf.status_code in (400, 403) and no_csrf.get_json()["code"] == "csrf_failed"
    with_csrf = alice.client.post(BULK, json=body, headers={"X-CSRF-Token": alice.csrf()})
    assert {r for _, r in _results(with_csrf)} == {"changed"}
    assert_problem(alice.client.post(BULK, data="favourite", headers={"X-CSRF-Token": alice.csrf()}),
                   415, "unsupported_media_type")
