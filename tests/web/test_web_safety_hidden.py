"""A public image the worker flagged ``hidden_from_public`` (safety score at or above the
gallery's threshold) is left out of every public listing; its owner still sees it."""

from __future__ import annotations

from collections.abc import Callable

from bson import ObjectId
from flask import Flask

from picsource_core.image_documents import ImageDocuments
from picsource_core.images import HIDDEN_FROM_PUBLIC
from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.web_support import finish_analysis, tile_ids


def test_flagged_public_image_is_hidden_from_others_but_not_from_its_owner(
        app: Flask, alice: WebClient, bob: WebClient, web_client: Callable[[], WebClient]) -> None:
    svc = app_services(app)
    shown = alice.upload_id(samples.noisy_jpeg(1), title="calm lake", visibility="public", tags="trip")
    flagged = alice.upload_id(samples.noisy_jpeg(2), title="flagged lake", visibility="public", tags="trip")
    for image_id in (shown, flagged):
        finish_analysis(svc, image_id, labels=[("lakeside", 0.9)])
    # What the worker writes for a score at or above WORKER_SAFETY_THRESHOLD, through the
    # same core write (which also retires cached public listings).
    ImageDocuments(svc.db).apply_analysis(ObjectId(flagged), {"analysis.safety": 0.97, HIDDEN_FROM_PUBLIC: True})

    for name, client in {"bob": bob, "anonymous": web_client()}.items():
        for url in ("/public", "/search?tag=trip&scope=public", "/search?q=lake&scope=public"):
            assert tile_ids(client.get(url).get_data(as_text=True)) == [shown], (name, url)
        similar = client.get(f"/images/{shown}").get_data(as_text=True)
        assert flagged not in similar, name  # "similar images" is a public listing too
    listed = bob.get("/api/v1/images", query_string={"scope": "public", "tag": "trip"}).get_json()
    assert [item["id"] for item in listed["items"]] == [shown]

    mine = tile_ids(alice.get("/search?tag=trip").get_data(as_text=True))
    assert sorted(mine) == sorted([shown, flagged])
    page = alice.get(f"/images/{flagged}")
    assert page.status_code == 200 and "flagged lake" in page.get_data(as_text=True)

    # Images analysed before the flag existed (no field) and cleared ones stay public.
    ImageDocuments(svc.db).apply_analysis(ObjectId(flagged), {HIDDEN_FROM_PUBLIC: False})
    assert sorted(tile_ids(bob.get("/public").get_data(as_text=True))) == sorted([shown, flagged])
