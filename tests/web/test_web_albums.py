"""Albums (#12 item 1) in the browser's pages: create, tick images in the grid and add them,
add from the image page, sort and page an album, rename, cover, remove, delete; trash and
purge as albums see them.

Deleting an album never deletes an image; a trashed image leaves its albums' pages until
restored; a purged one leaves its albums for good.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from bson import ObjectId
from flask import Flask

from picsource_core.albums import MAX_IDS_PER_CALL
from picsource_core.image_documents import ImageDocuments
from picsource_core.mongo import ALBUM_IMAGES, ALBUMS, IMAGES
from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.web_support import finish_analysis, tile_ids

_ALBUM_LINK = re.compile(r"^/albums/([0-9a-f]{24})$")


@pytest.fixture
def shots(app: Flask, alice: WebClient) -> list[str]:
    """Alice's four analysed private images, uploaded in this order."""
    made = []
    for seed, title in enumerate(("river", "forest", "harbour", "market")):
        image_id = alice.upload_id(samples.noisy_jpeg(seed + 41), title=title)
        finish_analysis(app_services(app), image_id)
        made.append(image_id)
    return made


def make_album(client: WebClient, title: str = "Summer") -> str:
    response = client.post("/albums", {"title": title})
    assert response.status_code == 302, response.get_data(as_text=True)
    match = _ALBUM_LINK.match(response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def add(client: WebClient, album_id: str, ids: list[str], **extra: str) -> str:
    response = client.post("/albums/add", {"album_id": album_id, "image_id": ids, **extra})
    assert response.status_code == 302, response.get_data(as_text=True)
    return str(response.headers["Location"])


def set_taken(app: Flask, image_id: str, when: datetime) -> None:
    """What the worker writes when EXIF names a capture time."""
    ImageDocuments(app_services(app).db).apply_analysis(ObjectId(image_id), {"taken_at": when})


def test_tick_in_the_grid_then_add_to_a_new_album(alice: WebClient, shots: list[str]) -> None:
    grid = alice.get("/").get_data(as_text=True)
    assert 'id="grid-selection"' in grid and 'action="/albums/pick"' in grid
    boxes = re.findall(r'name="image_id" value="([0-9a-f]{24})" form="grid-selection"', grid)
    assert sorted(boxes) == sorted(shots)  # a box on every tile, filled in the cached tiles too
    picked = alice.post("/albums/pick", {"image_id": shots[:2], "next": "/"})
    page = picked.get_data(as_text=True)
    assert picked.status_code == 200 and "Add 2 images to an album" in page
    assert sorted(re.findall(r'name="image_id" value="([0-9a-f]{24})"', page)) == sorted(shots[:2])
    done = alice.post("/albums/add", {"album_id": "", "new_title": "Trip", "image_id": shots[:2]})
    album_id = _ALBUM_LINK.match(done.headers["Location"]).group(1)  # type: ignore[union-attr]
    page = alice.get(f"/albums/{album_id}").get_data(as_text=True)
    assert sorted(tile_ids(page)) == sorted(shots[:2]) and "2 images" in page
    albums = alice.get("/albums").get_data(as_text=True)
    assert "Trip" in albums and "2 images" in albums
    # with an album chosen and a new title typed, the title wins: a second album
    alice.post("/albums/add", {"album_id": album_id, "new_title": "Later", "image_id": shots[3:]})
    cards = alice.get("/albums").get_data(as_text=True)
    assert "Later" in cards and "1 image" in cards and "2 images" in cards


def test_album_pages_sort_by_date_taken_or_added_and_page_by_cursor(app: Flask, alice: WebClient,
                                                                     shots: list[str]) -> None:
    album_id = make_album(alice)
    for image_id in (shots[2], shots[0], shots[3], shots[1]):  # added in this order
        add(alice, album_id, [image_id])
    set_taken(app, shots[3], datetime(2001, 6, 1, tzinfo=UTC))  # the market is an old photo
    newest_taken = [shots[2], shots[1], shots[0], shots[3]]
    assert tile_ids(alice.get(f"/albums/{album_id}").get_data(as_text=True)) == newest_taken
    oldest_added = tile_ids(alice.get(f"/albums/{album_id}?sort=added&order=oldest").get_data(as_text=True))
    assert oldest_added == [shots[2], shots[0], shots[3], shots[1]]
    form = alice.get(f"/albums/{album_id}?sort=added&order=oldest").get_data(as_text=True)
    assert '<option value="added" selected>Date added</option>' in form
    assert '<option value="oldest" selected>Oldest first</option>' in form
    seen, url = [], f"/albums/{album_id}?limit=3"
    while url:
        page = alice.get(url).get_data(as_text=True)
        seen += tile_ids(page)
        more = re.search(r'href="([^"]+)" rel="next"', page)
        url = more.group(1).replace("&amp;", "&") if more else ""
    assert seen == newest_taken
    assert alice.get(f"/albums/{album_id}?sort=sideways").status_code == 400
    assert alice.get(f"/albums/{album_id}?cursor=nope").status_code == 400


def test_image_page_adds_removes_and_sets_the_cover(app: Flask, alice: WebClient, shots: list[str]) -> None:
    first = shots[0]
    page = alice.get(f"/images/{first}").get_data(as_text=True)
    assert "data-image-albums" in page and "In no album yet." in page
    back = add(alice, "", [first], new_title="Walks", next=f"/images/{first}")
    assert back == f"/images/{first}"
    album = app_services(app).db[ALBUMS].find_one({"title": "Walks"})
    album_id = str(album["_id"])  # type: ignore[index]
    add(alice, album_id, [shots[1]])
    assert alice.post(f"/albums/{album_id}/cover", {"image_id": first}).status_code == 302
    cards = alice.get("/albums").get_data(as_text=True)
    assert "2 images" in cards
    assert app_services(app).db[ALBUMS].find_one({"_id": ObjectId(album_id)})["cover_image_id"] \
        == ObjectId(first)  # type: ignore[index]
    assert alice.post(f"/albums/{album_id}/cover", {"image_id": shots[3]}).status_code == 400
    assert "Make cover" not in alice.get(f"/images/{first}").get_data(as_text=True).split("Walks")[1][:400]
    removed = alice.post(f"/albums/{album_id}/remove", {"image_id": first, "next": f"/images/{first}"})
    assert removed.headers["Location"] == f"/images/{first}"
    assert tile_ids(alice.get(f"/albums/{album_id}").get_data(as_text=True)) == [shots[1]]
    assert app_services(app).db[ALBUMS].find_one({"_id": ObjectId(album_id)})["cover_image_id"] is None  # type: ignore[index]


def test_edit_and_delete_an_album_keeps_its_images(app: Flask, alice: WebClient, shots: list[str]) -> None:
    album_id = make_album(alice)
    add(alice, album_id, shots)
    form = {"title": "Autumn", "description": "Leaves", "visibility": "unlisted", "share_expires_on": ""}
    assert alice.post(f"/albums/{album_id}/edit", form).status_code == 302
    page = alice.get(f"/albums/{album_id}").get_data(as_text=True)
    assert "Autumn" in page and "Leaves" in page and "data-album-share-url" in page
    bad = alice.post(f"/albums/{album_id}/edit", {**form, "title": ""})
    assert bad.status_code == 400 and "an album needs a title" in bad.get_data(as_text=True)
    past = alice.post(f"/albums/{album_id}/edit", {**form, "share_expires_on": "2001-01-01"})
    assert past.status_code == 400 and "today" in past.get_data(as_text=True)
    assert alice.post(f"/albums/{album_id}/delete").headers["Location"] == "/albums"
    assert alice.get(f"/albums/{album_id}").status_code == 404
    svc = app_services(app)
    assert svc.db[IMAGES].count_documents({}) == 4 and svc.db[ALBUM_IMAGES].count_documents({}) == 0
    assert sorted(tile_ids(alice.get("/").get_data(as_text=True))) == sorted(shots)


def test_trash_hides_an_image_from_its_albums_until_restored_and_purge_removes_it(
        app: Flask, alice: WebClient, shots: list[str]) -> None:
    album_id = make_album(alice)
    add(alice, album_id, shots[:3])
    alice.post(f"/images/{shots[0]}/delete")
    page = alice.get(f"/albums/{album_id}").get_data(as_text=True)
    assert shots[0] not in tile_ids(page) and "2 images" in page
    alice.post(f"/images/{shots[0]}/restore")
    assert shots[0] in tile_ids(alice.get(f"/albums/{album_id}").get_data(as_text=True))
    alice.post(f"/images/{shots[1]}/delete")
    alice.post(f"/images/{shots[1]}/purge")
    assert app_services(app).db[ALBUM_IMAGES].count_documents({"image_id": ObjectId(shots[1])}) == 0
    assert sorted(tile_ids(alice.get(f"/albums/{album_id}").get_data(as_text=True))) == sorted(
        [shots[0], shots[2]])


def test_bad_selections_are_refused_or_named(app: Flask, alice: WebClient, bob: WebClient,
                                             shots: list[str]) -> None:
    album_id = make_album(alice)
    too_many = [str(ObjectId()) for _ in range(MAX_IDS_PER_CALL + 1)]
    response = alice.post("/albums/add", {"album_id": album_id, "image_id": too_many})
    assert response.status_code == 400 and "at most 500" in response.get_data(as_text=True)
    assert alice.post("/albums/add", {"album_id": album_id, "image_id": ["x" * 24]}).status_code == 400
    nothing = alice.post("/albums/pick", {"next": "/favourites"})
    assert nothing.status_code == 302 and nothing.headers["Location"] == "/favourites"
    assert app_services(app).db[ALBUM_IMAGES].count_documents({}) == 0
    # bob's image among alice's: hers are added, his is skipped and said so
    bobs = bob.upload_id(samples.noisy_jpeg(77))
    add(alice, album_id, [shots[0], bobs])
    page = alice.get(f"/albums/{album_id}").get_data(as_text=True)
    assert tile_ids(page) == [shots[0]] and "1 image was skipped" in page
    # bob cannot touch alice's album, and unknown albums are 404 for everyone
    for url in (f"/albums/{album_id}/edit", f"/albums/{album_id}", f"/albums/{ObjectId()}", "/albums/nope"):
        assert bob.get(url).status_code == 404, url
    for action in ("delete", "share-link", "cover", "remove"):
        assert bob.post(f"/albums/{album_id}/{action}", {"image_id": shots[0]}).status_code == 404, action
    assert bob.post("/albums/add", {"album_id": album_id, "image_id": [bobs]}).status_code == 404
    assert app_services(app).db[ALBUMS].count_documents({}) == 1
    assert tile_ids(alice.get(f"/albums/{album_id}").get_data(as_text=True)) == [shots[0]]
