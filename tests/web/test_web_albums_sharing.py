"""Who sees an album (#12 item 1): owner, another user, anonymous and a share-link holder, on
the album pages, the album's image pages and the media route, in presigned and proxy mode.

An album's link (or a public album) opens that album's images and no other: its grant
never reaches the owner's other images, trashed members vanish from it, the link can be
rotated, expires after its last day (410 page), and downloads follow the album's switch.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from bson import ObjectId
from flask import Flask

from picsource_core.mongo import ALBUMS
from picsource_core.queue import utcnow
from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.test_web_albums import add, make_album
from tests.web.web_support import finish_analysis, tile_ids

_MEDIA = re.compile(r'src="(/media/[0-9a-f]{24}/256\?s=[^"]+)"')


@pytest.fixture(params=[False, True], ids=["presigned", "proxy"])
def app(request: pytest.FixtureRequest, make_app: Callable[..., Flask]) -> Flask:
    return make_app(proxy_images=request.param)


@pytest.fixture
def shots(app: Flask, alice: WebClient) -> dict[str, str]:
    """Alice's analysed images: "in1" and "in2" go in the album; "secret" (private) and
    "open" (public) stay out of it."""
    made = {}
    for seed, (title, visibility) in enumerate((("in1", "private"), ("in2", "private"),
                                                ("secret", "private"), ("open", "public"))):
        made[title] = alice.upload_id(samples.noisy_jpeg(seed + 61), title=title, visibility=visibility)
        finish_analysis(app_services(app), made[title])
    return made


def _album(app: Flask, alice: WebClient, shots: dict[str, str], **fields: str) -> tuple[str, str]:
    """An album holding in1 and in2 with the given settings: (album id, link token)."""
    album_id = make_album(alice, "Holiday")
    add(alice, album_id, [shots["in1"], shots["in2"]])
    form = {"title": "Holiday", "description": "", "visibility": "private", "share_expires_on": "",
            **fields}
    assert alice.post(f"/albums/{album_id}/edit", form).status_code == 302
    album = app_services(app).db[ALBUMS].find_one({"_id": ObjectId(album_id)})
    return album_id, str(album["share_token"])  # type: ignore[index]


def _grants(app: Flask, album_id: str, token: str) -> tuple[str, str]:
    return f"a.{album_id}.{token}", f"a.{album_id}"


def test_a_private_album_is_its_owners_alone(app: Flask, alice: WebClient, bob: WebClient,
                                             web_client: Callable[[], WebClient], shots: dict[str, str]) -> None:
    album_id, token = _album(app, alice, shots)
    assert alice.get(f"/albums/{album_id}").status_code == 200
    link, public = _grants(app, album_id, token)
    for name, client in {"bob": bob, "anonymous": web_client()}.items():
        for url in (f"/albums/{album_id}", f"/a/{token}", f"/albums/{album_id}/images/{shots['in1']}",
                    f"/a/{token}/images/{shots['in1']}", f"/media/{shots['in1']}/256?s={link}",
                    f"/media/{shots['in1']}/original?s={public}"):
            assert client.get(url).status_code == 404, (name, url)


def test_a_share_link_opens_that_albums_images_only(app: Flask, alice: WebClient, bob: WebClient,
                                                    web_client: Callable[[], WebClient],
                                                    shots: dict[str, str]) -> None:
    album_id, token = _album(app, alice, shots, visibility="unlisted")
    link, _ = _grants(app, album_id, token)
    anonymous = web_client()
    for name, client in {"bob": bob, "anonymous": anonymous}.items():
        page = client.get(f"/a/{token}")
        html = page.get_data(as_text=True)
        assert page.status_code == 200, name
        assert sorted(tile_ids(html)) == sorted([shots["in1"], shots["in2"]])
        assert shots["secret"] not in html and 'href="/images/' not in html  # no way out
        assert 'form="album-selection"' not in html and "Delete album" not in html  # read-only
        assert client.get(f"/albums/{album_id}").status_code == 404  # unlisted: the link only
        if app_services(app).settings.proxy_images:  # thumbnails through the media route
            thumbs = _MEDIA.findall(html)
            assert len(thumbs) == 2 and all(client.get(u.replace("&amp;", "&")).status_code == 200 for u in thumbs)
        for image_id in (shots["in1"], shots["in2"]):
            assert client.get(f"/a/{token}/images/{image_id}").status_code == 200
            for variant in ("256", "1280", "original"):
                assert client.get(f"/media/{image_id}/{variant}?s={link}").status_code in (200, 302)
        # the grant reaches nothing else of alice's: not a private image, not even a public one
        for other in (shots["secret"], shots["open"], str(ObjectId()), "nope"):
            assert client.get(f"/a/{token}/images/{other}").status_code == 404, (name, other)
            assert client.get(f"/media/{other}/256?s={link}").status_code == 404, (name, other)
        assert client.get(f"/media/{shots['secret']}/original?s={link}").status_code == 404
        assert client.get(f"/s/{token}").status_code == 404  # not an image share token either
        assert client.get(f"/media/{shots['in1']}/256?s={token}").status_code == 404
        assert client.get(f"/images/{shots['in1']}/status?s={link}").status_code == 404
        assert client.get(f"/media/{shots['in1']}/256?s=a.{album_id}.wrong").status_code == 404
        assert client.get(f"/media/{shots['in1']}/256?s=a.{album_id}").status_code == 404  # not public


def test_a_public_album_is_open_to_all_and_grants_only_its_images(
        app: Flask, alice: WebClient, bob: WebClient, web_client: Callable[[], WebClient],
        shots: dict[str, str]) -> None:
    album_id, _ = _album(app, alice, shots, visibility="public")
    _, public = _grants(app, album_id, "")
    for client in (bob, web_client()):
        html = client.get(f"/albums/{album_id}").get_data(as_text=True)
        assert sorted(tile_ids(html)) == sorted([shots["in1"], shots["in2"]])
        assert client.get(f"/albums/{album_id}/images/{shots['in2']}").status_code == 200
        assert client.get(f"/media/{shots['in2']}/1280?s={public}").status_code in (200, 302)
        assert client.get(f"/albums/{album_id}/images/{shots['secret']}").status_code == 404
        assert client.get(f"/media/{shots['secret']}/1280?s={public}").status_code == 404
        assert client.get(f"/images/{shots['in1']}").status_code == 404  # still a private image
        assert client.post(f"/albums/{album_id}/delete").status_code in (401, 404)


def test_trashed_members_vanish_from_shared_views(app: Flask, alice: WebClient,
                                                  web_client: Callable[[], WebClient],
                                                  shots: dict[str, str]) -> None:
    album_id, token = _album(app, alice, shots, visibility="unlisted")
    link, _ = _grants(app, album_id, token)
    anonymous = web_client()
    alice.post(f"/images/{shots['in1']}/delete")
    assert tile_ids(anonymous.get(f"/a/{token}").get_data(as_text=True)) == [shots["in2"]]
    assert anonymous.get(f"/a/{token}/images/{shots['in1']}").status_code == 404
    assert anonymous.get(f"/media/{shots['in1']}/256?s={link}").status_code == 404
    alice.post(f"/images/{shots['in1']}/restore")
    assert shots["in1"] in tile_ids(anonymous.get(f"/a/{token}").get_data(as_text=True))


def test_rotating_or_making_private_kills_the_old_link(app: Flask, alice: WebClient,
                                                       web_client: Callable[[], WebClient],
                                                       shots: dict[str, str]) -> None:
    album_id, token = _album(app, alice, shots, visibility="unlisted")
    anonymous = web_client()
    assert alice.post(f"/albums/{album_id}/share-link").status_code == 302
    assert anonymous.get(f"/a/{token}").status_code == 404
    assert anonymous.get(f"/media/{shots['in1']}/256?s=a.{album_id}.{token}").status_code == 404
    fresh = str(app_services(app).db[ALBUMS].find_one({"_id": ObjectId(album_id)})["share_token"])  # type: ignore[index]
    assert anonymous.get(f"/a/{fresh}").status_code == 200
    alice.post(f"/albums/{album_id}/edit", {"title": "Holiday", "visibility": "private"})
    assert anonymous.get(f"/a/{fresh}").status_code == 404


def test_an_expired_link_says_so(app: Flask, alice: WebClient, web_client: Callable[[], WebClient],
                                 shots: dict[str, str]) -> None:
    today = utcnow().date().isoformat()
    album_id, token = _album(app, alice, shots, visibility="unlisted", share_expires_on=today)
    anonymous = web_client()
    assert anonymous.get(f"/a/{token}").status_code == 200  # all of its last day
    albums = app_services(app).albums
    albums.clock = lambda: utcnow() + timedelta(days=1)  # the day after
    gone = anonymous.get(f"/a/{token}")
    assert gone.status_code == 410 and "This album link has expired" in gone.get_data(as_text=True)
    assert anonymous.get(f"/a/{token}/images/{shots['in1']}").status_code == 410
    assert anonymous.get(f"/media/{shots['in1']}/256?s=a.{album_id}.{token}").status_code == 404
    assert alice.get(f"/albums/{album_id}").status_code == 200  # the owner still has it


def test_downloads_follow_the_albums_switch(app: Flask, alice: WebClient,
                                            web_client: Callable[[], WebClient], shots: dict[str, str]) -> None:
    album_id, token = _album(app, alice, shots, visibility="unlisted")
    link = f"a.{album_id}.{token}"
    anonymous = web_client()
    page = anonymous.get(f"/a/{token}/images/{shots['in1']}").get_data(as_text=True)
    assert "data-download" not in page and "data-original" in page
    refused = anonymous.get(f"/media/{shots['in1']}/original?s={link}&download=1")
    assert refused.status_code == 403 and "turned downloads off" in refused.get_data(as_text=True)
    assert alice.get(f"/media/{shots['in1']}/original?s={link}&download=1").status_code in (200, 302)
    alice.post(f"/albums/{album_id}/edit", {"title": "Holiday", "visibility": "unlisted",
                                             "allow_download": "1"})
    assert "data-download" in anonymous.get(f"/a/{token}/images/{shots['in1']}").get_data(as_text=True)
    assert anonymous.get(f"/media/{shots['in1']}/original?s={link}&download=1").status_code in (200, 302)
