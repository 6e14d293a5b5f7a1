"""Trash (#12 item 3): delete moves an image to the trash; the owner restores it or deletes
it for good (one image, or "empty trash"); everyone else loses it at once.

Trashed images vanish from the grid, search, the public page and API listings at once
(listing caches included), share links to them stop working at once, they still count
towards quotas until purged, and only their owner can see, restore or purge them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from bson import ObjectId
from flask import Flask

from picsource_core.mongo import IMAGES, JOBS
from picsource_core.usage import GalleryUsage
from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, assert_problem, token_for
from tests.web.web_support import finish_analysis, tile_ids


@pytest.fixture
def shots(app: Flask, alice: WebClient) -> dict[str, str]:
    """Alice's analysed images: a public "harbour", an unlisted "garden", a private "attic"."""
    made = {}
    for seed, (title, visibility) in enumerate((("harbour", "public"), ("garden", "unlisted"),
                                                ("attic", "private"))):
        image_id = alice.upload_id(samples.noisy_jpeg(seed + 21), title=f"{title} view",
                                   visibility=visibility)
        finish_analysis(app_services(app), image_id)
        made[title] = image_id
    return made


def _token(app: Flask, image_id: str) -> str:
    return str(app_services(app).db[IMAGES].find_one({"_id": ObjectId(image_id)})["share_token"])  # type: ignore[index]


def test_trash_vanishes_everywhere_at_once_and_restores(app: Flask, alice: WebClient, bob: WebClient,
                                                       web_client: Callable[[], WebClient],
                                                       shots: dict[str, str]) -> None:
    harbour, garden = shots["harbour"], shots["garden"]
    anonymous, garden_link = web_client(), f"/s/{_token(app, garden)}"
    # warm every listing cache first: the trash must retire them, not wait for them to expire
    assert harbour in tile_ids(anonymous.get("/public").get_data(as_text=True))
    assert harbour in tile_ids(bob.get("/search?q=harbour&scope=public").get_data(as_text=True))
    assert harbour in tile_ids(alice.get("/").get_data(as_text=True))
    assert bob.get(garden_link).status_code == 200

    for image_id in (harbour, garden):
        assert alice.post(f"/images/{image_id}/delete").status_code == 302
    assert tile_ids(anonymous.get("/public").get_data(as_text=True)) == []
    assert tile_ids(bob.get("/search?q=harbour&scope=public").get_data(as_text=True)) == []
    assert tile_ids(alice.get("/").get_data(as_text=True)) == [shots["attic"]]
    assert tile_ids(alice.get("/search?q=harbour").get_data(as_text=True)) == []
    assert sorted(tile_ids(alice.get("/trash").get_data(as_text=True))) == sorted([harbour, garden])
    for name, client in {"bob": bob, "anonymous": anonymous}.items():
        assert client.get(garden_link).status_code == 404, name  # the share link died at once
        for route in (f"/images/{harbour}", f"/media/{harbour}/original", f"/media/{harbour}/256",
                      f"/images/{harbour}/status", f"/media/{garden}/original?s={garden_link[3:]}"):
            assert client.get(route).status_code == 404, (name, route)
    owner_page = alice.get(f"/images/{harbour}").get_data(as_text=True)
    assert "data-in-trash" in owner_page and "Restore" in owner_page

    assert alice.post(f"/images/{garden}/restore").status_code == 302
    assert garden in tile_ids(alice.get("/").get_data(as_text=True))
    assert bob.get(garden_link).status_code == 404  # a link handed out before stays dead
    assert bob.get(f"/s/{_token(app, garden)}").status_code == 200  # the new one works
    assert tile_ids(alice.get("/trash").get_data(as_text=True)) == [harbour]
    assert alice.post(f"/images/{garden}/restore").status_code == 409  # not in the trash


def test_trash_still_counts_towards_quotas_until_purged(make_app: Callable[..., Flask],
                                                       web_client: Callable[..., WebClient]) -> None:
    first, second = samples.noisy_jpeg(31), samples.noisy_jpeg(32)
    app = make_app(quota_images=1)
    svc = app_services(app)
    alice = web_client(app)
    alice.signup("alice")
    image_id = alice.upload_id(first)
    assert alice.post(f"/images/{image_id}/delete").status_code == 302
    assert alice.upload(second).status_code == 403  # the trashed image still counts
    assert GalleryUsage(svc.db).current().bytes == len(first)
    assert alice.post("/trash/empty").status_code == 302
    assert svc.db[IMAGES].count_documents({}) == 0 and list(svc.store.list_keys("")) == []
    assert GalleryUsage(svc.db).current().bytes == 0
    assert alice.upload(second).status_code == 201


def test_purge_and_empty_trash_remove_objects_and_jobs(app: Flask, alice: WebClient,
                                                      shots: dict[str, str]) -> None:
    svc = app_services(app)
    attic, harbour, garden = shots["attic"], shots["harbour"], shots["garden"]
    assert alice.post(f"/images/{attic}/purge").status_code == 409  # only from the trash
    for image_id in (attic, harbour):
        alice.post(f"/images/{image_id}/delete")
    assert alice.post(f"/images/{attic}/purge").headers["Location"] == "/trash"
    assert svc.db[IMAGES].find_one({"_id": ObjectId(attic)}) is None
    assert not [k for k in svc.store.list_keys("") if attic in k]
    assert "Empty trash" in alice.get("/trash").get_data(as_text=True)
    assert alice.post("/trash/empty").status_code == 302
    assert [str(d["_id"]) for d in svc.db[IMAGES].find()] == [garden]
    assert all(garden in key for key in svc.store.list_keys(""))
    assert svc.db[JOBS].count_documents({"image_id": {"$ne": ObjectId(garden)}}) == 0
    assert "The trash is empty" in alice.get("/trash").get_data(as_text=True)


def test_nobody_else_can_trash_restore_purge_or_list(app: Flask, alice: WebClient, bob: WebClient,
                                                     web_client: Callable[[], WebClient],
                                                     shots: dict[str, str]) -> None:
    svc = app_services(app)
    harbour = shots["harbour"]
    alice.post(f"/images/{shots['attic']}/delete")
    before = list(svc.db[IMAGES].find().sort("_id"))
    anonymous = web_client()
    for name, client in {"bob": bob, "anonymous": anonymous}.items():
        for image_id in (harbour, shots["attic"], str(ObjectId()), "nope"):
            for action in ("delete", "restore", "purge"):
                response = client.post(f"/images/{image_id}/{action}")
                assert response.status_code == (404 if name == "bob" else 401), (name, image_id, action)
        assert client.post("/trash/empty").status_code == (302 if name == "bob" else 401)
    assert tile_ids(bob.get("/trash").get_data(as_text=True)) == []
    assert anonymous.get("/trash").status_code == 302  # to the sign-in page
    assert list(svc.db[IMAGES].find().sort("_id")) == before


def test_the_api_trashes_restores_lists_and_purges(app: Flask, alice: WebClient, bob: WebClient,
                                                  shots: dict[str, str]) -> None:
    svc = app_services(app)
    mine, theirs, anonymous = (ApiClient(app, token_for(app, "alice")), ApiClient(app, token_for(app, "bob")),
                               ApiClient(app, None))
    harbour, garden = shots["harbour"], shots["garden"]
    assert [i["id"] for i in anonymous.get("/api/v1/images").get_json()["items"]] == [harbour]
    assert mine.delete(f"/api/v1/images/{harbour}").status_code == 204
    assert anonymous.get("/api/v1/images").get_json()["items"] == []
    assert harbour not in [i["id"] for i in mine.get("/api/v1/images?archived=any").get_json()["items"]]
    assert_problem(theirs.get(f"/api/v1/images/{harbour}"), 404, "not_found")
    trash = mine.get("/api/v1/trash").get_json()
    assert [i["id"] for i in trash["items"]] == [harbour] and trash["items"][0]["trashed_at"]
    assert theirs.get("/api/v1/trash").get_json()["items"] == []
    assert_problem(anonymous.get("/api/v1/trash"), 401, "unauthorized")
    assert_problem(mine.get("/api/v1/trash?scope=public"), 400, "validation_error")
    # others: 404 (users) or 401 (anonymous), and nothing changes
    assert_problem(theirs.client.post(f"/api/v1/images/{harbour}/restore", headers=theirs.headers),
                   404, "not_found")
    assert_problem(theirs.delete(f"/api/v1/images/{harbour}?permanent=true"), 404, "not_found")
    assert_problem(anonymous.client.post(f"/api/v1/images/{harbour}/restore"), 401, "unauthorized")
    assert theirs.client.delete("/api/v1/trash", headers=theirs.headers).get_json() == {"purged": 0}
    # bad input: named, and nothing applied
    problem = assert_problem(mine.delete(f"/api/v1/images/{garden}?permanent=yes"), 400, "validation_error")
    assert problem["errors"] == [{"parameter": "permanent", "problem": "must be true or false"}]
    assert_problem(mine.delete(f"/api/v1/images/{garden}?forever=1"), 400, "validation_error")
    assert svc.db[IMAGES].find_one({"_id": ObjectId(garden), "trashed_at": None}) is not None
    assert_problem(mine.client.post(f"/api/v1/images/{garden}/restore", headers=mine.headers),
                   409, "conflict")
    assert_problem(mine.client.post(f"/api/v1/images/{ObjectId()}/restore", headers=mine.headers),
                   404, "not_found")
    restored = mine.client.post(f"/api/v1/images/{harbour}/restore", headers=mine.headers)
    assert restored.status_code == 200 and restored.get_json()["trashed_at"] is None
    assert [i["id"] for i in anonymous.get("/api/v1/images").get_json()["items"]] == [harbour]
    # permanent delete, and emptying the trash
    assert mine.delete(f"/api/v1/images/{harbour}?permanent=true").status_code == 204
    assert svc.db[IMAGES].find_one({"_id": ObjectId(harbour)}) is None
    mine.delete(f"/api/v1/images/{garden}")
    assert mine.client.delete("/api/v1/trash", headers=mine.headers).get_json() == {"purged": 1}
    assert [str(d["_id"]) for d in svc.db[IMAGES].find()] == [shots["attic"]]
