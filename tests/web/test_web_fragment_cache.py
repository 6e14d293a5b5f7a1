"""Rendered fragments are cached compressed (services/fragment_cache.py): a hit gives back
the same HTML, the builder's request gets what it built, and the entry is far smaller
than the markup it holds."""

from __future__ import annotations

import threading
from collections.abc import Callable

from markupsafe import Markup

from picsource_web.services.fragment_cache import FragmentCache
from picsource_web.services.listing_cache import ListingCache
from picsource_web.services.present import MediaUrls
from tests.support.clock import FakeClock
from tests.support.waiting import wait_until

TILE = ('<li class="group relative"><a href="/images/{n}" class="card bg-base-100 shadow-sm">'
        '<img src="/media/{n}/256?sig={n:040d}" alt="Photo {n} – café" width="256" height="256"></a></li>')


def test_a_hit_returns_the_html_the_build_made_from_a_much_smaller_entry() -> None:
    html = Markup("".join(TILE.format(n=n) for n in range(48)))
    fragments = FragmentCache(ListingCache(entries=8, seconds=60))
    builds: list[Markup] = []

    def build() -> Markup:
        builds.append(html)
        return html

    first = fragments.get_or_build(("grid", 1), build)
    assert first is html  # the building request gets its own HTML, not an inflated copy
    again = fragments.get_or_build(("grid", 1), build)
    assert len(builds) == 1
    assert again == html and isinstance(again, Markup)  # non-ASCII survives the round trip
    (_expires, stored), = fragments.cache._data.values()
    assert isinstance(stored, bytes) and len(stored) * 4 < len(html.encode())


def test_keys_stay_apart_and_a_disabled_cache_builds_every_time() -> None:
    fragments = FragmentCache(ListingCache(entries=8, seconds=60))
    assert fragments.get_or_build("a", lambda: Markup("<p>a</p>")) == "<p>a</p>"
    assert fragments.get_or_build("b", lambda: Markup("<p>b</p>")) == "<p>b</p>"
    assert fragments.get_or_build("a", lambda: Markup("<p>other</p>")) == "<p>a</p>"
    off, builds = FragmentCache(ListingCache(entries=0, seconds=60)), []
    for _ in range(2):
        off.get_or_build("a", lambda: builds.append(1) or Markup("<p>a</p>"))
    assert builds == [1, 1]


# --- answering while a fragment is rendered again ---------------------------------------
def later(build: Callable[[], Markup]) -> Callable[[], Markup]:
    """An ``off_request`` wrapper: in the app it is flask.copy_current_request_context."""
    return build


def test_a_fragment_past_its_time_answers_while_it_is_rendered_again_on_its_own_thread() -> None:
    clock = FakeClock()
    fragments = FragmentCache(ListingCache(entries=8, seconds=60, clock=clock))
    fragments.get_or_build("k", lambda: Markup("<p>old</p>"), off_request=later)
    clock.now += 61
    release = threading.Event()

    def slow() -> Markup:
        release.wait(10)
        return Markup("<p>new</p>")

    assert fragments.get_or_build("k", slow, off_request=later) == "<p>old</p>"  # not waiting
    release.set()
    wait_until(lambda: fragments.cache.get("k") is not None, 10, "the fragment rendered again", interval=0.01)
    assert fragments.get_or_build("k", lambda: Markup("<p>never</p>")) == "<p>new</p>"
    # Without a way to render after the request, the request that finds it late renders it.
    clock.now += 61
    assert fragments.get_or_build("k", lambda: Markup("<p>newer</p>")) == "<p>newer</p>"


def test_the_previous_windows_fragment_answers_while_the_new_windows_is_rendered() -> None:
    fragments = FragmentCache(ListingCache(entries=8, seconds=600))
    fragments.get_or_build(("grid", 100), lambda: Markup("<p>window 100</p>"), off_request=later)
    release = threading.Event()

    def slow() -> Markup:
        release.wait(10)
        return Markup("<p>window 250</p>")

    answer = fragments.get_or_build(("grid", 250), slow, earlier=("grid", 100), off_request=later)
    assert answer == "<p>window 100</p>" and fragments.earlier_hits == 1
    release.set()
    wait_until(lambda: fragments.cache.get(("grid", 250)) is not None, 10, "the new window's", interval=0.01)
    assert fragments.get_or_build(("grid", 250), slow, earlier=("grid", 100)) == "<p>window 250</p>"
    # No thread to spare: the earlier window's still answers; a later request renders it.
    fragments.cache._spare_builders = threading.BoundedSemaphore(1)
    assert fragments.cache._spare_builders.acquire(blocking=False)
    assert fragments.get_or_build(("grid", 400), slow, earlier=("grid", 250), off_request=later) == "<p>window 250</p>"
    assert fragments.cache.peek(("grid", 400)) is None and fragments.earlier_hits == 2
    fragments.cache._spare_builders.release()
    assert fragments.get_or_build(("grid", 400), lambda: Markup("<p>400</p>"), earlier=("grid", 250),
                                  off_request=later) == "<p>window 250</p>"
    wait_until(lambda: fragments.cache.peek(("grid", 400)) is not None, 10,
               "rendered on the thread that was free again", interval=0.01)
    # Nothing under the earlier key, or no way to render later: rendered by the request.
    assert fragments.get_or_build(("grid", 550), lambda: Markup("<p>550</p>"), earlier=("grid", 999),
                                  off_request=later) == "<p>550</p>"
    assert fragments.get_or_build(("grid", 700), lambda: Markup("<p>700</p>"), earlier=("grid", 550)) == "<p>700</p>"
    assert fragments.earlier_hits == 3


def test_the_previous_signing_window_is_offered_only_while_its_urls_stay_valid() -> None:
    clock = FakeClock(1_000_050.0)  # 1,000,050 = 6,666 windows of 150 s + 150: a window's start
    media = MediaUrls(presigner=None, presign_seconds=1800, proxy=False,  # type: ignore[arg-type]
                      proxy_url=None, private_presign_seconds=300, clock=clock)  # type: ignore[arg-type]
    start = media.window()
    assert start == 1_000_050 and media.previous_window() == start - 150
    clock.now = start + 89  # its URLs expire at start + 150: 61 s left
    assert media.previous_window() == start - 150
    clock.now = start + 91
    assert media.previous_window() is None
    short = MediaUrls(presigner=None, presign_seconds=60, proxy=False,  # type: ignore[arg-type]
                      proxy_url=None, private_presign_seconds=60, clock=clock)  # type: ignore[arg-type]
    assert short.previous_window() is None  # a window as long as the URLs' lifetime
    proxied = MediaUrls(presigner=None, presign_seconds=1800, proxy=True,  # type: ignore[arg-type]
                        proxy_url=None, clock=clock)  # type: ignore[arg-type]
    assert proxied.previous_window() is None
