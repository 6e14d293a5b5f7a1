"""Search autocomplete from the viewer's own words: their tags and the worker's labels.

Why a per-process vocabulary: asking the database for distinct tags and labels on every
keystroke would read every one of the owner's images each time. The vocabulary is built
from the owner's newest VOCABULARY_IMAGES images once, kept per process under the
owner's listing stamp (any write to their images renews it, see picsource_core.stamps),
so it is never stale and costs one bounded read per change. Only the viewer's own
images feed it: nobody learns another user's words.
"""

from __future__ import annotations

import threading
import unicodedata
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

VOCABULARY_IMAGES = 2000
SUGGESTIONS = 10
MAX_PREFIX = 64
CACHED_VOCABULARIES = 64
#: What building a vocabulary reads of each image.
VOCABULARY_FIELDS = {"tags": 1, "analysis.labels.label": 1}


@dataclass(frozen=True)
class Suggestion:
    text: str
    kind: str  # "tag" or "label"
    count: int


def fold(text: str) -> str:
    """Case and accents folded, so "Café" is found by "caf"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().strip()


def build_vocabulary(docs: Iterable[Mapping[str, Any]]) -> list[Suggestion]:
    """Every tag and label with the number of images carrying it, most used first."""
    counts: Counter[tuple[str, str]] = Counter()
    for doc in docs:
        counts.update({("tag", str(tag)) for tag in doc.get("tags") or [] if tag})
        labels = (doc.get("analysis") or {}).get("labels") or []
        counts.update({("label", str(lbl["label"])) for lbl in labels if isinstance(lbl, Mapping) and lbl.get("label")})
    return [Suggestion(text, kind, n) for (kind, text), n in
            sorted(counts.items(), key=lambda item: (-item[1], item[0][1], item[0][0]))]


def suggest(vocabulary: Iterable[Suggestion], prefix: str, limit: int = SUGGESTIONS) -> list[Suggestion]:
    """Entries with a word starting with ``prefix`` (folded), most used first; a tag and a
    label of the same text appear once, as the tag."""
    wanted = fold(prefix)
    if not wanted:
        return []
    found: dict[str, Suggestion] = {}
    for entry in vocabulary:
        folded = fold(entry.text)
        if folded.startswith(wanted) or any(word.startswith(wanted) for word in folded.split()):
            if folded not in found or (entry.kind == "tag" and found[folded].kind != "tag"):
                found[folded] = entry
    ranked = sorted(found.values(), key=lambda s: (-s.count, s.kind != "tag", s.text))
    return ranked[:limit]


class Suggester:
    """Vocabularies per (owner, listing stamp), the least recently used dropped first."""

    def __init__(self, load: Callable[[Any, int], Sequence[Mapping[str, Any]]],
                 entries: int = CACHED_VOCABULARIES) -> None:
        self._load = load
        self._entries = entries
        self._cache: OrderedDict[tuple[Any, str], list[Suggestion]] = OrderedDict()
        self._lock = threading.Lock()

    def vocabulary(self, owner_id: Any, stamp: str) -> list[Suggestion]:
        key = (owner_id, stamp)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        built = build_vocabulary(self._load(owner_id, VOCABULARY_IMAGES))
        with self._lock:
            self._cache[key] = built
            while len(self._cache) > self._entries:
                self._cache.popitem(last=False)
        return built
