"""Duplicate review (#13 item 3): groups of near-identical photos, a suggested keeper, and
one action that keeps it, carries tags, favourite and albums over, and trashes the rest.

Pure: grouping over near-duplicate links and the keeper's rank. Against real SecantusDB
and MinIO: the page, the API, and who may do what.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from bson import ObjectId
from flask import Flask

from picsource_core.mongo import IMAGES
from picsource_web.services.dedupe import group_near_duplicates, merged_tags, suggest_keeper
from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, assert_problem, token_for
from tests.web.web_support import finish_analysis


def _doc(n: int, links: list[int], **fields: Any) -> dict[str, Any]:
    return {"_id": ObjectId(f"{n:024x}"), "near_duplicates": [ObjectId(f"{m:024x}") for m in links], **fields}


def test_groups_are_connected_components_newest_first() -> None:
    docs = [_doc(1, [2]), _doc(2, [1, 3]), _doc(3, [2]), _doc(5, [6]), _doc(6, [5]), _doc(7, [99])]
    groups = group_near_duplicates(docs)
    assert [[int(str(d["_id"]), 16) for d in g] for g in groups] == [[6, 5], [3, 2, 1]]  # 7's link is gone


def test_the_keeper_has_most_pixels_then_camera_data_then_bytes_then_age() -> None:
    small = _doc(1, [], width=800, height=600, bytes=9_000_000)
    large = _doc(2, [], width=4000, height=3000, bytes=100)
    assert suggest_keeper([small, large]) is large
    bare = _doc(3, [], width=100, height=100, analysis={"exif": {"camera_make": None}})
    rich = _doc(4, [], width=100, height=100, analysis={"exif": {"camera_make": "X", "iso": 100}})
    assert suggest_keeper([rich, bare]) is rich
    older, newer = _doc(5, [], width=10, height=10), _doc(6, [], width=10, height=10)
    assert suggest_keeper([newer, older]) is older
    assert merged_tags({"tags": ["a", "b"]}, [{"tags": ["b", "c"]}, {"tags": [f"t{i}" for i in range(40)]}]) == \
        ["a", "b", "c", *[f"t{i}" for i in range(27)]]


@pytest.fixture
def trio(app: Flask, alice: WebClient) -> dict[str, str]:
    """Three near-identical photos of Alice's (a 64, 96 and 128 px wide re-save) and one apart."""
    svc = app_services(app)
    made = {}
    for name, size in (("small", (64, 48)), ("large", (128, 96)), ("medium", (96, 72)), ("other", (80, 60))):
        made[name] = alice.upload_id(samples.jpeg((200, 40, 40), size), f"{name}.jpg", title=name)
        finish_analysis(svc, made[name])
    ids = [ObjectId(made[n]) for n in ("small", "large", "medium")]
    for oid in ids:  # what the worker writes: each link once, on the image analysed later
        svc.db[IMAGES].update_one({"_id": oid}, {"$set": {"near_duplicates": [o for o in ids if o < oid]}})
    return made


def test_the_page_groups_them_and_keeping_one_carries_everything_over(
        app: Flask, alice: WebClient, trio: dict[str, str]) -> None:
    svc = app_services(app)
    alice.post(f"/images/{trio['small']}/edit", {"title": "small", "tags": "beach, dog", "visibility": "private"})
    alice.post(f"/images/{trio['medium']}/favourite", {"favourite": "1"})
    album = svc.albums.create(svc.users.by_username("alice").id, {"title": "Summer"})  # type: ignore[union-attr]
    svc.albums.add(album, [ObjectId(trio["small"])])
    page = alice.get("/duplicates").get_data(as_text=True)
    assert "1 group of near-identical photos" in page
    members = re.findall(r'name="member" value="([0-9a-f]{24})"', page)
    assert sorted(members) == sorted(trio[n] for n in ("small", "large", "medium"))
    assert re.search(rf'value="{trio["large"]}" checked', page)  # most pixels: suggested
    response = alice.post("/duplicates/resolve", {"keep": trio["large"], "member": members})
    assert response.status_code == 302
    said = alice.get("/duplicates").get_data(as_text=True)
    assert "Kept one, moved 2 to the trash" in said and "2 tags and 1 album" in said
    assert "No near-identical photos found." in said
    keeper = svc.db[IMAGES].find_one({"_id": ObjectId(trio["large"])})
    assert keeper["tags"] == ["beach", "dog"] and keeper["favourite"] is True
    assert ObjectId(trio["large"]) in svc.db["album_images"].distinct("image_id", {"album_id": album["_id"]})
    trashed = [d["_id"] for d in svc.db[IMAGES].find({"trashed_at": {"$ne": None}}, {"_id": 1})]
    assert sorted(map(str, trashed)) == sorted([trio["small"], trio["medium"]])


def test_the_api_lists_and_resolves_and_refuses_bad_choices_whole(
        app: Flask, bob: WebClient, trio: dict[str, str]) -> None:
    api = ApiClient(app, token_for(app, "alice"))
    groups = api.get("/api/v1/duplicates").get_json()["groups"]
    assert len(groups) == 1 and groups[0]["keeper"] == trio["large"]
    bobs = ApiClient(app, token_for(app, "bob"))
    assert bobs.get("/api/v1/duplicates").get_json()["groups"] == []
    resolve = "/api/v1/duplicates/resolve"
    body = {"keep": trio["large"], "trash": [trio["small"]]}
    assert_problem(bobs.client.post(resolve, json=body, headers=bobs.headers), 404, "not_found")
    assert_problem(api.client.post(resolve, json={"keep": trio["large"], "trash": [trio["large"]]},
                                   headers=api.headers), 400, "validation_error")
    assert_problem(api.client.post(resolve, json={"keep": "x", "trash": [trio["small"]]}, headers=api.headers),
                   400, "validation_error")
    assert_problem(api.client.post(resolve, json={"keep": trio["large"]}, headers=api.headers),
                   400, "validation_error")
    assert app_services(app).db[IMAGES].count_documents({"trashed_at": {"$ne": None}}) == 0
    done = api.client.post(resolve, json=body, headers=api.headers).get_json()
    assert (done["kept"], done["trashed"]) == (trio["large"], 1)
    again = api.client.post(resolve, json=body, headers=api.headers)
    assert_problem(again, 409, "conflict")  # already in the trash: nothing changes
    assert_problem(ApiClient(app, None).get("/api/v1/duplicates"), 401, "unauthorized")
