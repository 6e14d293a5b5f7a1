"""What the browser tests share: Debian's Chromium, the screenshot folder, and the steps a
person takes (sign up, drop files on the upload page) written once.

The fixtures that start gunicorn and Chromium are in tests/e2e/conftest.py.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from PIL import Image

from tests.harness.tools import REPO
from tests.support.images import encode

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "tests" / "artifacts"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1440, "height": 900}}
PASSWORD = "a long enough passphrase"
WIDTHS = {"390": {"width": 390, "height": 844}, "1280": {"width": 1280, "height": 800}}


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


def upload_dropped(page: Any, web_url: str, files: list[tuple[str, bytes]]) -> None:
    """On the upload page: drop ``files``, press Upload, wait until every card succeeded."""
    page.goto(f"{web_url}/upload")
    drop_files(page, "[data-dropzone]", files)
    page.click("[data-upload-button]")
    page.wait_for_function("() => [...document.querySelectorAll('[data-file-card]')]"
                           ".every(c => c.getAttribute('data-state') === 'success')")


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


def watch_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.set_default_timeout(20_000)
    return errors


def shoot_widths(page: Any, name: str) -> None:
    for width, size in WIDTHS.items():
        page.set_viewport_size(size)
        shoot(page, f"{name}-{width}")


def thumbnails_loaded(page: Any) -> list[int]:
    """naturalWidth of every tile's thumbnail once each has finished loading."""
    page.wait_for_function("() => [...document.querySelectorAll('[data-image-id] img')]"
                           ".every(i => i.complete)")
    return page.eval_on_selector_all("[data-image-id] img", "imgs => imgs.map(i => i.naturalWidth)")
