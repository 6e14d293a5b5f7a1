"""Image bytes: presigned URLs against a private bucket, proxy mode with ETag/304, delete."""

from __future__ import annotations

from collections.abc import Callable

import requests
from bson import ObjectId
from flask import Flask

from picsource_core.mongo import IMAGES, JOBS
from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.web_support import finish_analysis


def test_presigned_urls_work_and_the_bucket_stays_private(app: Flask, alice: WebClient) -> None:
    data = samples.jpeg()
    image_id = alice.upload_id(data)
    finish_analysis(app_services(app), image_id)
    redirect = alice.get(f"/media/{image_id}/original")
    assert redirect.status_code == 302
    url = redirect.headers["Location"]
    assert "X-Amz-Expires=300" in url  # a private image: PRESIGN_PRIVATE_SECONDS
    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200 and fetched.content == data
    unsigned = requests.get(url.split("?", 1)[0], timeout=10)
    assert unsigned.status_code == 403  # private bucket: no anonymous reads
    download = alice.get(f"/media/{image_id}/original?download=1").headers["Location"]
    assert "attachment" in requests.get(download, timeout=10).headers["Content-Disposition"]
    thumb = requests.get(alice.get(f"/media/{image_id}/256").headers["Location"], timeout=10)
    assert thumb.status_code == 200 and thumb.content[8:12] == b"WEBP"


def test_presign_lifetime_is_configurable(make_app: Callable[..., Flask],
                                          web_client: Callable[..., WebClient]) -> None:
    client = web_client(make_app(presign_seconds=120))
    client.signup("pat")
    image_id = client.upload_id(samples.jpeg())
    assert "X-Amz-Expires=120" in client.get(f"/media/{image_id}/original").headers["Location"]


def test_proxy_mode_streams_bytes_with_etag_and_304(make_app: Callable[..., Flask],
                                                    web_client: Callable[..., WebClient]) -> None:
    app = make_app(proxy_images=True)
    client = web_client(app)
    client.signup("penny")
    data = samples.jpeg()
    image_id = client.upload_id(data, visibility="public")
    finish_analysis(app_services(app), image_id)
    page = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert f'src="/media/{image_id}/1280' in page and "X-Amz" not in page
    response = client.get(f"/media/{image_id}/original")
    assert response.status_code == 200 and response.data == data
    assert response.mimetype == "image/jpeg"
    etag = response.headers["ETag"]
    assert etag and "max-age" in response.headers["Cache-Control"]
    assert response.headers["Cache-Control"].startswith("public")
    cached = client.get(f"/media/{image_id}/original", headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.data == b""
    changed = client.get(f"/media/{image_id}/original", headers={"If-None-Match": '"other"'})
    assert changed.status_code == 200
    thumb = client.get(f"/media/{image_id}/256")
    assert thumb.status_code == 200 and thumb.mimetype == "image/webp" and thumb.headers["ETag"]
    assert client.get(f"/media/{image_id}/999").status_code == 404
    download = client.get(f"/media/{image_id}/original?download=1")
    assert download.headers["Content-Disposition"].startswith("attachment")


def test_proxy_mode_private_images_are_private_cached(make_app: Callable[..., Flask],
                                                      web_client: Callable[..., WebClient]) -> None:
    app = make_app(proxy_images=True)
    owner, other = web_client(app), web_client(app)
    owner.signup("quentin")
    other.signup("rachel")
    image_id = owner.upload_id(samples.jpeg())
    response = owner.get(f"/media/{image_id}/original")
    assert response.headers["Cache-Control"].startswith("private")
    assert other.get(f"/media/{image_id}/original").status_code == 404


def test_csp_allows_the_object_store_only_in_presign_mode(app: Flask, make_app: Callable[..., Flask],
                                                          minio_server: object) -> None:
    def img_src(flask_app: Flask) -> list[str]:
        csp = flask_app.test_client().get("/public").headers["Content-Security-Policy"]
        return next(d for d in csp.split("; ") if d.startswith("img-src")).split()[1:]

    assert minio_server.url in img_src(app)  # type: ignore[attr-defined]
    proxied = img_src(make_app(proxy_images=True))
    assert "'self'" in proxied and not any(s.startswith("http") for s in proxied)


def test_delete_for_good_removes_original_thumbnails_metadata_and_jobs(app: Flask, alice: WebClient) -> None:
    svc = app_services(app)
    keep = alice.upload_id(samples.noisy_jpeg(1))
    image_id = alice.upload_id(samples.noisy_jpeg(2))
    finish_analysis(svc, image_id)
    assert len(list(svc.store.list_keys(""))) == 4
    page = alice.get(f"/images/{image_id}").get_data(as_text=True)
    assert alice.post(f"/images/{image_id}/delete").status_code == 302  # to the trash first
    assert len(list(svc.store.list_keys(""))) == 4
    page = alice.get(f"/images/{image_id}").get_data(as_text=True)
    assert "data-confirm" in page and "Delete for good" in page
    response = alice.post(f"/images/{image_id}/purge")
    assert response.status_code == 302
    assert svc.db[IMAGES].find_one({"_id": ObjectId(image_id)}) is None
    assert svc.db[JOBS].count_documents({"image_id": ObjectId(image_id)}) == 0
    remaining = list(svc.store.list_keys(""))
    assert len(remaining) == 1 and remaining[0].endswith(keep)
    assert "Deleted" in alice.get("/").get_data(as_text=True)
    assert alice.get(f"/images/{image_id}").status_code == 404
