"""Bulk selection, the trash and the map in a real browser (#12 items 3, 4 and 6): Debian's
Chromium driven by Playwright against the web tier under gunicorn, on real SecantusDB and MinIO.

Tick a range with shift-click, select the page with Ctrl+A and clear it with Esc, favourite
and tag the ticked images in one post, download them as a zip, move two to the trash and
restore them from the Trash's own bar; then open the map, where the photos with a position
are clusters on the land outline and a click zooms in. Screenshots at 390 px and 1280 px.
"""

from __future__ import annotations

import io
import zipfile
from types import SimpleNamespace
from typing import Any

import pytest
from bson import ObjectId

from picsource_core.mongo import IMAGES
from tests.support.browser import dotted_jpeg, drop_files, shoot_widths, sign_up, watch_errors
from tests.web.web_support import finish_analysis

pytestmark = [pytest.mark.browser, pytest.mark.slow]

COLOURS = [(200, 30, 30), (30, 60, 200), (40, 160, 60), (220, 180, 40), (120, 40, 160)]
#: Where three of the five were taken: two in Lisbon, one in Tokyo.
PLACES = [(38.7139, -9.1394), (38.6916, -9.2160), (35.6762, 139.6503), None, None]


def _ticked(page: Any) -> list[str]:
    return page.eval_on_selector_all("[data-select-tile]:checked", "bs => bs.map(b => b.value)")


@pytest.mark.timeout(300)
def test_select_act_download_trash_restore_and_map(web_url: str, browser: Any,
                                                   mongo_db: Any, object_store: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    errors = watch_errors(page)
    sign_up(page, web_url, "bulkuser")
    page.goto(f"{web_url}/upload")
    drop_files(page, "[data-dropzone]", [(f"shot-{n}.jpg", dotted_jpeg(c, (480, 360))) for n, c in enumerate(COLOURS)])
    page.click("[data-upload-button]")
    page.wait_for_function("() => [...document.querySelectorAll('[data-file-card]')]"
                           ".every(c => c.getAttribute('data-state') === 'success')")
    docs = list(mongo_db[IMAGES].find({}, {"title": 1}).sort("_id", 1))
    for doc, place in zip(docs, PLACES, strict=True):  # the worker's part, positions included
        exif = {"latitude": place[0], "longitude": place[1]} if place else {}
        finish_analysis(SimpleNamespace(db=mongo_db, store=object_store), doc["_id"], exif=exif)  # type: ignore[arg-type]

    # The grid: newest first. Tick the first tile, shift-click the fourth: four ticked.
    page.goto(f"{web_url}/")
    boxes = page.locator("[data-select-tile]")
    assert boxes.count() == 5 and page.locator("[data-needs-selection]").first.is_disabled()
    boxes.nth(0).click()
    boxes.nth(3).click(modifiers=["Shift"])
    ticked = _ticked(page)
    assert len(ticked) == 4 and page.locator("[data-selection-count]").inner_text() == "4 selected:"
    page.keyboard.press("Escape")
    assert _ticked(page) == []
    page.locator("h1").click()
    page.keyboard.press("Control+a")
    assert len(_ticked(page)) == 5 and page.locator("[data-select-all]").is_checked()
    boxes.nth(4).click()  # untick one: "select all" shows a partial state
    assert page.eval_on_selector("[data-select-all]", "b => b.indeterminate")
    shoot_widths(page, "bulk-grid-ticked")

    # Favourite and tag the four in two posts; Enter in the tags box tags.
    page.click("button[value=favourite]")
    page.wait_for_load_state()
    assert "Added 4 images to your favourites." in page.content()
    for n in (0, 1):
        page.locator("[data-select-tile]").nth(n).check()
    page.fill("[data-selection-tags]", "lisbon, trip")
    page.press("[data-selection-tags]", "Enter")
    page.wait_for_load_state()
    assert "Tagged 2 images." in page.content()
    tagged = {str(d["_id"]) for d in mongo_db[IMAGES].find({"tags": "lisbon"}, {"_id": 1})}
    assert len(tagged) == 2
    assert mongo_db[IMAGES].count_documents({"favourite": True}) == 4

    # Download the two as one zip: the browser saves a real zip of the originals.
    for n in (0, 1):
        page.locator("[data-select-tile]").nth(n).check()
    with page.expect_download() as download:
        page.click("button[value=download]")
    archive = zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read()))  # noqa: SIM115
    assert len(archive.namelist()) == 2 and archive.testzip() is None

    # Trash them, then restore them from the Trash's own bar.
    page.goto(f"{web_url}/")
    for n in (0, 1):
        page.locator("[data-select-tile]").nth(n).check()
    gone = _ticked(page)
    page.click("button[value=trash]")
    page.wait_for_load_state()
    assert "Moved 2 images to the trash." in page.content()
    assert page.locator("[data-select-tile]").count() == 3
    page.goto(f"{web_url}/trash")
    page.locator("h1").click()
    page.keyboard.press("Control+a")
    assert sorted(_ticked(page)) == sorted(gone)
    shoot_widths(page, "bulk-trash-ticked")
    page.click("button[value=restore]")
    page.wait_for_load_state()
    assert "Restored 2 images." in page.content()
    assert mongo_db[IMAGES].count_documents({"trashed_at": {"$ne": None}}) == 0
    assert errors == [], f"browser console errors: {errors}"

    # The map: Lisbon's two are one cluster over the land; a click zooms in on them.
    page.goto(f"{web_url}/map")
    assert page.locator("[data-land]").count() == 1
    counts = sorted(int(c) for c in page.eval_on_selector_all("[data-cluster]", "cs => cs.map(c => c.dataset.count)"))
    assert counts == [1, 2]
    shoot_widths(page, "map-world")
    page.click("[data-cluster][data-count='2']")
    page.wait_for_url(lambda url: "span=90" in url)
    assert "2 photos with a location in this view." in page.content()
    listed = page.eval_on_selector_all("[data-map-photos] img", "imgs => imgs.map(i => i.naturalWidth)")
    page.wait_for_function("() => [...document.querySelectorAll('[data-map-photos] img')].every(i => i.complete)")
    listed = page.eval_on_selector_all("[data-map-photos] img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(listed) == 2 and all(width > 0 for width in listed)
    shoot_widths(page, "map-zoomed")
    assert errors == [], f"browser console errors: {errors}"
    lisbon = {str(d["_id"]) for d in mongo_db[IMAGES].find({"analysis.exif.latitude": {"$gt": 38}}, {"_id": 1})}
    assert {ObjectId(i) for i in lisbon} and all(i in page.content() for i in lisbon)
    context.close()
