"""Search tokens: both sides of a search normalise the same way."""

import random
import string
import unicodedata

from picsource_core.search import (
    _fold,
    image_search_tokens,
    matched_sources,
    normalise_tag,
    query_tokens,
    tokenize,
)


def test_tokenize_folds_case_accents_and_plurals() -> None:
    assert tokenize("Café au LAIT, two Cats!") == ["cafe", "au", "lait", "two", "cat"]
    assert tokenize("glass bus") == ["glass", "bus"]
    assert tokenize("puppies") == ["puppy"]


def test_ascii_text_folds_as_the_full_unicode_pass_would() -> None:
    """The ASCII shortcut gives exactly what decomposing and stripping would (every
    printable and control character, random mixes); non-ASCII text still loses its accents."""
    def full(text: str) -> str:
        decomposed = unicodedata.normalize("NFKD", text)
        return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()

    rng = random.Random(5)
    samples = ["".join(chr(c) for c in range(128)),
               *("".join(rng.choice(string.printable) for _ in range(rng.randint(0, 80))) for _ in range(500))]
    for text in samples:
        assert _fold(text) == full(text)
    assert _fold("Ça Ñ Å ﬁ") == full("Ça Ñ Å ﬁ") == "ca n a fi"


def test_tokenize_drops_stopwords_punctuation_and_duplicates() -> None:
    assert tokenize("the cat and the cat") == ["cat"]
    assert tokenize("") == []
    assert tokenize(None) == []
    assert tokenize("../../etc/passwd") == ["etc", "passwd"]


def test_long_words_are_truncated() -> None:
    (token,) = tokenize("x" * 500)
    assert len(token) == 40


def test_image_tokens_cover_user_text_and_analysis() -> None:
    image = {
        "title": "Morning coffee",
        "description": "At the café",
        "tags": ["Barista Life"],
        "analysis": {
            "caption": "A photo of an espresso, mostly brown",
            "ocr_text": "GRAND OPENING",
            "labels": [{"label": "coffee mug", "score": 0.6}],
        },
    }
    tokens = set(image_search_tokens(image))
    assert {"morning", "coffee", "cafe", "barista", "life", "espresso", "brown", "grand", "opening", "mug"} <= tokens
    assert set(query_tokens("Espressos")) <= tokens


def test_normalise_tag() -> None:
    assert normalise_tag("  Summer   Holiday ") == "summer holiday"
    assert normalise_tag("ÉTÉ") == "ete"


def test_matched_sources_name_where_the_query_words_occur() -> None:
    from picsource_core.search import image_search_tokens, matched_sources, query_tokens

    image = {"title": "Harbour at dusk", "description": "", "tags": ["boats"],
             "analysis": {"caption": "A photo of boats", "ocr_text": "FISH MARKET",
                          "labels": [{"label": "dock", "score": 0.9}]}}
    assert matched_sources(image, query_tokens("boats")) == ["caption", "tag"]
    assert matched_sources(image, query_tokens("market harbours")) == ["title", "text in image"]
    assert matched_sources(image, query_tokens("dock")) == ["label"]
    assert matched_sources(image, query_tokens("castle")) == [] and matched_sources(image, []) == []
    # every stored token is explained by some source, and only stored tokens are
    for token in image_search_tokens(image):
        assert matched_sources(image, [token])


def test_a_labels_synonyms_are_search_tokens_found_as_label() -> None:
    image = {"analysis": {"labels": [{"label": "seashore", "synonyms": ["coast", "sea-coast"]},
                                     {"label": "crane", "synonyms": [3, None]}]}}
    tokens = image_search_tokens(image)
    assert {"seashore", "coast", "sea", "crane"} <= set(tokens)
    assert matched_sources(image, ["coast"]) == ["label"]
