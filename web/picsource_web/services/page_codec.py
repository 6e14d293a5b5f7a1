"""Listing pages as bytes, for the level of the listing cache a pod's workers share
(services/shared_cache.py).

A page is already held as compressed BSON (services/packed_docs.py); what travels is that
blob and the few fields around it, as one more BSON document: no pickle, so a file in the
shared directory is only ever data, and a reader decodes the documents on first use, as
it does for a page of its own.
"""

from __future__ import annotations

from typing import Any

import bson
from bson.codec_options import CodecOptions

from picsource_web.services.listings import Page
from picsource_web.services.packed_docs import PackedDocs
from picsource_web.services.shared_cache import SharedEntries, SharedLevel

#: The namespace of listing pages among the shared entries.
NAMESPACE = "page"


def encode_page(page: Page) -> bytes:
    """A cached page (its items packed, as the listing cache holds them) as BSON."""
    if not isinstance(page.items, PackedDocs):
        raise TypeError("only packed pages are shared")
    return bson.encode({
        "version": page.version, "next": page.next_cursor, "meaning": sorted(page.meaning),
        "count": len(page.items), "blob": page.items.blob,
    })


def decode_page(data: bytes, codec: CodecOptions[Any]) -> Page:
    fields = bson.decode(data)
    return Page(items=PackedDocs(bytes(fields["blob"]), int(fields["count"]), codec),
                next_cursor=fields["next"], version=str(fields["version"]),
                meaning=frozenset(fields["meaning"]))


def shared_pages(entries: SharedEntries, codec: CodecOptions[Any]) -> SharedLevel[Page]:
    """The shared level of a listing page cache whose documents decode with ``codec``."""
    return SharedLevel(entries, NAMESPACE, encode_page, lambda data: decode_page(data, codec))
