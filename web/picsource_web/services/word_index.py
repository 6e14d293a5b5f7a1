"""A scope's stored search words as an inverted index in memory: token -> row numbers.

Why: the word part of a ranked search (services/semantic.py) asked the database for the
newest images holding all the query's words. On a server that reads every match before
``limit`` (SecantusDB, services/scan.py) a rare word makes that scan walk back through the
whole gallery, seconds at 100k images. The vector scope (services/vector_index.py) already
reads every document of the scope, so it reads their ``search_tokens`` too and keeps
them here, and a search finds its word matches with a few array intersections.

The semantics are the listing's token filter exactly (services/query.build_filter, tokens
from picsource_core.search): a document matches when its stored ``search_tokens`` hold
every query token as an element, compared as equal strings: ``{"search_tokens": t}`` or
``{"search_tokens": {"$all": [...]}}``, no prefixes, no stemming beyond what the stored
tokens already carry (tests/web/test_web_word_index.py compares it with the database).

Layout: one vocabulary dict (token -> number) and the postings of all tokens in one int32
array, grouped by token (``starts`` marks each group), each group ascending; about 4
bytes per stored token plus the vocabulary, a few MB per 100k images.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The stored field (picsource_core.search.image_search_tokens writes it).
SEARCH_TOKENS = "search_tokens"
EMPTY = np.zeros(0, dtype=np.int32)


def stored_tokens(value: Any) -> list[str]:
    """The tokens a stored ``search_tokens`` value matches by equality: the strings of a
    list (MongoDB compares a query string with each element; nested lists and other types
    never equal it), or a lone string."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [token for token in value if isinstance(token, str)]
    return []


@dataclass(frozen=True)
class WordIndex:
    """Which rows hold which tokens (row i is the i-th document the scope read)."""

    vocabulary: dict[str, int]
    starts: np.ndarray  # len(vocabulary) + 1 int64: token v's rows are postings[starts[v]:starts[v+1]]
    postings: np.ndarray  # int32 rows, ascending within each token

    def rows_with(self, tokens: Sequence[str]) -> np.ndarray:
        """The rows holding every one of ``tokens`` (ascending); none for no tokens."""
        found: list[np.ndarray] = []
        for token in dict.fromkeys(tokens):
            number = self.vocabulary.get(token)
            if number is None:
                return EMPTY
            found.append(self.postings[self.starts[number]:self.starts[number + 1]])
        if not found:
            return EMPTY
        found.sort(key=len)  # the rarest first: each intersection is then small
        rows = found[0]
        for more in found[1:]:
            if not len(rows):
                break
            rows = np.intersect1d(rows, more, assume_unique=True)
        return rows

    @property
    def nbytes(self) -> int:
        """The arrays' bytes plus an estimate of the vocabulary's (about 100 bytes an entry)."""
        return int(self.starts.nbytes + self.postings.nbytes + 100 * len(self.vocabulary))


def build_words(rows: Iterable[Sequence[str]]) -> WordIndex:
    """The index of each row's tokens (row numbers in iteration order).

    Built with C-speed bulk steps (one flat list, one dict of distinct tokens, a stable
    sort by token number) rather than a Python loop per token: 100k images hold millions
    of tokens, and the build runs in a web process beside its requests."""
    flat: list[str] = []
    counts: list[int] = []
    for tokens in rows:
        unique = list(dict.fromkeys(tokens))  # a row counts once per token, as in MongoDB
        flat.extend(unique)
        counts.append(len(unique))
    vocabulary = {token: number for number, token in enumerate(dict.fromkeys(flat))}
    numbers = np.fromiter(map(vocabulary.__getitem__, flat), dtype=np.int32, count=len(flat))
    owners = np.repeat(np.arange(len(counts), dtype=np.int32), np.asarray(counts, dtype=np.int64))
    order = np.argsort(numbers, kind="stable")  # rows stay ascending within each token
    starts = np.zeros(len(vocabulary) + 1, dtype=np.int64)
    np.cumsum(np.bincount(numbers, minlength=len(vocabulary)), out=starts[1:])
    return WordIndex(vocabulary=vocabulary, starts=starts, postings=np.ascontiguousarray(owners[order]))
