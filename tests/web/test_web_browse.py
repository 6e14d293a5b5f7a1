"""Browsing and search against real MongoDB: pagination, filters, image pages, status polling."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from bson import ObjectId
from flask import Flask

from picsource_core.images import new_image_doc
from picsource_core.mongo import IMAGES
from tests.support import images as samples
from tests.support.web import WebClient, app_services
from tests.web.web_support import finish_analysis, tile_ids

_NEXT = re.compile(r'href="([^"]+)" rel="next"')


def test_grid_is_newest_first_with_cursor_pages(alice: WebClient) -> None:
    ids = [alice.upload_id(samples.noisy_jpeg(i), f"{i}.jpg", title=f"Image {i}") for i in range(5)]
    seen: list[str] = []
    url: str | None = "/?limit=2"
    pages = 0
    while url:
        html = alice.get(url.replace("&amp;", "&")).get_data(as_text=True)
        page_ids = tile_ids(html)
        assert 0 < len(page_ids) <= 2
        seen += page_ids
        match = _NEXT.search(html)
        url = match.group(1) if match else None
        pages += 1
    assert pages == 3 and seen == list(reversed(ids))


def test_grid_tiles_have_dimensions_and_placeholder(app: Flask, alice: WebClient) -> None:
    image_id = alice.upload_id(samples.jpeg())
    pending = alice.get("/").get_data(as_text=True)
    assert f'data-status-url="/images/{image_id}/status"' in pending and "Analysing" in pending
    finish_analysis(app_services(app), image_id, caption="A red square")
    ready = alice.get("/").get_data(as_text=True)
    assert 'fill="#c02828"' in ready  # dominant colour placeholder, no inline style needed
    assert 'width="256" height="256" loading="lazy"' in ready
    assert 'alt="A red square"' in ready and "data-status-url" not in ready


@pytest.mark.parametrize("query", [
    "cursor=not-a-cursor", "cursor=" + "A" * 16 + "%00", "cursor=AAAAAAAAAAAAAAA", "colour=chartreuse",
    "from=2024-13-01", "to=yesterday", "from=2024-05-02&to=2024-05-01", "sort=random", "limit=0",
    "limit=1000", "limit=abc", "has_text=maybe", "scope=everyone", "q=" + "word+" * 100,
])
@pytest.mark.parametrize("path", ["/", "/public", "/search"])
def test_malformed_parameters_get_a_clear_400(alice: WebClient, path: str, query: str) -> None:
    response = alice.get(f"{path}?{query}")
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "data-error-code" in response.get_data(as_text=True)


def test_search_words_cover_title_tags_labels_caption_and_ocr(app: Flask, alice: WebClient) -> None:
    svc = app_services(app)
    by_title = alice.upload_id(samples.noisy_jpeg(1), title="Sunset over Lisbon")
    by_tag = alice.upload_id(samples.noisy_jpeg(2), tags="harbour")
    by_label = alice.upload_id(samples.noisy_jpeg(3))
    finish_analysis(svc, by_label, labels=[("espresso", 0.91)], caption="A photo of an espresso cup")
    by_ocr = alice.upload_id(samples.noisy_jpeg(4))
    finish_analysis(svc, by_ocr, ocr_text="GRAND OPENING today", caption="A sign")

    def search(q: str) -> list[str]:
        return tile_ids(alice.get(f"/search?q={q}").get_data(as_text=True))

    assert search("lisbon") == [by_title]
    assert search("sunsets") == [by_title]  # same normalisation as the stored tokens
    assert search("harbour") == [by_tag]
    assert search("espresso") == [by_label]
    assert search("cup") == [by_label]  # the caption
    assert search("grand+opening") == [by_ocr]
    assert search("espresso+opening") == []  # all words must match
    assert "No images match" in alice.get("/search?q=zebra").get_data(as_text=True)


def test_search_filters(app: Flask, alice: WebClient) -> None:
    svc = app_services(app)
    red = alice.upload_id(samples.noisy_jpeg(1), tags="Trip")
    blue = alice.upload_id(samples.noisy_jpeg(2), tags="trip, sea")
    finish_analysis(svc, red, ocr_text="STOP")
    finish_analysis(svc, blue, palette=[{"hex": "#2040c0", "share": 1.0, "name": "royalblue", "family": "blue"}])

    def ids(query: str) -> list[str]:
        response = alice.get(f"/search?{query}")
        assert response.status_code == 200
        return tile_ids(response.get_data(as_text=True))

    assert ids("tag=trip") == [blue, red]
    assert ids("tag=sea") == [blue]
    assert ids("colour=red") == [red]
    assert ids("colour=blue&tag=trip") == [blue]
    assert ids("has_text=yes") == [red]
    assert ids("has_text=no") == [blue]
    assert ids("tag=trip&sort=oldest") == [red, blue]
    today = datetime.now(UTC).date().isoformat()
    assert ids(f"from={today}&to={today}") == [blue, red]
    assert ids("to=2001-01-01") == []


def _chosen(page: str) -> dict[str, str]:
    """Each <select> of the page's forms: its name -> the value of its selected option."""
    chosen = {}
    for name, body in re.findall(r'<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        picked = re.findall(r'<option value="([^"]*)" selected>', body)
        assert len(picked) <= 1, (name, picked)
        chosen[name] = picked[0] if picked else ""
    return chosen


def test_search_form_shows_the_filters_it_was_sent(alice: WebClient) -> None:
    page = alice.get("/search?scope=public&colour=blue&has_text=no&sort=oldest&by=added").get_data(as_text=True)
    assert _chosen(page) == {"scope": "public", "colour": "blue", "has_text": "no", "sort": "oldest", "by": "added"}
    plain = _chosen(alice.get("/search?has_text=yes").get_data(as_text=True))
    assert plain == {"scope": "mine", "colour": "", "has_text": "yes", "sort": "newest", "by": "taken"}
    assert '<option value="">Any colour</option>' in page and '<option value="blue" selected>Blue</option>' in page


def test_date_range_uses_upload_day(app: Flask, alice: WebClient) -> None:
    svc = app_services(app)
    owner = svc.users.get(svc.db["users"].find_one({"username_key": "alice"})["_id"])  # type: ignore[index]
    assert owner is not None
    made = {}
    for day in ("2024-05-01", "2024-05-02", "2024-05-03"):
        when = datetime.fromisoformat(day + "T12:00:00+00:00")
        oid = ObjectId.from_datetime(when)
        svc.db[IMAGES].insert_one(new_image_doc(
            image_id=oid, owner_id=owner.id, title=day, description="", tags=["old"], visibility="private",
            share_token=f"tok-{day}", sha256=day, size=1, width=1, height=1, image_format="JPEG",
            content_type="image/jpeg", original_key=f"originals/{owner.id}/{oid}", now=when,
        ))
        made[day] = str(oid)
    html = alice.get("/search?from=2024-05-02&to=2024-05-02").get_data(as_text=True)
    assert tile_ids(html) == [made["2024-05-02"]]
    html = alice.get("/search?from=2024-05-02&sort=oldest").get_data(as_text=True)
    assert tile_ids(html) == [made["2024-05-02"], made["2024-05-03"]]


def test_public_gallery_and_scope(app: Flask, alice: WebClient, bob: WebClient,
                                  web_client: Callable[[], WebClient]) -> None:
    public = alice.upload_id(samples.noisy_jpeg(1), visibility="public", tags="shared")
    alice.upload_id(samples.noisy_jpeg(2), visibility="unlisted", tags="shared")
    alice.upload_id(samples.noisy_jpeg(3), tags="shared")
    anonymous = web_client()
    assert tile_ids(anonymous.get("/public").get_data(as_text=True)) == [public]
    assert tile_ids(anonymous.get("/search?tag=shared").get_data(as_text=True)) == [public]
    assert tile_ids(bob.get("/search?tag=shared&scope=public").get_data(as_text=True)) == [public]
    assert tile_ids(bob.get("/search?tag=shared").get_data(as_text=True)) == []  # bob's own: none
    assert len(tile_ids(alice.get("/search?tag=shared").get_data(as_text=True))) == 3
    assert "Nothing public yet" not in anonymous.get("/public").get_data(as_text=True)


def test_image_page_shows_analysis_and_gps_only_to_owner(app: Flask, alice: WebClient, bob: WebClient) -> None:
    svc = app_services(app)
    image_id = alice.upload_id(samples.jpeg(), title="Café", description="Line one\nline two",
                               tags="coffee", visibility="public")
    finish_analysis(svc, image_id, labels=[("espresso", 0.874), ("cup", 0.2)],
                    caption="A photo of an espresso, mostly red", ocr_text="MENU",
                    exif={"camera_make": "Canon", "camera_model": "EOS R5", "lens": "RF 50mm",
                          "exposure_time": 0.004, "f_number": 1.8, "iso": 200,
                          "latitude": 38.7223, "longitude": -9.1393})
    owner_page = alice.get(f"/images/{image_id}").get_data(as_text=True)
    for text in ("Café", "Line one", "#coffee", "A photo of an espresso, mostly red", "espresso", "87%",
                 "firebrick", "80%", "Canon EOS R5", "RF 50mm", "1/250 s", "f/1.8", "MENU",
                 "38.72230, -9.13930", "Download original", "Edit", "Move to trash", "Share link"):
        assert text in owner_page, text
    assert 'alt="A photo of an espresso, mostly red"' in owner_page
    other_page = bob.get(f"/images/{image_id}").get_data(as_text=True)
    assert "Canon EOS R5" in other_page and "38.72230" not in other_page and "GPS" not in other_page
    assert "Delete" not in other_page and "/edit" not in other_page


def test_status_endpoint_reports_ready_with_thumbnail(app: Flask, alice: WebClient) -> None:
    image_id = alice.upload_id(samples.jpeg())
    pending = alice.get(f"/images/{image_id}/status").get_json()
    assert pending["pending"] is True and pending["thumb_url"] is None
    finish_analysis(app_services(app), image_id)
    ready = alice.get(f"/images/{image_id}/status").get_json()
    assert ready["pending"] is False and ready["status"] == "ready"
    assert ready["thumb_url"] and "thumbnails" in ready["thumb_url"] and "X-Amz-Signature" in ready["thumb_url"]


def test_similar_images_share_labels(app: Flask, alice: WebClient) -> None:
    svc = app_services(app)
    first = alice.upload_id(samples.noisy_jpeg(1), title="first")
    second = alice.upload_id(samples.noisy_jpeg(2), title="second")
    unrelated = alice.upload_id(samples.noisy_jpeg(3), title="unrelated")
    finish_analysis(svc, first, labels=[("tabby cat", 0.8)], families=["grey"])
    finish_analysis(svc, second, labels=[("tabby cat", 0.7)], families=["grey"])
    finish_analysis(svc, unrelated, labels=[("airliner", 0.9)], families=["blue"],
                    palette=[{"hex": "#2040c0", "share": 1.0, "name": "royalblue", "family": "blue"}])
    html = alice.get(f"/images/{first}").get_data(as_text=True)
    similar = html.split("Similar images", 1)[1]
    assert second in similar and unrelated not in similar


def test_edit_metadata_updates_search(app: Flask, alice: WebClient, bob: WebClient) -> None:
    image_id = alice.upload_id(samples.jpeg(), title="Before")
    response = alice.post(f"/images/{image_id}/edit", {"title": "After the storm", "description": "d",
                                                       "tags": "weather", "visibility": "public"})
    assert response.status_code == 302
    assert tile_ids(alice.get("/search?q=storm").get_data(as_text=True)) == [image_id]
    assert tile_ids(bob.get("/public").get_data(as_text=True)) == [image_id]
    too_long = alice.post(f"/images/{image_id}/edit", {"title": "x" * 500, "visibility": "public"})
    assert too_long.status_code == 400 and "at most 200" in too_long.get_data(as_text=True)
    assert app_services(app).db[IMAGES].find_one({})["title"] == "After the storm"  # type: ignore[index]
