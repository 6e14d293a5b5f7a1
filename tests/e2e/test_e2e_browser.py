"""A real user in a real browser: Debian's Chromium driven by Playwright against the web
tier running under gunicorn, on real SecantusDB and MinIO.

Sign up, drag and drop two files onto the upload page and watch a progress bar per
file, find both in the grid, search by tag, open one, delete it. Screenshots at phone
(390x844) and desktop (1440x900) widths land in tests/artifacts/ (git-ignored) so a
person can look at the pages.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from tests.support.browser import VIEWPORTS, dotted_jpeg, drop_files, shoot, sign_up
from tests.support.images import heic, noisy_image

pytestmark = [pytest.mark.browser, pytest.mark.slow]



@pytest.mark.timeout(300)
def test_sign_up_upload_browse_search_open_delete(web_url: str, browser: Any) -> None:
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The console says only "404"; this names the URL and the page that asked for it.
    page.on("response", lambda r: errors.append(f"{r.status} {r.url} (on {page.url})")
            if r.status >= 400 else None)  # fmt: skip
    page.set_default_timeout(20_000)

    sign_up(page, web_url, "e2euser")

    # Drag and drop two files; each gets its own card with a progress bar.
    page.goto(f"{web_url}/upload")
    drop_files(page, "[data-dropzone]", [("red-car.jpg", dotted_jpeg((200, 30, 30), (640, 480))),
                                         ("blue-sea.jpg", dotted_jpeg((30, 60, 200), (800, 600)))])
    cards = page.locator("[data-file-card]")
    assert cards.count() == 2
    bars = page.locator("[data-progress]")
    assert [bars.nth(i).get_attribute("value") for i in range(2)] == ["0", "0"]
    for i in range(2):
        cards.nth(i).locator('[data-field="tags"]').fill("roadtrip" if i == 0 else "ocean")
    for width in ("phone", "desktop"):
        page.set_viewport_size(VIEWPORTS[width])
        shoot(page, f"upload-queued-{width}")
    page.click("[data-upload-button]")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-file-card]')]"
        ".every(c => c.getAttribute('data-state') === 'success')")
    assert [bars.nth(i).evaluate("b => b.value") for i in range(2)] == [100, 100]
    assert all(bars.nth(i).is_visible() for i in range(2))
    assert page.locator("[data-result] a").count() == 2
    for width in ("phone", "desktop"):
        page.set_viewport_size(VIEWPORTS[width])
        shoot(page, f"upload-done-{width}")

    # Both are in the grid, newest first.
    page.goto(f"{web_url}/")
    tiles = page.locator("[data-image-id]")
    assert tiles.count() == 2
    assert page.locator("text=blue sea").count() >= 1 and page.locator("text=red car").count() >= 1
    for width in ("phone", "desktop"):
        page.set_viewport_size(VIEWPORTS[width])
        shoot(page, f"grid-{width}")

    # Search by tag through the filter form.
    page.goto(f"{web_url}/search")
    page.fill("input[name=tag]", "ocean")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url(lambda url: "tag=ocean" in url)
    results = page.locator("[data-image-id]")
    assert results.count() == 1
    assert "blue sea" in results.first.inner_text()
    shoot(page, "search-desktop")

    # Open it, then delete it (the page asks for confirmation first).
    results.first.click()
    page.wait_for_url(lambda url: "/images/" in url)
    assert page.locator("h1").inner_text().strip() == "blue sea"
    for width in ("phone", "desktop"):
        page.set_viewport_size(VIEWPORTS[width])
        shoot(page, f"detail-{width}")
    image_url = page.url
    # Delete moves it to the trash: gone from the grid, listed in the trash, restorable.
    page.locator("button:has-text('Move to trash')").click()
    page.wait_for_url(lambda url: "/images/" not in url)
    assert page.locator("[data-image-id]").count() == 1
    assert page.goto(image_url).status == 200  # the owner still sees it, with a banner
    assert page.locator("[data-in-trash]").is_visible()
    page.locator("[data-in-trash] button:has-text('Restore')").click()
    page.wait_for_url(image_url)
    assert page.locator("[data-in-trash]").count() == 0
    page.goto(f"{web_url}/")  # restored: back in the grid
    assert page.locator("[data-image-id]").count() == 2
    # Trash it again and delete it for good (the page asks for confirmation first).
    page.goto(image_url)
    page.locator("button:has-text('Move to trash')").click()
    page.wait_for_url(lambda url: "/images/" not in url)
    page.goto(image_url)
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("[data-in-trash] form[data-confirm] button[type=submit]").click()
    page.wait_for_url(lambda url: "/trash" in url)
    assert page.locator("[data-image-id]").count() == 0
    assert errors == [], f"browser console errors: {errors}"
    assert page.goto(image_url).status == 404
    context.close()


@pytest.mark.timeout(120)
def test_a_phone_heic_uploads_with_no_broken_preview(web_url: str, browser: Any) -> None:
    """Chromium cannot draw HEIC: the card keeps its plain square instead of a broken
    image, and the upload goes through (the server decodes it)."""
    context = browser.new_context(viewport=VIEWPORTS["phone"])
    page = context.new_page()
    page.set_default_timeout(20_000)
    sign_up(page, web_url, "iphoneuser")
    page.goto(f"{web_url}/upload")
    assert ".heic" in (page.get_attribute("[data-file-input]", "accept") or "")
    drop_files(page, "[data-dropzone]", [("IMG_0001.HEIC", heic(noisy_image(1, (320, 240))))],
               mime="image/heic")
    page.wait_for_function("() => !document.querySelector('[data-preview]').hasAttribute('src')")
    page.click("[data-upload-button]")
    page.wait_for_function(
        "() => document.querySelector('[data-file-card]').getAttribute('data-state') === 'success'")
    assert page.locator("[data-result] a").count() == 1
    context.close()


if __name__ == "__main__":  # pragma: no cover - convenience: python tests/e2e/test_e2e_browser.py
    sys.exit(pytest.main([__file__, "-q"]))
