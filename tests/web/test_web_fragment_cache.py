"""Rendered fragments are cached compressed (services/fragment_cache.py): a hit gives back
the same HTML, the builder's request gets what it built, and the entry is far smaller
than the markup it holds."""

from __future__ import annotations

from markupsafe import Markup

from picsource_web.services.fragment_cache import FragmentCache
from picsource_web.services.listing_cache import ListingCache

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
