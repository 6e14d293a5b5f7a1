"""The privacy matrix for every HTML route: other users and anonymous visitors get exactly
what they would get for an image that does not exist (404), unless the image is public or
they hold its share link."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from bson import ObjectId
from flask import Flask

from picsource_core.mongo import IMAGES
from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.web_support import finish_analysis

READ_ROUTES = ["/images/{id}", "/images/{id}/status", "/media/{id}/original", "/media/{id}/256",
               "/media/{id}/1280"]
WRITE_ROUTES = ["/images/{id}/edit", "/images/{id}/delete", "/images/{id}/share-link"]


@pytest.fixture
def images(app: Flask, alice: WebClient) -> dict[str, str]:
    """Alice's analysed images, one per visibility."""
    made = {}
    for seed, visibility in enumerate(("private", "unlisted", "public")):
        image_id = alice.upload_id(samples.noisy_jpeg(seed + 1), title=f"{visibility} secret title",
                                   visibility=visibility, tags=f"tag{visibility}")
        finish_analysis(app_services(app), image_id)
        made[visibility] = image_id
    return made


def _viewers(bob: WebClient, web_client: Callable[[], WebClient]) -> dict[str, WebClient]:
    return {"bob": bob, "anonymous": web_client()}


@pytest.mark.parametrize("visibility", ["private", "unlisted"])
def test_others_get_404_on_every_read_route(images: dict[str, str], bob: WebClient,
                                            web_client: Callable[[], WebClient], visibility: str) -> None:
    image_id, missing = images[visibility], str(ObjectId())
    for name, client in _viewers(bob, web_client).items():
        client.get("/public")  # shows (and so consumes) the sign-up flash message
        for route in READ_ROUTES:
            response = client.get(route.format(id=image_id))
            assert response.status_code == 404, (name, route)
            assert "secret title" not in response.get_data(as_text=True)
            twin = client.get(route.format(id=missing))
            assert twin.get_data() == response.get_data(), (name, route)  # indistinguishable


@pytest.mark.parametrize("visibility", ["private", "unlisted", "public"])
def test_others_cannot_change_anything(app: Flask, images: dict[str, str], bob: WebClient,
                                       web_client: Callable[[], WebClient], visibility: str) -> None:
    image_id = images[visibility]
    before = app_services(app).db[IMAGES].find_one({"_id": ObjectId(image_id)})
    for name, client in _viewers(bob, web_client).items():
        edit_page = client.get(f"/images/{image_id}/edit")
        assert edit_page.status_code in ((404,) if name == "bob" else (302,)), name
        for route in WRITE_ROUTES:
            response = client.post(route.format(id=image_id), {"title": "pwned", "visibility": "public"})
            assert response.status_code == (404 if name == "bob" else 401), (name, route)
    after = app_services(app).db[IMAGES].find_one({"_id": ObjectId(image_id)})
    assert after == before
    assert len(list(app_services(app).store.list_keys(""))) == 9  # 3 originals + 6 thumbnails


def test_public_images_are_visible_to_everyone(images: dict[str, str], bob: WebClient,
                                               web_client: Callable[[], WebClient]) -> None:
    image_id = images["public"]
    for name, client in _viewers(bob, web_client).items():
        client.get("/public")  # shows (and so consumes) the sign-up flash message
        for route in READ_ROUTES:
            response = client.get(route.format(id=image_id))
            assert response.status_code in (200, 302), (name, route)
        assert "public secret title" in client.get(f"/images/{image_id}").get_data(as_text=True)


def test_unlisted_images_open_with_their_share_link_only(app: Flask, images: dict[str, str],
                                                         alice: WebClient, bob: WebClient,
                                                         web_client: Callable[[], WebClient]) -> None:
    svc = app_services(app)
    unlisted, private = images["unlisted"], images["private"]
    token = svc.db[IMAGES].find_one({"_id": ObjectId(unlisted)})["share_token"]  # type: ignore[index]
    private_token = svc.db[IMAGES].find_one({"_id": ObjectId(private)})["share_token"]  # type: ignore[index]
    owner_page = alice.get(f"/images/{unlisted}").get_data(as_text=True)
    assert f"/s/{token}" in owner_page
    for name, client in _viewers(bob, web_client).items():
        page = client.get(f"/s/{token}")
        assert page.status_code == 200, name
        html = page.get_data(as_text=True)
        assert "unlisted secret title" in html and "Delete" not in html
        assert client.get(f"/media/{unlisted}/original?s={token}").status_code == 302
        assert client.get(f"/images/{unlisted}/status?s={token}").status_code == 200
        assert client.get(f"/media/{unlisted}/original?s=wrong").status_code == 404
        assert client.get(f"/s/{private_token}").status_code == 404, name  # private: the link is dead
        assert client.get("/s/not-a-token").status_code == 404
    # a new link invalidates the old one
    assert alice.post(f"/images/{unlisted}/share-link").status_code == 302
    assert bob.get(f"/s/{token}").status_code == 404


def test_listings_and_search_show_only_what_the_viewer_may_see(images: dict[str, str], alice: WebClient,
                                                               bob: WebClient,
                                                               web_client: Callable[[], WebClient]) -> None:
    for name, client in _viewers(bob, web_client).items():
        for url in ("/public", "/search?q=secret&scope=public", "/search?tag=tagprivate&scope=public",
                    "/search?tag=tagunlisted&scope=public", "/search?q=secret", "/"):
            html = client.get(url, follow_redirects=True).get_data(as_text=True)
            assert images["private"] not in html and images["unlisted"] not in html, (name, url)
        assert images["public"] in client.get("/public").get_data(as_text=True)
    mine = alice.get("/").get_data(as_text=True)
    assert all(image_id in mine for image_id in images.values())


def test_similar_images_never_leak_private_ones(app: Flask, images: dict[str, str], bob: WebClient) -> None:
    svc = app_services(app)
    for image_id in images.values():
        finish_analysis(svc, image_id, labels=[("tabby cat", 0.9)])
    html = bob.get(f"/images/{images['public']}").get_data(as_text=True)
    assert images["private"] not in html and images["unlisted"] not in html


def test_admin_area_is_404_for_users(bob: WebClient, web_client: Callable[[], WebClient]) -> None:
    assert bob.get("/admin/").status_code == 404
    assert bob.post("/admin/sweep").status_code == 404
    assert web_client().get("/admin/").status_code == 302
