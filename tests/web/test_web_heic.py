"""iPhone photos (HEIC) and AVIF through the upload form and the API, on the real app with
real MinIO and SecantusDB: accepted by content, stored byte for byte, served with their own
type; fakes, truncated files and header bombs get a clear 4xx and store nothing."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from bson import ObjectId
from flask import Flask

from picsource_core.mongo import IMAGES
from picsource_web.importer import cli
from picsource_web.importer.files import IMAGE_EXTENSIONS
from tests.support import images as samples
from tests.support.http_server import AppServer
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, assert_problem, token_for
from tests.web.web_support import finish_analysis


def _doc(app: Flask, image_id: str) -> dict[str, Any]:
    doc = app_services(app).db[IMAGES].find_one({"_id": ObjectId(image_id)})
    assert doc is not None
    return doc


def _nothing_stored(app: Flask) -> bool:
    svc = app_services(app)
    return svc.db[IMAGES].count_documents({}) == 0 and list(svc.store.list_keys("")) == []


@pytest.mark.parametrize("as_json", [True, False], ids=["script", "no-script form"])
def test_a_heic_through_the_upload_form_is_kept_byte_for_byte_as_image_heic(
        app: Flask, alice: WebClient, as_json: bool) -> None:
    data = samples.camera_file("HEIF")
    response = alice.upload(data, "IMG_0042.HEIC", as_json=as_json)
    assert response.status_code in ((201,) if as_json else (302, 303)), response.get_data(as_text=True)
    doc = app_services(app).db[IMAGES].find_one({})
    assert doc is not None
    assert (doc["format"], doc["content_type"]) == ("HEIF", "image/heic")
    assert (doc["width"], doc["height"], doc["bytes"]) == (451, 300, len(data))
    assert doc["filename"] == "IMG_0042.HEIC"
    assert app_services(app).store.get_bytes(doc["original_key"]) == data


@pytest.mark.parametrize(("fmt", "name", "mime"), [
    ("HEIF", "IMG_0043.heic", "image/heic"), ("AVIF", "photo.avif", "image/avif"),
])
def test_the_api_accepts_heic_and_avif_with_their_own_type(
        app: Flask, alice: WebClient, fmt: str, name: str, mime: str) -> None:
    api = ApiClient(app, token_for(app, "alice"))
    body = api.upload_one(samples.camera_file(fmt), name)
    assert body["content_type"] == mime and (body["width"], body["height"]) == (451, 300)
    assert api.get(f"/api/v1/images/{body['id']}").get_json()["content_type"] == mime


def test_a_sideways_heic_reports_its_upright_size(app: Flask, alice: WebClient) -> None:
    """The phone stores 300x451 with "rotate 90" in the file; people see 451x300."""
    stored = samples.photo("chelsea").rotate(90, expand=True)
    image_id = alice.upload_id(samples.camera_file("HEIF", stored, orientation=6), "IMG.HEIC")
    doc = _doc(app, image_id)
    assert (doc["width"], doc["height"]) == (451, 300)


def test_the_owner_gets_the_heic_original_as_image_heic_from_the_proxy(
        make_app: Callable[..., Flask], web_client: Callable[..., WebClient]) -> None:
    app = make_app(proxy_images=True)
    client = web_client(app)
    client.signup("hana")
    data = samples.camera_file("HEIF")
    image_id = client.upload_id(data, "IMG_0044.HEIC")
    finish_analysis(app_services(app), image_id)
    original = client.get(f"/media/{image_id}/original")
    assert original.status_code == 200 and original.mimetype == "image/heic"
    assert original.data == data
    thumb = client.get(f"/media/{image_id}/1280")
    assert thumb.mimetype == "image/webp" and thumb.data[8:12] == b"WEBP"
    download = client.get(f"/media/{image_id}/original?download=1")
    assert ".heic" in download.headers["Content-Disposition"]


def test_a_presigned_heic_original_comes_from_storage_as_image_heic(
        app: Flask, alice: WebClient) -> None:
    data = samples.camera_file("HEIF")
    image_id = alice.upload_id(data, "IMG_0045.HEIC")
    finish_analysis(app_services(app), image_id)
    fetched = requests.get(alice.get(f"/media/{image_id}/original").headers["Location"], timeout=10)
    assert fetched.status_code == 200 and fetched.content == data
    assert fetched.headers["Content-Type"] == "image/heic"


def _bad(kind: str) -> bytes:
    heic = samples.heic(samples.noisy_image(9, (320, 240)))
    return {
        "random bytes": np.random.default_rng(11).bytes(5000),
        "heic header, random body": heic[:32] + np.random.default_rng(12).bytes(5000),
        "truncated heic": heic[: len(heic) // 2],
        "truncated avif": samples.camera_file("AVIF")[:600],
        "heic claiming 8000x8000": samples.heic_claiming(8000, 8000),
    }[kind]


BAD = [
    ("random bytes", 415, "unsupported_media_type", "Accepted formats: JPEG, PNG, WEBP, GIF, AVIF, HEIC/HEIF"),
    ("heic header, random body", 422, "corrupt_image", "looks like HEIC/HEIF but is damaged"),
    ("truncated heic", 422, "corrupt_image", "damaged or truncated"),
    ("truncated avif", 422, "corrupt_image", "looks like AVIF but is damaged"),
    ("heic claiming 8000x8000", 422, "image_too_large", "8000x8000 = 64,000,000 pixels"),
]


@pytest.mark.parametrize(("kind", "status", "code", "message"), BAD, ids=[b[0] for b in BAD])
def test_fake_truncated_and_bomb_heic_get_a_clear_4xx_and_store_nothing(
        app: Flask, alice: WebClient, kind: str, status: int, code: str, message: str) -> None:
    data = _bad(kind)
    form = alice.upload(data, "IMG_6666.HEIC")
    assert form.status_code == status, form.get_data(as_text=True)
    detail = form.get_json()["detail"]
    assert message in detail and "\n" not in detail
    html = alice.upload(data, "IMG_6666.HEIC", as_json=False)
    assert html.status_code == status and message in html.get_data(as_text=True)
    api = ApiClient(app, token_for(app, "alice")).upload((data, "IMG_6666.HEIC"))
    assert message in assert_problem(api, status, code)["detail"]
    assert _nothing_stored(app)


def test_the_upload_page_offers_heic_and_avif(alice: WebClient) -> None:
    page = alice.get("/upload").get_data(as_text=True)
    assert "HEIC/HEIF" in page and "AVIF" in page
    accept = page.split('accept="', 1)[1].split('"', 1)[0].split(",")
    assert {"image/heic", "image/heif", "image/avif", ".heic", ".heif", ".avif"} <= set(accept)


def test_the_api_document_names_heic_and_avif(app: Flask) -> None:
    upload = app.test_client().get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/images"]["post"]
    assert "HEIC/HEIF" in upload["description"] and "AVIF" in upload["description"]


def test_picsource_import_uploads_a_folder_of_iphone_photos(
        app: Flask, alice: WebClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert {".heic", ".heif", ".hif", ".avif"} <= IMAGE_EXTENSIONS
    files = {
        "DCIM/IMG_0001.HEIC": samples.heic(samples.noisy_image(1)),
        "DCIM/IMG_0002.heif": samples.heic(samples.noisy_image(2)),
        "DCIM/IMG_0003.avif": samples.encode(samples.noisy_image(3), "AVIF", quality=80),
        "DCIM/IMG_0004.HEIC": np.random.default_rng(4).bytes(3000),  # not a HEIC at all
    }
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    monkeypatch.setenv("PICSOURCE_TOKEN", token_for(app, "alice"))
    monkeypatch.delenv("PICSOURCE_URL", raising=False)
    out, err = io.StringIO(), io.StringIO()
    with AppServer(app) as server:
        code = cli.run(["import", str(tmp_path), "--url", server.url], out=out, err=err,
                       stdin=io.StringIO())
    assert code == cli.EXIT_OK, out.getvalue() + err.getvalue()
    types = {d["filename"]: d["content_type"] for d in app_services(app).db[IMAGES].find()}
    assert types == {"IMG_0001.HEIC": "image/heic", "IMG_0002.heif": "image/heic",
                     "IMG_0003.avif": "image/avif"}
    assert "skipped (unsupported): 1" in out.getvalue()
