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

Freshness and the waiting for one build are the listing cache's (services/listing_cache.py).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Hashable

from markupsafe import Markup

from picsource_web.services.listing_cache import ListingCache
from picsource_web.services.packed_docs import COMPRESSION


class FragmentCache:
    """HTML by key, held as zlib-compressed UTF-8 in a ListingCache."""

    def __init__(self, cache: ListingCache[bytes]) -> None:
        self.cache = cache

    def get_or_build(self, key: Hashable, build: Callable[[], Markup]) -> Markup:
        built: list[Markup] = []

        def compressed() -> bytes:
            html = build()
            built.append(html)
            return zlib.compress(str(html).encode("utf-8"), COMPRESSION)

        packed = self.cache.get_or_build(key, compressed)
        return built[0] if built else Markup(zlib.decompress(packed).decode("utf-8"))
