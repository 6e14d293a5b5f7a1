"""Album pages and counts are cached (services/albums.py) like listing pages: each change
that could alter what an album shows retires what was cached, seen from a page viewed
just before it: trash and restore (the count too), a date taken read late, add, remove,
purge, and a visitor of a public album sees the same changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bson import ObjectId
from flask import Flask

from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.test_web_albums import add, make_album, set_taken
from tests.web.web_support import finish_analysis, tile_ids


@pytest.fixture
def album(app: Flask, alice: WebClient) -> tuple[str, list[str]]:
    """Alice's public album of three analysed images (newest upload first by date taken)."""
    shots = []
    for seed in range(3):
        image_id = alice.upload_id(samples.noisy_jpeg(seed + 81), title=f"shot {seed}")
        finish_analysis(app_services(app), image_id)
        shots.append(image_id)
    album_id = make_album(alice)
    add(alice, album_id, shots)
    form = {"title": "Summer", "description": "", "visibility": "public", "share_expires_on": ""}
    assert alice.post(f"/albums/{album_id}/edit", form).status_code == 302
    return album_id, shots


def test_every_change_shows_on_the_next_view(app: Flask, alice: WebClient, bob: WebClient,
                                             album: tuple[str, list[str]]) -> None:
    album_id, shots = album
    url = f"/albums/{album_id}"

    def seen(client: WebClient = alice) -> tuple[list[str], str]:
        page = client.get(url).get_data(as_text=True)
        return tile_ids(page), "3 images" if "3 images" in page else "2 images" if "2 images" in page else "?"

    assert seen() == ([shots[2], shots[1], shots[0]], "3 images") and seen(bob)[1] == "3 images"
    alice.post(f"/images/{shots[1]}/delete")  # to the trash
    assert seen() == ([shots[2], shots[0]], "2 images") and seen(bob) == ([shots[2], shots[0]], "2 images")
    alice.post(f"/images/{shots[1]}/restore")
    assert seen() == ([shots[2], shots[1], shots[0]], "3 images")
    set_taken(app, shots[2], datetime(1999, 1, 1, tzinfo=UTC))  # the worker read its EXIF late
    assert seen()[0] == [shots[1], shots[0], shots[2]] and seen(bob)[0] == [shots[1], shots[0], shots[2]]
    assert alice.post(f"{url}/remove", {"image_id": shots[0], "next": url}).status_code == 302
    assert seen() == ([shots[1], shots[2]], "2 images")
    add(alice, album_id, [shots[0]])
    assert seen() == ([shots[1], shots[0], shots[2]], "3 images")
    alice.post(f"/images/{shots[1]}/delete")
    alice.post(f"/images/{shots[1]}/purge")
    assert seen() == ([shots[0], shots[2]], "2 images") and seen(bob)[0] == [shots[0], shots[2]]


def test_the_owners_album_is_kept_under_their_stamp_until_an_album_write(
        app: Flask, alice: WebClient, bob: WebClient, album: tuple[str, list[str]]) -> None:
    """The owner's settled album document is kept in process (no album read per page):
    a change made behind the app's back is not seen by the owner, only by a visitor,
    and the next album write through the app shows everything at once."""
    album_id, shots = album
    url = f"/albums/{album_id}"
    for _ in range(2):  # the first view counts the album (settles it), the second keeps it
        assert "Summer" in alice.get(url).get_data(as_text=True)
    db = app_services(app).images.db
    db["albums"].update_one({"_id": ObjectId(album_id)}, {"$set": {"title": "Behind the back"}})
    assert "Summer" in alice.get(url).get_data(as_text=True)
    assert "Behind the back" in bob.get(url).get_data(as_text=True)  # visitors read it
    form = {"title": "Autumn", "description": "", "visibility": "public", "share_expires_on": ""}
    assert alice.post(f"{url}/edit", form).status_code == 302
    assert "Autumn" in alice.get(url).get_data(as_text=True)
    db["albums"].update_one({"_id": ObjectId(album_id)}, {"$set": {"title": "Behind again"}})
    assert alice.post(f"{url}/remove", {"image_id": shots[0], "next": url}).status_code == 302
    assert "Behind again" in alice.get(url).get_data(as_text=True)  # a membership write
    assert alice.post(f"{url}/delete").status_code == 302
    assert alice.get(url).status_code == 404
