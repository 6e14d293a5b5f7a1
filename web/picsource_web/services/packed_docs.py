"""A listing page's documents kept as compressed BSON while cached, decoded when first read.

Why: a web process keeps LISTING_CACHE_ENTRIES pages in its listing cache. As Python
dicts a page of 48 tile documents takes about 285 KB and 340 objects that every full
collection of the garbage collector walks (with 1,024 entries, collections of 440-540k
objects took 300-720 ms under the semantic bench's load, a pause for every request of
that process); as BSON it takes about 29-44 KB and no object the collector walks, and
compressed (zlib level 1) about a quarter of that: 7.3 KB for bench_web's 48 tile
documents, packed in 0.24 ms and unpacked in 0.19 ms. A page served from the
rendered-fragment cache never reads its documents, and one that does decodes them once
per request (0.34 ms for 48 with bson's C decoder), into dicts of its own that no other
request shares.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

import bson
from bson.codec_options import CodecOptions

Document = dict[str, Any]
#: zlib's fastest level: level 6 saved only 7 % more on the same 48 documents.
COMPRESSION = 1


class PackedDocs(Sequence[Document]):
    """Documents as one compressed BSON blob; a sequence of dicts decoded on first access."""

    __slots__ = ("_blob", "_count", "_codec", "_docs")

    def __init__(self, blob: bytes, count: int, codec: CodecOptions[Any]) -> None:
        self._blob = blob
        self._count = count
        self._codec = codec
        self._docs: list[Document] | None = None

    @classmethod
    def pack(cls, docs: Iterable[Mapping[str, Any]], codec: CodecOptions[Any]) -> PackedDocs:
        encoded = [bson.encode(doc, codec_options=codec) for doc in docs]
        return cls(zlib.compress(b"".join(encoded), COMPRESSION), len(encoded), codec)

    def fresh(self) -> PackedDocs:
        """The same documents for one more reader, who decodes a copy of their own."""
        return PackedDocs(self._blob, self._count, self._codec)

    @property
    def nbytes(self) -> int:
        return len(self._blob)

    @property
    def blob(self) -> bytes:
        """The compressed BSON, to hand to another process (services/page_codec.py)."""
        return self._blob

    def _decoded(self) -> list[Document]:
        if self._docs is None:
            self._docs = bson.decode_all(zlib.decompress(self._blob), self._codec)
        return self._docs

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Document: ...

    @overload
    def __getitem__(self, index: slice) -> list[Document]: ...

    def __getitem__(self, index: int | slice) -> Document | list[Document]:
        return self._decoded()[index]

    def __iter__(self) -> Iterator[Document]:
        return iter(self._decoded())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackedDocs):
            return self._blob == other._blob
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # mutable contents, like a list
