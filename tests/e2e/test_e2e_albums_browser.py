"""Albums in a real browser (#12 item 1): Debian's Chromium driven by Playwright against the
web tier under gunicorn, on real SecantusDB and MinIO.

Upload three photos, tick two in the grid and add them to a new album, share it, then open
the link in a fresh browser context (no cookies): the two thumbnails load, the third image
is nowhere on the page and its URLs answer 404 even with the album's grant. Screenshots
at 390 px and 1280 px land in tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest

from picsource_core.mongo import IMAGES
from tests.support.browser import (
    WIDTHS,
    dotted_jpeg,
    drop_files,
    shoot_widths,
    sign_up,
    thumbnails_loaded,
    watch_errors,
)
from tests.web.web_support import finish_analysis

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHOTOS = [("red-car.jpg", (200, 30, 30)), ("blue-sea.jpg", (30, 60, 200)), ("green-hill.jpg", (40, 160, 60))]


@pytest.mark.timeout(300)
def test_album_from_the_grid_shared_with_a_stranger(web_url: str, browser: Any,
                                                    mongo_db: Any, object_store: Any) -> None:
    owner = browser.new_context(viewport=WIDTHS["1280"])
    page = owner.new_page()
    errors = watch_errors(page)
    sign_up(page, web_url, "albumuser")

    # Upload three; when done, the page offers to put them in an album.
    page.goto(f"{web_url}/upload")
    drop_files(page, "[data-dropzone]", [(name, dotted_jpeg(colour, (640, 480))) for name, colour in PHOTOS])
    page.click("[data-upload-button]")
    page.wait_for_function("() => [...document.querySelectorAll('[data-file-card]')]"
                           ".every(c => c.getAttribute('data-state') === 'success')")
    assert page.locator("[data-upload-album]").is_visible()
    assert page.locator("[data-upload-album] input[name=image_id]").count() == 3
    shoot_widths(page, "albums-upload-done")
    # Play the worker's part: real thumbnails in MinIO, the analysis written as it writes it.
    ids = {doc["title"]: str(doc["_id"]) for doc in mongo_db[IMAGES].find({}, {"title": 1})}
    for image_id in ids.values():
        finish_analysis(SimpleNamespace(db=mongo_db, store=object_store), image_id)  # type: ignore[arg-type]
    kept_out = ids["green hill"]

    # Tick two tiles in the grid, then "Add to album" -> a new album.
    page.goto(f"{web_url}/")
    for title in ("red car", "blue sea"):
        page.check(f"[data-image-id='{ids[title]}'] >> xpath=.. >> [data-select-tile]")
    shoot_widths(page, "albums-grid-ticked")
    page.click("#grid-selection button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/albums/pick"))
    page.fill("input[name=new_title]", "Seaside")
    shoot_widths(page, "albums-pick")
    page.click("[data-pick-album] button[type=submit]")
    page.wait_for_url(re.compile(r"/albums/[0-9a-f]{24}$"))
    album_id = page.url.rsplit("/", 1)[1]
    assert sorted(page.eval_on_selector_all("[data-image-id]", "t => t.map(e => e.dataset.imageId)")) \
        == sorted([ids["red car"], ids["blue sea"]])

    # Share it: unlisted, downloads off (the default).
    page.goto(f"{web_url}/albums/{album_id}/edit")
    page.select_option("select[name=visibility]", "unlisted")
    page.fill("textarea[name=description]", "Two days by the water.")
    page.click("form button[type=submit]:has-text('Save')")
    page.wait_for_url(f"{web_url}/albums/{album_id}")
    link = page.locator("[data-album-share-url]").input_value()
    token = link.rsplit("/", 1)[1]
    shoot_widths(page, "albums-owner")
    page.goto(f"{web_url}/albums")
    assert "2 images" in page.locator("[data-album-id]").inner_text()
    shoot_widths(page, "albums-index")
    assert errors == [], f"browser console errors: {errors}"

    # A stranger with the link: only the album's two images, thumbnails loaded, nothing else.
    stranger = browser.new_context(viewport=WIDTHS["390"])
    view = stranger.new_page()
    stranger_errors = watch_errors(view)
    assert view.goto(link).status == 200
    assert len(thumbnails_loaded(view)) == 2 and all(w > 0 for w in thumbnails_loaded(view))
    html = view.content()
    assert kept_out not in html and "Remove from album" not in html
    shoot_widths(view, "albums-shared")
    view.locator("[data-image-id]").first.click()
    view.wait_for_url(re.compile(rf"/a/{re.escape(token)}/images/[0-9a-f]{{24}}$"))
    view.wait_for_function("() => { const i = document.querySelector('figure img');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    assert view.locator("[data-download]").count() == 0  # downloads are off
    shoot_widths(view, "albums-shared-photo")
    assert stranger_errors == [], f"browser console errors: {stranger_errors}"
    for url in (f"/images/{kept_out}", f"/a/{token}/images/{kept_out}",
                f"/media/{kept_out}/256?s=a.{album_id}.{token}",
                f"/media/{kept_out}/original?s=a.{album_id}.{token}", f"/albums/{album_id}"):
        assert view.goto(f"{web_url}{url}").status == 404, url
    stranger.close()
    owner.close()
