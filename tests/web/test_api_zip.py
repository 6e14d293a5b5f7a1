"""Zip downloads (#12 item 4): POST /api/v1/images/zip streams the caller's originals.

Against real SecantusDB and MinIO: the zip holds the owner's untouched originals under
unique names; a form post (the grid's Download button) works like JSON; the selection
is bounded in count and bytes before anything is sent; others' images are refused; at
most ZIP_STREAMS zips stream per process. The stream itself is tested pure: an original
that cannot be read mid-way leaves an unfinished zip, never a complete-looking one.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable
from datetime import datetime

import pytest
from bson import ObjectId
from flask import Flask

from picsource_web.services import zipstream
from picsource_web.services.zipstream import ZipEntry, stream_zip, unique_names
from tests.support import images as samples
from tests.support.web import WebClient
from tests.web.api_support import ApiClient, assert_problem, token_for

ZIP = "/api/v1/images/zip"


@pytest.fixture
def api(app: Flask, alice: WebClient) -> ApiClient:
    return ApiClient(app, token_for(app, "alice"))


def _upload(api: ApiClient, seed: int, title: str) -> tuple[str, bytes]:
    data = samples.noisy_jpeg(seed)
    return api.upload_one(data, f"{seed}.jpg", title=title)["id"], data


def test_the_zip_holds_the_untouched_originals_under_unique_names(api: ApiClient) -> None:
    made = [_upload(api, 60 + n, title) for n, title in enumerate(["harbour", "harbour", "dusk"])]
    response = api.client.post(ZIP, json={"ids": [image_id for image_id, _ in made]}, headers=api.headers)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="picsource-')
    assert response.headers["Cache-Control"] == "private, no-store"
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    assert archive.testzip() is None
    assert archive.namelist() == ["harbour.jpg", "harbour (2).jpg", "dusk.jpg"]
    for info, (_, data) in zip(archive.infolist(), made, strict=True):
        assert info.compress_type == zipfile.ZIP_STORED
        assert hashlib.sha256(archive.read(info)).digest() == hashlib.sha256(data).digest()


def test_a_form_post_with_the_csrf_field_downloads_too(api: ApiClient, alice: WebClient) -> None:
    image_id, data = _upload(api, 70, "pier")
    response = alice.post(ZIP, {"ids": [image_id]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert zipfile.ZipFile(io.BytesIO(response.get_data())).read("pier.jpg") == data
    assert alice.post(ZIP, {"ids": [image_id]}, csrf=False).get_json()["code"] == "csrf_failed"


def test_others_images_and_missing_ones_are_refused_and_nobody_else_may_zip_mine(
        app: Flask, api: ApiClient, bob: WebClient) -> None:
    mine, _ = _upload(api, 71, "mine")
    api.patch(f"/api/v1/images/{mine}", {"visibility": "public"})
    bobs = ApiClient(app, token_for(app, "bob"))
    assert_problem(bobs.client.post(ZIP, json={"ids": [mine]}, headers=bobs.headers), 404, "not_found")
    assert_problem(api.client.post(ZIP, json={"ids": [mine, str(ObjectId())]}, headers=api.headers),
                   404, "not_found")
    assert_problem(ApiClient(app, None).client.post(ZIP, json={"ids": [mine]}), 401, "unauthorized")


def test_the_selection_is_bounded_before_anything_is_sent(make_app: Callable[..., Flask],
                                                          web_client: Callable[..., WebClient]) -> None:
    app = make_app(zip_max_bytes=1024**2)
    owner = web_client(app)
    owner.signup("carol")
    api = ApiClient(app, token_for(app, "carol"))
    big = samples.large_jpeg("coffee", size=(2400, 1800))
    assert 1024**2 // 2 < len(big) <= 1024**2  # each fits, the two together do not
    ids = [api.upload_one(big, "a.jpg")["id"], api.upload_one(samples.large_jpeg("coffee", (2400, 1800), 1))["id"]]
    assert api.client.post(ZIP, json={"ids": ids[:1]}, headers=api.headers).status_code == 200
    problem = assert_problem(api.client.post(ZIP, json={"ids": ids}, headers=api.headers),
                             413, "payload_too_large")
    assert problem["reason"] == "selection_too_large" and "MiB" in problem["detail"]
    assert_problem(api.client.post(ZIP, json={"ids": ids * 0}, headers=api.headers), 400, "validation_error")
    assert_problem(api.client.post(ZIP, json={"ids": [str(ObjectId())] * 501}, headers=api.headers),
                   400, "validation_error")
    assert_problem(api.client.post(ZIP, data=b"ids", headers={**api.headers, "Content-Type": "text/plain"}),
                   415, "unsupported_media_type")


def test_at_most_ZIP_STREAMS_zips_stream_at_once_and_slots_come_back(api: ApiClient) -> None:
    image_id, _ = _upload(api, 73, "one")
    held = [zipstream.reserve_stream() for _ in range(zipstream.ZIP_STREAMS)]
    try:
        problem = assert_problem(api.client.post(ZIP, json={"ids": [image_id]}, headers=api.headers),
                                 503, "service_unavailable")
        assert problem["reason"] == "busy"
    finally:
        for release in held:
            release()
            release()  # a second call must not free a slot that is not held
    for _ in range(zipstream.ZIP_STREAMS + 2):  # each finished download gives its slot back
        assert api.client.post(ZIP, json={"ids": [image_id]}, headers=api.headers).status_code == 200


# --- pure ------------------------------------------------------------------------------

def test_unique_names_number_repeats_before_the_extension_ignoring_case() -> None:
    assert unique_names(["a.jpg", "A.jpg", "a.jpg", "b", "b", "a (2).jpg"]) == \
        ["a.jpg", "A (2).jpg", "a (3).jpg", "b", "b (2)", "a (2) (2).jpg"]


def test_an_unreadable_original_leaves_an_unfinished_zip() -> None:
    def broken() -> bytes:
        raise OSError("storage went away")

    when = datetime(1975, 5, 1)  # before 1980: written as the zip format's first date
    stream = stream_zip([ZipEntry("a.jpg", when, lambda: b"A" * 1000), ZipEntry("b.jpg", when, broken)],
                        max_seconds=60)
    sent = next(stream)
    with pytest.raises(OSError, match="storage went away"):
        next(stream)
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(sent))


def test_a_stream_stops_at_its_time_bound() -> None:
    now = [0.0]
    entries = [ZipEntry(f"{n}.jpg", datetime(2024, 1, 1), lambda: b"x") for n in range(3)]

    def clock() -> float:
        now[0] += 40.0  # every check is 40 s later
        return now[0]

    stream = stream_zip(entries, max_seconds=100, clock=clock)
    next(stream)
    with pytest.raises(TimeoutError, match="100 s bound"):
        list(stream)


def test_download_names_take_core_s_extension_table() -> None:
    from picsource_web.services.present import download_name

    oid = ObjectId("0" * 24)
    assert download_name({"_id": oid, "format": "JPEG", "title": "Beach / day 1"}) == "Beach-day-1.jpg"
    assert download_name({"_id": oid, "format": "HEIF", "content_type": "image/heic", "title": "a"}) == "a.heic"
    assert download_name({"_id": oid, "format": "HEIF", "content_type": "image/heif", "title": "a"}) == "a.heif"
    assert download_name({"_id": oid, "format": "AVIF", "title": ""}) == f"image-{oid}.avif"
    assert download_name({"_id": oid, "format": "TIFF", "title": "x"}) == "x.bin"
