"""A real user in a real browser: Debian's Chromium driven by Playwright against the web
tier running under gunicorn, on real SecantusDB and MinIO.

Sign up, drag and drop two files onto the upload page and watch a progress bar per
file, find both in the grid, search by tag, open one, delete it. Screenshots at phone
(390x844) and desktop (1440x900) widths land in tests/artifacts/ (git-ignored) so a
person can look at the pages.
"""

from __future__ import annotations

import base64
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.harness.procs import ManagedProcess, free_port, http_responds
from tests.harness.run import python_path, web_argv
from tests.harness.tools import REPO
from tests.support.images import encode, heic, noisy_image

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "tests" / "artifacts"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1440, "height": 900}}
PASSWORD = "a long enough passphrase"


@pytest.fixture
def web_url(core_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """The web tier under gunicorn (2 workers) on a free port, as `make run` starts it."""
    port = free_port()
    env = dict(os.environ)
    env.update(core_env)
    env.update(
        PYTHONPATH=python_path(), SECRET_KEY="e2e-" + "s" * 40, WEB_WORKERS="2",
        PROMETHEUS_MULTIPROC_DIR=tempfile.mkdtemp(prefix="prom-", dir=tmp_path),
        LOG_LEVEL="warning", PYTHONUNBUFFERED="1",
    )
    web = ManagedProcess("web", web_argv(port), tmp_path / "web.log", env=env, cwd=REPO).start()
    try:
        web.wait_ready(lambda: http_responds(f"http://127.0.0.1:{port}/readyz"), 60, "serving")
        yield f"http://127.0.0.1:{port}"
    finally:
        web.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is required: apt-get install chromium"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def dotted_jpeg(colour: tuple[int, int, int], size: tuple[int, int]) -> bytes:
    """A JPEG of one colour, dotted with the opposite colour."""
    img = Image.new("RGB", size, colour)
    for x in range(0, size[0], 7):  # a little structure so the JPEG is not trivial
        for y in range(0, size[1], 5):
            img.putpixel((x, y), (255 - colour[0], 255 - colour[1], 255 - colour[2]))
    return encode(img, "JPEG", quality=92)


def drop_files(page: Any, selector: str, files: list[tuple[str, bytes]],
               mime: str = "image/jpeg") -> None:  # fmt: skip
    """Dispatch a real drop event whose DataTransfer carries File objects (what a user's
    drag from the desktop produces), so the page's own drop handler runs."""
    payload = [{"name": name, "b64": base64.b64encode(data).decode(), "type": mime}
               for name, data in files]  # fmt: skip
    transfer = page.evaluate_handle(
        """(files) => {
            const dt = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.b64), c => c.charCodeAt(0));
                dt.items.add(new File([bytes], f.name, {type: f.type}));
            }
            return dt;
        }""",
        payload,
    )
    page.dispatch_event(selector, "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # else the sticky navbar is drawn mid-page
    page.wait_for_timeout(400)  # let progress-bar and layout transitions finish
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_up(page: Any, web_url: str, username: str) -> None:
    page.goto(f"{web_url}/signup")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/signup" not in url)
    assert username in page.content()


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


if __name__ == "__main__":  # pragma: no cover - convenience: python tests/e2e/test_e2e_browser.py
    sys.exit(pytest.main([__file__, "-q"]))


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
