"""Favourites and archive (#12 item 2): the heart in the grid and on the image page, the
Favourites and Archive views, the API's PATCH and filters, and who may do what.

Favourite and archived are the owner's own marks: nobody else can set them (404, as for
a missing image) or learn them. Archived images leave the main grid, not search.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable

import pytest
from bson import ObjectId
from flask import Flask

from picsource_core.mongo import IMAGES
from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, assert_problem, token_for
from tests.web.web_support import finish_analysis, tile_ids

_FORM = re.compile(r'<form method="post" action="/images/([0-9a-f]{24})/favourite"[^>]*>(.*?)</form>', re.S)


@pytest.fixture
def shots(app: Flask, alice: WebClient) -> dict[str, str]:
    """Alice's analysed images: a private "lake" and a public "tower"."""
    made = {}
    for seed, (title, visibility) in enumerate((("lake", "private"), ("tower", "public"))):
        image_id = alice.upload_id(samples.noisy_jpeg(seed + 11), title=f"{title} shot",
                                   visibility=visibility)
        finish_analysis(app_services(app), image_id)
        made[title] = image_id
    return made


def _hearts(page: str) -> dict[str, str]:
    """image id -> the inner HTML of its favourite form on a grid page."""
    return {image_id: body for image_id, body in _FORM.findall(page)}


def test_the_grid_heart_favourites_without_javascript(alice: WebClient, shots: dict[str, str]) -> None:
    grid = alice.get("/").get_data(as_text=True)
    hearts = _hearts(grid)
    assert set(hearts) == set(shots.values())
    form = hearts[shots["lake"]]
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token and token.group(1) == alice.csrf()  # the cached tile got this session's token
    assert 'name="next" value="/"' in form and 'aria-pressed="false"' in form
    assert tile_ids(alice.get("/favourites").get_data(as_text=True)) == []

    back = alice.post(f"/images/{shots['lake']}/favourite", {"favourite": "1", "next": "/?limit=5"})
    assert back.status_code == 302 and back.headers["Location"] == "/?limit=5"
    assert tile_ids(alice.get("/favourites").get_data(as_text=True)) == [shots["lake"]]
    assert 'aria-pressed="true"' in _hearts(alice.get("/").get_data(as_text=True))[shots["lake"]]

    page = alice.get(f"/images/{shots['lake']}").get_data(as_text=True)
    assert "♥ Favourite" in page
    assert alice.post(f"/images/{shots['lake']}/favourite", {"favourite": "0"}).headers["Location"] \
        == f"/images/{shots['lake']}"
    assert tile_ids(alice.get("/favourites").get_data(as_text=True)) == []


def test_a_toggle_never_redirects_off_site(alice: WebClient, shots: dict[str, str]) -> None:
    back = alice.post(f"/images/{shots['lake']}/favourite", {"favourite": "1", "next": "//evil.example/x"})
    assert back.status_code == 302 and back.headers["Location"] == "/"


def test_archive_leaves_the_main_grid_but_not_search(alice: WebClient, shots: dict[str, str]) -> None:
    lake, tower = shots["lake"], shots["tower"]
    assert alice.post(f"/images/{lake}/archive", {"archived": "1"}).status_code == 302
    assert tile_ids(alice.get("/").get_data(as_text=True)) == [tower]
    assert tile_ids(alice.get("/archive").get_data(as_text=True)) == [lake]
    assert tile_ids(alice.get("/search?q=lake").get_data(as_text=True)) == [lake]
    assert "Unarchive" in alice.get(f"/images/{lake}").get_data(as_text=True)
    # a favourite that is archived is still among the favourites
    alice.post(f"/images/{lake}/favourite", {"favourite": "1"})
    assert tile_ids(alice.get("/favourites").get_data(as_text=True)) == [lake]
    assert alice.post(f"/images/{lake}/archive", {"archived": "0"}).status_code == 302
    assert sorted(tile_ids(alice.get("/").get_data(as_text=True))) == sorted([lake, tower])
    assert tile_ids(alice.get("/archive").get_data(as_text=True)) == []


def test_bad_toggles_are_clear_4xx(alice: WebClient, shots: dict[str, str]) -> None:
    for value in ("", "yes", "2"):
        response = alice.post(f"/images/{shots['lake']}/favourite", {"favourite": value})
        assert response.status_code == 400, value
        assert "favourite must be 1 (on) or 0 (off)" in html_lib.unescape(response.get_data(as_text=True))
    assert alice.post(f"/images/{shots['lake']}/archive", {"archived": "true"}).status_code == 400
    for image_id in (str(ObjectId()), "not-an-id"):
        assert alice.post(f"/images/{image_id}/favourite", {"favourite": "1"}).status_code == 404
        assert alice.post(f"/images/{image_id}/archive", {"archived": "1"}).status_code == 404
    assert alice.post(f"/images/{shots['lake']}/favourite", {"favourite": "1"}, csrf=False).status_code == 400


def test_nobody_else_can_mark_or_see_marks(app: Flask, alice: WebClient, bob: WebClient,
                                           web_client: Callable[[], WebClient],
                                           shots: dict[str, str]) -> None:
    svc = app_services(app)
    tower, lake = shots["tower"], shots["lake"]
    alice.post(f"/images/{tower}/favourite", {"favourite": "1"})
    before = {i: svc.db[IMAGES].find_one({"_id": ObjectId(i)}) for i in (tower, lake)}
    anonymous = web_client()
    for name, client in {"bob": bob, "anonymous": anonymous}.items():
        for image_id in (tower, lake):
            for route, field in (("favourite", "favourite"), ("archive", "archived")):
                response = client.post(f"/images/{image_id}/{route}", {field: "0"})
                assert response.status_code == (404 if name == "bob" else 401), (name, image_id, route)
        public_page = client.get(f"/images/{tower}").get_data(as_text=True)
        assert f"/images/{tower}/favourite" not in public_page
        assert f"/images/{tower}/archive" not in public_page
        assert not _hearts(client.get("/public").get_data(as_text=True))  # no hearts on others' tiles
    assert bob.get("/favourites").status_code == 200 and tile_ids(bob.get("/favourites").get_data(as_text=True)) == []
    assert anonymous.get("/favourites").status_code == 302  # to the sign-in page
    assert anonymous.get("/archive").status_code == 302
    # the share-link holder sees the image, not the owner's buttons
    token = before[tower]["share_token"]  # type: ignore[index]
    shared = bob.get(f"/s/{token}").get_data(as_text=True)
    assert "tower shot" in shared and f"{tower}/favourite" not in shared and f"{tower}/archive" not in shared
    after = {i: svc.db[IMAGES].find_one({"_id": ObjectId(i)}) for i in (tower, lake)}
    assert after == before


def test_the_api_sets_filters_and_hides_marks(app: Flask, alice: WebClient, bob: WebClient,
                                             shots: dict[str, str]) -> None:
    mine, theirs, anonymous = (ApiClient(app, token_for(app, "alice")), ApiClient(app, token_for(app, "bob")),
                               ApiClient(app, None))
    lake, tower = shots["lake"], shots["tower"]
    body = mine.patch(f"/api/v1/images/{lake}", {"favourite": True}).get_json()
    assert (body["favourite"], body["archived"], body["title"]) == (True, False, "lake shot")
    body = mine.patch(f"/api/v1/images/{tower}", {"archived": True, "title": "tower at dusk"}).get_json()
    assert (body["favourite"], body["archived"], body["title"]) == (False, True, "tower at dusk")

    def ids(client: ApiClient, query: str) -> list[str]:
        response = client.get(f"/api/v1/images?{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return [item["id"] for item in response.get_json()["items"]]

    assert ids(mine, "") == [lake]  # archived: out of the plain listing
    assert ids(mine, "q=tower") == [tower]  # ... not out of search
    assert ids(mine, "archived=yes") == [tower]
    assert ids(mine, "archived=any") == [tower, lake]
    assert ids(mine, "favourite=yes") == [lake]
    assert ids(mine, "favourite=no&archived=any") == [tower]
    # others see the public image, never its marks; nor can they filter anyone's marks
    assert ids(theirs, "scope=public") == [tower]
    assert theirs.get(f"/api/v1/images/{tower}").get_json()["archived"] is None
    assert anonymous.get(f"/api/v1/images/{tower}").get_json()["favourite"] is None
    assert_problem(theirs.get("/api/v1/images?scope=public&favourite=yes"), 400, "validation_error")
    assert_problem(anonymous.get("/api/v1/images?archived=yes"), 400, "validation_error")
    assert_problem(theirs.patch(f"/api/v1/images/{tower}", {"favourite": True}), 404, "not_found")
    assert_problem(anonymous.patch(f"/api/v1/images/{tower}", {"favourite": True}), 401, "unauthorized")
    # bad input names the field, and nothing is half-applied
    problem = assert_problem(mine.patch(f"/api/v1/images/{lake}", {"title": "x", "favourite": "yes"}),
                             400, "validation_error")
    assert problem["errors"] == [{"field": "favourite", "problem": "must be true or false"}]
    assert mine.get(f"/api/v1/images/{lake}").get_json()["title"] == "lake shot"
    assert_problem(mine.get("/api/v1/images?favourite=1"), 400, "validation_error")
    assert_problem(mine.patch(f"/api/v1/images/{ObjectId()}", {"archived": False}), 404, "not_found")
