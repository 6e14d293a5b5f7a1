"""The timeline by date taken in a real browser (#12 item 5): Debian's Chromium driven by
Playwright against the web tier under gunicorn, on real SecantusDB and MinIO.

Ten photos, their dates taken written as the worker writes them (one undated, one taken on
this day two years ago, three in August 2023, three in March 2023, two in July 1968): the
home page shows "On this day", month headers in date-taken order that stay stuck under the
navbar while their month scrolls by, and a month menu that jumps to March 2023. Full-page
and scrolled screenshots at 390 px and 1280 px.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from picsource_core.image_documents import ImageDocuments
from picsource_core.mongo import IMAGES
from tests.support.browser import (
    ARTIFACTS,
    WIDTHS,
    dotted_jpeg,
    shoot_widths,
    sign_up,
    upload_dropped,
    watch_errors,
)
from tests.web.web_support import finish_analysis

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _dates() -> list[datetime | None]:
    today = datetime.now(UTC).date()
    on_this_day = date(today.year - 2, today.month, min(today.day, 28) if today.month == 2 else today.day)
    return [None, datetime.combine(on_this_day, datetime.min.time()).replace(hour=10),
            *[datetime(2023, 8, d, 12) for d in (28, 14, 2)], *[datetime(2023, 3, d, 9) for d in (30, 15, 1)],
            *[datetime(1968, 7, d, 17) for d in (20, 4)]]


def _headers(page: Any) -> list[str]:
    return page.eval_on_selector_all("[data-month-header]", "hs => hs.map(h => h.dataset.monthHeader)")


def _stuck_header(page: Any) -> str:
    """The month header drawn just under the sticky navbar (the last one stuck there)."""
    return page.evaluate("""() => {
        const bar = document.querySelector('header.navbar').getBoundingClientRect().bottom;
        const stuck = [...document.querySelectorAll('[data-month-header]')]
            .filter(h => Math.abs(h.getBoundingClientRect().top - bar) < 2);
        return stuck.length ? stuck[stuck.length - 1].dataset.monthHeader : '';
    }""")


@pytest.mark.timeout(300)
def test_month_headers_stick_and_the_menu_jumps_to_a_month(web_url: str, browser: Any,
                                                           mongo_db: Any, object_store: Any) -> None:
    context = browser.new_context(viewport=WIDTHS["1280"])
    page = context.new_page()
    errors = watch_errors(page)
    sign_up(page, web_url, "timelineuser")
    colours = [(30 + 20 * n, 90, 200 - 15 * n) for n in range(10)]
    upload_dropped(page, web_url, [(f"shot-{n}.jpg", dotted_jpeg(c, (480, 360))) for n, c in enumerate(colours)])
    services = SimpleNamespace(db=mongo_db, store=object_store)
    documents = ImageDocuments(mongo_db)
    for doc, taken in zip(mongo_db[IMAGES].find({}, {"_id": 1}).sort("_id", 1), _dates(), strict=True):
        finish_analysis(services, doc["_id"])  # type: ignore[arg-type]
        documents.apply_analysis(doc["_id"], {"taken_at": taken})  # what EXIF said

    page.goto(f"{web_url}/")
    today = datetime.now(UTC)
    two_years_ago = f"{today.year - 2}-{today.month:02d}"
    assert _headers(page) == [f"{today:%Y-%m}", two_years_ago, "2023-08", "2023-03", "1968-07"]
    strip = page.locator("[data-on-this-day]")
    assert strip.count() == 1 and "2 years ago" in strip.inner_text()
    assert strip.locator("img").count() == 1
    shoot_widths(page, "timeline-home")

    for width, size in WIDTHS.items():  # scrolled: August's header stays stuck under the navbar
        page.set_viewport_size(size)
        page.evaluate("""() => {
            const tile = [...document.querySelectorAll('[data-month-header="2023-08"] ~ li')][2];
            window.scrollTo(0, tile.getBoundingClientRect().top + window.scrollY - 110);
        }""")
        page.wait_for_timeout(300)
        assert _stuck_header(page) == "2023-08", width
        page.screenshot(path=str(ARTIFACTS / f"timeline-scrolled-{width}.png"))

    # The jump menu: choosing March 2023 loads the grid from there, headers onward.
    page.set_viewport_size(WIDTHS["390"])
    page.evaluate("window.scrollTo(0, 0)")
    page.select_option("[data-jump-select]", "2023-03")
    page.wait_for_url(lambda url: "month=2023-03" in url)
    assert _headers(page) == ["2023-03", "1968-07"]
    assert page.locator("[data-image-id]").count() == 5
    assert "Taken in March 2023 or earlier" in page.content() and page.locator("[data-on-this-day]").count() == 0
    shoot_widths(page, "timeline-jumped")
    assert errors == [], f"browser console errors: {errors}"
    context.close()
