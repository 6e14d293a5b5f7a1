"""Less said to strangers (#14 item 9): analysis error texts only for the owner, and a
share link that died when its image went private stays dead when it is shared again."""

from __future__ import annotations

from bson import ObjectId
from flask import Flask

from picsource_core.image_documents import ImageDocuments
from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.api_support import ApiClient, token_for

SECRET_ERROR = "decoder crashed in /srv/picsource/worker at 0x7f3a"


def test_analysis_errors_are_told_only_to_the_owner(app: Flask, alice: WebClient, bob: WebClient) -> None:
    owner, other = ApiClient(app, token_for(app, "alice")), ApiClient(app, token_for(app, "bob"))
    image_id = owner.upload_one(samples.jpeg(), visibility="public")["id"]
    ImageDocuments(app_services(app).db).apply_analysis(
        ObjectId(image_id), {"analysis": {"step_errors": {"ocr": SECRET_ERROR}}}, status="failed",
        error=SECRET_ERROR)
    mine = owner.get(f"/api/v1/images/{image_id}/analysis").get_json()
    assert mine["error"] == SECRET_ERROR and mine["result"]["step_errors"] == {"ocr": SECRET_ERROR}
    for stranger in (other, ApiClient(app, None)):
        response = stranger.get(f"/api/v1/images/{image_id}/analysis")
        assert response.status_code == 200 and response.get_json()["status"] == "failed"
        assert SECRET_ERROR not in response.get_data(as_text=True)
        page = stranger.get(f"/images/{image_id}")
        assert page.status_code == 200 and SECRET_ERROR not in page.get_data(as_text=True)
    assert SECRET_ERROR in alice.get(f"/images/{image_id}").get_data(as_text=True)


def test_an_image_made_private_and_shared_again_gets_a_new_link(app: Flask, alice: WebClient) -> None:
    owner = ApiClient(app, token_for(app, "alice"))
    image = owner.upload_one(samples.jpeg(), visibility="unlisted")
    old_token = app_services(app).images.docs.find_one({"_id": ObjectId(image["id"])})["share_token"]  # type: ignore[index]
    assert ApiClient(app, None).get(f"/s/{old_token}").status_code == 200
    for visibility in ("private", "unlisted"):
        response = owner.patch(f"/api/v1/images/{image['id']}", {"visibility": visibility})
        assert response.status_code == 200, response.get_data(as_text=True)
    new_token = app_services(app).images.docs.find_one({"_id": ObjectId(image["id"])})["share_token"]  # type: ignore[index]
    assert new_token != old_token
    assert ApiClient(app, None).get(f"/s/{old_token}").status_code == 404
    assert ApiClient(app, None).get(f"/s/{new_token}").status_code == 200


def test_presigned_urls_to_non_public_images_are_short_lived(app: Flask, alice: WebClient) -> None:
    lifetimes = {}
    for visibility in ("public", "unlisted", "private"):
        image_id = alice.upload_id(samples.noisy_jpeg(len(lifetimes) + 40), visibility=visibility)
        location = alice.get(f"/media/{image_id}/original").headers["Location"]
        lifetimes[visibility] = int(location.split("X-Amz-Expires=")[1].split("&")[0])
    settings = app_services(app).settings
    assert lifetimes == {"public": settings.presign_seconds, "unlisted": 300, "private": 300}
    assert settings.presign_private_seconds == 300 < settings.presign_seconds
