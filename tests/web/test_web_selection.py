"""The grid's selection bar (#12 item 4, pages): POST /selection with the ticked tiles.

A plain form post, as the page sends it without JavaScript: ``image_id`` per ticked tile
and the pressed button's ``action``. Same rules as the bulk API (checked whole, then
applied), answered the way pages answer: a message and a redirect, or an HTML error page.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from bson import ObjectId
from flask import Flask

from picsource_core.mongo import IMAGES
from tests.support import images as samples
from tests.support.web import WebClient, app_services


@pytest.fixture
def ticked(alice: WebClient) -> list[str]:
    return [alice.upload_id(samples.noisy_jpeg(90 + n), f"p{n}.jpg", title=f"pier {n}") for n in range(3)]


def _docs(app: Flask, ids: list[str]) -> list[dict[str, Any]]:
    return [app_services(app).db[IMAGES].find_one({"_id": ObjectId(i)}) for i in ids]


def _flashes(client: WebClient, url: str) -> str:
    return client.get(url).get_data(as_text=True)


def test_favourite_the_ticked_images_and_come_back(app: Flask, alice: WebClient, ticked: list[str]) -> None:
    alice.post(f"/images/{ticked[0]}/favourite", {"favourite": "1"})
    response = alice.post("/selection", {"image_id": ticked, "action": "favourite", "next": "/?limit=5"})
    assert response.status_code == 302 and response.headers["Location"] == "/?limit=5"
    assert [doc["favourite"] for doc in _docs(app, ticked)] == [True, True, True]
    page = _flashes(alice, "/?limit=5")
    assert "Added 2 images to your favourites. 1 already was." in page


def test_visibility_tags_and_trash_from_the_bar(app: Flask, alice: WebClient, ticked: list[str]) -> None:
    alice.post("/selection", {"image_id": ticked[:2], "action": "set_visibility", "visibility": "public"})
    assert [doc["visibility"] for doc in _docs(app, ticked)] == ["public", "public", "private"]
    alice.post("/selection", {"image_id": ticked, "action": "add_tags", "tags": "Sea, evening"})
    assert [doc["tags"] for doc in _docs(app, ticked)] == [["sea", "evening"]] * 3
    alice.post("/selection", {"image_id": ticked[1:], "action": "trash"})
    assert "Moved 2 images to the trash." in _flashes(alice, "/")
    alice.post("/selection", {"image_id": ticked[1:], "action": "restore", "next": "/trash"})
    assert [doc.get("trashed_at") for doc in _docs(app, ticked)] == [None, None, None]


def test_download_streams_the_zip(alice: WebClient, ticked: list[str]) -> None:
    response = alice.post("/selection", {"image_id": ticked[:2], "action": "download"})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(response.get_data())).namelist() == ["pier-0.jpg", "pier-1.jpg"]


def test_nothing_ticked_says_so(alice: WebClient, ticked: list[str]) -> None:
    response = alice.post("/selection", {"action": "trash", "next": "/"})
    assert response.status_code == 302
    assert "Tick one or more images first." in _flashes(alice, "/")


def test_bad_selections_get_an_html_error_and_change_nothing(
        app: Flask, alice: WebClient, bob: WebClient, ticked: list[str]) -> None:
    theirs = bob.upload_id(samples.noisy_jpeg(99), visibility="public")
    refused = alice.post("/selection", {"image_id": [*ticked, theirs], "action": "archive"})
    assert refused.status_code == 404 and refused.mimetype == "text/html"
    assert "Nothing was changed" in refused.get_data(as_text=True)
    assert [doc.get("archived", False) for doc in _docs(app, ticked)] == [False, False, False]
    assert alice.post("/selection", {"image_id": ticked, "action": "paint"}).status_code == 400
    assert alice.post("/selection", {"image_id": ["../etc"], "action": "trash"}).status_code == 400
    assert alice.post("/selection", {"image_id": ticked, "action": "trash"}, csrf=False).status_code in (400, 403)
    assert [doc.get("trashed_at") for doc in _docs(app, ticked)] == [None, None, None]


def test_only_signed_in_users_have_a_selection(app: Flask, web_client: Any, ticked: list[str]) -> None:
    stranger = web_client()
    assert stranger.post("/selection", {"image_id": ticked, "action": "trash"}).status_code == 401
    assert [doc.get("trashed_at") for doc in _docs(app, ticked)] == [None, None, None]


def test_each_session_gets_its_own_token_and_way_back_in_a_cached_grid(
        app: Flask, alice: WebClient, web_client: Any, ticked: list[str]) -> None:
    """The grid's content is cached per page and URL, not per session: the selection form
    (and the trash's "Empty trash" form) still carry the token of the session that asks,
    and a second session's post from its page works."""
    other = web_client()
    assert other.login(alice.username or "").status_code == 302
    for client in (alice, other, alice, other):
        page = client.get("/?limit=2").get_data(as_text=True)
        form = page[page.index('id="grid-selection"'):]
        assert f'name="csrf_token" value="{client.csrf()}"' in form[:form.index("</form>")]
        assert 'name="next" value="/?limit=2"' in form
    assert alice.csrf() != other.csrf()
    back = other.post("/selection", {"image_id": ticked[:1], "action": "favourite", "next": "/?limit=2"})
    assert back.status_code == 302 and back.headers["Location"] == "/?limit=2"
    alice.post("/selection", {"image_id": ticked[1:2], "action": "trash", "next": "/"})
    for client in (alice, other):
        trash = client.get("/trash").get_data(as_text=True)
        assert f'name="csrf_token" value="{client.csrf()}"' in trash[:trash.index("Empty trash")]


def test_a_title_that_looks_like_a_slot_is_shown_as_written(alice: WebClient) -> None:
    """Cached pages fill their slots per request; text a user wrote (an image title, the
    search words) can never be one, so it is never replaced by the session's token."""
    title = "<!--csrf slot--> @@csrf@@ <!--back slot--> @@back@@"
    shown = 'title="&lt;!--csrf slot--&gt; @@csrf@@ &lt;!--back slot--&gt; @@back@@"'
    alice.upload_id(samples.noisy_jpeg(97), "slot.jpg", title=title)
    for url in ("/", "/?limit=3"):
        assert shown in alice.get(url).get_data(as_text=True)
    searched = alice.get("/search", query_string={"q": "@@csrf@@ @@back@@"}).get_data(as_text=True)
    assert 'value="@@csrf@@ @@back@@"' in searched
