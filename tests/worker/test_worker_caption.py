"""Template captions say only what the analysis found."""

from __future__ import annotations

from picsource_worker.pipeline.caption import make_caption


def test_label_and_colours() -> None:
    caption = make_caption([("espresso", 0.9), ("cup", 0.05)], 0, ["brown", "white", "red"])
    assert caption == "A photo of an espresso, mostly brown and white."


def test_people_and_text() -> None:
    assert make_caption([("bobsled", 0.3)], 1, ["grey"]) == (
        "A photo of a bobsled with one person, mostly grey."
    )
    assert make_caption([], 3, [], "GRAND OPENING") == (
        'A photo of three people, with the text "GRAND OPENING".'
    )


def test_nothing_found_is_still_a_sentence() -> None:
    assert make_caption() == "A photo."
    assert make_caption([], None, [], "   ") == "A photo."


def test_long_text_is_shortened_and_quotes_are_safe() -> None:
    caption = make_caption([("street sign", 0.5)], 0, [], 'SALE "today" ' + "word " * 40)
    assert caption.startswith("A photo of a street sign, with the text \"SALE 'today' word")
    assert caption.endswith('…".') and len(caption) < 120
