"""The owner's map (#12 item 6): /map and /api/v1/map, against real SecantusDB and MinIO.

Positions come from the worker's EXIF results (analysis.exif.latitude/longitude). The
map shows only the signed-in owner's own photos; nobody else can reach anyone's
positions through it, and trashed photos leave it at once.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, assert_problem, token_for
from tests.web.web_support import finish_analysis

PLACES = {"paris": (48.8584, 2.2945), "louvre": (48.8606, 2.3376), "sydney": (-33.8568, 151.2153)}


@pytest.fixture
def placed(app: Flask, alice: WebClient) -> dict[str, str]:
    """Alice's photos: three with a position, one without."""
    made = {}
    for seed, name in enumerate([*PLACES, "nowhere"]):
        image_id = alice.upload_id(samples.noisy_jpeg(120 + seed), f"{name}.jpg", title=name)
        lat, lon = PLACES.get(name, (None, None))
        finish_analysis(app_services(app), image_id,
                        exif={"latitude": lat, "longitude": lon} if lat is not None else {})
        made[name] = image_id
    return made


def _clusters(page: str) -> list[tuple[int, str]]:
    return [(int(count), href.replace("&amp;", "&")) for href, count in
            re.findall(r'<a href="([^"]+)" aria-label="[^"]*" data-cluster data-count="(\d+)"', page)]


def test_the_world_view_clusters_paris_and_zooming_in_separates_it(alice: WebClient,
                                                                  placed: dict[str, str]) -> None:
    page = alice.get("/map").get_data(as_text=True)
    assert "3 photos with a location in the world." in page
    assert "data-land" in page  # the built world outline
    clusters = _clusters(page)
    assert sorted(count for count, _ in clusters) == [1, 2]
    listed = re.findall(r'href="/images/([0-9a-f]{24})"', page)
    assert set(listed) == {placed["paris"], placed["louvre"], placed["sydney"]}
    paris_href = next(href for count, href in clusters if count == 2)
    closer = alice.get(paris_href).get_data(as_text=True)
    assert "2 photos with a location in this view." in closer
    zoomed = alice.get(next(href for count, href in _clusters(closer))).get_data(as_text=True)
    for _ in range(6):  # 3.3 km apart: a few more zooms at most
        if len(_clusters(zoomed)) != 1:
            break
        zoomed = alice.get(_clusters(zoomed)[0][1]).get_data(as_text=True)
    assert sorted(c for c, _ in _clusters(zoomed)) == [1, 1]  # the tower and the Louvre apart


def test_the_api_answers_clusters_for_a_view(app: Flask, placed: dict[str, str]) -> None:
    api = ApiClient(app, token_for(app, "alice"))
    body = api.get("/api/v1/map").get_json()
    assert body["total"] == 3 and body["truncated"] is False
    assert sorted(c["count"] for c in body["clusters"]) == [1, 2]
    sydney = api.get("/api/v1/map?lat=-33.8&lon=151.2&span=2").get_json()
    assert [(c["count"], c["image_ids"]) for c in sydney["clusters"]] == [(1, [placed["sydney"]])]
    assert sydney["view"]["west"] == pytest.approx(150.2)
    for bad in ("lat=100", "span=0", "lon=east"):
        assert_problem(api.get(f"/api/v1/map?{bad}"), 400, "validation_error")


def test_only_the_owner_has_a_map_of_their_photos(app: Flask, alice: WebClient, bob: WebClient,
                                                 web_client: Any, placed: dict[str, str]) -> None:
    alice.post(f"/images/{placed['paris']}/edit", {"title": "paris", "visibility": "public"})
    assert "No photos with a location yet." in bob.get("/map").get_data(as_text=True)
    assert ApiClient(app, token_for(app, "bob")).get("/api/v1/map").get_json()["total"] == 0
    assert web_client().get("/map").status_code == 302  # to sign in
    assert_problem(ApiClient(app, None).get("/api/v1/map"), 401, "unauthorized")
    # and the public image's own page and JSON never show where it was taken
    lat = f"{PLACES['paris'][0]:.3f}"
    assert lat not in bob.get(f"/images/{placed['paris']}").get_data(as_text=True)
    assert lat not in web_client().get(f"/api/v1/images/{placed['paris']}/analysis").get_data(as_text=True)
    assert lat in alice.get(f"/images/{placed['paris']}").get_data(as_text=True)


def test_a_trashed_photo_leaves_the_map(app: Flask, alice: WebClient, placed: dict[str, str]) -> None:
    alice.post(f"/images/{placed['sydney']}/delete")
    page = alice.get("/map").get_data(as_text=True)
    assert "2 photos with a location in the world." in page
    assert placed["sydney"] not in page
