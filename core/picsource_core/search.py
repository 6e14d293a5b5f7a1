"""Normalised search tokens: indexed word search on any MongoDB-compatible server.

$text indexes are server-specific (SecantusDB has none, sharded MongoDB limits
them), so each image stores the set of its normalised words in
``search_tokens``, a multikey index answers ``{"search_tokens": {"$all": [...]}}``,
and the same tokenizer runs on the query so both sides agree.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

COLOUR_FAMILIES: tuple[str, ...] = (
    "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "grey",
)

MAX_TOKEN_LENGTH = 40
MAX_TOKENS_PER_IMAGE = 600

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOPWORDS = frozenset(
    "a an and are as at be by for from has in is it its of on or that the this to was were with".split()
)


def _fold(text: str) -> str:
    """Case-fold and strip accents so 'Café' and 'cafe' meet. ASCII text has nothing to
    decompose or strip, and skips the per-character pass: it was most of a cold search
    page's tokenizing (its tiles' "why they matched"), ~400 texts a page."""
    if text.isascii():
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.casefold()


def _stem(word: str) -> str:
    """A deliberately tiny plural stemmer: 'cats' -> 'cat', 'glass' stays."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenize(text: str | None) -> list[str]:
    """Words of a text as normalised tokens, in order, without duplicates."""
    if not text:
        return []
    seen: dict[str, None] = {}
    for match in _WORD.finditer(_fold(text)):
        word = match.group(0)[:MAX_TOKEN_LENGTH]
        if word in _STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        seen.setdefault(_stem(word), None)
    return list(seen)


def normalise_tag(tag: str) -> str:
    """Tags are stored folded, trimmed and with inner whitespace collapsed."""
    return " ".join(_fold(tag).split())[:64]


def stored_strings(value: Any) -> list[str]:
    """The strings of a stored list (a label's synonyms); nothing for any other value."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


#: The document fields token_sources reads (a projection for listings that explain matches).
SOURCE_FIELDS = {"title": 1, "description": 1, "tags": 1, "analysis.caption": 1,
                 "analysis.ocr_text": 1, "analysis.labels": 1}


def token_sources(image: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """Where an image's search tokens come from, in order, each with its texts: the one
    list behind both the stored tokens and a search result's "matched in"."""
    analysis: Mapping[str, Any] = image.get("analysis") or {}
    labels = [text for label in analysis.get("labels") or [] if isinstance(label, Mapping)
              for text in [str(label.get("label", "")), *stored_strings(label.get("synonyms"))]]  # fmt: skip
    return [
        ("title", [image.get("title") or ""]),
        ("description", [image.get("description") or ""]),
        ("caption", [analysis.get("caption") or ""]),
        ("text in image", [analysis.get("ocr_text") or ""]),
        ("tag", list(image.get("tags") or [])),
        ("label", labels),
    ]


def image_search_tokens(image: Mapping[str, Any]) -> list[str]:
    """All tokens an image should be found by: user text plus analysis results."""
    tokens: dict[str, None] = {}
    for _source, texts in token_sources(image):
        for text in texts:
            for token in tokenize(text):
                tokens.setdefault(token, None)
    return list(tokens)[:MAX_TOKENS_PER_IMAGE]


#: The reason a ranked search gives for a result found by its meaning (the web's
#: services/semantic.py), after the sources of its words.
MEANING = "meaning"


def matched_sources(image: Mapping[str, Any], tokens: Iterable[str], *, meaning: bool = False) -> list[str]:
    """The sources (token_sources' names, in their order) where any of ``tokens`` occurs,
    then MEANING if the search found the image by meaning: why a search found it."""
    wanted = set(tokens)
    found = [source for source, texts in token_sources(image)
             if wanted and any(wanted.intersection(tokenize(text)) for text in texts)]
    return [*found, MEANING] if meaning else found


def query_tokens(words: Iterable[str] | str) -> list[str]:
    """Tokens of a search query (same normalisation as the stored side)."""
    if isinstance(words, str):
        return tokenize(words)
    out: dict[str, None] = {}
    for word in words:
        for token in tokenize(word):
            out.setdefault(token, None)
    return list(out)
