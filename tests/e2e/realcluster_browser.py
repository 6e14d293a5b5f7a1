"""Chromium inside the real node's network namespace, driven by Playwright from the host.

Why: the web Service's ClusterIP and whatever image URLs the web tier hands out (its own
/media proxy, or a public S3 endpoint) must load in a real browser that sits where a
user's browser would: next to the Service, not on the host. Playwright talks to Chromium
over a pipe, so only Chromium itself needs the namespace: Playwright's executablePath is
a two-line wrapper that `nsenter --net`s into it and execs Debian's /usr/bin/chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]  # fmt: skip
# Every <img> on the page has decoded (complete) with real pixels (naturalWidth > 0).
IMAGES_LOADED = """() => {
    const imgs = [...document.querySelectorAll('img[src]')];
    return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);
}"""
IMAGE_REPORT = """() => [...document.querySelectorAll('img')].map(
    i => ({src: i.currentSrc || i.src, complete: i.complete, naturalWidth: i.naturalWidth}))"""
# Load one URL as an image in the page (same origin, cookies sent); its naturalWidth.
LOAD_IMAGE = """(url) => new Promise(resolve => {
    const img = new Image();
    img.onload = () => resolve(img.naturalWidth);
    img.onerror = () => resolve(-1);
    img.src = url;
})"""


class BrowserMissing(AssertionError):
    """Chromium or Playwright is not installed; the message names the install step."""


def wrapper(netns_path: Path, directory: Path) -> Path:
    """An executable that runs Chromium inside the namespace at netns_path."""
    if not CHROMIUM.exists():
        raise BrowserMissing(f"{CHROMIUM} is required: `bash .ci/tools.sh apt` (Debian chromium)")
    script = directory / "chromium-in-netns"
    script.write_text(f'#!/bin/sh\nexec nsenter --net={netns_path} -- {CHROMIUM} "$@"\n')
    script.chmod(0o755)
    return script


@contextmanager
def chromium_in(netns_path: Path, directory: Path) -> Iterator[Any]:
    """A Playwright Browser whose Chromium lives in the node's network namespace."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise BrowserMissing("playwright is missing from the venv: `make python`") from exc
    exe = wrapper(netns_path, directory)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(exe), args=ARGS, timeout=120_000)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def images_report(page: Any) -> list[dict[str, Any]]:
    return list(page.evaluate(IMAGE_REPORT))


def wait_images_loaded(page: Any, timeout_ms: int = 30_000) -> list[dict[str, Any]]:
    """Wait until every <img> has real pixels; AssertionError listing them otherwise."""
    try:
        page.wait_for_function(IMAGES_LOADED, timeout=timeout_ms)
    except Exception as exc:  # playwright's TimeoutError: show what did not load
        raise AssertionError(f"images did not load on {page.url}: {images_report(page)}") from exc
    return images_report(page)


def natural_width(page: Any, url: str) -> int:
    return int(page.evaluate(LOAD_IMAGE, url))
