"""GPS privacy in files (#12 item 7): the owner downloads the untouched original; another
user, an anonymous visitor and a share-link holder get it without its location (other
EXIF kept), in proxy and presigned mode, on pages, the API and downloads. Real MinIO and
SecantusDB; the files carry GPS in EXIF and the place in XMP."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from datetime import timedelta

import requests
from bson import ObjectId
from flask import Flask
from PIL import Image

from picsource_core.mongo import IMAGES
from picsource_core.storage import location_free_key
from picsource_web.services.uploads import sweep_orphans
from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, token_for
from tests.web.web_support import finish_analysis

GPS = 0x8825


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_location_free(data: bytes) -> None:
    """No GPS IFD and no XMP place, but the camera and the date are still there."""
    exif = Image.open(io.BytesIO(data)).getexif()
    assert exif.get_ifd(GPS) == {} and GPS not in exif
    assert exif[0x010F] == "Canon" and exif[0x0110] == "Canon EOS 5D Mark IV"
    assert exif.get_ifd(0x8769)[0x9003] == "2023:07:14 18:30:05"
    assert not any(place in data for place in samples.XMP_PLACES)


def _fetch(client: WebClient | ApiClient, url: str) -> bytes:
    """The bytes behind a media URL: streamed (proxy) or through its presigned redirect."""
    response = client.get(url)
    if response.status_code == 302:
        fetched = requests.get(response.headers["Location"], timeout=10)
        assert fetched.status_code == 200
        return fetched.content
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.data


def test_proxy_mode_owner_gets_the_original_others_the_copy(
        make_app: Callable[..., Flask], web_client: Callable[..., WebClient]) -> None:
    app = make_app(proxy_images=True)
    owner, other, anonymous = web_client(app), web_client(app), web_client(app)
    owner.signup("olga")
    other.signup("oscar")
    original = samples.located("JPEG")
    image_id = owner.upload_id(original, visibility="public")
    finish_analysis(app_services(app), image_id)
    mine = owner.get(f"/media/{image_id}/original")
    assert _sha(mine.data) == _sha(original)
    assert mine.headers["Cache-Control"].startswith("private") and "Cookie" in mine.headers["Vary"]
    for client in (other, anonymous):
        theirs = client.get(f"/media/{image_id}/original")
        assert theirs.status_code == 200 and theirs.mimetype == "image/jpeg"
        assert_location_free(theirs.data)
        assert theirs.headers["ETag"] != mine.headers["ETag"]
        assert theirs.headers["Cache-Control"].startswith("public")
        download = client.get(f"/media/{image_id}/original?download=1")
        assert download.headers["Content-Disposition"].startswith("attachment")
        assert_location_free(download.data)
    # The owner's cached copy is not "not modified" for someone else, nor the reverse.
    assert other.get(f"/media/{image_id}/original",
                     headers={"If-None-Match": mine.headers["ETag"]}).status_code == 200


def test_presigned_mode_share_link_page_and_api(app: Flask, alice: WebClient, bob: WebClient,
                                                web_client: Callable[..., WebClient]) -> None:
    original = samples.located("PNG")
    image_id = alice.upload_id(original, "photo.png", visibility="unlisted")
    finish_analysis(app_services(app), image_id)
    doc = app_services(app).db[IMAGES].find_one({"_id": ObjectId(image_id)})
    assert doc is not None and doc["location"] == "removed"
    token = doc["share_token"]
    owner_url = alice.get(f"/media/{image_id}/original").headers["Location"]
    assert "/originals/" in owner_url
    assert _sha(_fetch(alice, f"/media/{image_id}/original")) == _sha(original)
    holder = web_client()
    assert "without-location" in holder.get(f"/media/{image_id}/original?s={token}").headers["Location"]
    assert_location_free(_fetch(holder, f"/media/{image_id}/original?s={token}"))
    page = holder.get(f"/s/{token}").get_data(as_text=True)
    download = re.search(r'href="([^"]+)">Download original', page)
    assert download is not None
    fetched = requests.get(download.group(1).replace("&amp;", "&"), timeout=10)
    assert_location_free(fetched.content)
    assert bob.get(f"/media/{image_id}/original").status_code == 404  # unlisted, no token
    mine = ApiClient(app, token_for(app, "alice")).get(f"/api/v1/images/{image_id}").get_json()
    assert _sha(requests.get(mine["urls"]["original"], timeout=10).content) == _sha(original)


def test_the_api_gives_other_users_the_copy(app: Flask, alice: WebClient, bob: WebClient) -> None:
    original = samples.located("WEBP")
    image_id = alice.upload_id(original, "photo.webp", visibility="public")
    finish_analysis(app_services(app), image_id)
    api = ApiClient(app, token_for(app, "bob"))
    body = api.get(f"/api/v1/images/{image_id}").get_json()
    fetched = requests.get(body["urls"]["original"], timeout=10)
    assert fetched.status_code == 200
    assert_location_free(fetched.content)
    listed = api.get("/api/v1/images?scope=public").get_json()["items"]
    assert [item["urls"]["original"] for item in listed if item["id"] == image_id] == [body["urls"]["original"]]
    assert_location_free(_fetch(api, f"/media/{image_id}/original"))


def test_an_image_without_location_is_served_as_it_is(app: Flask, alice: WebClient, bob: WebClient) -> None:
    original = samples.jpeg()
    image_id = alice.upload_id(original, visibility="public")
    svc = app_services(app)
    assert not svc.store.exists(location_free_key(image_id))
    assert svc.db[IMAGES].find_one({"_id": ObjectId(image_id)})["location"] == "none"
    assert _fetch(bob, f"/media/{image_id}/original") == original


def test_an_unchecked_image_is_withheld_from_others_until_the_worker_checks_it(
        make_app: Callable[..., Flask], web_client: Callable[..., WebClient]) -> None:
    app = make_app(proxy_images=True)
    owner, other = web_client(app), web_client(app)
    owner.signup("uma")
    other.signup("ursula")
    original = samples.located("JPEG")
    image_id = owner.upload_id(original, visibility="public")
    svc = app_services(app)
    finish_analysis(svc, image_id)
    # As if uploaded before this change: no location state, no copy.
    svc.db[IMAGES].update_one({"_id": ObjectId(image_id)}, {"$unset": {"location": ""}})
    svc.store.delete(location_free_key(image_id))
    refused = other.get(f"/media/{image_id}/original")
    assert refused.status_code == 404 and "Only the owner" in refused.get_data(as_text=True)
    assert other.get(f"/media/{image_id}/1280").status_code == 200  # re-encoded, no metadata
    assert "Download original" not in other.get(f"/images/{image_id}").get_data(as_text=True)
    assert owner.get(f"/media/{image_id}/original").data == original


def test_purge_and_the_orphan_sweep_remove_the_copy(app: Flask, alice: WebClient) -> None:
    image_id = alice.upload_id(samples.located("JPEG"))
    svc = app_services(app)
    assert svc.store.exists(location_free_key(image_id))
    assert alice.post(f"/images/{image_id}/delete").status_code == 302
    assert alice.post(f"/images/{image_id}/purge").status_code == 302
    assert not svc.store.exists(location_free_key(image_id))
    stray = location_free_key(ObjectId())
    svc.store.put_bytes(stray, b"left by a crash")
    swept = sweep_orphans(svc.images, timedelta(0))
    assert stray in swept.removed and not svc.store.exists(stray)


def test_location_that_cannot_be_removed_keeps_the_original_from_others(
        app: Flask, alice: WebClient, bob: WebClient) -> None:
    original = samples.motion_photo()
    image_id = alice.upload_id(original, visibility="public")
    svc = app_services(app)
    finish_analysis(svc, image_id)
    assert svc.db[IMAGES].find_one({"_id": ObjectId(image_id)})["location"] == "withheld"
    refused = bob.get(f"/media/{image_id}/original?download=1")
    assert refused.status_code == 404 and "Only the owner" in refused.get_data(as_text=True)
    assert bob.get(f"/media/{image_id}/1280").status_code == 302  # the re-encoded variants stay
    api = ApiClient(app, token_for(app, "bob")).get(f"/api/v1/images/{image_id}").get_json()
    assert api["urls"]["original"] is None and api["urls"]["large"]
    assert _fetch(alice, f"/media/{image_id}/original") == original


def test_a_failed_upload_removes_the_copy_too(make_app: Callable[..., Flask],
                                              web_client: Callable[..., WebClient]) -> None:
    """A real write failure (the share token collides with an existing image's): neither
    the original nor its location-free copy stays behind."""
    app = make_app(share_token_factory=lambda: "always-the-same-token")
    client = web_client(app)
    client.signup("sam")
    client.upload_id(samples.jpeg())
    assert client.upload(samples.located("JPEG")).status_code == 503
    store = app_services(app).store
    assert list(store.list_keys("without-location/")) == []
    assert len(list(store.list_keys("originals/"))) == 1
