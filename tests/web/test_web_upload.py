"""Uploads against real MongoDB and MinIO: validation by content, duplicates, quota, atomicity."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask

from picsource_core.images import PENDING
from picsource_core.mongo import IMAGES, JOBS
from picsource_core.storage import original_key
from picsource_web.services.uploads import sweep_orphans
from tests.support import images as samples
from tests.support.web import WebClient, app_services


def stored_objects(app: Flask) -> list[str]:
    return list(app_services(app).store.list_keys(""))


def test_upload_stores_object_document_and_job(app: Flask, alice: WebClient) -> None:
    data = samples.jpeg()
    response = alice.upload(data, "holiday.jpg", title="Beach day", description="Sun\nand sand",
                            tags="Beach, holiday, beach", visibility="unlisted")
    assert response.status_code == 201
    body = response.get_json()
    assert body["duplicate"] is False and body["url"] == f"/images/{body['id']}"
    svc = app_services(app)
    doc = svc.db[IMAGES].find_one({})
    assert doc is not None and str(doc["_id"]) == body["id"]
    assert doc["title"] == "Beach day" and doc["tags"] == ["beach", "holiday"]
    assert doc["visibility"] == "unlisted" and doc["status"] == PENDING
    assert doc["format"] == "JPEG" and (doc["width"], doc["height"]) == (64, 48)
    assert doc["filename"] == "holiday.jpg" and doc["bytes"] == len(data)
    assert "beach" in doc["search_tokens"]
    assert svc.store.get_bytes(original_key(doc["owner_id"], doc["_id"])) == data
    job = svc.db[JOBS].find_one({})
    assert job is not None and job["image_id"] == doc["_id"] and job["state"] == "pending"


def test_default_visibility_is_private(app: Flask, alice: WebClient) -> None:
    alice.upload_id(samples.png())
    assert app_services(app).db[IMAGES].find_one({})["visibility"] == "private"  # type: ignore[index]


def _optional_formats() -> list[str]:
    from picsource_web.services.validation import accepted_formats

    return [f for f in ("AVIF",) if f in accepted_formats()]


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF", *_optional_formats()])
def test_other_accepted_formats(app: Flask, alice: WebClient, fmt: str) -> None:
    from PIL import Image

    alice.upload_id(samples.encode(Image.new("RGB", (20, 10), (1, 2, 3)), fmt), f"x.{fmt.lower()}")
    assert app_services(app).db[IMAGES].find_one({})["format"] == fmt  # type: ignore[index]


BAD_UPLOADS = [
    ("zero bytes", b"", "a.jpg", 400, "empty"),
    ("truncated jpeg", samples.truncated_jpeg(), "cut.jpg", 422, "damaged or truncated"),
    ("20000x20000 png bomb", samples.png_bomb(), "bomb.png", 422, "too many pixels"),
    ("text named .jpg", samples.TEXT_AS_JPG, "notes.jpg", 415, "Accepted formats: JPEG, PNG, WEBP, GIF"),
    ("svg", samples.SVG, "logo.svg", 415, "Accepted formats"),
]


@pytest.mark.parametrize(("label", "data", "filename", "status", "message"), BAD_UPLOADS,
                         ids=[b[0] for b in BAD_UPLOADS])
def test_bad_uploads_get_a_clear_4xx_and_store_nothing(
    app: Flask, alice: WebClient, label: str, data: bytes, filename: str, status: int, message: str,
) -> None:
    response = alice.upload(data, filename)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert message in response.get_json()["detail"]
    html = alice.upload(data, filename, as_json=False)  # the no-script form: an HTML page
    assert html.status_code == status and message in html.get_data(as_text=True)
    assert app_services(app).db[IMAGES].count_documents({}) == 0
    assert stored_objects(app) == []


def test_oversize_gets_413(make_app: Callable[..., Flask],
                           web_client: Callable[..., WebClient]) -> None:
    app = make_app(max_upload_bytes=20_000)
    client = web_client(app)
    client.signup("olga")
    response = client.upload(samples.oversize(20_000), "big.jpg")
    assert response.status_code == 413 and "limit is 20,000 bytes" in response.get_json()["detail"]
    huge = client.upload(samples.oversize(20_000 * 12), "huger.jpg")  # beyond the request cap
    assert huge.status_code == 413
    assert app_services(app).db[IMAGES].count_documents({}) == 0 and stored_objects(app) == []


def test_pixel_limit_is_configurable(make_app: Callable[..., Flask],
                                     web_client: Callable[..., WebClient]) -> None:
    app = make_app(max_image_pixels=1000)
    client = web_client(app)
    client.signup("pia")
    response = client.upload(samples.jpeg(size=(64, 48)))
    assert response.status_code == 422 and "limit is 1,000 pixels" in response.get_json()["detail"]


@pytest.mark.parametrize(("fields", "code"), [
    ({"title": "t" * 201}, "title_too_long"),
    ({"description": "d" * 5001}, "description_too_long"),
    ({"tags": "x" * 65}, "tag_too_long"),
    ({"tags": ",".join(f"t{i}" for i in range(31))}, "too_many_tags"),
    ({"visibility": "everyone"}, "invalid_visibility"),
])
def test_bad_metadata_is_refused_and_nothing_stored(app: Flask, alice: WebClient,
                                                    fields: dict[str, str], code: str) -> None:
    response = alice.upload(samples.jpeg(), **fields)
    assert response.status_code == 400 and response.get_json()["code"] == code
    assert app_services(app).db[IMAGES].count_documents({}) == 0 and stored_objects(app) == []


def test_unicode_and_path_traversal_are_safe(app: Flask, alice: WebClient) -> None:
    title = "Ünïcødé 🌅 <script>alert('x')</script>" + "é" * 150
    image_id = alice.upload_id(samples.jpeg(), "../../etc/passwd\x00.jpg", title=title,
                               tags="日本, Café , <b>bold</b>")
    doc = app_services(app).db[IMAGES].find_one({})
    assert doc is not None and doc["title"] == title
    assert doc["tags"] == ["日本", "cafe", "<b>bold</b>"]
    assert doc["filename"] == "passwd.jpg"  # display only: keys come from ids
    assert doc["original_key"] == original_key(doc["owner_id"], doc["_id"])
    page = alice.get(f"/images/{image_id}").get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "<b>bold</b>" not in page


def test_exact_duplicate_is_not_stored_twice(app: Flask, alice: WebClient, bob: WebClient) -> None:
    data = samples.noisy_jpeg(3)
    first = alice.upload_id(data, "a.jpg")
    again = alice.upload(data, "copy.jpg", title="other title")
    assert again.status_code == 200
    body = again.get_json()
    assert body["duplicate"] is True and body["id"] == first and "already uploaded" in body["message"]
    html = alice.upload(data, "copy.jpg", as_json=False)  # the form: redirected to the image
    assert html.status_code == 302 and html.headers["Location"].endswith(f"/images/{first}")
    assert app_services(app).db[IMAGES].count_documents({}) == 1
    assert len(stored_objects(app)) == 1
    # duplicates are per user: bob may upload the same bytes
    assert bob.upload(data).status_code == 201


def test_quota_on_image_count(make_app: Callable[..., Flask],
                              web_client: Callable[..., WebClient]) -> None:
    app = make_app(quota_images=2)
    client = web_client(app)
    client.signup("quinn")
    client.upload_id(samples.noisy_jpeg(1))
    client.upload_id(samples.noisy_jpeg(2))
    refused = client.upload(samples.noisy_jpeg(3))
    assert refused.status_code == 403
    assert "quota is 2 images" in refused.get_json()["detail"]
    assert app_services(app).db[IMAGES].count_documents({}) == 2 and len(stored_objects(app)) == 2


def test_quota_on_bytes(make_app: Callable[..., Flask],
                        web_client: Callable[..., WebClient]) -> None:
    first = samples.noisy_jpeg(1)
    app = make_app(quota_bytes=len(first) + 10)
    client = web_client(app)
    client.signup("rosa")
    client.upload_id(first)
    refused = client.upload(samples.noisy_jpeg(2))
    assert refused.status_code == 403 and "Storage quota reached" in refused.get_json()["detail"]


def test_failed_metadata_write_removes_the_object(make_app: Callable[..., Flask],
                                                  web_client: Callable[..., WebClient]) -> None:
    """A real write failure: the share token collides with an existing image's (unique index)."""
    app = make_app(share_token_factory=lambda: "always-the-same-token")
    client = web_client(app)
    client.signup("sam")
    client.upload_id(samples.noisy_jpeg(1))
    failed = client.upload(samples.noisy_jpeg(2))
    assert failed.status_code == 503
    assert "could not be saved" in failed.get_json()["detail"]
    svc = app_services(app)
    assert svc.db[IMAGES].count_documents({}) == 1
    assert len(stored_objects(app)) == 1  # only the first image's original remains
    assert svc.db[JOBS].count_documents({}) == 1


def test_orphan_sweep_removes_only_old_objects_without_documents(app: Flask, alice: WebClient) -> None:
    from bson import ObjectId

    svc = app_services(app)
    kept = alice.upload_id(samples.jpeg())
    orphan_id = ObjectId()
    svc.store.put_bytes(original_key(ObjectId(), orphan_id), b"left by a crash")
    svc.store.put_bytes(f"thumbnails/{orphan_id}/256.webp", b"thumb")
    young = sweep_orphans(svc.images, timedelta(minutes=5))
    assert young.removed == []  # too young: could be an upload in flight
    result = sweep_orphans(svc.images, timedelta(seconds=0))
    assert sorted(result.removed) == sorted([original_key(result.removed[0].split("/")[1], orphan_id),
                                             f"thumbnails/{orphan_id}/256.webp"])
    remaining = stored_objects(app)
    assert len(remaining) == 1 and remaining[0].endswith(kept)


def test_sweep_cli_and_admin_button(make_app: Callable[..., Flask],
                                    web_client: Callable[..., WebClient]) -> None:
    from bson import ObjectId

    from picsource_web.settings import Account

    app = make_app(admin=Account("root", "admin passphrase 1"), orphan_minutes=1)
    svc = app_services(app)
    svc.store.put_bytes(original_key(ObjectId(), ObjectId()), b"orphan")
    result = app.test_cli_runner().invoke(args=["sweep-orphans", "--minutes", "0"])
    assert result.exit_code == 0 and "removed 1" in result.output
    admin = web_client(app)
    admin.login("root", "admin passphrase 1")
    response = admin.post("/admin/sweep")
    assert response.status_code == 302
    assert "Orphan sweep: scanned 0 objects" in admin.get("/admin/").get_data(as_text=True)


def test_multi_file_form_without_script(app: Flask, alice: WebClient) -> None:
    import io

    form = {"files": [(io.BytesIO(samples.noisy_jpeg(1)), "one.jpg"), (io.BytesIO(samples.noisy_jpeg(2)), "two.jpg"),
                      (io.BytesIO(samples.TEXT_AS_JPG), "bad.jpg")], "tags": "trip"}
    response = alice.post("/upload", form, content_type="multipart/form-data")
    assert response.status_code == 302
    page = alice.get("/").get_data(as_text=True)
    assert "Uploaded 2 images" in page and "bad.jpg" in page
    assert app_services(app).db[IMAGES].count_documents({"tags": "trip"}) == 2


def test_upload_requires_sign_in(app: Flask, web_client: Callable[[], WebClient]) -> None:
    anonymous = web_client()
    assert anonymous.get("/upload").status_code == 302
    assert anonymous.upload(samples.jpeg()).status_code == 401
    assert app_services(app).db[IMAGES].count_documents({}) == 0


def test_quota_holds_when_two_uploads_race(make_app: Callable[..., Flask],
                                           web_client: Callable[..., WebClient]) -> None:
    """A competing upload lands between this upload's quota check and its insert (injected
    through the share-token hook, which runs exactly there): the later one is rolled back."""
    from datetime import UTC, datetime

    from bson import ObjectId

    from picsource_core.images import new_image_doc

    app_holder: list[Flask] = []
    raced: list[bool] = []

    def token_with_competitor() -> str:
        svc = app_services(app_holder[0])
        owner = svc.db["users"].find_one({"username_key": "rita"})
        if owner is not None and not raced:
            raced.append(True)
            # the competing request started first, so its id sorts before this upload's
            competitor = ObjectId.from_datetime(datetime.now(UTC) - timedelta(seconds=5))
            svc.db[IMAGES].insert_one(new_image_doc(
                image_id=competitor, owner_id=owner["_id"], title="competitor", description="", tags=[],
                visibility="private", share_token=f"competitor-{competitor}", sha256=str(competitor), size=10,
                width=1, height=1, image_format="JPEG", content_type="image/jpeg",
                original_key=original_key(owner["_id"], competitor)))
        return str(ObjectId())

    app = make_app(quota_images=1, share_token_factory=token_with_competitor)
    app_holder.append(app)
    client = web_client(app)
    client.signup("rita")
    refused = client.upload(samples.jpeg())
    assert raced and refused.status_code == 403 and refused.get_json()["code"] == "quota_images"
    svc = app_services(app)
    assert [d["title"] for d in svc.db[IMAGES].find({})] == ["competitor"]
    assert stored_objects(app) == [] and svc.db[JOBS].count_documents({}) == 0
