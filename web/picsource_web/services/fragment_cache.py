"""Rendered HTML fragments (a grid's or an album's tiles) kept compressed in a listing cache.

Why compressed: a fragment is the most memory a cached page costs. The tiles of a page
repeat the same markup 48 times (classes, forms, attributes), so zlib's fastest level
shrinks them about ninefold (60-67 KB of HTML to 6-7 KB, bench_web's public grid and a
search), and a process keeps many more pages in the same memory. That is what a mix of
many different searches needs: with 128 entries, the semantic bench's 300 distinct
queries missed so often that a web process spent its cores rebuilding pages (p99 680 ms
at 300 requests/s), and uncompressed, 1,024 entries cost ~200 KB of RSS each. A hit pays
one inflate (a fraction of a millisecond); the request that builds an entry gets the
HTML it built, not a round trip through zlib.

Why some are built after answering: a fragment is a pure function of its key, which
names the page's version and the URL signing window, but every fragment in use is built
again when its time runs out and when the window moves on (every few minutes, all at
once). Rendering the tiles (their signed URLs, "why it matched", the HTML) was ~15 ms of
a web process per page, paid by whichever request came first. Given a way to run the
builder after its request (``off_request``: the view's request context, copied), a
fragment past its time answers once more while it is rendered again on a thread of its
own, and so does the previous window's, as long as its URLs stay valid
(``MediaUrls.previous_window``), while the new window's is rendered: FRAGMENT_BUILDS at
a time per process (the others by later requests), each first looked for among what the
pod's other workers rendered meanwhile, so the change of window is not a burst
(bench_semantic over 240 s: every request slowed for 3-5 s each time the window moved on
when requests rendered them; ~1.7 s with two rendering threads per process).

Freshness and the waiting for one build are the listing cache's (services/listing_cache.py).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Hashable

from markupsafe import Markup

from picsource_web.services.listing_cache import ListingCache
from picsource_web.services.packed_docs import COMPRESSION

Builder = Callable[[], Markup]
#: Fragments rendered at once after their requests, per process (module docstring).
FRAGMENT_BUILDS = 1


class FragmentCache:
    """HTML by key, held as zlib-compressed UTF-8 in a ListingCache."""

    def __init__(self, cache: ListingCache[bytes]) -> None:
        self.cache = cache
        #: Requests answered with the previous signing window's HTML while the current
        #: window's was rendered.
        self.earlier_hits = 0

    def get_or_build(self, key: Hashable, build: Builder, *, earlier: Hashable | None = None,
                     off_request: Callable[[Builder], Builder] | None = None) -> Markup:
        """The HTML under ``key``, else built. ``earlier``: the same HTML's key under the
        previous signing window; ``off_request``: wraps ``build`` so it can run after the
        request (both: module docstring)."""
        found = self.cache.lookup(key)
        if found is not None:
            return _inflate(found[0])
        built: list[Markup] = []
        if off_request is not None:
            build = off_request(build)

        def compressed() -> bytes:
            html = build()
            built.append(html)
            return zlib.compress(str(html).encode("utf-8"), COMPRESSION)

        if off_request is not None and earlier is not None and self.cache.peek(key) is None:
            before = self.cache.peek(earlier)
            if before is not None:
                # Rendered on a spare thread, else by a later request: when the window
                # moves on, every page's tiles are due at once (~15 ms each).
                self.cache.build_later(key, compressed)
                self.earlier_hits += 1
                return _inflate(before)
        packed = self.cache.get_or_build(key, compressed, rebuild_after=off_request is not None)
        return built[0] if built else _inflate(packed)


def _inflate(packed: bytes) -> Markup:
    return Markup(zlib.decompress(packed).decode("utf-8"))
