"""The albums API (#12 item 1): create, read, change, delete, rotate the link, list images by
cursor, add and remove with a result per id; who may do what (owner, another user,
anonymous, a read-only token); bad input named; a public album's image URLs work for
strangers in proxy mode and open nothing else.
"""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from flask import Flask

from picsource_core.albums import MAX_IDS_PER_CALL
from picsource_core.mongo import ALBUM_IMAGES, IMAGES
from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, assert_problem, token_for
from tests.web.web_support import finish_analysis


@pytest.fixture
def app(make_app: Any) -> Flask:
    return make_app(proxy_images=True)  # image URLs go through the media route's checks


@pytest.fixture
def apis(app: Flask, alice: WebClient, bob: WebClient) -> dict[str, ApiClient]:
    return {"alice": ApiClient(app, token_for(app, "alice")), "bob": ApiClient(app, token_for(app, "bob")),
            "anonymous": ApiClient(app, None)}


@pytest.fixture
def shots(app: Flask, apis: dict[str, ApiClient]) -> list[str]:
    made = []
    for seed in range(3):
        image = apis["alice"].upload_one(samples.noisy_jpeg(seed + 81), title=f"shot {seed}")
        finish_analysis(app_services(app), image["id"])
        made.append(image["id"])
    return made


def post(api: ApiClient, url: str, body: Any = None) -> Any:
    return api.client.post(url, json=body, headers=api.headers)


def create(api: ApiClient, **body: Any) -> dict[str, Any]:
    response = post(api, "/api/v1/albums", {"title": "Trip", **body})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.headers["Location"] == f"/api/v1/albums/{response.get_json()['id']}"
    return response.get_json()  # type: ignore[no-any-return]


def test_create_add_list_page_and_remove(apis: dict[str, ApiClient], shots: list[str], bob: WebClient) -> None:
    alice = apis["alice"]
    album = create(alice, description="Coast", visibility="unlisted", allow_download=True,
                   share_expires_on="2999-01-01")
    assert album["share_url"].endswith("/a/" + album["share_url"].rsplit("/", 1)[1])
    assert (album["image_count"], album["allow_download"], album["share_expires_on"]) == (0, True, "2999-01-01")
    bobs = apis["bob"].upload_one(samples.noisy_jpeg(99))["id"]
    stray = str(ObjectId())
    added = post(alice, f"/api/v1/albums/{album['id']}/images", {"image_ids": [*shots, bobs, stray, shots[0]]})
    assert added.status_code == 200 and added.get_json()["added"] == 3
    assert added.get_json()["results"] == [
        *[{"id": i, "result": "added"} for i in shots], {"id": bobs, "result": "not_found"},
        {"id": stray, "result": "not_found"}]
    again = post(alice, f"/api/v1/albums/{album['id']}/images", {"image_ids": [shots[0]]}).get_json()
    assert again == {"results": [{"id": shots[0], "result": "already_in_album"}], "added": 0}
    seen, url = [], f"/api/v1/albums/{album['id']}/images?limit=2&sort=added&order=oldest"
    while url:
        page = alice.get(url).get_json()
        seen += [item["id"] for item in page["items"]]
        url = (f"/api/v1/albums/{album['id']}/images?limit=2&sort=added&order=oldest&cursor={page['next_cursor']}"
               if page["next_cursor"] else "")
    assert seen == shots
    listed = alice.get("/api/v1/albums").get_json()["items"]
    assert [(a["id"], a["image_count"], a["cover_image_id"]) for a in listed] == [(album["id"], 3, shots[2])]
    patched = alice.patch(f"/api/v1/albums/{album['id']}", {"title": "Coast trip", "cover_image_id": shots[0]})
    assert patched.status_code == 200 and patched.get_json()["cover_image_id"] == shots[0]
    removed = post(alice, f"/api/v1/albums/{album['id']}/images/remove", {"image_ids": [shots[0], bobs]})
    assert removed.get_json() == {"results": [{"id": shots[0], "result": "removed"},
                                              {"id": bobs, "result": "not_in_album"}], "removed": 1}
    got = alice.get(f"/api/v1/albums/{album['id']}").get_json()
    assert (got["title"], got["image_count"], got["cover_image_id"]) == ("Coast trip", 2, shots[2])
    assert alice.delete(f"/api/v1/albums/{album['id']}").status_code == 204
    assert_problem(alice.get(f"/api/v1/albums/{album['id']}"), 404, "not_found")
    assert len(alice.get("/api/v1/images").get_json()["items"]) == 3  # the images stay


def test_who_may_do_what(app: Flask, apis: dict[str, ApiClient], shots: list[str], alice: WebClient) -> None:
    owner, bob, anonymous = apis["alice"], apis["bob"], apis["anonymous"]
    album = create(owner, visibility="unlisted")
    post(owner, f"/api/v1/albums/{album['id']}/images", {"image_ids": shots[:1]})
    base = f"/api/v1/albums/{album['id']}"
    for name, client in {"bob": bob, "anonymous": anonymous}.items():
        status, code = (404, "not_found") if name == "bob" else (401, "unauthorized")
        for response in (client.patch(base, {"title": "x"}), client.delete(base),
                         post(client, f"{base}/share-link"),
                         post(client, f"{base}/images", {"image_ids": shots}),
                         post(client, f"{base}/images/remove", {"image_ids": shots})):
            assert_problem(response, status, code)
        assert_problem(client.get(base), 404, "not_found")  # unlisted: not by id
        assert_problem(client.get(f"{base}/images"), 404, "not_found")
    assert bob.get("/api/v1/albums").get_json() == {"items": []}
    assert_problem(anonymous.get("/api/v1/albums"), 401, "unauthorized")
    read_only, _ = app_services(app).tokens.create(app_services(app).users.by_username("alice").id,  # type: ignore[union-attr]
                                                   "ro", scope="read")
    assert_problem(post(ApiClient(app, read_only), "/api/v1/albums", {"title": "x"}), 403, "forbidden")
    # public: anyone reads it and its images, through URLs that open these images only
    owner.patch(base, {"visibility": "public"})
    page = anonymous.get(f"{base}/images").get_json()
    assert [i["id"] for i in page["items"]] == shots[:1] and page["items"][0]["share_url"] is None
    urls = page["items"][0]["urls"]
    assert anonymous.get(urls["thumbnail"]).status_code == 200
    assert anonymous.get(urls["original"]).status_code == 200
    assert anonymous.get(urls["original"] + "&download=1").status_code == 403  # downloads off
    grant = urls["thumbnail"].split("s=", 1)[1]
    assert anonymous.get(f"/media/{shots[1]}/256?s={grant}").status_code == 404
    got = anonymous.get(base).get_json()
    assert got["is_owner"] is False and got["share_url"] is None and got["allow_download"] is None
    # the link rotates: the old one dies
    old = album["share_url"].rsplit("/", 1)[1]
    fresh = post(owner, f"{base}/share-link").get_json()["share_url"].rsplit("/", 1)[1]
    assert fresh != old and alice.get(f"/a/{old}").status_code == 404 and alice.get(f"/a/{fresh}").status_code == 200


def test_bad_input_is_named_and_changes_nothing(app: Flask, apis: dict[str, ApiClient], shots: list[str]) -> None:
    alice = apis["alice"]
    album = create(alice)
    base = f"/api/v1/albums/{album['id']}"
    cases = [
        (post(alice, "/api/v1/albums", {}), "title"),
        (post(alice, "/api/v1/albums", {"title": "x", "colour": "red"}), "colour"),
        (post(alice, "/api/v1/albums", {"title": "x", "visibility": "secret"}), "visibility"),
        (post(alice, "/api/v1/albums", {"title": "x", "allow_download": 1}), "allow_download"),
        (post(alice, "/api/v1/albums", {"title": "x", "share_expires_on": "2001-01-01"}), "share_expires_on"),
        (alice.patch(base, {"cover_image_id": shots[0]}), "cover_image_id"),  # not in the album
        (alice.patch(base, {"cover_image_id": 5}), "cover_image_id"),
        (post(alice, f"{base}/images", {"image_ids": []}), "image_ids"),
        (post(alice, f"{base}/images", {"image_ids": "abc"}), "image_ids"),
        (post(alice, f"{base}/images", {"image_ids": [shots[0], "zz"]}), "image_ids[1]"),
        (post(alice, f"{base}/images", {"image_ids": shots, "extra": 1}), "extra"),
        (post(alice, f"{base}/images", {"image_ids": [str(ObjectId())] * (MAX_IDS_PER_CALL + 1)}), "image_ids"),
    ]
    for response, field in cases:
        body = assert_problem(response, 400, "validation_error")
        assert body["errors"][0]["field"] == field, body
    too_many = assert_problem(cases[-1][0], 400, "validation_error")
    assert "at most 500" in too_many["detail"]
    assert_problem(alice.get(f"{base}/images?sort=best"), 400, "validation_error")
    assert_problem(alice.get(f"{base}/images?cursor=AAAA"), 400, "validation_error")
    assert_problem(alice.get(f"{base}/images?page=2"), 400, "validation_error")
    assert_problem(alice.client.post("/api/v1/albums", data="title=x", headers=alice.headers), 415,
                   "unsupported_media_type")
    for missing in (str(ObjectId()), "nope"):
        assert_problem(alice.get(f"/api/v1/albums/{missing}"), 404, "not_found")
        assert_problem(post(alice, f"/api/v1/albums/{missing}/images", {"image_ids": shots}), 404, "not_found")
    svc = app_services(app)
    assert svc.db[ALBUM_IMAGES].count_documents({}) == 0 and svc.db[IMAGES].count_documents({}) == 3
    assert alice.get(base).get_json()["title"] == "Trip"


def test_trashed_images_leave_the_album_listing_until_restored(apis: dict[str, ApiClient],
                                                              shots: list[str]) -> None:
    alice = apis["alice"]
    album = create(alice, visibility="public")
    post(alice, f"/api/v1/albums/{album['id']}/images", {"image_ids": shots})
    assert alice.patch(f"/api/v1/albums/{album['id']}", {"cover_image_id": shots[1]}).status_code == 200
    alice.delete(f"/api/v1/images/{shots[1]}")
    # a trashed cover gives way to the latest image added (the last id of one call)
    assert apis["anonymous"].get(f"/api/v1/albums/{album['id']}").get_json()["cover_image_id"] == shots[2]
    for client in (alice, apis["anonymous"]):
        items = client.get(f"/api/v1/albums/{album['id']}/images?sort=added").get_json()["items"]
        assert shots[1] not in [i["id"] for i in items]
    assert alice.get(f"/api/v1/albums/{album['id']}").get_json()["image_count"] == 2
    post(alice, f"/api/v1/images/{shots[1]}/restore")
    back = alice.get(f"/api/v1/albums/{album['id']}").get_json()
    assert (back["image_count"], back["cover_image_id"]) == (3, shots[1])
    alice.delete(f"/api/v1/images/{shots[1]}?permanent=true")
    gone = alice.get("/api/v1/albums").get_json()["items"][0]
    assert (gone["image_count"], gone["cover_image_id"]) == (2, shots[2])
